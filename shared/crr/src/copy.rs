//! The copy engine: brings one replica in line with its source.
//!
//! Decide first ([`crate::decide`]), then act:
//! * small objects: one GET streamed into one PUT, with `Content-MD5` when the
//!   source ETag is an MD5 so the destination rejects corrupted bytes;
//! * multipart sources: the same part layout (learned with `HEAD ?partNumber=`), so
//!   the replica's multipart ETag equals the source's; each part is a ranged GET
//!   streamed into `UploadPart`, a bounded number at a time; nothing is buffered
//!   whole, and the upload is aborted on any failure (no orphan parts);
//! * large single-part sources: parallel parts of the configured size (the replica
//!   records the source ETag, since its own cannot equal it);
//! * same endpoint and the role may read the source: server-side copy, no bytes
//!   through the function, held to the same ETag as a streamed copy;
//! * metadata-only changes: a copy of the replica onto itself with new metadata.
//!
//! Every write is verified: byte count, and the MD5 computed while streaming
//! against the source ETag and the ETag the destination returns.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, MetadataDirective, ServerSideEncryption, TaggingDirective,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::arn::RoleArn;
use crate::body::hashing;
use crate::config::{Bucket, CopyMode, CopySettings, KmsPolicy, Rule};
use crate::decide::{content_decision, metadata_decision, needs_tags, Decision};
use crate::error::{Error, Failure, Fault};
use crate::object::{
    encode_tags, even_layout, hex, md5_from_hex, multipart_etag, multipart_parts, normalize_etag, uniform_layout,
    Layout, ObjectState, Tags, REPLICA_MARK, SOURCE_ETAG,
};
use crate::retry::retry;

/// Objects up to this size (by the event's hint) are read with one GET while the
/// replica is checked in parallel: one round trip instead of two.
pub const SMALL_OBJECT: u64 = 8 * 1024 * 1024;
/// CopyObject's limit; larger server-side copies go part by part.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Sources with more parts than this are not probed part by part.
const MAX_PROBED_PARTS: u32 = 1000;

/// What the engine learns about a destination while it works, kept for the
/// instance's life: server-side copies are tried once, a role that may not read
/// the source is not asked again, and a server whose part copies do not reproduce
/// the source's multipart ETag is not asked to copy such objects again.
#[derive(Debug, Default)]
pub struct Learned {
    server_side: AtomicU8,
    part_copies_differ: AtomicBool,
}

// server_side: 0 not tried yet.
const WORKS: u8 = 1;
const DENIED: u8 = 2;

impl Learned {
    fn denied(&self) -> bool {
        self.server_side.load(Ordering::Relaxed) == DENIED
    }
    fn known_to_work(&self) -> bool {
        self.server_side.load(Ordering::Relaxed) == WORKS
    }
    fn set_server_side(&self, v: u8) {
        self.server_side.store(v, Ordering::Relaxed);
    }
    fn part_copies_differ(&self) -> bool {
        self.part_copies_differ.load(Ordering::Relaxed)
    }
    fn set_part_copies_differ(&self) {
        self.part_copies_differ.store(true, Ordering::Relaxed);
    }
}

/// How the bytes moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Stream,
    Multipart,
    ServerSide,
    ServerSideMultipart,
    MetadataOnly,
}

/// What happened to one object for one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOutcome {
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Bytes that went through the function.
    pub bytes: u64,
    pub ms: u64,
}

/// What the event said about the object, used only to choose how to read it.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    pub size: Option<u64>,
    pub etag: Option<String>,
}

/// One source bucket, one destination, and the clients that may touch them.
pub struct Engine<'a> {
    pub source: &'a aws_sdk_s3::Client,
    pub source_bucket: &'a Bucket,
    pub dest: &'a aws_sdk_s3::Client,
    pub rule: &'a Rule,
    pub role: &'a RoleArn,
    pub settings: &'a CopySettings,
    pub learned: &'a Learned,
    pub deadline: Option<Instant>,
}

/// How the content will be written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Single,
    /// `reproduces`: the layout is the source's, so the ETags will be equal.
    Multipart {
        layout: Layout,
        reproduces: bool,
    },
}

