//! A single-part copy: the source's bytes streamed through the function into one
//! PUT, hashed on the way and verified against the source's and the replica's ETags
//! and, where a side keeps them, CRC-64s.

use super::Engine;
use crate::error::Error;
use crate::object::{hex, normalize_etag, ObjectState, Tags};
use crate::store::{hashing, Body, Condition, Read, Upload};

impl Engine<'_> {
    /// Streams a single-part object from the source into the destination.
    pub(super) async fn put_single(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        body: Option<Body>,
        condition: Condition<'_>,
    ) -> Result<u64, Error> {
        let body = match body {
            Some(b) => b,
            None => {
                let read = Read { if_match: Some(&source.server_etag), ..Read::default() };
                self.source
                    .get(&self.source_bucket.name, key, read)
                    .await
                    .map_err(|f| self.source_error("reading", key, f))?
                    .1
            }
        };
        let (body, digest) = hashing(body, self.wants_crc64(source));
        let upload = Upload { body, len: source.size, content_md5: source.content_md5() };
        let write = self.replica_write(source, tags, self.whole_keeps_etag(source));
        let written = self
            .dest
            .put(self.dest_bucket(), key, upload, &write, condition)
            .await
            .map_err(|f| self.write_error("writing", key, f, condition))?;
        let read = digest.finish();
        let bytes = read.bytes;
        self.verify(key, bytes == source.size, || format!("{bytes} bytes read, the source has {}", source.size))?;
        if let Some(expected) = source.content_md5() {
            self.verify(key, read.md5 == expected, || {
                format!("content MD5 {} differs from the source ETag {}", hex(&read.md5), source.etag)
            })?;
        }
        self.verify_crc64(key, "copy", source.crc64, read.crc64, written.crc64)?;
        if !self.replica_is_kms(source) {
            let etag = normalize_etag(&written.etag);
            self.verify(key, etag == hex(&read.md5), || {
                format!("the destination reports ETag {etag} for content with MD5 {}", hex(&read.md5))
            })?;
        }
        Ok(bytes)
    }
}
