//! The S3 dialect, through aws-sdk-s3: AWS S3 and S3-compatible servers (MinIO,
//! seaweedfs, OSS's S3-compatible endpoint). Configured the way those servers
//! need: path-style when asked, no default CRC checksums or `aws-chunked` bodies
//! (OSS and many S3-compatible servers reject them), the shared connection pool,
//! and credentials cached by us rather than by the SDK. Bucket-level operations
//! are in [`bucket`].

mod bucket;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::config::{
    BehaviorVersion, IdentityCache, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier, ServerSideEncryption,
    StorageClass, TaggingDirective,
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::{
    Body, Condition, CopySource, Deleted, Doomed, List, ListPage, ObjectWrite, PartHead, PendingUpload, Read, Refusal,
    Upload, UploadedPart, Written,
};
use crate::config::Endpoint;
use crate::decide::gone::Newest;
use crate::error::{source_text, Failure, Fault};
use crate::object::{
    encode_tags, normalize_etag, unquote_etag, Encryption, Listed, Marks, ObjectState, ObjectType, Restore,
    StandardHeaders, Tags,
};

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

/// An S3 client for `endpoint` acting with `credentials`.
pub fn s3_client(
    http: &SharedHttpClient,
    endpoint: &Endpoint,
    credentials: Arc<dyn ProvideCredentials>,
) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(endpoint.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(ArcProvider(credentials)))
        .identity_cache(IdentityCache::no_cache())
        .http_client(http.clone())
        .force_path_style(endpoint.path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        // Retries of whole operations (with fresh streams) are ours; the SDK only
        // retries what it can replay.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(60))
                .build(),
        )
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled().grace_period(Duration::from_secs(20)).build(),
        );
    if let Some(url) = &endpoint.url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Lets an `Arc<dyn ProvideCredentials>` be handed to the SDK.
#[derive(Debug)]
struct ArcProvider(Arc<dyn ProvideCredentials>);

impl ProvideCredentials for ArcProvider {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

/// Sets what travels with the object on a PutObject, CreateMultipartUpload or
/// CopyObject request (their builders share these method names).
macro_rules! with_object_write {
    ($builder:expr, $write:expr) => {{
        let write: &ObjectWrite = $write;
        let h = write.headers;
        #[allow(deprecated)]
        let builder = $builder
            .set_content_type(write.content_type.map(str::to_owned).or_else(|| h.and_then(|h| h.content_type.clone())))
            .set_cache_control(h.and_then(|h| h.cache_control.clone()))
            .set_content_disposition(h.and_then(|h| h.content_disposition.clone()))
            .set_content_encoding(h.and_then(|h| h.content_encoding.clone()))
            .set_content_language(h.and_then(|h| h.content_language.clone()))
            .set_expires(h.and_then(|h| h.expires.as_deref()).and_then(parse_http_date))
            .set_metadata((!write.metadata.is_empty()).then(|| write.metadata.clone()))
            .set_tagging(write.tags.filter(|t| !t.is_empty()).map(encode_tags))
            .set_storage_class(write.storage_class.map(StorageClass::from));
        match &write.encryption {
            Encryption::None => builder,
            Encryption::Managed => builder.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id } => {
                builder.server_side_encryption(ServerSideEncryption::AwsKms).set_ssekms_key_id(key_id.clone())
            }
        }
    }};
}

/// Sets a write's condition on a PutObject, CopyObject or CompleteMultipartUpload
/// request (their builders share `if_match` and `if_none_match`).
macro_rules! with_condition {
    ($builder:expr, $condition:expr) => {{
        match $condition {
            Condition::Always => $builder,
            Condition::Absent => $builder.if_none_match("*"),
            Condition::Matches(etag) => $builder.if_match(quoted(etag)),
        }
    }};
}