/// Sets what travels with the object on a PutObject, CreateMultipartUpload or
/// CopyObject request (their builders share these method names). `keeps_etag`:
/// the replica will carry the source's own ETag (see [`Engine::replica_metadata`]).
macro_rules! with_object_headers {
    ($builder:expr, $engine:expr, $source:expr, $tags:expr, $keeps_etag:expr) => {{
        let (engine, source, tags): (&Engine, &ObjectState, &Tags) = ($engine, $source, $tags);
        let h = &source.headers;
        #[allow(deprecated)]
        let builder = $builder
            .set_content_type(h.content_type.clone())
            .set_cache_control(h.cache_control.clone())
            .set_content_disposition(h.content_disposition.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_language(h.content_language.clone())
            .set_expires(h.expires.as_deref().and_then(parse_http_date))
            .set_metadata(Some(engine.replica_metadata(source, $keeps_etag)))
            .set_tagging((!tags.is_empty()).then(|| encode_tags(tags)))
            .set_storage_class(engine.rule.storage_class.as_deref().map(aws_sdk_s3::types::StorageClass::from));
        let (sse, key) = engine.replica_encryption(source);
        builder.set_server_side_encryption(sse).set_ssekms_key_id(key)
    }};
}

impl Engine<'_> {
    fn dest_bucket(&self) -> &str {
        &self.rule.destination.name
    }

    /// Brings the replica of `key` in line with the source's current state.
    pub async fn replicate(&self, key: &str, hint: &Hint) -> Result<CopyOutcome, Error> {
        let started = Instant::now();
        let small = hint.size.is_some_and(|s| s <= SMALL_OBJECT)
            && hint.etag.as_deref().is_none_or(|e| multipart_parts(e).is_none());
        // Tags are needed to copy; fetch them alongside when counts are not reported.
        let prefetch = !self.settings.tag_counts_reported;
        let (source, replica, prefetched) = tokio::join!(self.open_source(key, small), self.head_replica(key), async {
            if prefetch {
                self.fetch_source_tags(key).await.ok()
            } else {
                None
            }
        });
        let (source, body) = match source? {
            Some((state, body)) => (Some(state), body),
            None => (None, None),
        };
        let replica = replica?;
        let mut decision = content_decision(source.as_ref(), replica.as_ref(), &self.rule.kms);
        let finish = |decision, method, bytes| {
            Ok(CopyOutcome { decision, method, bytes, ms: started.elapsed().as_millis() as u64 })
        };
        let (Some(source), Decision::Copy | Decision::Identical) = (source, decision) else {
            return finish(decision, None, 0);
        };

        let tags = if let (Decision::Identical, Some(replica)) = (decision, &replica) {
            let (source_tags, replica_tags) =
                tokio::join!(self.source_tags(key, &source, prefetched), self.replica_tags(key, replica));
            let source_tags = source_tags?;
            decision = metadata_decision(&source, replica, &source_tags, &replica_tags?);
            source_tags
        } else {
            self.source_tags(key, &source, prefetched).await?
        };

        match decision {
            Decision::Copy => {
                let (method, bytes) = self.copy(key, &source, &tags, body).await?;
                finish(decision, Some(method), bytes)
            }
            Decision::UpdateMetadata => {
                drop(body);
                let method = self.update_metadata(key, &source, &tags, replica.as_ref()).await?;
                let bytes = if method == Method::MetadataOnly { 0 } else { source.size };
                finish(decision, Some(method), bytes)
            }
            other => finish(other, None, 0),
        }
    }

    /// The source's state, with its body when it was read with one GET.
    async fn open_source(
        &self,
        key: &str,
        with_body: bool,
    ) -> Result<Option<(ObjectState, Option<ByteStream>)>, Error> {
        let bucket = &self.source_bucket.name;
        let result = if with_body {
            self.source.get_object().bucket(bucket).key(key).send().await.map(|out| {
                let state = ObjectState::from_get(&out);
                (state, Some(out.body))
            })
        } else {
            match self.source.head_object().bucket(bucket).key(key).send().await {
                Ok(out) => Ok((ObjectState::from_head(&out), None)),
                Err(e) => {
                    let f = Failure::from_sdk(&e);
                    return if f.is_not_found() { Ok(None) } else { Err(self.source_error("reading", key, f)) };
                }
            }
        };
        match result {
            Ok(found) => Ok(Some(found)),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_not_found() {
                    Ok(None)
                } else {
                    Err(self.source_error("reading", key, f))
                }
            }
        }
    }

    /// The replica's state, `None` if there is none.
    pub async fn head_replica(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        match self.dest.head_object().bucket(self.dest_bucket()).key(key).send().await {
            Ok(head) => Ok(Some(ObjectState::from_head(&head))),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_not_found() {
                    Ok(None)
                } else {
                    Err(self.dest_error("checking the replica of", key, f))
                }
            }
        }
    }

    async fn source_tags(&self, key: &str, state: &ObjectState, prefetched: Option<Tags>) -> Result<Tags, Error> {
        if !needs_tags(state, self.settings.tag_counts_reported) {
            return Ok(Tags::new());
        }
        match prefetched {
            Some(tags) => Ok(tags),
            None => self.fetch_source_tags(key).await,
        }
    }

    async fn fetch_source_tags(&self, key: &str) -> Result<Tags, Error> {
        let out = self
            .source
            .get_object_tagging()
            .bucket(&self.source_bucket.name)
            .key(key)
            .send()
            .await
            .map_err(|e| self.source_error("reading the tags of", key, Failure::from_sdk(&e)))?;
        Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
    }

    async fn replica_tags(&self, key: &str, state: &ObjectState) -> Result<Tags, Error> {
        if !needs_tags(state, self.settings.tag_counts_reported) {
            return Ok(Tags::new());
        }
        let out = self
            .dest
            .get_object_tagging()
            .bucket(self.dest_bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| self.dest_error("reading the tags of", key, Failure::from_sdk(&e)))?;
        Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
    }

    /// User metadata of a replica: the source's, plus crr's marks. The source ETag
    /// is recorded only when the replica's own ETag cannot equal it (`keeps_etag`
    /// false): a replica that should carry the source's ETag but does not was not
    /// written right, and must not pass for identical on the next attempt.
    fn replica_metadata(&self, source: &ObjectState, keeps_etag: bool) -> std::collections::HashMap<String, String> {
        let mut m = source.metadata.clone();
        m.insert(REPLICA_MARK.to_owned(), self.source_bucket.name.clone());
        if !keeps_etag {
            m.insert(SOURCE_ETAG.to_owned(), source.etag.clone());
        }
        m
    }

    /// Whether a replica written whole carries the source's ETag: the source's ETag
    /// is its MD5 and the replica is not KMS-encrypted.
    fn whole_keeps_etag(&self, source: &ObjectState) -> bool {
        source.content_md5().is_some() && !self.replica_is_kms(source)
    }

    /// Whether a replica written in parts carries the source's multipart ETag: the
    /// parts are the source's own (`reproduces`), and neither object is KMS-encrypted.
    fn parts_keep_etag(&self, source: &ObjectState, reproduces: bool) -> bool {
        reproduces && !source.is_kms() && !self.replica_is_kms(source)
    }

    /// KMS objects are encrypted with the rule's destination key; service-managed
    /// encryption is kept; unencrypted objects get the destination's default.
    fn replica_encryption(&self, source: &ObjectState) -> (Option<ServerSideEncryption>, Option<String>) {
        match (&source.encryption, &self.rule.kms) {
            (crate::object::Encryption::Kms { .. }, KmsPolicy::Replicate { key_id }) => {
                (Some(ServerSideEncryption::AwsKms), Some(key_id.clone()))
            }
            (crate::object::Encryption::Managed, _) => (Some(ServerSideEncryption::Aes256), None),
            _ => (None, None),
        }
    }

    fn replica_is_kms(&self, source: &ObjectState) -> bool {
        matches!(self.replica_encryption(source).0, Some(ServerSideEncryption::AwsKms))
    }

    /// Copies content and metadata; returns how, and the bytes that went through us.
    async fn copy(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        body: Option<ByteStream>,
    ) -> Result<(Method, u64), Error> {
        let plan = self.plan(key, source).await?;
        if let Some(method) = self.try_server_side(key, source, tags, &plan).await? {
            return Ok((method, 0));
        }
        match plan {
            Plan::Single => Ok((Method::Stream, self.put_single(key, source, tags, body).await?)),
            Plan::Multipart { layout, reproduces } => {
                drop(body);
                Ok((Method::Multipart, self.put_multipart(key, source, tags, &layout, reproduces).await?))
            }
        }
    }

    async fn plan(&self, key: &str, source: &ObjectState) -> Result<Plan, Error> {
        if let Some(parts) = source.multipart_parts() {
            if let Some(layout) = self.learn_layout(key, source, parts).await? {
                return Ok(Plan::Multipart { layout, reproduces: true });
            }
            tracing::info!(
                key,
                parts,
                "the source's part layout could not be learned; the replica records the source ETag instead"
            );
            return Ok(Plan::Multipart {
                layout: even_layout(source.size, self.settings.part_size),
                reproduces: false,
            });
        }
        if source.size > self.settings.multipart_threshold {
            return Ok(Plan::Multipart {
                layout: even_layout(source.size, self.settings.part_size),
                reproduces: false,
            });
        }
        Ok(Plan::Single)
    }

    /// The source's part layout from `HEAD ?partNumber=`: every part's size when
    /// there are up to [`MAX_PROBED_PARTS`] (asked a few at a time), else the
    /// uniform layout the first and last parts imply. `None` if the server does not
    /// tell part sizes.
    async fn learn_layout(&self, key: &str, source: &ObjectState, parts: u32) -> Result<Option<Layout>, Error> {
        if parts > MAX_PROBED_PARTS {
            let (first, last) = tokio::join!(self.part_size_of(key, source, 1), self.part_size_of(key, source, parts));
            let (Some(first), Some(last)) = (first?, last?) else { return Ok(None) };
            return Ok(uniform_layout(source.size, parts, first).filter(|l| l.last().map(|p| p.1) == Some(last)));
        }
        let sizes: Vec<Option<u64>> =
            stream::iter(1..=parts).map(|n| self.part_size_of(key, source, n)).buffered(16).try_collect().await?;
        let mut layout = Vec::with_capacity(parts as usize);
        let mut offset = 0;
        for size in sizes {
            let Some(size) = size else { return Ok(None) };
            layout.push((offset, size));
            offset += size;
        }
        Ok((offset == source.size).then_some(layout))
    }

    async fn part_size_of(&self, key: &str, source: &ObjectState, part: u32) -> Result<Option<u64>, Error> {
        let head = self
            .source
            .head_object()
            .bucket(&self.source_bucket.name)
            .key(key)
            .part_number(part as i32)
            .send()
            .await
            .map_err(|e| self.source_error("reading the part layout of", key, Failure::from_sdk(&e)))?;
        // A server that ignores partNumber answers with the whole object.
        let reports_parts = head.parts_count().is_some();
        let len = head.content_length().unwrap_or(0).max(0) as u64;
        Ok((reports_parts && (len < source.size || part == 1 && source.multipart_parts() == Some(1))).then_some(len))
    }

    /// Streams a single-part object from the source into the destination.
    async fn put_single(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        body: Option<ByteStream>,
    ) -> Result<u64, Error> {
        let body = match body {
            Some(b) => b,
            None => {
                self.source
                    .get_object()
                    .bucket(&self.source_bucket.name)
                    .key(key)
                    .if_match(quoted(&source.etag))
                    .send()
                    .await
                    .map_err(|e| self.source_error("reading", key, Failure::from_sdk(&e)))?
                    .body
            }
        };
        let (body, digest) = hashing(body);
        let mut put = with_object_headers!(
            self.dest.put_object().bucket(self.dest_bucket()).key(key).content_length(source.size as i64).body(body),
            self,
            source,
            tags,
            self.whole_keeps_etag(source)
        );
        if let Some(md5) = source.content_md5() {
            use base64::Engine as _;
            put = put.content_md5(base64::engine::general_purpose::STANDARD.encode(md5));
        }
        let out = put.send().await.map_err(|e| self.dest_error("writing", key, Failure::from_sdk(&e)))?;
        let (md5, bytes) = digest.finish();
        self.verify(key, bytes == source.size, || format!("{bytes} bytes read, the source has {}", source.size))?;
        if let Some(expected) = source.content_md5() {
            self.verify(key, md5 == expected, || {
                format!("content MD5 {} differs from the source ETag {}", hex(&md5), source.etag)
            })?;
        }
        if !self.replica_is_kms(source) {
            let written = normalize_etag(out.e_tag().unwrap_or_default());
            self.verify(key, written == hex(&md5), || {
                format!("the destination reports ETag {written} for content with MD5 {}", hex(&md5))
            })?;
        }
        Ok(bytes)
    }

    /// Starts a multipart upload of the replica with the source's headers and tags;
    /// the guard aborts it unless the upload is completed.
    async fn start_multipart(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        keeps_etag: bool,
    ) -> Result<(String, AbortGuard), Error> {
        let create = with_object_headers!(
            self.dest.create_multipart_upload().bucket(self.dest_bucket()).key(key),
            self,
            source,
            tags,
            keeps_etag
        )
        .send()
        .await
        .map_err(|e| self.dest_error("starting a multipart upload of", key, Failure::from_sdk(&e)))?;
        let upload_id = create.upload_id().unwrap_or_default().to_owned();
        let guard = AbortGuard::new(self.dest.clone(), self.dest_bucket(), key, &upload_id);
        Ok((upload_id, guard))
    }

    /// Completes a multipart upload from its parts in order; aborts it if that fails.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
        guard: &mut AbortGuard,
    ) -> Result<aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput, Error> {
        let out = self
            .dest
            .complete_multipart_upload()
            .bucket(self.dest_bucket())
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        match out {
            Ok(o) => {
                guard.disarm();
                Ok(o)
            }
            Err(e) => {
                guard.abort().await;
                Err(self.dest_error("completing the multipart upload of", key, Failure::from_sdk(&e)))
            }
        }
    }

    /// Copies part by part; at most `part_concurrency` parts in flight, each streamed.
    async fn put_multipart(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        layout: &Layout,
        reproduces: bool,
    ) -> Result<u64, Error> {
        let keeps_etag = self.parts_keep_etag(source, reproduces);
        let (upload_id, mut guard) = self.start_multipart(key, source, tags, keeps_etag).await?;

        let parts: Result<Vec<(i32, String, [u8; 16])>, Error> = stream::iter(layout.iter().copied().enumerate())
            .map(|(i, (offset, len))| {
                let upload_id = upload_id.as_str();
                async move {
                    let n = i as i32 + 1;
                    retry(&format!("part {n} of {key}"), self.deadline, |_| {
                        self.copy_part(key, source, upload_id, n, offset, len)
                    })
                    .await
                }
            })
            .buffer_unordered(self.settings.part_concurrency)
            .try_collect()
            .await;
        let mut parts = match parts {
            Ok(p) => p,
            Err(e) => {
                guard.abort().await;
                return Err(e);
            }
        };
        parts.sort_by_key(|p| p.0);
        let md5s: Vec<[u8; 16]> = parts.iter().map(|p| p.2).collect();
        let composite = multipart_etag(&md5s);
        if reproduces && !source.is_kms() && composite != source.etag {
            guard.abort().await;
            return Err(Error::Verify {
                bucket: self.dest_bucket().to_owned(),
                key: key.to_owned(),
                detail: format!("the parts read hash to {composite}, the source ETag is {}", source.etag),
            });
        }
        let completed =
            parts.iter().map(|(n, etag, _)| CompletedPart::builder().part_number(*n).e_tag(etag).build()).collect();
        let out = self.complete_multipart(key, &upload_id, completed, &mut guard).await?;
        if !self.replica_is_kms(source) {
            let written = normalize_etag(out.e_tag().unwrap_or_default());
            self.verify(key, written == composite, || {
                format!("the destination reports ETag {written}, the parts hash to {composite}")
            })?;
        }
        Ok(layout.iter().map(|p| p.1).sum())
    }

    /// One part: a ranged GET of the source streamed into UploadPart.
    async fn copy_part(
        &self,
        key: &str,
        source: &ObjectState,
        upload_id: &str,
        n: i32,
        offset: u64,
        len: u64,
    ) -> Result<(i32, String, [u8; 16]), Error> {
        let body = if len == 0 {
            ByteStream::from_static(b"")
        } else {
            self.source
                .get_object()
                .bucket(&self.source_bucket.name)
                .key(key)
                .range(format!("bytes={}-{}", offset, offset + len - 1))
                .if_match(quoted(&source.etag))
                .send()
                .await
                .map_err(|e| self.source_error("reading", key, Failure::from_sdk(&e)))?
                .body
        };
        let (body, digest) = hashing(body);
        let out = self
            .dest
            .upload_part()
            .bucket(self.dest_bucket())
            .key(key)
            .upload_id(upload_id)
            .part_number(n)
            .content_length(len as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| self.dest_error("writing a part of", key, Failure::from_sdk(&e)))?;
        let (md5, bytes) = digest.finish();
        self.verify(key, bytes == len, || format!("part {n}: {bytes} bytes read, expected {len}"))?;
        let etag = out.e_tag().unwrap_or_default().to_owned();
        if !self.replica_is_kms(source) {
            let written = normalize_etag(&etag);
            self.verify(key, written == hex(&md5), || {
                format!("part {n}: the destination reports ETag {written} for content with MD5 {}", hex(&md5))
            })?;
        }
        Ok((n, etag, md5))
    }

    fn server_side_allowed(&self, plan: &Plan) -> bool {
        match self.settings.mode {
            CopyMode::Stream => false,
            CopyMode::ServerSide => true,
            CopyMode::Auto => {
                let etag_unreproducible =
                    matches!(plan, Plan::Multipart { reproduces: true, .. }) && self.learned.part_copies_differ();
                self.source_bucket.endpoint.same_service(&self.rule.destination.endpoint)
                    && !self.learned.denied()
                    && !etag_unreproducible
            }
        }
    }

    /// A copy inside the storage service, if allowed and possible. `Ok(None)`: fall
    /// back to streaming (the role may not read the source, or, in `auto` mode, the
    /// copy could not be verified: the stream that follows overwrites it).
    async fn try_server_side(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        plan: &Plan,
    ) -> Result<Option<Method>, Error> {
        if !self.server_side_allowed(plan) || !self.role_reads_source(key).await {
            return Ok(None);
        }
        let result = match plan {
            Plan::Single if source.size <= MAX_SINGLE_COPY => {
                self.server_side_single(key, source, tags).await.map(|_| Method::ServerSide)
            }
            Plan::Single => self
                .server_side_multipart(key, source, tags, &even_layout(source.size, self.settings.part_size), false)
                .await
                .map(|_| Method::ServerSideMultipart),
            Plan::Multipart { layout, reproduces } => self
                .server_side_multipart(key, source, tags, layout, *reproduces)
                .await
                .map(|_| Method::ServerSideMultipart),
        };
        match result {
            Ok(method) => {
                self.learned.set_server_side(WORKS);
                Ok(Some(method))
            }
            Err(Error::Storage { code, .. })
                if self.settings.mode == CopyMode::Auto && code.as_deref() == Some("AccessDenied") =>
            {
                tracing::info!(role = %self.role, "the role may not read the source; copies for this destination stream through the function");
                self.learned.set_server_side(DENIED);
                Ok(None)
            }
            Err(Error::Verify { detail, .. }) if self.settings.mode == CopyMode::Auto => {
                if matches!(plan, Plan::Multipart { reproduces: true, .. }) {
                    tracing::warn!(key, detail, "the server's part copies do not reproduce the source's multipart ETag; such objects stream through the function");
                    self.learned.set_part_copies_differ();
                } else {
                    tracing::warn!(key, detail, "the server-side copy could not be verified; streaming it instead");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the role may read the source, asked once per destination with a HEAD
    /// (which needs the same permission as a copy's read). Some servers authorise a
    /// copy by the destination alone; asking first keeps the source's permissions
    /// in charge of who reads it.
    async fn role_reads_source(&self, key: &str) -> bool {
        if self.settings.mode == CopyMode::ServerSide || self.learned.known_to_work() {
            return true;
        }
        match self.dest.head_object().bucket(&self.source_bucket.name).key(key).send().await {
            Ok(_) => {
                self.learned.set_server_side(WORKS);
                true
            }
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_access_denied() {
                    tracing::info!(role = %self.role, "the role may not read the source; copies for this destination stream through the function");
                    self.learned.set_server_side(DENIED);
                }
                false
            }
        }
    }

    fn copy_source(&self, bucket: &str, key: &str) -> String {
        use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
        const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
        format!("{bucket}/{}", utf8_percent_encode(key, KEEP))
    }

    async fn server_side_single(&self, key: &str, source: &ObjectState, tags: &Tags) -> Result<(), Error> {
        let out = with_object_headers!(
            self.dest
                .copy_object()
                .bucket(self.dest_bucket())
                .key(key)
                .copy_source(self.copy_source(&self.source_bucket.name, key))
                .copy_source_if_match(quoted(&source.etag))
                .metadata_directive(MetadataDirective::Replace)
                .tagging_directive(TaggingDirective::Replace),
            self,
            source,
            tags,
            self.whole_keeps_etag(source)
        )
        .send()
        .await
        .map_err(|e| self.dest_error("copying (server-side) to", key, Failure::from_sdk(&e)))?;
        if self.whole_keeps_etag(source) {
            let written = normalize_etag(out.copy_object_result().and_then(|r| r.e_tag()).unwrap_or_default());
            self.verify(key, written == source.etag, || {
                format!("server-side copy produced ETag {written}, the source has {}", source.etag)
            })?;
        }
        Ok(())
    }

    async fn server_side_multipart(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        layout: &Layout,
        reproduces: bool,
    ) -> Result<(), Error> {
        let keeps_etag = self.parts_keep_etag(source, reproduces);
        let (upload_id, mut guard) = self.start_multipart(key, source, tags, keeps_etag).await?;
        let copy_source = self.copy_source(&self.source_bucket.name, key);
        let parts: Result<Vec<CompletedPart>, Error> = stream::iter(layout.iter().copied().enumerate())
            .map(|(i, (offset, len))| {
                let (upload_id, copy_source) = (upload_id.as_str(), copy_source.as_str());
                async move {
                    let n = i as i32 + 1;
                    let out = self
                        .dest
                        .upload_part_copy()
                        .bucket(self.dest_bucket())
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(n)
                        .copy_source(copy_source)
                        .copy_source_if_match(quoted(&source.etag))
                        .copy_source_range(format!("bytes={}-{}", offset, (offset + len).max(1) - 1))
                        .send()
                        .await
                        .map_err(|e| self.dest_error("copying (server-side) a part to", key, Failure::from_sdk(&e)))?;
                    let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_owned();
                    Ok(CompletedPart::builder().part_number(n).e_tag(etag).build())
                }
            })
            .buffer_unordered(self.settings.part_concurrency)
            .try_collect()
            .await;
        let mut parts = match parts {
            Ok(p) => p,
            Err(e) => {
                guard.abort().await;
                return Err(e);
            }
        };
        parts.sort_by_key(|p| p.part_number());
        if keeps_etag {
            // The part ETags the server reports must hash to the source's ETag, or the
            // replica would not carry it: abort rather than complete such an upload.
            let md5s: Option<Vec<[u8; 16]>> =
                parts.iter().map(|p| md5_from_hex(&normalize_etag(p.e_tag().unwrap_or_default()))).collect();
            let composite = md5s.map(|m| multipart_etag(&m));
            if composite.as_deref() != Some(source.etag.as_str()) {
                guard.abort().await;
                let reported: Vec<String> =
                    parts.iter().take(3).map(|p| normalize_etag(p.e_tag().unwrap_or_default())).collect();
                return Err(Error::Verify {
                    bucket: self.dest_bucket().to_owned(),
                    key: key.to_owned(),
                    detail: format!(
                        "the server-side part copies report ETags {}{} ({}), the source ETag is {}",
                        reported.join(", "),
                        if parts.len() > 3 { ", ..." } else { "" },
                        match &composite {
                            Some(c) => format!("hashing to {c}"),
                            None => "not the parts' MD5s".to_owned(),
                        },
                        source.etag
                    ),
                });
            }
        }
        let out = self.complete_multipart(key, &upload_id, parts, &mut guard).await?;
        if keeps_etag {
            let written = normalize_etag(out.e_tag().unwrap_or_default());
            self.verify(key, written == source.etag, || {
                format!("server-side copy produced ETag {written}, the source has {}", source.etag)
            })?;
        }
        Ok(())
    }

    /// New metadata and tags on an existing replica without moving its bytes: a copy
    /// of the replica onto itself. Falls back to a full copy where that is impossible.
    async fn update_metadata(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        replica: Option<&ObjectState>,
    ) -> Result<Method, Error> {
        let Some(replica) = replica.filter(|r| r.size <= MAX_SINGLE_COPY) else {
            return Ok(self.copy(key, source, tags, None).await?.0);
        };
        with_object_headers!(
            self.dest
                .copy_object()
                .bucket(self.dest_bucket())
                .key(key)
                .copy_source(self.copy_source(self.dest_bucket(), key))
                .copy_source_if_match(quoted(&replica.etag))
                .metadata_directive(MetadataDirective::Replace)
                .tagging_directive(TaggingDirective::Replace),
            self,
            source,
            tags,
            // The copy's own ETag is not checked: the replica records the source's.
            false
        )
        .send()
        .await
        .map_err(|e| self.dest_error("updating the metadata of", key, Failure::from_sdk(&e)))?;
        Ok(Method::MetadataOnly)
    }

    fn verify(&self, key: &str, ok: bool, detail: impl FnOnce() -> String) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::Verify { bucket: self.dest_bucket().to_owned(), key: key.to_owned(), detail: detail() })
        }
    }

    pub fn source_error(&self, op: &'static str, key: &str, f: Failure) -> Error {
        let bucket = &self.source_bucket.name;
        let hint = if f.is_access_denied() {
            format!("; the function's own identity needs read access (s3:GetObject, s3:GetObjectTagging) on {bucket}/*")
        } else if f.code.as_deref() == Some("NoSuchBucket") {
            format!("; source bucket {bucket} does not exist at the configured endpoint (CRR_SOURCE_BUCKET / CRR_SOURCE_ENDPOINT)")
        } else if f.status == Some(412) {
            "; the source changed while it was being copied, the copy will start over".to_owned()
        } else {
            String::new()
        };
        storage_error(op, bucket, key, f, hint)
    }

    pub fn dest_error(&self, op: &'static str, key: &str, f: Failure) -> Error {
        let bucket = self.dest_bucket();
        let hint = if f.is_access_denied() {
            format!(
                "; role {} is not allowed this on {bucket}: grant it s3:PutObject, s3:GetObject and the tagging and multipart actions on {bucket}/* (see `crr policy generate`)",
                self.role
            )
        } else if f.code.as_deref() == Some("NoSuchBucket") {
            format!("; destination bucket {bucket} does not exist at the configured endpoint (CRR_DEST_BUCKET / CRR_DEST_ENDPOINT)")
        } else {
            String::new()
        };
        storage_error(op, bucket, key, f, hint)
    }
}

