//! Copies inside the storage service: no bytes through the function. Tried when
//! [`crate::decide::copy::server_side`] allows it, held to the same ETag as a
//! streamed copy, and given up for streaming (in `auto` mode) when the role may
//! not read the source or the result cannot be verified.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::Engine;
use crate::config::CopyMode;
use crate::decide::copy::{server_side, server_side_copy, Plan, ServerSide, ServerSideCopy, ServerSideKnown};
use crate::error::Error;
use crate::object::{md5_from_hex, multipart_etag, normalize_etag, Layout, ObjectState, Tags};
use crate::outcome::Method;
use crate::store::{Condition, CopySource, Read, UploadedPart};

impl Engine<'_> {
    fn server_side_allowed(&self, plan: &Plan) -> bool {
        let same_service = self.source_bucket.endpoint.same_service(&self.rule.destination.endpoint);
        let reproduces = matches!(plan, Plan::Multipart { reproduces: true, .. });
        let decision = server_side(
            self.settings.mode,
            same_service,
            self.learned.server_side(),
            self.learned.part_copies_differ(),
            reproduces,
        );
        !matches!(decision, ServerSide::Stream(_))
    }

    /// A copy inside the storage service, if allowed and possible. `Ok(None)`: fall
    /// back to streaming (the role may not read the source, or, in `auto` mode, the
    /// copy could not be verified: the stream that follows overwrites it).
    pub(super) async fn try_server_side(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        plan: &Plan,
        condition: Condition<'_>,
    ) -> Result<Option<Method>, Error> {
        if !self.server_side_allowed(plan) || !self.role_reads_source(key).await {
            return Ok(None);
        }
        let result = match server_side_copy(plan, source.size, self.settings.part_size) {
            ServerSideCopy::Whole => {
                self.server_side_single(key, source, tags, condition).await.map(|_| Method::ServerSide)
            }
            ServerSideCopy::Parts { layout, reproduces } => self
                .server_side_multipart(key, source, tags, &layout, reproduces, condition)
                .await
                .map(|_| Method::ServerSideMultipart),
        };
        match result {
            Ok(method) => {
                self.learned.set_server_side(ServerSideKnown::Works);
                Ok(Some(method))
            }
            Err(Error::Storage { code, .. })
                if self.settings.mode == CopyMode::Auto && code.as_deref() == Some("AccessDenied") =>
            {
                tracing::info!(role = %self.role, "the role may not read the source; copies for this destination stream through the function");
                self.learned.set_server_side(ServerSideKnown::Denied);
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
        if self.settings.mode == CopyMode::ServerSide || self.learned.server_side() == ServerSideKnown::Works {
            return true;
        }
        match self.dest.head(&self.source_bucket.name, key, Read::default()).await {
            Ok(_) => {
                self.learned.set_server_side(ServerSideKnown::Works);
                true
            }
            Err(f) => {
                if f.is_access_denied() {
                    tracing::info!(role = %self.role, "the role may not read the source; copies for this destination stream through the function");
                    self.learned.set_server_side(ServerSideKnown::Denied);
                }
                false
            }
        }
    }

    fn copy_source<'k>(&'k self, key: &'k str, source: &'k ObjectState, range: Option<(u64, u64)>) -> CopySource<'k> {
        CopySource { bucket: &self.source_bucket.name, key, if_match: Some(&source.server_etag), range }
    }

    async fn server_side_single(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        condition: Condition<'_>,
    ) -> Result<(), Error> {
        let write = self.replica_write(source, tags, self.whole_keeps_etag(source));
        let written = self
            .dest
            .copy(self.dest_bucket(), key, self.copy_source(key, source, None), &write, condition)
            .await
            .map_err(|f| self.write_error("copying (server-side) to", key, f, condition))?;
        self.verify_crc64(key, "server-side copy", source.crc64, None, written.crc64)?;
        if self.whole_keeps_etag(source) {
            let etag = normalize_etag(&written.etag);
            self.verify(key, etag == source.etag, || {
                format!("server-side copy produced ETag {etag}, the source has {}", source.etag)
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
        condition: Condition<'_>,
    ) -> Result<(), Error> {
        let keeps_etag = self.parts_keep_etag(source, reproduces);
        let (upload_id, mut guard) = self.start_multipart(key, source, tags, keeps_etag).await?;
        let parts: Result<Vec<UploadedPart>, Error> = stream::iter(layout.iter().copied().enumerate())
            .map(|(i, (offset, len))| {
                let upload_id = upload_id.as_str();
                async move {
                    let n = i as i32 + 1;
                    let written = self
                        .dest
                        .upload_part_copy(
                            self.dest_bucket(),
                            key,
                            upload_id,
                            n,
                            self.copy_source(key, source, Some((offset, len))),
                        )
                        .await
                        .map_err(|f| self.dest_error("copying (server-side) a part to", key, f))?;
                    Ok(UploadedPart { number: n, etag: written.etag })
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
        if keeps_etag {
            // The part ETags the server reports must hash to the source's ETag, or the
            // replica would not carry it: abort rather than complete such an upload.
            let md5s: Option<Vec<[u8; 16]>> = parts.iter().map(|p| md5_from_hex(&normalize_etag(&p.etag))).collect();
            let composite = md5s.map(|m| multipart_etag(&m));
            if composite.as_deref() != Some(source.etag.as_str()) {
                let reported: Vec<String> = parts.iter().take(3).map(|p| normalize_etag(&p.etag)).collect();
                return guard
                    .fail(Error::Verify {
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
                    })
                    .await;
            }
        }
        let written = self.complete_multipart(key, &upload_id, &parts, &mut guard, condition).await?;
        self.verify_crc64(key, "server-side multipart copy", source.crc64, None, written.crc64)?;
        if keeps_etag {
            let etag = normalize_etag(&written.etag);
            self.verify(key, etag == source.etag, || {
                format!("server-side copy produced ETag {etag}, the source has {}", source.etag)
            })?;
        }
        Ok(())
    }
}
