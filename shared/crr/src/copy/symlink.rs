//! OSS symbolic links replicated as links: the replica points to the same target
//! key, with the link's own metadata and tags, and no bytes move. (Into a store
//! without symlinks the engine copies the target's bytes instead, as a GET of the
//! link returns them.)

use super::Engine;
use crate::decide::symlink_decision;
use crate::error::Error;
use crate::object::{ObjectState, ObjectType, Tags};
use crate::outcome::Decision;
use crate::store::Found;

impl Engine<'_> {
    /// The source link's target, and whether the replica already is a link to it.
    pub(super) async fn symlink_content(
        &self,
        key: &str,
        replica: Option<&ObjectState>,
    ) -> Result<(String, Decision), Error> {
        let target = self
            .source
            .symlink_target(&self.source_bucket.name, key)
            .await
            .map_err(|f| self.source_error("reading the symlink target of", key, f))?;
        let replica_target = match replica.filter(|r| r.object_type == ObjectType::Symlink) {
            Some(_) => self
                .dest
                .symlink_target(self.dest_bucket(), key)
                .await
                .found()
                .map_err(|f| self.dest_error("reading the symlink target of", key, f))?,
            None => None,
        };
        let decision = symlink_decision(&target, replica, replica_target.as_deref());
        Ok((target, decision))
    }

    /// Writes the replica as a link to `target`, with the source link's metadata and tags.
    pub(super) async fn put_link(
        &self,
        key: &str,
        source: &ObjectState,
        target: &str,
        tags: &Tags,
    ) -> Result<(), Error> {
        // A link's ETag is opaque: the replica records the source's.
        let write = self.replica_write(source, tags, false);
        self.dest
            .put_symlink(self.dest_bucket(), key, target, &write)
            .await
            .map_err(|f| self.dest_error("writing the symlink", key, f))?;
        Ok(())
    }
}
