//! The object-store interface: every request crr makes to a bucket goes through a
//! [`Store`], whatever speaks it underneath. The copy engine, object-deleted,
//! backfill, status and the operator's tool ask for operations in the vocabulary
//! of objects (head, get, put, copy, parts, delete, list, tags); a dialect turns
//! them into one provider's requests and its answers back into these types.
//!
//! * [`s3`]: the S3 API through aws-sdk-s3 (AWS, MinIO, seaweedfs, OSS's
//!   S3-compatible endpoint).
//!
//! Failures come back as [`Failure`]: the fault class, HTTP status, service code
//! and message. Callers add what they were doing, to which object, and the fix.
//! A missing object is an answer ([`Store::head_found`], [`Store::get_found`]); a
//! missing bucket never is ([`buckets`]).

mod body;
pub mod buckets;
pub mod s3;

use std::collections::HashMap;
use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use bytes::Bytes;

pub use self::body::{hashing, Body, StreamDigest};
use self::buckets::KnownBuckets;
pub use self::s3::s3_client;
use crate::config::Endpoint;
use crate::decide::gone::Newest;
use crate::error::{Failure, Fault};
use crate::object::{Encryption, Listed, ObjectState, StandardHeaders, Tags};

/// One HTTPS-capable client (rustls with ring) shared by every store and STS client in the process.
pub fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// A bucket service reached with one identity. Cheap to clone: clones share
/// connections and credentials.
#[derive(Clone, Debug)]
pub struct Store {
    dialect: Dialect,
    /// Where the service is, as errors name it.
    endpoint: Arc<str>,
    buckets: Arc<KnownBuckets>,
}

#[derive(Clone, Debug)]
enum Dialect {
    S3(s3::S3Store),
}

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

/// A key a batch delete refused, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: String,
    pub code: Option<String>,
    pub message: String,
}

impl Store {
    /// A store for `endpoint` acting with `credentials`, over the shared `http` client.
    pub fn new(http: &SharedHttpClient, endpoint: &Endpoint, credentials: Arc<dyn ProvideCredentials>) -> Store {
        let named = match &endpoint.url {
            Some(url) => url.clone(),
            None => format!("the default endpoint of region {}", endpoint.region),
        };
        Store {
            dialect: Dialect::S3(s3::S3Store::new(http, endpoint, credentials)),
            endpoint: named.into(),
            buckets: Arc::default(),
        }
    }

