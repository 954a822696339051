//! Removing crr's replica when the source is gone and the rule's deletes replicate
//! ([`crate::decide::gone`]): on a versioned source only after the key's history
//! shows a delete marker, and only if the replica still has the ETag it was seen
//! with (where the server honours the condition; the look at the source after the
//! delete catches a key re-created meanwhile either way).

use std::time::Instant;

use super::{Engine, Step};
use crate::decide::gone::{history_decision, needs_history};
use crate::error::Error;
use crate::object::ObjectState;
use crate::outcome::{CopyOutcome, Decision};
use crate::store::Condition;

impl Engine<'_> {
    pub(super) async fn delete_replica(
        &self,
        key: &str,
        replica: &ObjectState,
        started: Instant,
    ) -> Result<Step, Error> {
        let outcome =
            |decision| CopyOutcome { decision, method: None, bytes: 0, ms: started.elapsed().as_millis() as u64 };
        if needs_history(replica) {
            let newest = self
                .source
                .newest_version(&self.source_bucket.name, key)
                .await
                .map_err(|f| self.source_error("reading the version history of", key, f))?;
            match history_decision(newest) {
                None => return Ok(Step::Again),
                Some(Decision::DeleteReplica) => {}
                Some(other) => {
                    tracing::info!(key, "the source's versions were deleted for good; like a version-specific delete, that is not replicated");
                    return Ok(Step::Done(outcome(other)));
                }
            }
        }
        let condition = self.condition(Some(replica));
        let if_match = match condition {
            Condition::Matches(etag) => Some(etag),
            _ => None,
        };
        self.dest
            .delete(self.dest_bucket(), key, if_match)
            .await
            .map_err(|f| self.write_error("deleting the replica of", key, f, condition))?;
        tracing::info!(key, "the source is gone: removed crr's replica");
        Ok(Step::Wrote(outcome(Decision::DeleteReplica), None))
    }
}
