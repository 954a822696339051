//! The object-store interface: every request crr makes to a bucket goes through a
//! [`Store`], whatever speaks it underneath. The copy engine, object-deleted,
//! backfill, status and the operator's tool ask for operations in the vocabulary
//! of objects and buckets (head, get, put, copy, parts, delete, list, tags,
//! symlinks, versioning, bucket policies); a dialect turns them into one
//! provider's requests and its answers back into these types ([`types`]).
//!
//! * [`s3`]: the S3 API through aws-sdk-s3 (AWS, MinIO, seaweedfs, OSS's
//!   S3-compatible endpoint).
//! * [`oss`]: OSS's own REST API (V4 signatures, `x-oss-*` headers, OSS XML, CRC-64,
//!   symlinks), over hyper.
//!
//! Which one a bucket gets is [`crate::config::Api`], chosen by endpoint unless
//! configured. Failures come back as [`Failure`]: the fault class, HTTP status,
//! service code and message. Callers add what they were doing, to which object,
//! and the fix. A missing object is an answer ([`Store::head_found`],
//! [`Store::get_found`]); a missing bucket never is ([`buckets`]).

mod body;
pub mod buckets;
pub mod oss;
pub mod s3;
mod types;

use std::sync::{Arc, OnceLock};

use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use bytes::Bytes;

pub use self::body::{hashing, Body, Digest, StreamDigest};
use self::buckets::KnownBuckets;
pub use self::s3::s3_client;
pub use self::types::{
    BucketInfo, Condition, CopySource, Deleted, Doomed, List, ListPage, ObjectWrite, PartHead, PendingUpload, Read,
    Refusal, Upload, UploadedPart, Versioning, Written,
};
use crate::config::{Api, Endpoint};
use crate::decide::gone::Newest;
use crate::error::{Failure, Fault};
use crate::object::{unquote_etag, ObjectState, Tags};

/// One HTTPS-capable client (rustls with ring) shared by every store and STS client in the process.
pub fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The HTTP clients of a process: one connection pool for the AWS SDK (S3, STS) and
/// one for OSS's own API, built when the first OSS store is. Clones share them.
#[derive(Clone)]
pub struct Connections {
    s3: SharedHttpClient,
    oss: Arc<OnceLock<oss::Http>>,
}

impl Default for Connections {
    fn default() -> Self {
        Connections::new()
    }
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connections")
    }
}

impl Connections {
    pub fn new() -> Self {
        Connections { s3: http_client(), oss: Arc::new(OnceLock::new()) }
    }

    /// The AWS SDK's client, for S3 stores and STS.
    pub fn s3(&self) -> &SharedHttpClient {
        &self.s3
    }

    fn oss(&self) -> oss::Http {
        self.oss.get_or_init(oss::http_client).clone()
    }
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
    Oss(oss::OssStore),
}

/// Runs the same call on whichever dialect the store speaks.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.dialect {
            Dialect::S3($store) => $call,
            Dialect::Oss($store) => $call,
        }
    };
}

impl Store {
    /// A store for `endpoint` speaking `api`, acting with `credentials`, over the
    /// process's shared `connections`.
    pub fn new(
        connections: &Connections,
        endpoint: &Endpoint,
        api: Api,
        credentials: Arc<dyn ProvideCredentials>,
    ) -> Store {
        let named = match &endpoint.url {
            Some(url) => url.clone(),
            None => format!("the default endpoint of region {}", endpoint.region),
        };
        let dialect = match api {
            Api::S3 => Dialect::S3(s3::S3Store::new(connections.s3(), endpoint, credentials)),
            Api::Oss => Dialect::Oss(oss::OssStore::new(connections.oss(), endpoint, credentials)),
        };
        Store { dialect, endpoint: named.into(), buckets: Arc::default() }
    }

    /// The API this store speaks.
    pub fn api(&self) -> Api {
        match &self.dialect {
            Dialect::S3(_) => Api::S3,
            Dialect::Oss(_) => Api::Oss,
        }
    }

    /// Whether the service keeps symbolic links (OSS); elsewhere a link's target is
    /// copied as bytes.
    pub fn keeps_symlinks(&self) -> bool {
        self.api() == Api::Oss
    }

    /// The endpoint, as errors name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The object's state; a missing object is a failure that [`Failure::is_not_found`].
    pub async fn head(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<ObjectState, Failure> {
        dispatch!(self, s => s.head(bucket, key, read).await)
    }

    /// The size of one part of a multipart object, and how many parts it has.
    pub async fn head_part(&self, bucket: &str, key: &str, part: u32) -> Result<PartHead, Failure> {
        dispatch!(self, s => s.head_part(bucket, key, part).await)
    }

    /// The object's state and its bytes (or the requested range of them), streamed.
    pub async fn get(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<(ObjectState, Body), Failure> {
        dispatch!(self, s => s.get(bucket, key, read).await)
    }

    /// A small object read whole (crr's own state), with its ETag as the server sent
    /// it (without quotes), for a conditional write that replaces it.
    pub async fn get_bytes(&self, bucket: &str, key: &str) -> Result<(Bytes, String), Failure> {
        let (state, body) = self.get(bucket, key, Read::default()).await?;
        Ok((body.collect().await?, unquote_etag(&state.server_etag)))
    }

    /// Writes `upload` at `key`.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        upload: Upload,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        dispatch!(self, s => s.put(bucket, key, upload, write, condition).await)
    }

    /// Copies `source` to `key` inside the service, replacing metadata and tags with
    /// `write`'s.
    pub async fn copy(
        &self,
        bucket: &str,
        key: &str,
        source: CopySource<'_>,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        dispatch!(self, s => s.copy(bucket, key, source, write, condition).await)
    }

    /// Starts a multipart upload; returns its upload id.
    pub async fn start_upload(&self, bucket: &str, key: &str, write: &ObjectWrite<'_>) -> Result<String, Failure> {
        dispatch!(self, s => s.start_upload(bucket, key, write).await)
    }

    /// Uploads part `number` (1-based).
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        upload: Upload,
    ) -> Result<Written, Failure> {
        dispatch!(self, s => s.upload_part(bucket, key, upload_id, number, upload).await)
    }

