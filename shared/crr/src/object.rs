//! What we know about one object: size, ETag, the headers and metadata that travel
//! with it, its tags, encryption and part layout, as a HEAD, GET or listing tells it.

use std::collections::{BTreeMap, HashMap};

/// User-metadata key that marks a replica and names its source bucket. A rule never
/// copies an object back to the bucket its mark names (so two-way setups do not
/// loop), and deletes only ever remove objects marked with their own source.
pub const REPLICA_MARK: &str = "crr-replica-of";
/// User-metadata key holding the source's ETag when the replica's own ETag cannot
/// equal it (a different part layout, KMS, or a metadata update by server-side copy).
pub const SOURCE_ETAG: &str = "crr-source-etag";
/// User-metadata key holding when the replicated content was written at its origin
/// (seconds since the epoch): the source's Last-Modified, or the time its own mark
/// records when the source is itself a replica. Orders writes: a replica never goes
/// back to older content, and two-way rules keep the last writer.
pub const SOURCE_MODIFIED: &str = "crr-source-mtime";
/// User-metadata key holding the version of the source the replica was copied from,
/// on versioned sources: tells a delete (the version is still there, under a delete
/// marker) from the permanent deletion of that version (it is gone).
pub const SOURCE_VERSION: &str = "crr-source-version";

/// Keys under this prefix are crr's own state (backfill checkpoints and leases,
/// doctor probes): never replicated, compared or deleted by replication.
pub const RESERVED_PREFIX: &str = ".crr/";

/// Object tags, sorted by key.
pub type Tags = BTreeMap<String, String>;

/// The HTTP headers that travel with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandardHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<String>,
}

/// Server-side encryption of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Encryption {
    #[default]
    None,
    /// Keys managed by the service (`AES256`): kept as it is.
    Managed,
    /// KMS (`aws:kms`, `aws:kms:dsse`; OSS `KMS`), with the key if reported.
    Kms { key_id: Option<String> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectState {
    pub size: u64,
    /// Lower-case, without quotes.
    pub etag: String,
    pub headers: StandardHeaders,
    /// User metadata without crr's own keys.
    pub metadata: HashMap<String, String>,
    /// The source bucket named by the replica mark, if this object is a replica.
    pub replica_of: Option<String>,
    /// The source ETag recorded on a replica, if any.
    pub source_etag: Option<String>,
    /// When the replicated content was written at its origin, recorded on a replica
    /// ([`SOURCE_MODIFIED`]).
    pub source_modified: Option<i64>,
    /// The source version a replica was copied from ([`SOURCE_VERSION`]).
    pub source_version: Option<String>,
    /// Number of tags if the server said; `None` means unknown.
    pub tag_count: Option<u32>,
    pub encryption: Encryption,
    pub storage_class: Option<String>,
    pub version_id: Option<String>,
    /// Seconds since the epoch.
    pub last_modified: Option<i64>,
}

/// crr's marks, taken out of an object's user metadata by [`Marks::take`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub replica_of: Option<String>,
    pub source_etag: Option<String>,
    pub source_modified: Option<i64>,
    pub source_version: Option<String>,
}

