//! What a source that is gone means for the replica. A rule whose deletes replicate
//! removes crr's own replica, whether the delete event came first (before a copy
//! that was already under way landed), came late, or was lost; everything else
//! stays. On a versioned source the key's history says which kind of delete it
//! was: a delete marker replicates, the permanent deletion of its versions does
//! not (the same rule as object-deleted's version-specific deletes).

use crate::config::{Rule, RuleAction};
use crate::object::ObjectState;
use crate::outcome::Decision;

/// The newest entry of a key's version history in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newest {
    /// A delete marker: the key was deleted.
    DeleteMarker,
    /// An object version: the key is there again.
    Object,
    /// No version at all: every version was deleted for good.
    Nothing,
}

/// The source has no object at the key: `DeleteReplica` when crr's own replica is
/// there and the rule's deletes replicate, `SourceGone` otherwise.
pub fn gone_decision(replica: Option<&ObjectState>, source_bucket: &str, rule: &Rule) -> Decision {
    match replica {
        Some(r) if rule.action == RuleAction::All && r.is_replica_from(source_bucket) => Decision::DeleteReplica,
        _ => Decision::SourceGone,
    }
}

/// Whether removing the replica needs the source's version history first: it
/// recorded the version it was copied from, so the source was versioned.
pub fn needs_history(replica: &ObjectState) -> bool {
    replica.source_version.is_some()
}

/// From the key's version history in a versioned source: `DeleteReplica` for a
/// delete marker, `VersionsDeleted` when no version is left, `None` when an object
/// version is there again (decide again from the source's state).
pub fn history_decision(newest: Newest) -> Option<Decision> {
    match newest {
        Newest::DeleteMarker => Some(Decision::DeleteReplica),
        Newest::Nothing => Some(Decision::VersionsDeleted),
        Newest::Object => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixtures::{rule, state, with};

    fn ours(version: Option<&str>) -> ObjectState {
        with(state(1, "aa"), |r| {
            r.replica_of = Some("crr-src".into());
            r.source_version = version.map(str::to_owned);
        })
    }

    #[test]
    fn gone_sources_remove_only_crrs_replicas_under_all_rules() {
        let all = rule(RuleAction::All, false);
        let put = rule(RuleAction::Put, false);
        let rows = [
            ("no replica", None, &all, Decision::SourceGone),
            ("crr's replica, ALL", Some(ours(None)), &all, Decision::DeleteReplica),
            ("crr's replica, PUT: deletes do not replicate", Some(ours(None)), &put, Decision::SourceGone),
            ("someone else's object", Some(state(1, "aa")), &all, Decision::SourceGone),
            (
                "a replica of another source",
                Some(with(ours(None), |r| r.replica_of = Some("other".into()))),
                &all,
                Decision::SourceGone,
            ),
        ];
        for (what, replica, rule, want) in rows {
            assert_eq!(gone_decision(replica.as_ref(), "crr-src", rule), want, "{what}");
        }
        assert!(needs_history(&ours(Some("v1"))), "copied from a versioned source");
        assert!(!needs_history(&ours(None)), "an unversioned source: a missing key was deleted");
    }

    #[test]
    fn a_versioned_sources_history_tells_a_delete_from_a_version_deletion() {
        let rows = [
            ("a delete marker: the delete replicates", Newest::DeleteMarker, Some(Decision::DeleteReplica)),
            ("no version left: deleted for good, never propagated", Newest::Nothing, Some(Decision::VersionsDeleted)),
            ("an object version again: decide again", Newest::Object, None),
        ];
        for (what, newest, want) in rows {
            assert_eq!(history_decision(newest), want, "{what}");
        }
    }
}