fn storage_error(op: &'static str, bucket: &str, key: &str, f: Failure, hint: String) -> Error {
    // A changed source (412) or corrupted transfer (BadDigest) is worth another try.
    let fault =
        if f.status == Some(412) || f.code.as_deref() == Some("BadDigest") { Fault::Transient } else { f.fault };
    Error::Storage {
        op,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        fault,
        code: f.code,
        detail: format!("{}{hint}", f.message),
    }
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

fn parse_http_date(text: &str) -> Option<aws_smithy_types::DateTime> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::HttpDate).ok()
}

/// Aborts a multipart upload that did not complete, so no orphan parts are left;
/// also when the task is cancelled or panics.
struct AbortGuard {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    fn new(client: aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str) -> Self {
        AbortGuard {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            armed: true,
        }
    }

    async fn abort(&mut self) {
        self.armed = false;
        if let Err(e) = self.request().send().await {
            tracing::warn!(bucket = %self.bucket, key = %self.key, error = %crate::error::source_text(&e), "aborting the multipart upload failed; a lifecycle rule for incomplete uploads will clean it up");
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    fn request(&self) -> aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder {
        self.client.abort_multipart_upload().bucket(&self.bucket).key(&self.key).upload_id(&self.upload_id)
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let request = self.request();
                handle.spawn(async move {
                    let _ = request.send().await;
                });
            }
        }
    }
}