impl Marks {
    /// Removes crr's keys from `metadata` (as a HEAD or GET returned it) and reads them.
    pub fn take(metadata: &mut HashMap<String, String>) -> Marks {
        Marks {
            replica_of: metadata.remove(REPLICA_MARK),
            source_etag: metadata.remove(SOURCE_ETAG).map(|e| normalize_etag(&e)),
            source_modified: metadata.remove(SOURCE_MODIFIED).and_then(|t| t.trim().parse().ok()),
            source_version: metadata.remove(SOURCE_VERSION).filter(|v| !v.is_empty()),
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// Lower-case, without quotes.
    pub etag: String,
    /// Seconds since the epoch, if listed.
    pub modified: Option<i64>,
}

impl ObjectState {
    /// The number of parts when the ETag is a multipart ETag (`<md5>-<parts>`).
    pub fn multipart_parts(&self) -> Option<u32> {
        multipart_parts(&self.etag)
    }

    /// The MD5 of the content when the ETag is one: single-part and not KMS-encrypted.
    pub fn content_md5(&self) -> Option<[u8; 16]> {
        if matches!(self.encryption, Encryption::Kms { .. }) {
            return None;
        }
        md5_from_hex(&self.etag)
    }

    pub fn is_kms(&self) -> bool {
        matches!(self.encryption, Encryption::Kms { .. })
    }

    /// True if this replica holds the same content as `source`: same size, and its
    /// ETag, or the source ETag it recorded, equals the source's.
    pub fn has_content_of(&self, source: &ObjectState) -> bool {
        self.size == source.size
            && (self.etag == source.etag || self.source_etag.as_deref() == Some(source.etag.as_str()))
    }

    /// True if this object is a replica crr wrote from `source_bucket`.
    pub fn is_replica_from(&self, source_bucket: &str) -> bool {
        self.replica_of.as_deref() == Some(source_bucket)
    }

    /// The version to record on a replica: a real version id (`null` is what an
    /// unversioned or suspended bucket reports, and names no version to look for).
    pub fn recordable_version(&self) -> Option<&str> {
        self.version_id.as_deref().filter(|v| !v.is_empty() && *v != "null")
    }
}

pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

pub fn multipart_parts(etag: &str) -> Option<u32> {
    let (md5, parts) = etag.rsplit_once('-')?;
    if md5.len() != 32 {
        return None;
    }
    parts.parse().ok()
}

pub fn md5_from_hex(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The multipart ETag S3 and OSS compute: MD5 of the parts' MD5s, then `-<parts>`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    use md5::Digest;
    let mut h = md5::Md5::new();
    for m in part_md5s {
        h.update(m);
    }
    format!("{}-{}", hex(&h.finalize()), part_md5s.len())
}

/// `k1=v1&k2=v2`, form-encoded, as the `x-amz-tagging` header takes them.
pub fn encode_tags(tags: &Tags) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    tags.iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, KEEP), utf8_percent_encode(v, KEEP)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Byte ranges `(offset, length)` of a multipart object's parts.
pub type Layout = Vec<(u64, u64)>;

/// Splits `size` bytes into parts of `part_size` (the last one shorter), growing the
/// part size if needed to stay within 10 000 parts.
pub fn even_layout(size: u64, part_size: u64) -> Layout {
    const MAX_PARTS: u64 = 10_000;
    let mut part = part_size.max(1);
    while size.div_ceil(part) > MAX_PARTS {
        part *= 2;
    }
    if size == 0 {
        return vec![(0, 0)];
    }
    (0..size.div_ceil(part)).map(|i| (i * part, part.min(size - i * part))).collect()
}

/// The layout of a source with `parts` parts whose first part is `first` bytes, if
/// all parts but the last have that size; `None` if they cannot have.
pub fn uniform_layout(size: u64, parts: u32, first: u64) -> Option<Layout> {
    let parts = parts as u64;
    if parts == 0 || first == 0 {
        return None;
    }
    let full = first.checked_mul(parts - 1)?;
    if full >= size || size - full > first {
        return None;
    }
    Some((0..parts).map(|i| (i * first, first.min(size - i * first))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(normalize_etag("\"5D41402ABC4B2A76B9719D911017C592\""), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(multipart_parts("d1eb5edd036df53e9adb344fcc11a48e-3"), Some(3));
        assert_eq!(multipart_parts("5d41402abc4b2a76b9719d911017c592"), None);
        assert_eq!(md5_from_hex("5d41402abc4b2a76b9719d911017c592").unwrap()[0], 0x5d);
        assert!(md5_from_hex("d1eb5edd036df53e9adb344fcc11a48e-3").is_none());
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        use md5::Digest;
        let a: [u8; 16] = md5::Md5::digest(b"hello").into();
        let b: [u8; 16] = md5::Md5::digest(b"world").into();
        let mut concat = a.to_vec();
        concat.extend_from_slice(&b);
        let expected = format!("{}-2", hex(&md5::Md5::digest(&concat)));
        assert_eq!(multipart_etag(&[a, b]), expected);
    }

    #[test]
    fn layouts() {
        assert_eq!(even_layout(10, 4), vec![(0, 4), (4, 4), (8, 2)]);
        assert_eq!(even_layout(8, 4), vec![(0, 4), (4, 4)]);
        assert_eq!(even_layout(0, 4), vec![(0, 0)]);
        assert_eq!(even_layout(100_000, 1).len(), 100_000usize.div_ceil(16));
        assert_eq!(uniform_layout(10, 3, 4), Some(vec![(0, 4), (4, 4), (8, 2)]));
        assert_eq!(uniform_layout(12, 3, 4), Some(vec![(0, 4), (4, 4), (8, 4)]));
        assert_eq!(uniform_layout(13, 3, 4), None, "last part bigger than the first");
        assert_eq!(uniform_layout(8, 3, 4), None, "parts would be empty");
        assert_eq!(uniform_layout(5, 1, 5), Some(vec![(0, 5)]));
    }

    #[test]
    fn tags_are_form_encoded() {
        let tags: Tags = [("team".to_string(), "a b&c".to_string()), ("env".to_string(), "prod/1".to_string())].into();
        assert_eq!(encode_tags(&tags), "env=prod%2F1&team=a%20b%26c");
    }
}