/// Reads the fields HEAD and GET responses share.
macro_rules! object_state_from {
    ($out:expr) => {{
        let out = $out;
        let mut metadata = out.metadata().cloned().unwrap_or_default();
        let marks = Marks::take(&mut metadata);
        let encryption = match out.server_side_encryption() {
            None => Encryption::None,
            Some(ServerSideEncryption::Aes256) => Encryption::Managed,
            Some(_) => Encryption::Kms { key_id: out.ssekms_key_id().map(str::to_owned) },
        };
        #[allow(deprecated)]
        let expires = out.expires_string().map(str::to_owned);
        let etag = out.e_tag().unwrap_or_default();
        ObjectState {
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: normalize_etag(etag),
            server_etag: unquote_etag(etag),
            object_type: ObjectType::from_etag(&normalize_etag(etag)),
            crc64: None,
            restore: out.restore().and_then(Restore::parse),
            headers: StandardHeaders {
                content_type: out.content_type().map(str::to_owned),
                cache_control: out.cache_control().map(str::to_owned),
                content_disposition: out.content_disposition().map(str::to_owned),
                content_encoding: out.content_encoding().map(str::to_owned),
                content_language: out.content_language().map(str::to_owned),
                expires,
            },
            metadata,
            replica_of: marks.replica_of,
            source_etag: marks.source_etag,
            source_modified: marks.source_modified,
            source_version: marks.source_version,
            tag_count: out.tag_count().map(|c| c.max(0) as u32),
            encryption,
            storage_class: out.storage_class().map(|s| s.as_str().to_owned()),
            version_id: out.version_id().map(str::to_owned),
            last_modified: out.last_modified().map(|t| t.secs()),
        }
    }};
}

impl S3Store {
    pub fn new(http: &SharedHttpClient, endpoint: &Endpoint, credentials: Arc<dyn ProvideCredentials>) -> Self {
        S3Store { client: s3_client(http, endpoint, credentials) }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub async fn head(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<ObjectState, Failure> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(read.version_id.map(str::to_owned))
            .set_if_match(read.if_match.map(quoted))
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        Ok(object_state_from!(&out))
    }

    pub async fn head_part(&self, bucket: &str, key: &str, part: u32) -> Result<PartHead, Failure> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .part_number(part as i32)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        Ok(PartHead {
            len: out.content_length().unwrap_or(0).max(0) as u64,
            parts_count: out.parts_count().map(|n| n.max(0) as u32),
        })
    }

    pub async fn get(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<(ObjectState, Body), Failure> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(read.version_id.map(str::to_owned))
            .set_range(read.range.map(|(offset, len)| format!("bytes={}-{}", offset, offset + len.max(1) - 1)))
            .set_if_match(read.if_match.map(quoted))
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        let state = object_state_from!(&out);
        Ok((state, Body::new(out.body.into_inner())))
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        upload: Upload,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(upload.len as i64)
            .set_content_md5(upload.content_md5.map(base64_md5))
            .body(byte_stream(upload.body));
        let request = with_condition!(request, condition);
        let out = with_object_write!(request, write).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(Written::etag(out.e_tag().unwrap_or_default()).with_version_id(out.version_id()))
    }

    pub async fn copy(
        &self,
        bucket: &str,
        key: &str,
        source: CopySource<'_>,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        let request = self
            .client
            .copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(copy_source(source.bucket, source.key))
            .set_copy_source_if_match(source.if_match.map(quoted))
            .metadata_directive(MetadataDirective::Replace)
            .tagging_directive(TaggingDirective::Replace);
        let request = with_condition!(request, condition);
        let out = with_object_write!(request, write).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(Written::etag(out.copy_object_result().and_then(|r| r.e_tag()).unwrap_or_default())
            .with_version_id(out.version_id()))
    }

