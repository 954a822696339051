//! What travels in OSS headers: an object's state as a HEAD or GET answer tells it
//! (`x-oss-meta-*`, `x-oss-object-type`, `x-oss-hash-crc64ecma`, `x-oss-storage-class`,
//! `x-oss-server-side-encryption`, `x-oss-restore`, ...), and the headers a write
//! sends for an [`ObjectWrite`].

use std::collections::HashMap;

use http::HeaderMap;

use crate::object::{
    encode_tags, normalize_etag, unquote_etag, Encryption, Marks, ObjectState, ObjectType, Restore, StandardHeaders,
};
use crate::store::{ObjectWrite, Written};

const META_PREFIX: &str = "x-oss-meta-";

/// A header's value as text (bytes beyond ASCII read as UTF-8).
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

pub fn crc64(headers: &HeaderMap) -> Option<u64> {
    header(headers, "x-oss-hash-crc64ecma").and_then(|v| v.trim().parse().ok())
}

/// What a write answer reports: the ETag, the stored object's CRC-64 and, in a
/// versioned bucket, its version.
pub fn written(headers: &HeaderMap) -> Written {
    Written { etag: header(headers, "etag").unwrap_or_default(), crc64: crc64(headers), version_id: None }
        .with_version_id(header(headers, "x-oss-version-id").as_deref())
}

