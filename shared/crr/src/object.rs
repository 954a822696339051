//! What we know about one object: size, ETag, the headers and metadata that travel
//! with it, its tags, encryption, part layout, type, checksum and restore status, as
//! a HEAD, GET or listing tells it.

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

/// How an object was written. OSS says it (`x-oss-object-type`); for S3 it follows
/// from the ETag. Only a `Normal` object's ETag is the MD5 of its content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ObjectType {
    /// One PutObject (or a copy of such an object).
    #[default]
    Normal,
    Multipart,
    /// Written by AppendObject: its ETag is not an MD5, though it looks like one.
    Appendable,
    /// An OSS symbolic link to another key: its ETag is opaque.
    Symlink,
    /// A type this version of crr does not know: its ETag is not trusted as an MD5.
    Other,
}

impl ObjectType {
    /// From `x-oss-object-type`.
    pub fn parse(text: &str) -> ObjectType {
        match text.trim() {
            "Normal" => ObjectType::Normal,
            "Multipart" => ObjectType::Multipart,
            "Appendable" => ObjectType::Appendable,
            "Symlink" => ObjectType::Symlink,
            _ => ObjectType::Other,
        }
    }

    /// What an S3 ETag says: `<md5>-<parts>` is a multipart object.
    pub fn from_etag(etag: &str) -> ObjectType {
        if multipart_parts(etag).is_some() {
            ObjectType::Multipart
        } else {
            ObjectType::Normal
        }
    }
}

/// Restore status of an archived object (`x-oss-restore`, `x-amz-restore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// A restore was asked for and is not finished.
    InProgress,
    /// A readable copy exists until it expires.
    Restored,
}

impl Restore {
    /// `ongoing-request="true"` or `ongoing-request="false", expiry-date="..."`.
    pub fn parse(header: &str) -> Option<Restore> {
        let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.contains("ongoing-request=\"true\"") {
            Some(Restore::InProgress)
        } else if compact.contains("ongoing-request=\"false\"") {
            Some(Restore::Restored)
        } else {
            None
        }
    }
}

/// Storage classes whose objects must be restored before their bytes can be read
/// (OSS Archive, Cold Archive, Deep Cold Archive; S3 Glacier Flexible Retrieval and
/// Deep Archive). `GLACIER_IR` is read directly.
pub const COLD_STORAGE_CLASSES: &[&str] = &["Archive", "ColdArchive", "DeepColdArchive", "GLACIER", "DEEP_ARCHIVE"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectState {
    pub size: u64,
    /// Lower-case, without quotes: what ETags are compared by.
    pub etag: String,
    /// The ETag as the server sent it, without quotes: what conditional requests
    /// carry (OSS compares `If-Match` case-sensitively, and its ETags are upper case).
    pub server_etag: String,
    pub object_type: ObjectType,
    /// CRC-64/ECMA of the whole object (`x-oss-hash-crc64ecma`), when the server keeps one.
    pub crc64: Option<u64>,
    /// Restore status of an archived object, if a restore was ever asked for.
    pub restore: Option<Restore>,
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

    /// The MD5 of the content when the ETag is one: a `Normal` object (not appended,
    /// not a symlink, not multipart), not KMS-encrypted. Only this may be sent as
    /// `Content-MD5`: an appended object's ETag looks like an MD5 and is not one.
    pub fn content_md5(&self) -> Option<[u8; 16]> {
        if self.object_type != ObjectType::Normal || matches!(self.encryption, Encryption::Kms { .. }) {
            return None;
        }
        md5_from_hex(&self.etag)
    }

    pub fn is_kms(&self) -> bool {
        matches!(self.encryption, Encryption::Kms { .. })
    }

    /// True for an archived object without a readable copy: its bytes cannot be read
    /// until it is restored.
    pub fn needs_restore(&self) -> bool {
        let cold = self.storage_class.as_deref().is_some_and(|c| COLD_STORAGE_CLASSES.contains(&c));
        cold && self.restore != Some(Restore::Restored)
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

/// The ETag crr compares: lower case, without quotes.
pub fn normalize_etag(etag: &str) -> String {
    unquote_etag(etag).to_ascii_lowercase()
}

/// The ETag as the server sent it, without quotes: what conditional requests carry.
pub fn unquote_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
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
    fn object_types_and_restore_status() {
        assert_eq!(ObjectType::parse("Appendable"), ObjectType::Appendable);
        assert_eq!(ObjectType::parse("Symlink"), ObjectType::Symlink);
        assert_eq!(ObjectType::parse("Sealed"), ObjectType::Other);
        assert_eq!(ObjectType::from_etag("d1eb5edd036df53e9adb344fcc11a48e-3"), ObjectType::Multipart);
        assert_eq!(ObjectType::from_etag("5d41402abc4b2a76b9719d911017c592"), ObjectType::Normal);
        assert_eq!(Restore::parse("ongoing-request=\"true\""), Some(Restore::InProgress));
        assert_eq!(
            Restore::parse("ongoing-request=\"false\", expiry-date=\"Sun, 16 Apr 2017 08:12:33 GMT\""),
            Some(Restore::Restored)
        );
        assert_eq!(Restore::parse("garbage"), None);
    }

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
