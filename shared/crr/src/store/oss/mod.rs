//! The OSS dialect: Alibaba Cloud OSS's own REST API, spoken natively. Operations
//! carry OSS's names (HeadObject, GetObject, PutObject, CopyObject,
//! InitiateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
//! AbortMultipartUpload, DeleteMultipleObjects, ListObjectsV2, GetObjectTagging,
//! PutObjectTagging, GetSymlink, PutSymlink; the bucket-level ones are in [`bucket`]).
//!
//! What differs from S3 and is respected here: ETags are upper-case hex and are sent
//! back exactly as received in conditions (OSS compares them case-sensitively);
//! `x-oss-hash-crc64ecma` comes with every object and write, for verification;
//! ranged GETs ask for `x-oss-range-behavior: standard` so a bad range is an error,
//! not the whole object; OSS has no conditional PutObject, so "only if absent" is
//! `x-oss-forbid-overwrite` and "only if it still has this ETag" is checked by a
//! conditional HEAD just before the write (not atomic: a write landing in between
//! is overwritten); there is no `HEAD ?partNumber`, so a multipart source's part
//! layout is not learned (its replica records the source ETag, and the CRC-64
//! verifies the content whatever the layout).

mod bucket;
mod client;
mod headers;
mod xml;

use std::fmt;
use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http::Method;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub use self::client::{http_client, Http};
use self::client::{Call, Client, Payload, IDLE_TIMEOUT};
use self::headers::{header, object_state, write_headers, written};
use crate::config::Endpoint;
use crate::decide::gone::Newest;
use crate::error::{Failure, Fault};
use crate::object::{ObjectState, Tags};
use crate::store::{
    Body, Condition, CopySource, Deleted, Doomed, List, ListPage, ObjectWrite, PartHead, PendingUpload, Read, Refusal,
    Upload, UploadedPart, Written,
};

/// A key as `x-oss-copy-source` and `x-oss-symlink-target` take it: percent-encoded, `/` kept.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Clone)]
pub struct OssStore {
    /// Shared by clones, like the S3 dialect's SDK client.
    client: Arc<Client>,
}

impl fmt::Debug for OssStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OssStore")
            .field("endpoint", &format!("{}://{}", self.client.scheme, self.client.authority))
            .field("region", &self.client.region)
            .finish()
    }
}

impl OssStore {
    /// A store for `endpoint` (the region's public endpoint when it names none).
    pub fn new(http: Http, endpoint: &Endpoint, credentials: Arc<dyn ProvideCredentials>) -> Self {
        let region = endpoint.oss_region();
        let url = endpoint.url.clone().unwrap_or_else(|| format!("https://oss-{region}.aliyuncs.com"));
        let (scheme, rest) = url.split_once("://").unwrap_or(("https", url.as_str()));
        let authority = rest.split('/').next().unwrap_or(rest).to_owned();
        let client = Client {
            http,
            scheme: scheme.to_ascii_lowercase(),
            authority,
            path_style: endpoint.path_style,
            region,
            credentials,
        };
        OssStore { client: Arc::new(client) }
    }