    /// Copies a range of `source` into part `number` inside the service.
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        source: CopySource<'_>,
    ) -> Result<Written, Failure> {
        dispatch!(self, s => s.upload_part_copy(bucket, key, upload_id, number, source).await)
    }

    /// Completes an upload from its parts, in order.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        dispatch!(self, s => s.complete_upload(bucket, key, upload_id, parts, condition).await)
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), Failure> {
        dispatch!(self, s => s.abort_upload(bucket, key, upload_id).await)
    }

    /// Deletes one key, or one version of it (S3 and OSS `DeleteObject`). In a versioned
    /// bucket, a delete without a version leaves a delete marker, whose version comes back.
    pub async fn delete_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Deleted, Failure> {
        dispatch!(self, s => s.delete_version(bucket, key, version_id).await)
    }

    /// Deletes up to 1000 keys in one request; returns the keys the server refused.
    pub async fn delete_many(&self, bucket: &str, keys: &[Doomed<'_>]) -> Result<Vec<Refusal>, Failure> {
        dispatch!(self, s => s.delete_many(bucket, keys).await)
    }

    /// Deletes one object, only if it still has ETag `if_match` when given (servers
    /// that do not honour the condition delete it regardless).
    pub async fn delete(&self, bucket: &str, key: &str, if_match: Option<&str>) -> Result<(), Failure> {
        dispatch!(self, s => s.delete(bucket, key, if_match).await)
    }

    /// Incomplete multipart uploads of keys under `prefix`, every page.
    pub async fn pending_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>, Failure> {
        dispatch!(self, s => s.pending_uploads(bucket, prefix).await)
    }

    /// The newest entry of `key`'s version history (versioned buckets).
    pub async fn newest_version(&self, bucket: &str, key: &str) -> Result<Newest, Failure> {
        dispatch!(self, s => s.newest_version(bucket, key).await)
    }

    /// Whether `bucket` exists; a bucket the identity may not look at counts as existing.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, Failure> {
        dispatch!(self, s => s.bucket_exists(bucket).await)
    }

    /// One page of keys in order.
    pub async fn list(&self, bucket: &str, list: List<'_>) -> Result<ListPage, Failure> {
        dispatch!(self, s => s.list(bucket, list).await)
    }

    pub async fn tags(&self, bucket: &str, key: &str) -> Result<Tags, Failure> {
        dispatch!(self, s => s.tags(bucket, key).await)
    }

    /// The key a symbolic link points to (OSS `GetSymlink`).
    pub async fn symlink_target(&self, bucket: &str, key: &str) -> Result<String, Failure> {
        dispatch!(self, s => s.symlink_target(bucket, key).await)
    }

    /// Writes a symbolic link to `target` at `key` with `write`'s metadata and tags
    /// (OSS `PutSymlink`).
    pub async fn put_symlink(
        &self,
        bucket: &str,
        key: &str,
        target: &str,
        write: &ObjectWrite<'_>,
    ) -> Result<Written, Failure> {
        dispatch!(self, s => s.put_symlink(bucket, key, target, write).await)
    }

    /// The bucket's versioning state (S3 and OSS `GetBucketVersioning`).
    pub async fn versioning(&self, bucket: &str) -> Result<Versioning, Failure> {
        dispatch!(self, s => s.versioning(bucket).await)
    }

    /// The bucket's policy document; `None` when it has none.
    pub async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, Failure> {
        dispatch!(self, s => s.bucket_policy(bucket).await)
    }

    /// Replaces the bucket's policy with `policy` (a PUT replaces the whole policy:
    /// merge first).
    pub async fn put_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), Failure> {
        dispatch!(self, s => s.put_bucket_policy(bucket, policy).await)
    }

    /// That the bucket exists and this identity may reach it, and what the server
    /// tells about it (S3 `HeadBucket`, OSS `GetBucketInfo`).
    pub async fn bucket_info(&self, bucket: &str) -> Result<BucketInfo, Failure> {
        dispatch!(self, s => s.bucket_info(bucket).await)
    }

    /// The underlying S3 client, for the operator's bucket-level checks; `None` for OSS.
    pub fn s3(&self) -> Option<&aws_sdk_s3::Client> {
        match &self.dialect {
            Dialect::S3(s) => Some(s.client()),
            Dialect::Oss(_) => None,
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