    pub async fn start_upload(&self, bucket: &str, key: &str, write: &ObjectWrite<'_>) -> Result<String, Failure> {
        let request = self.client.create_multipart_upload().bucket(bucket).key(key);
        let out = with_object_write!(request, write).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(out.upload_id().unwrap_or_default().to_owned())
    }

    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        upload: Upload,
    ) -> Result<Written, Failure> {
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(upload.len as i64)
            .set_content_md5(upload.content_md5.map(base64_md5))
            .body(byte_stream(upload.body))
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        Ok(Written::etag(out.e_tag().unwrap_or_default()))
    }

    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        source: CopySource<'_>,
    ) -> Result<Written, Failure> {
        let out = self
            .client
            .upload_part_copy()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(copy_source(source.bucket, source.key))
            .set_copy_source_if_match(source.if_match.map(quoted))
            .set_copy_source_range(
                source.range.map(|(offset, len)| format!("bytes={}-{}", offset, (offset + len).max(1) - 1)),
            )
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        Ok(Written::etag(out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default()))
    }

    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        let parts =
            parts.iter().map(|p| CompletedPart::builder().part_number(p.number).e_tag(&p.etag).build()).collect();
        let request = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        let out = with_condition!(request, condition).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(Written::etag(out.e_tag().unwrap_or_default()).with_version_id(out.version_id()))
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), Failure> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Failure::from_sdk(&e))
    }

    pub async fn delete_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Deleted, Failure> {
        let out = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        Ok(Deleted {
            version_id: out.version_id().filter(|v| *v != "null").map(str::to_owned),
            delete_marker: out.delete_marker().unwrap_or(false),
        })
    }

    pub async fn delete_many(&self, bucket: &str, keys: &[Doomed<'_>]) -> Result<Vec<Refusal>, Failure> {
        let invalid = |e: aws_sdk_s3::error::BuildError| Failure {
            fault: Fault::Permanent,
            status: None,
            code: None,
            message: e.to_string(),
        };
        let objects: Vec<ObjectIdentifier> = keys
            .iter()
            .map(|d| ObjectIdentifier::builder().key(d.key).set_e_tag(d.etag.map(quoted)).build())
            .collect::<Result<_, _>>()
            .map_err(invalid)?;
        let delete = Delete::builder().set_objects(Some(objects)).quiet(false).build().map_err(invalid)?;
        let out = self
            .client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .customize()
            // S3 and OSS require Content-MD5 on a batch delete.
            .mutate_request(|req| {
                if let Some(body) = req.body().bytes() {
                    use md5::Digest;
                    let md5: [u8; 16] = md5::Md5::digest(body).into();
                    req.headers_mut().insert("Content-MD5", base64_md5(md5));
                }
            })
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        Ok(out
            .errors()
            .iter()
            .map(|err| Refusal {
                key: err.key().unwrap_or_default().to_owned(),
                code: err.code().map(str::to_owned),
                message: err.message().unwrap_or("refused").to_owned(),
            })
            .collect())
    }

    pub async fn delete(&self, bucket: &str, key: &str, if_match: Option<&str>) -> Result<(), Failure> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(if_match.map(quoted))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Failure::from_sdk(&e))
    }

    pub async fn newest_version(&self, bucket: &str, key: &str) -> Result<Newest, Failure> {
        // The key sorts first among the keys it prefixes, and its newest entry first
        // among its own: one entry tells.
        let page = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        let latest = |k: Option<&str>, latest: Option<bool>| k == Some(key) && latest != Some(false);
        if page.delete_markers().iter().any(|m| latest(m.key(), m.is_latest())) {
            Ok(Newest::DeleteMarker)
        } else if page.versions().iter().any(|v| latest(v.key(), v.is_latest())) {
            Ok(Newest::Object)
        } else {
            Ok(Newest::Nothing)
        }
    }

    pub async fn pending_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>, Failure> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| Failure::from_sdk(&e))?;
            out.extend(page.uploads().iter().filter_map(|u| {
                Some(PendingUpload {
                    key: u.key()?.to_owned(),
                    upload_id: u.upload_id()?.to_owned(),
                    initiated: u.initiated().map(|t| t.secs()),
                })
            }));
            match (page.is_truncated(), page.next_key_marker(), page.next_upload_id_marker()) {
                (Some(true), Some(k), id) if !k.is_empty() => {
                    key_marker = Some(k.to_owned());
                    id_marker = id.map(str::to_owned);
                }
                _ => return Ok(out),
            }
        }
    }

    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, Failure> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                match f.status {
                    Some(404) => Ok(false),
                    // The bucket is there; this identity may not look at it.
                    Some(403) => Ok(true),
                    _ => Err(f),
                }
            }
        }
    }

    pub async fn list(&self, bucket: &str, list: List<'_>) -> Result<ListPage, Failure> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(list.prefix)
            .set_delimiter(list.delimiter.map(str::to_owned))
            .set_start_after(list.start_after.map(str::to_owned))
            .set_continuation_token(list.continuation.map(str::to_owned))
            .set_max_keys(list.max_keys)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(&e))?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: normalize_etag(o.e_tag().unwrap_or_default()),
                    modified: o.last_modified().map(|t| t.secs()),
                })
            })
            .collect();
        let prefixes = page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)).collect();
        let next = match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => Some(t.to_owned()),
            _ => None,
        };
        Ok(ListPage { objects, prefixes, next })
    }

    pub async fn tags(&self, bucket: &str, key: &str) -> Result<Tags, Failure> {
        let out =
            self.client.get_object_tagging().bucket(bucket).key(key).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
    }

    /// S3 has no symbolic links: crr never asks an S3 store for one ([`super::Store::keeps_symlinks`]).
    pub async fn symlink_target(&self, _bucket: &str, _key: &str) -> Result<String, Failure> {
        Err(no_symlinks())
    }

    pub async fn put_symlink(
        &self,
        _bucket: &str,
        _key: &str,
        _target: &str,
        _write: &ObjectWrite<'_>,
    ) -> Result<Written, Failure> {
        Err(no_symlinks())
    }
}