    pub async fn head(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<ObjectState, Failure> {
        let response = self.client.send(object_call(Method::HEAD, bucket, key, read)).await?;
        Ok(object_state(response.headers()))
    }

    /// OSS has no `HEAD ?partNumber=`: the answer is "the server ignored the part number".
    pub async fn head_part(&self, _bucket: &str, _key: &str, _part: u32) -> Result<PartHead, Failure> {
        Ok(PartHead { len: 0, parts_count: None })
    }

    pub async fn get(&self, bucket: &str, key: &str, read: Read<'_>) -> Result<(ObjectState, Body), Failure> {
        let mut call = object_call(Method::GET, bucket, key, read);
        if let Some((offset, len)) = read.range {
            let last = offset + len.max(1) - 1;
            call = call.header("range", format!("bytes={offset}-{last}")).header("x-oss-range-behavior", "standard");
        }
        let response = self.client.send(call).await?;
        let state = object_state(response.headers());
        if let Some((offset, len)) = read.range {
            let whole = offset == 0 && len >= state.size;
            if response.status() != http::StatusCode::PARTIAL_CONTENT && !whole {
                return Err(Failure {
                    fault: Fault::Transient,
                    status: Some(response.status().as_u16()),
                    code: Some("RangeIgnored".into()),
                    message: format!(
                        "asked for bytes {offset}-{} and got the whole object (HTTP {})",
                        offset + len - 1,
                        response.status().as_u16()
                    ),
                });
            }
        }
        Ok((state, Body::new(response.into_body()).with_idle_timeout(IDLE_TIMEOUT)))
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        upload: Upload,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        let mut call = Call::new(Method::PUT, bucket, Some(key)).headers(write_headers(write));
        if let Some(md5) = upload.content_md5 {
            call = call.header("content-md5", base64(&md5));
        }
        match condition {
            Condition::Always => {}
            Condition::Absent => call = call.header("x-oss-forbid-overwrite", "true"),
            Condition::Matches(etag) => self.still_matches(bucket, key, etag).await?,
        }
        let call = call.payload(Payload::Stream { body: upload.body, len: upload.len });
        let (headers, _) = self.client.send_for_bytes(call).await.map_err(|f| refused_overwrite(f, condition))?;
        Ok(written(&headers))
    }

    /// CopyObject with the REPLACE directives: the new object carries `write`'s
    /// metadata and tags, not the source's.
    pub async fn copy(
        &self,
        bucket: &str,
        key: &str,
        source: CopySource<'_>,
        write: &ObjectWrite<'_>,
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        let call = Call::new(Method::PUT, bucket, Some(key))
            .headers(copy_source_headers(&source))
            .header("x-oss-metadata-directive", "REPLACE")
            .header("x-oss-tagging-directive", "Replace")
            .headers(write_headers(write));
        let call = self.with_condition(call, bucket, key, condition).await?;
        let (headers, body) = self.client.send_for_bytes(call).await.map_err(|f| refused_overwrite(f, condition))?;
        Ok(with_xml_etag(written(&headers), &body, "CopyObjectResult"))
    }

    pub async fn start_upload(&self, bucket: &str, key: &str, write: &ObjectWrite<'_>) -> Result<String, Failure> {
        let call = Call::new(Method::POST, bucket, Some(key)).query("uploads", "").headers(write_headers(write));
        let (_, body) = self.client.send_for_bytes(call).await?;
        xml::parse_upload_id(&body)
    }

    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        upload: Upload,
    ) -> Result<Written, Failure> {
        let mut call = Call::new(Method::PUT, bucket, Some(key))
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id);
        if let Some(md5) = upload.content_md5 {
            call = call.header("content-md5", base64(&md5));
        }
        let call = call.payload(Payload::Stream { body: upload.body, len: upload.len });
        let (headers, _) = self.client.send_for_bytes(call).await?;
        Ok(written(&headers))
    }

    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        source: CopySource<'_>,
    ) -> Result<Written, Failure> {
        let mut call = Call::new(Method::PUT, bucket, Some(key))
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id)
            .headers(copy_source_headers(&source));
        if let Some((offset, len)) = source.range {
            call = call.header("x-oss-copy-source-range", format!("bytes={offset}-{}", (offset + len).max(1) - 1));
        }
        let (headers, body) = self.client.send_for_bytes(call).await?;
        Ok(with_xml_etag(written(&headers), &body, "CopyPartResult"))
    }

    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
        condition: Condition<'_>,
    ) -> Result<Written, Failure> {
        let call = Call::new(Method::POST, bucket, Some(key))
            .query("uploadId", upload_id)
            .header("content-type", "application/xml")
            .payload(Payload::Bytes(Bytes::from(xml::complete_body(parts))));
        let call = self.with_condition(call, bucket, key, condition).await?;
        let (headers, body) = self.client.send_for_bytes(call).await.map_err(|f| refused_overwrite(f, condition))?;
        Ok(with_xml_etag(written(&headers), &body, "CompleteMultipartUploadResult"))
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), Failure> {
        let call = Call::new(Method::DELETE, bucket, Some(key)).query("uploadId", upload_id);
        self.client.send_for_bytes(call).await.map(drop)
    }

    /// DeleteObject, of the current object or of one version.
    pub async fn delete_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Deleted, Failure> {
        let mut call = Call::new(Method::DELETE, bucket, Some(key));
        if let Some(version_id) = version_id {
            call = call.query("versionId", version_id);
        }
        let (headers, _) = self.client.send_for_bytes(call).await?;
        Ok(Deleted {
            version_id: header(&headers, "x-oss-version-id").filter(|v| v != "null"),
            delete_marker: header(&headers, "x-oss-delete-marker").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    /// DeleteMultipleObjects (with the Content-MD5 it requires). OSS takes no ETag
    /// per key: the keys go regardless of the ETags they were doomed with.
    pub async fn delete_many(&self, bucket: &str, doomed: &[Doomed<'_>]) -> Result<Vec<Refusal>, Failure> {
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = doomed.iter().map(|d| d.key).collect();
        let keys = keys.as_slice();
        let body = xml::delete_body(keys);
        let md5 = {
            use md5::Digest as _;
            let digest: [u8; 16] = md5::Md5::digest(body.as_bytes()).into();
            base64(&digest)
        };
        let call = Call::new(Method::POST, bucket, None)
            .query("delete", "")
            .query("encoding-type", "url")
            .header("content-md5", md5)
            .header("content-type", "application/xml")
            .payload(Payload::Bytes(Bytes::from(body)));
        let (_, answer) = self.client.send_for_bytes(call).await?;
        xml::parse_delete_result(&answer, keys)
    }

    /// DeleteObject. OSS has no conditional delete: "only if it still has this ETag"
    /// is a conditional HEAD just before it (not atomic, as for PutObject).
    pub async fn delete(&self, bucket: &str, key: &str, if_match: Option<&str>) -> Result<(), Failure> {
        if let Some(etag) = if_match {
            self.still_matches(bucket, key, etag).await?;
        }
        self.client.send_for_bytes(Call::new(Method::DELETE, bucket, Some(key))).await.map(drop)
    }

    /// Whether the newest entry of `key` in a versioned bucket is an object, a delete
    /// marker, or nothing (ListObjectVersions, one entry).
    pub async fn newest_version(&self, bucket: &str, key: &str) -> Result<Newest, Failure> {
        let call = Call::new(Method::GET, bucket, None)
            .query("versions", "")
            .query("encoding-type", "url")
            .query("prefix", key)
            .query("max-keys", "1");
        let (_, body) = self.client.send_for_bytes(call).await?;
        xml::parse_newest_version(&body, key)
    }

    /// Multipart uploads started under `prefix` and neither completed nor aborted.
    pub async fn pending_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>, Failure> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut call = Call::new(Method::GET, bucket, None)
                .query("uploads", "")
                .query("encoding-type", "url")
                .query("prefix", prefix);
            if let Some((key, id)) = markers.take() {
                call = call.query("key-marker", key).query("upload-id-marker", id);
            }
            let (_, body) = self.client.send_for_bytes(call).await?;
            let (page, next) = xml::parse_uploads(&body)?;
            out.extend(page);
            match next {
                Some(next) => markers = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Whether the bucket is there (GetBucketInfo): a refusal means it is, and this
    /// identity may not look at it.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, Failure> {
        match self.client.send_for_bytes(Call::new(Method::GET, bucket, None).query("bucketInfo", "")).await {
            Ok(_) => Ok(true),
            Err(f) if f.status == Some(404) || f.code.as_deref() == Some("NoSuchBucket") => Ok(false),
            Err(f) if f.status == Some(403) => Ok(true),
            Err(f) => Err(f),
        }
    }

    /// `Ok` if `key` still has `etag`; a failed precondition if it has another or none.
    async fn still_matches(&self, bucket: &str, key: &str, etag: &str) -> Result<(), Failure> {
        let still = Read { if_match: Some(etag), ..Read::default() };
        match self.head(bucket, key, still).await {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.status, Some(404 | 412)) => Err(precondition_failed(&f.message)),
            Err(f) => Err(f),
        }
    }

    /// A write with `condition`: "only if absent" is `x-oss-forbid-overwrite`; "only if
    /// it still has this ETag" a conditional HEAD just before the write.
    async fn with_condition<'c>(
        &self,
        call: Call<'c>,
        bucket: &str,
        key: &str,
        condition: Condition<'_>,
    ) -> Result<Call<'c>, Failure> {
        match condition {
            Condition::Always => Ok(call),
            Condition::Absent => Ok(call.header("x-oss-forbid-overwrite", "true")),
            Condition::Matches(etag) => self.still_matches(bucket, key, etag).await.map(|()| call),
        }
    }

    /// ListObjectsV2, keys URL-encoded on the wire (any byte a key may hold survives XML).
    pub async fn list(&self, bucket: &str, list: List<'_>) -> Result<ListPage, Failure> {
        let mut call = Call::new(Method::GET, bucket, None)
            .query("list-type", "2")
            .query("encoding-type", "url")
            .query("prefix", list.prefix);
        if let Some(d) = list.delimiter {
            call = call.query("delimiter", d);
        }
        if let Some(s) = list.start_after {
            call = call.query("start-after", s);
        }
        if let Some(t) = list.continuation {
            call = call.query("continuation-token", t);
        }
        if let Some(n) = list.max_keys {
            call = call.query("max-keys", n.to_string());
        }
        let (_, body) = self.client.send_for_bytes(call).await?;
        xml::parse_list(&body)
    }

    pub async fn tags(&self, bucket: &str, key: &str) -> Result<Tags, Failure> {
        let (_, body) =
            self.client.send_for_bytes(Call::new(Method::GET, bucket, Some(key)).query("tagging", "")).await?;
        xml::parse_tags(&body)
    }

    /// GetSymlink: the target key, percent-decoded as the SDKs decode it.
    pub async fn symlink_target(&self, bucket: &str, key: &str) -> Result<String, Failure> {
        let (headers, _) =
            self.client.send_for_bytes(Call::new(Method::GET, bucket, Some(key)).query("symlink", "")).await?;
        let target = headers::header(&headers, "x-oss-symlink-target")
            .ok_or_else(|| client::bad_response(format!("GetSymlink of {bucket}/{key} named no target")))?;
        Ok(percent_decode_str(&target).decode_utf8_lossy().into_owned())
    }

    /// PutSymlink with the link's metadata and storage class, then its tags
    /// (PutObjectTagging), which PutSymlink does not take.
    pub async fn put_symlink(
        &self,
        bucket: &str,
        key: &str,
        target: &str,
        write: &ObjectWrite<'_>,
    ) -> Result<Written, Failure> {
        let link_headers: Vec<(String, String)> = write_headers(write)
            .into_iter()
            .filter(|(name, _)| name.starts_with("x-oss-meta-") || name == "x-oss-storage-class")
            .collect();
        let call = Call::new(Method::PUT, bucket, Some(key))
            .query("symlink", "")
            .header("x-oss-symlink-target", utf8_percent_encode(target, COPY_SOURCE).to_string())
            .headers(link_headers);
        let (headers, _) = self.client.send_for_bytes(call).await?;
        if let Some(tags) = write.tags.filter(|t| !t.is_empty()) {
            let call = Call::new(Method::PUT, bucket, Some(key))
                .query("tagging", "")
                .header("content-type", "application/xml")
                .payload(Payload::Bytes(Bytes::from(xml::tagging_body(tags))));
            self.client.send_for_bytes(call).await?;
        }
        Ok(written(&headers))
    }
}

