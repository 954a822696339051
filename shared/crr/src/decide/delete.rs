//! What a delete event may do to a replica: the rule's action, what the deleted
//! version was, and the source's and the replica's state now. A replica is only
//! ever deleted when every step says so.

use crate::config::{Rule, RuleAction};
use crate::object::ObjectState;
use crate::outcome::DeleteOutcome;

/// What the rule alone decides, before any request.
pub fn rule_decision(rule: &Rule) -> Option<DeleteOutcome> {
    match rule.action {
        RuleAction::Put => Some(DeleteOutcome::NotReplicated),
        RuleAction::All => None,
    }
}

/// What a version-carrying `Removed` event was, from a HEAD of that version:
/// gone for good (404) is a permanent version delete; a delete marker (405) is a
/// delete to replicate; still there means there is nothing to delete.
pub fn version_decision(head_status: Result<(), u16>) -> Option<DeleteOutcome> {
    match head_status {
        Err(405) => None,
        Err(_) | Ok(()) => Some(DeleteOutcome::VersionNotPropagated),
    }
}

/// From the source's and the replica's current state.
pub fn state_decision(
    source_now: Option<&ObjectState>,
    replica: Option<&ObjectState>,
    source_bucket: &str,
    delete_unmarked: bool,
) -> DeleteOutcome {
    if source_now.is_some() {
        return DeleteOutcome::SourceExists;
    }
    let Some(replica) = replica else { return DeleteOutcome::ReplicaAbsent };
    if replica.replica_of.as_deref() != Some(source_bucket) && !delete_unmarked {
        return DeleteOutcome::NotAReplica;
    }
    DeleteOutcome::Deleted
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{Encryption, StandardHeaders};
    use DeleteOutcome::*;

    fn state(replica_of: Option<&str>) -> ObjectState {
        ObjectState {
            size: 1,
            etag: "0cc175b9c0f1b6a831c399e269772661".into(),
            server_etag: "0cc175b9c0f1b6a831c399e269772661".into(),
            object_type: crate::object::ObjectType::Normal,
            crc64: None,
            restore: None,
            headers: StandardHeaders::default(),
            metadata: HashMap::new(),
            replica_of: replica_of.map(str::to_owned),
            source_etag: None,
            source_modified: None,
            source_version: None,
            tag_count: None,
            encryption: Encryption::None,
            storage_class: None,
            version_id: None,
            last_modified: None,
        }
    }

    struct Row {
        what: &'static str,
        source: Option<ObjectState>,
        replica: Option<ObjectState>,
        delete_unmarked: bool,
        want: DeleteOutcome,
    }

    #[test]
    fn state_decisions() {
        let ours = || Some(state(Some("crr-src")));
        let theirs = || Some(state(Some("other-src")));
        let unmarked = || Some(state(None));
        let source = || Some(state(None));
        let rows = [
            Row {
                what: "re-created in the source",
                source: source(),
                replica: ours(),
                delete_unmarked: false,
                want: SourceExists,
            },
            Row {
                what: "re-created, no replica yet",
                source: source(),
                replica: None,
                delete_unmarked: false,
                want: SourceExists,
            },
            Row { what: "nothing to delete", source: None, replica: None, delete_unmarked: false, want: ReplicaAbsent },
            Row { what: "crr's own replica", source: None, replica: ours(), delete_unmarked: false, want: Deleted },
            Row {
                what: "an object crr did not write",
                source: None,
                replica: unmarked(),
                delete_unmarked: false,
                want: NotAReplica,
            },
            Row {
                what: "a replica of another source",
                source: None,
                replica: theirs(),
                delete_unmarked: false,
                want: NotAReplica,
            },
            Row {
                what: "unmarked objects, when the rule allows",
                source: None,
                replica: unmarked(),
                delete_unmarked: true,
                want: Deleted,
            },
            Row {
                what: "another source's replica, when the rule allows",
                source: None,
                replica: theirs(),
                delete_unmarked: true,
                want: Deleted,
            },
        ];
        for row in rows {
            let got = state_decision(row.source.as_ref(), row.replica.as_ref(), "crr-src", row.delete_unmarked);
            assert_eq!(got, row.want, "{}", row.what);
        }
    }

    #[test]
    fn version_decisions() {
        let rows = [
            ("deleted for good", Err(404), Some(VersionNotPropagated)),
            ("a delete marker replicates", Err(405), None),
            ("still there", Ok(()), Some(VersionNotPropagated)),
        ];
        for (what, status, want) in rows {
            assert_eq!(version_decision(status), want, "{what}");
        }
    }
}
