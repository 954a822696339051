//! What the store's operations take and give: crr's own vocabulary for writes,
//! reads, copies, parts, listings and buckets, never a provider's SDK types.

use std::collections::HashMap;

use bytes::Bytes;

use super::Body;
use crate::object::{Encryption, Listed, StandardHeaders, Tags};

/// What a new object carries besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct ObjectWrite<'a> {
    pub headers: Option<&'a StandardHeaders>,
    /// User metadata, crr's marks included.
    pub metadata: HashMap<String, String>,
    pub tags: Option<&'a Tags>,
    pub storage_class: Option<&'a str>,
    pub encryption: Encryption,
    pub content_type: Option<&'a str>,
}

/// Bytes to write: a stream of known length, and optionally the MD5 the server
/// must find in them (it rejects the write otherwise).
#[derive(Debug)]
pub struct Upload {
    pub body: Body,
    pub len: u64,
    pub content_md5: Option<[u8; 16]>,
}

impl Upload {
    pub fn new(body: Body, len: u64) -> Self {
        Upload { body, len, content_md5: None }
    }

    /// Bytes held in memory, e.g. crr's own small state objects.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let len = bytes.len() as u64;
        Upload { body: Body::from(bytes), len, content_md5: None }
    }
}

/// A write that only happens if the key is in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition<'a> {
    #[default]
    Always,
    /// Only if nothing is stored at the key (`If-None-Match: *`).
    Absent,
    /// Only if the object at the key has this ETag.
    Matches(&'a str),
}

/// A read of one object.
#[derive(Debug, Clone, Copy, Default)]
pub struct Read<'a> {
    pub version_id: Option<&'a str>,
    /// Bytes `offset..offset + len` only.
    pub range: Option<(u64, u64)>,
    /// Only if the object still has this ETag (412 otherwise).
    pub if_match: Option<&'a str>,
}

/// Where a server-side copy reads from.
#[derive(Debug, Clone, Copy)]
pub struct CopySource<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Only if the source still has this ETag.
    pub if_match: Option<&'a str>,
    /// Bytes `offset..offset + len` only (part copies).
    pub range: Option<(u64, u64)>,
}

/// What a `HEAD ?partNumber=` tells about one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartHead {
    pub len: u64,
    /// `None` when the server ignored the part number.
    pub parts_count: Option<u32>,
}

/// One part of a multipart upload, for completing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: i32,
    /// As the server returned it.
    pub etag: String,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<Listed>,
    /// With a delimiter: the common prefixes of this page.
    pub prefixes: Vec<String>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct List<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub start_after: Option<&'a str>,
    pub continuation: Option<&'a str>,
    pub max_keys: Option<i32>,
}

/// A key a batch delete refused, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: String,
    pub code: Option<String>,
    pub message: String,
}

/// What a write stored, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// As the server sent it (possibly quoted): normalise before comparing.
    pub etag: String,
    /// CRC-64/ECMA of what was stored, when the server keeps one (OSS).
    pub crc64: Option<u64>,
    /// The version the write made, in a versioned bucket.
    pub version_id: Option<String>,
}

impl Written {
    pub fn etag(etag: impl Into<String>) -> Self {
        Written { etag: etag.into(), crc64: None, version_id: None }
    }

    /// With the version the server reports (`null`, an unversioned bucket's, is none).
    pub fn with_version_id(self, version_id: Option<&str>) -> Self {
        Written { version_id: version_id.filter(|v| !v.is_empty() && *v != "null").map(str::to_owned), ..self }
    }
}

/// What deleting one key (or one version of it) did, as the server reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// In a versioned bucket: the delete marker made, or the version removed.
    pub version_id: Option<String>,
    /// The delete made (or removed) a delete marker.
    pub delete_marker: bool,
}

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled.
    Off,
    Enabled,
    Suspended,
}

/// What a store tells about a bucket it can reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketInfo {
    /// The region the bucket is in, when the server says (OSS `Location`, S3 `x-amz-bucket-region`).
    pub region: Option<String>,
    /// The owning account, when the server says (OSS).
    pub owner: Option<String>,
    /// The default storage class of new objects, when the server says (OSS).
    pub storage_class: Option<String>,
    /// Versioning, when the answer carried it (OSS `GetBucketInfo`).
    pub versioning: Option<Versioning>,
}

/// A key for a batch delete, and the ETag it must still have (servers that honour
/// per-key conditions refuse the key otherwise; others delete it regardless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doomed<'a> {
    pub key: &'a str,
    pub etag: Option<&'a str>,
}

/// A multipart upload that was started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub key: String,
    pub upload_id: String,
    /// Seconds since the epoch, if the server said.
    pub initiated: Option<i64>,
}