    /// The endpoint, as errors name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The object's state; a missing object is a failure that [`Failure::is_not_found`].
    pub async fn head(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<ObjectState, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.head(bucket, key, read).await,
        }
    }

    /// The size of one part of a multipart object, and how many parts it has.
    pub async fn head_part(&self, bucket: &str, key: &str, part: u32) -> Result<PartHead, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.head_part(bucket, key, part).await,
        }
    }

    /// The object's state and its bytes (or the requested range of them), streamed.
    pub async fn get(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<(ObjectState, Body), Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.get(bucket, key, read).await,
        }
    }

    /// A small object read whole (crr's own state), with its ETag.
    pub async fn get_bytes(&self, bucket: &str, key: &str) -> Result<(Bytes, String), Failure> {
        let (state, body) = self.get(bucket, key, Read::default()).await?;
        Ok((body.collect().await?, state.etag))
    }

    /// Writes `upload` at `key`; returns the ETag the server gave the object.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        upload: Upload,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<String, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.put(bucket, key, upload, write, condition).await,
        }
    }

    /// Copies `source` to `key` inside the service, replacing metadata and tags with
    /// `write`'s; returns the new object's ETag.
    pub async fn copy(
        &self,
        bucket: &str,
        key: &str,
        source: CopySource<'_>,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<String, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.copy(bucket, key, source, write, condition).await,
        }
    }

    /// Starts a multipart upload; returns its upload id.
    pub async fn start_upload(&self, bucket: &str, key: &str, write: &ObjectWrite<'_>) -> Result<String, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.start_upload(bucket, key, write).await,
        }
    }

    /// Uploads part `number` (1-based); returns its ETag as the server gave it.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        upload: Upload,
    ) -> Result<String, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.upload_part(bucket, key, upload_id, number, upload).await,
        }
    }

    /// Copies a range of `source` into part `number` inside the service; returns its ETag.
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        source: CopySource<'_>,
    ) -> Result<String, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.upload_part_copy(bucket, key, upload_id, number, source).await,
        }
    }

    /// Completes an upload from its parts, in order; returns the object's ETag.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
        condition: Condition<'_>,
    ) -> Result<String, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.complete_upload(bucket, key, upload_id, parts, condition).await,
        }
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.abort_upload(bucket, key, upload_id).await,
        }
    }

    /// Deletes up to 1000 keys in one request; returns the keys the server refused.
    pub async fn delete_many(&self, bucket: &str, keys: &[Doomed<'_>]) -> Result<Vec<Refusal>, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.delete_many(bucket, keys).await,
        }
    }

    /// Deletes one object, only if it still has ETag `if_match` when given (servers
    /// that do not honour the condition delete it regardless).
    pub async fn delete(&self, bucket: &str, key: &str, if_match: Option<&str>) -> Result<(), Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.delete(bucket, key, if_match).await,
        }
    }

    /// Incomplete multipart uploads of keys under `prefix`, every page.
    pub async fn pending_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.pending_uploads(bucket, prefix).await,
        }
    }

    /// The newest entry of `key`'s version history (versioned buckets).
    pub async fn newest_version(&self, bucket: &str, key: &str) -> Result<Newest, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.newest_version(bucket, key).await,
        }
    }

    /// Whether `bucket` exists; a bucket the identity may not look at counts as existing.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.bucket_exists(bucket).await,
        }
    }

    /// One page of keys in order.
    pub async fn list(&self, bucket: &str, list: List<'_>) -> Result<ListPage, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.list(bucket, list).await,
        }
    }

    pub async fn tags(&self, bucket: &str, key: &str) -> Result<Tags, Failure> {
        match &self.dialect {
            Dialect::S3(s) => s.tags(bucket, key).await,
        }
    }

    /// The underlying S3 client, for the operator's bucket-level checks.
    pub fn s3(&self) -> Option<&aws_sdk_s3::Client> {
        match &self.dialect {
            Dialect::S3(s) => Some(s.client()),
        }
    }
}

impl Store {
    /// The object's state, `None` if there is no object; a missing bucket is a failure
    /// that names it and the endpoint (see [`buckets`]).
    pub async fn head_found(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<Option<ObjectState>, Failure> {
        match self.head(bucket, key, read).await {
            Ok(state) => Ok(Some(state)),
            Err(f) => self.missing_object(bucket, f).await.map(|()| None),
        }
    }

    /// [`Store::get`], `None` if there is no object; a missing bucket is a failure.
    pub async fn get_found(
        &self,
        bucket: &str,
        key: &str,
        read: Read<'_>,
    ) -> Result<Option<(ObjectState, Body)>, Failure> {
        match self.get(bucket, key, read).await {
            Ok(found) => Ok(Some(found)),
            Err(f) => self.missing_object(bucket, f).await.map(|()| None),
        }
    }

    /// `Ok` if `failure` says the object is missing and the bucket is there; the
    /// failure itself, or one naming the missing bucket and the endpoint, otherwise.
    pub async fn missing_object(&self, bucket: &str, failure: Failure) -> Result<(), Failure> {
        if !failure.is_not_found() {
            return Err(if failure.is_missing_bucket() { self.no_such_bucket(bucket) } else { failure });
        }
        if self.buckets.recently_seen(bucket) {
            return Ok(());
        }
        if self.bucket_exists(bucket).await? {
            self.buckets.seen(bucket);
            Ok(())
        } else {
            Err(self.no_such_bucket(bucket))
        }
    }

    fn no_such_bucket(&self, bucket: &str) -> Failure {
        Failure {
            fault: Fault::Permanent,
            status: Some(404),
            code: Some("NoSuchBucket".into()),
            message: format!("bucket {bucket} does not exist at {}", self.endpoint),
        }
    }
}

/// Reading a result where a missing object is an answer, not an error.
pub trait Found<T> {
    /// `Ok(None)` for a missing object (or version), the failure otherwise.
    fn found(self) -> Result<Option<T>, Failure>;
}

impl<T> Found<T> for Result<T, Failure> {
    fn found(self) -> Result<Option<T>, Failure> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }
}