fn no_symlinks() -> Failure {
    Failure {
        fault: Fault::Permanent,
        status: None,
        code: Some("NotImplemented".into()),
        message: "symbolic links are an OSS feature; the S3 API has none".into(),
    }
}

fn byte_stream(body: Body) -> ByteStream {
    ByteStream::new(SdkBody::from_body_1_x(body.into_inner()))
}

fn base64_md5(md5: [u8; 16]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(md5)
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// `bucket/key` with the key percent-encoded, as `x-amz-copy-source` takes it.
fn copy_source(bucket: &str, key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    format!("{bucket}/{}", utf8_percent_encode(key, KEEP))
}

fn parse_http_date(text: &str) -> Option<aws_smithy_types::DateTime> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::HttpDate).ok()
}

impl Failure {
    /// What the SDK reported, reduced to what callers decide on.
    pub fn from_sdk<E, R>(err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + HttpStatus + 'static,
    {
        match err {
            SdkError::ServiceError(se) => {
                let status = se.raw().status_code();
                Failure::from_answer(status, se.err().code(), se.err().message())
            }
            SdkError::TimeoutError(_) => Failure {
                fault: Fault::Transient,
                status: None,
                code: Some("Timeout".into()),
                message: "the request timed out".into(),
            },
            SdkError::DispatchFailure(_) => Failure {
                fault: Fault::Transient,
                status: None,
                code: Some("NetworkError".into()),
                message: format!("could not reach the endpoint: {}", source_text(err)),
            },
            SdkError::ResponseError(_) => Failure {
                fault: Fault::Transient,
                status: None,
                code: Some("BadResponse".into()),
                message: format!("the response could not be read: {}", source_text(err)),
            },
            _ => Failure {
                fault: Fault::Permanent,
                status: None,
                code: None,
                message: format!("the request could not be built: {}", source_text(err)),
            },
        }
    }
}

/// Status code of a raw response, whatever its concrete type.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
