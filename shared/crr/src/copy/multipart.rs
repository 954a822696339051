//! Multipart copies: a replica written part by part, each part a ranged read of
//! the source streamed into `UploadPart` (or copied inside the service by
//! [`super::server_side`]), a bounded number at a time. An upload that does not
//! complete is aborted, also when the task is cancelled or panics: no orphan parts.
//! The parts' CRC-64s, computed on the way, combine into the whole object's, as OSS
//! combines them, and are held to the source's and the replica's.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::Engine;
use crate::crc64;
use crate::error::Error;
use crate::object::{hex, multipart_etag, normalize_etag, Layout, ObjectState, Tags};
use crate::retry::retry;
use crate::store::{hashing, Body, Condition, Read, Store, Upload, UploadedPart, Written};

/// One part written: its number, the ETag the server gave it, the MD5, length and
/// (when computed) CRC-64 of its bytes.
struct WrittenPart {
    number: i32,
    etag: String,
    md5: [u8; 16],
    len: u64,
    crc64: Option<u64>,
}

/// The CRC-64 of parts in order, if every part's is known.
fn combined_crc64(parts: &[WrittenPart]) -> Option<u64> {
    parts.iter().try_fold(0, |crc, p| Some(crc64::combine(crc, p.crc64?, p.len)))
}

impl Engine<'_> {
    /// Starts a multipart upload of the replica with the source's headers and tags;
    /// the guard aborts it unless the upload is completed.
    pub(super) async fn start_multipart(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        keeps_etag: bool,
    ) -> Result<(String, AbortGuard), Error> {
        let write = self.replica_write(source, tags, keeps_etag);
        let upload_id = self
            .dest
            .start_upload(self.dest_bucket(), key, &write)
            .await
            .map_err(|f| self.dest_error("starting a multipart upload of", key, f))?;
        let guard = AbortGuard::new(self.dest.clone(), self.dest_bucket(), key, &upload_id);
        Ok((upload_id, guard))
    }

    /// Completes a multipart upload from its parts in order; aborts it if that fails.
    /// Returns what the server reports of the replica.
    pub(super) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
        guard: &mut AbortGuard,
        condition: Condition<'_>,
    ) -> Result<Written, Error> {
        match self.dest.complete_upload(self.dest_bucket(), key, upload_id, parts, condition).await {
            Ok(written) => {
                guard.disarm();
                Ok(written)
            }
            Err(f) => guard.fail(self.write_error("completing the multipart upload of", key, f, condition)).await,
        }
    }

    /// Copies part by part; at most `part_concurrency` parts in flight, each streamed.
    pub(super) async fn put_multipart(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        layout: &Layout,
        reproduces: bool,
        condition: Condition<'_>,
    ) -> Result<u64, Error> {
        let keeps_etag = self.parts_keep_etag(source, reproduces);
        let (upload_id, mut guard) = self.start_multipart(key, source, tags, keeps_etag).await?;

        let parts: Result<Vec<WrittenPart>, Error> = stream::iter(layout.iter().copied().enumerate())
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
            Err(e) => return guard.fail(e).await,
        };
        parts.sort_by_key(|p| p.number);
        let md5s: Vec<[u8; 16]> = parts.iter().map(|p| p.md5).collect();
        let composite = multipart_etag(&md5s);
        let read_crc64 = combined_crc64(&parts);
        if let Err(e) = self.verify_crc64(key, "multipart copy", source.crc64, read_crc64, None) {
            return guard.fail(e).await;
        }
        if reproduces && !source.is_kms() && composite != source.etag {
            let detail = format!("the parts read hash to {composite}, the source ETag is {}", source.etag);
            return guard
                .fail(Error::Verify { bucket: self.dest_bucket().to_owned(), key: key.to_owned(), detail })
                .await;
        }
        let completed: Vec<UploadedPart> =
            parts.into_iter().map(|p| UploadedPart { number: p.number, etag: p.etag }).collect();
        let written = self.complete_multipart(key, &upload_id, &completed, &mut guard, condition).await?;
        self.verify_crc64(key, "multipart copy", source.crc64, read_crc64, written.crc64)?;
        if !self.replica_is_kms(source) {
            let etag = normalize_etag(&written.etag);
            self.verify(key, etag == composite, || {
                format!("the destination reports ETag {etag}, the parts hash to {composite}")
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
    ) -> Result<WrittenPart, Error> {
        let body = if len == 0 {
            Body::empty()
        } else {
            let read = Read { range: Some((offset, len)), if_match: Some(&source.server_etag), ..Read::default() };
            self.source
                .get(&self.source_bucket.name, key, read)
                .await
                .map_err(|f| self.source_error("reading", key, f))?
                .1
        };
        let (body, digest) = hashing(body, self.wants_crc64(source));
        let written = self
            .dest
            .upload_part(self.dest_bucket(), key, upload_id, n, Upload::new(body, len))
            .await
            .map_err(|f| self.dest_error("writing a part of", key, f))?;
        let read = digest.finish();
        let (md5, bytes) = (read.md5, read.bytes);
        self.verify(key, bytes == len, || format!("part {n}: {bytes} bytes read, expected {len}"))?;
        self.verify_crc64(key, &format!("part {n}"), None, read.crc64, written.crc64)?;
        if !self.replica_is_kms(source) {
            let etag = normalize_etag(&written.etag);
            self.verify(key, etag == hex(&md5), || {
                format!("part {n}: the destination reports ETag {etag} for content with MD5 {}", hex(&md5))
            })?;
        }
        Ok(WrittenPart { number: n, etag: written.etag, md5, len, crc64: read.crc64 })
    }
}

/// Aborts a multipart upload that did not complete, so no orphan parts are left;
/// also when the task is cancelled or panics.
pub(super) struct AbortGuard {
    store: Store,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    fn new(store: Store, bucket: &str, key: &str, upload_id: &str) -> Self {
        AbortGuard {
            store,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            armed: true,
        }
    }

    pub(super) async fn abort(&mut self) {
        self.armed = false;
        if let Err(f) = self.store.abort_upload(&self.bucket, &self.key, &self.upload_id).await {
            tracing::warn!(bucket = %self.bucket, key = %self.key, error = %f.message, "aborting the multipart upload failed; a lifecycle rule for incomplete uploads will clean it up");
        }
    }

    /// Aborts the upload and fails with `error`.
    pub(super) async fn fail<T>(&mut self, error: Error) -> Result<T, Error> {
        self.abort().await;
        Err(error)
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let (store, bucket, key, upload_id) =
                    (self.store.clone(), self.bucket.clone(), self.key.clone(), self.upload_id.clone());
                handle.spawn(async move {
                    let _ = store.abort_upload(&bucket, &key, &upload_id).await;
                });
            }
        }
    }
}