/// The object a HEAD or GET answer describes. For a ranged GET the size is the
/// whole object's, from `Content-Range`.
pub fn object_state(headers: &HeaderMap) -> ObjectState {
    let get = |name: &str| header(headers, name);
    let mut metadata: HashMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix(META_PREFIX)?;
            Some((key.to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        })
        .collect();
    let marks = Marks::take(&mut metadata);
    let size = get("content-range")
        .and_then(|r| r.rsplit_once('/').and_then(|(_, total)| total.trim().parse().ok()))
        .or_else(|| get("content-length").and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    let encryption = match get("x-oss-server-side-encryption").as_deref() {
        None => Encryption::None,
        Some("KMS") => Encryption::Kms { key_id: get("x-oss-server-side-encryption-key-id") },
        // AES256, and SM4 (also managed by OSS).
        Some(_) => Encryption::Managed,
    };
    let etag = get("etag").unwrap_or_default();
    ObjectState {
        size,
        etag: normalize_etag(&etag),
        server_etag: unquote_etag(&etag),
        object_type: get("x-oss-object-type").map_or(ObjectType::Normal, |t| ObjectType::parse(&t)),
        crc64: crc64(headers),
        restore: get("x-oss-restore").and_then(|r| Restore::parse(&r)),
        headers: StandardHeaders {
            content_type: get("content-type"),
            cache_control: get("cache-control"),
            content_disposition: get("content-disposition"),
            content_encoding: get("content-encoding"),
            content_language: get("content-language"),
            expires: get("expires"),
        },
        metadata,
        replica_of: marks.replica_of,
        source_etag: marks.source_etag,
        source_modified: marks.source_modified,
        source_version: marks.source_version,
        tag_count: get("x-oss-tagging-count").and_then(|c| c.trim().parse().ok()),
        encryption,
        storage_class: get("x-oss-storage-class"),
        version_id: get("x-oss-version-id").filter(|v| v != "null"),
        last_modified: get("last-modified").and_then(|t| {
            aws_smithy_types::DateTime::from_str(&t, aws_smithy_types::date_time::Format::HttpDate)
                .ok()
                .map(|t| t.secs())
        }),
    }
}

/// The headers of PutObject, InitiateMultipartUpload, CopyObject (with the REPLACE
/// directives) and PutSymlink for what the object carries besides its bytes.
pub fn write_headers(write: &ObjectWrite<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: &str| out.push((name.to_owned(), value.to_owned()));
    let h = write.headers;
    if let Some(content_type) = write.content_type.or_else(|| h.and_then(|h| h.content_type.as_deref())) {
        put("content-type", content_type);
    }
    if let Some(h) = h {
        for (name, value) in [
            ("cache-control", &h.cache_control),
            ("content-disposition", &h.content_disposition),
            ("content-encoding", &h.content_encoding),
            ("content-language", &h.content_language),
            ("expires", &h.expires),
        ] {
            if let Some(value) = value {
                put(name, value);
            }
        }
    }
    let mut metadata: Vec<(&String, &String)> = write.metadata.iter().collect();
    metadata.sort();
    for (key, value) in metadata {
        put(&format!("{META_PREFIX}{}", key.to_ascii_lowercase()), value);
    }
    if let Some(tags) = write.tags.filter(|t| !t.is_empty()) {
        put("x-oss-tagging", &encode_tags(tags));
    }
    if let Some(class) = write.storage_class {
        put("x-oss-storage-class", class);
    }
    match &write.encryption {
        Encryption::None => {}
        Encryption::Managed => put("x-oss-server-side-encryption", "AES256"),
        Encryption::Kms { key_id } => {
            put("x-oss-server-side-encryption", "KMS");
            if let Some(key_id) = key_id {
                put("x-oss-server-side-encryption-key-id", key_id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Tags;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse::<http::HeaderName>().unwrap(), v.parse().unwrap())).collect()
    }

    #[test]
    fn object_state_from_an_appended_object() {
        let s = object_state(&map(&[
            ("content-length", "1024"),
            ("etag", "\"0F7230CAA4BE94CCBDC99C5500000000\""),
            ("x-oss-object-type", "Appendable"),
            ("x-oss-hash-crc64ecma", "14741617095266562575"),
            ("x-oss-storage-class", "Standard"),
            ("x-oss-meta-owner", "finance"),
            ("x-oss-meta-crr-replica-of", "src"),
            ("x-oss-tagging-count", "2"),
            ("x-oss-server-side-encryption", "KMS"),
            ("x-oss-server-side-encryption-key-id", "key-1"),
            ("last-modified", "Fri, 24 Feb 2012 06:07:48 GMT"),
        ]));
        assert_eq!(s.size, 1024);
        assert_eq!(s.etag, "0f7230caa4be94ccbdc99c5500000000");
        assert_eq!(s.server_etag, "0F7230CAA4BE94CCBDC99C5500000000", "kept as sent, for If-Match");
        assert_eq!(s.object_type, ObjectType::Appendable);
        assert_eq!(s.content_md5(), None, "an appended object's ETag is no MD5");
        assert_eq!(s.crc64, Some(14741617095266562575));
        assert_eq!(s.metadata.get("owner").map(String::as_str), Some("finance"));
        assert_eq!(s.replica_of.as_deref(), Some("src"));
        assert_eq!(s.tag_count, Some(2));
        assert_eq!(s.encryption, Encryption::Kms { key_id: Some("key-1".into()) });
        assert_eq!(s.last_modified, Some(1_330_063_668));
    }

    #[test]
    fn ranged_answers_give_the_whole_size_and_archives_their_restore() {
        let s = object_state(&map(&[
            ("content-length", "10"),
            ("content-range", "bytes 0-9/300"),
            ("x-oss-storage-class", "Archive"),
            ("x-oss-restore", "ongoing-request=\"true\""),
        ]));
        assert_eq!(s.size, 300);
        assert_eq!(s.restore, Some(Restore::InProgress));
        assert!(s.needs_restore());
    }

    #[test]
    fn writes_carry_oss_headers() {
        let headers = StandardHeaders {
            content_type: Some("text/csv".into()),
            cache_control: Some("max-age=60".into()),
            ..Default::default()
        };
        let tags: Tags = [("team".to_string(), "a b".to_string())].into();
        let write = ObjectWrite {
            headers: Some(&headers),
            metadata: [("Owner".to_string(), "x".to_string())].into(),
            tags: Some(&tags),
            storage_class: Some("IA"),
            encryption: Encryption::Kms { key_id: Some("k".into()) },
            content_type: None,
        };
        let got = write_headers(&write);
        let want = [
            ("content-type", "text/csv"),
            ("cache-control", "max-age=60"),
            ("x-oss-meta-owner", "x"),
            ("x-oss-tagging", "team=a%20b"),
            ("x-oss-storage-class", "IA"),
            ("x-oss-server-side-encryption", "KMS"),
            ("x-oss-server-side-encryption-key-id", "k"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }
}