/// A HEAD or GET of one object, with the version and `If-Match` (the ETag exactly
/// as the server gave it) a read asks for.
fn object_call<'a>(method: Method, bucket: &'a str, key: &'a str, read: Read<'_>) -> Call<'a> {
    let mut call = Call::new(method, bucket, Some(key));
    if let Some(v) = read.version_id {
        call = call.query("versionId", v);
    }
    if let Some(etag) = read.if_match {
        call = call.header("if-match", quoted(etag));
    }
    call
}

fn copy_source_headers(source: &CopySource<'_>) -> Vec<(String, String)> {
    let mut out = vec![(
        "x-oss-copy-source".to_owned(),
        format!("/{}/{}", source.bucket, utf8_percent_encode(source.key, COPY_SOURCE)),
    )];
    if let Some(etag) = source.if_match {
        out.push(("x-oss-copy-source-if-match".to_owned(), quoted(etag)));
    }
    out
}

/// The ETag from the result document when the answer's headers lacked it.
fn with_xml_etag(mut written: Written, body: &[u8], root: &str) -> Written {
    if written.etag.is_empty() {
        written.etag = xml::result_etag(body, root).unwrap_or_default();
    }
    written
}

/// The write's condition did not hold: crr's vocabulary for OSS's answers to it.
fn precondition_failed(detail: &str) -> Failure {
    Failure {
        fault: Fault::Permanent,
        status: Some(412),
        code: Some("PreconditionFailed".into()),
        message: format!("the object is not in the state the write was conditional on ({detail})"),
    }
}

/// OSS refuses a write under `x-oss-forbid-overwrite` with FileAlreadyExists: for crr,
/// a failed condition like any other.
fn refused_overwrite(f: Failure, condition: Condition<'_>) -> Failure {
    if condition == Condition::Absent && f.code.as_deref() == Some("FileAlreadyExists") {
        precondition_failed(&f.message)
    } else {
        f
    }
}

fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
