//! What a replica carries besides its bytes: the source's headers, metadata and
//! tags, crr's marks, its encryption and storage class; and updating those on an
//! existing replica without moving its bytes.

use std::collections::HashMap;

use super::Engine;
use crate::config::KmsPolicy;
use crate::decide::copy::MAX_SINGLE_COPY;
use crate::decide::order::stamp;
use crate::error::Error;
use crate::object::{Encryption, ObjectState, Tags, REPLICA_MARK, SOURCE_ETAG};
use crate::object::{SOURCE_MODIFIED, SOURCE_VERSION};
use crate::outcome::Method;
use crate::store::{Condition, CopySource, ObjectWrite};

impl Engine<'_> {
    /// Everything a replica of `source` is written with. `keeps_etag`: the replica
    /// will carry the source's own ETag (see [`Engine::replica_metadata`]).
    pub(super) fn replica_write<'w>(
        &'w self,
        source: &'w ObjectState,
        tags: &'w Tags,
        keeps_etag: bool,
    ) -> ObjectWrite<'w> {
        ObjectWrite {
            headers: Some(&source.headers),
            metadata: self.replica_metadata(source, keeps_etag),
            tags: Some(tags),
            storage_class: self.rule.storage_class.as_deref(),
            encryption: self.replica_encryption(source),
            content_type: None,
        }
    }

    /// User metadata of a replica: the source's, plus crr's marks. The source ETag
    /// is recorded only when the replica's own ETag cannot equal it (`keeps_etag`
    /// false): a replica that should carry the source's ETag but does not was not
    /// written right, and must not pass for identical on the next attempt. When the
    /// content was written at its origin, and the source version copied, are
    /// recorded for the order of writes and for telling deletes apart.
    fn replica_metadata(&self, source: &ObjectState, keeps_etag: bool) -> HashMap<String, String> {
        let mut m = source.metadata.clone();
        m.insert(REPLICA_MARK.to_owned(), self.source_bucket.name.clone());
        if !keeps_etag {
            m.insert(SOURCE_ETAG.to_owned(), source.etag.clone());
        }
        if let Some(stamp) = stamp(source) {
            m.insert(SOURCE_MODIFIED.to_owned(), stamp.modified.to_string());
        }
        if let Some(version) = source.recordable_version() {
            m.insert(SOURCE_VERSION.to_owned(), version.to_owned());
        }
        m
    }

    /// Whether a replica written whole carries the source's ETag: the source's ETag
    /// is its MD5 and the replica is not KMS-encrypted.
    pub(super) fn whole_keeps_etag(&self, source: &ObjectState) -> bool {
        source.content_md5().is_some() && !self.replica_is_kms(source)
    }

    /// Whether a replica written in parts carries the source's multipart ETag: the
    /// parts are the source's own (`reproduces`), and neither object is KMS-encrypted.
    pub(super) fn parts_keep_etag(&self, source: &ObjectState, reproduces: bool) -> bool {
        reproduces && !source.is_kms() && !self.replica_is_kms(source)
    }

    /// KMS objects are encrypted with the rule's destination key; service-managed
    /// encryption is kept; unencrypted objects get the destination's default.
    fn replica_encryption(&self, source: &ObjectState) -> Encryption {
        match (&source.encryption, &self.rule.kms) {
            (Encryption::Kms { .. }, KmsPolicy::Replicate { key_id }) => {
                Encryption::Kms { key_id: Some(key_id.clone()) }
            }
            (Encryption::Managed, _) => Encryption::Managed,
            _ => Encryption::None,
        }
    }

    pub(super) fn replica_is_kms(&self, source: &ObjectState) -> bool {
        matches!(self.replica_encryption(source), Encryption::Kms { .. })
    }

    /// New metadata and tags on an existing replica without moving its bytes: a copy
    /// of the replica onto itself. Falls back to a full copy where that is impossible.
    pub(super) async fn update_metadata(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        replica: Option<&ObjectState>,
        condition: Condition<'_>,
    ) -> Result<Method, Error> {
        let Some(replica) = replica.filter(|r| r.size <= MAX_SINGLE_COPY) else {
            return Ok(self.copy(key, source, tags, None, condition).await?.0);
        };
        // Held to the replica's ETag twice: as the copy's source, and as its destination.
        let itself = CopySource { bucket: self.dest_bucket(), key, if_match: Some(&replica.server_etag), range: None };
        // The copy's own ETag is not checked: the replica records the source's.
        let write = self.replica_write(source, tags, false);
        self.dest
            .copy(self.dest_bucket(), key, itself, &write, condition)
            .await
            .map_err(|f| self.write_error("updating the metadata of", key, f, condition))?;
        Ok(Method::MetadataOnly)
    }
}
