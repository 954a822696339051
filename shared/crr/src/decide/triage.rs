//! Which records of a notification a function handles at all. object-created and
//! object-deleted receive the same kinds of payload; each handles its own events,
//! never crr's own state, and only keys some rule replicates. Everything else is
//! reported as ignored, with the reason.

use crate::event::EventKind;
use crate::object::RESERVED_PREFIX;

/// The event-driven functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFunction {
    ObjectCreated,
    ObjectDeleted,
}

/// What a function does with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triage {
    /// Handle it for each matching rule.
    Handle,
    /// Report it as ignored, for this reason.
    Ignore(&'static str),
}

/// Decides from the event's kind, its key and how many rules match the key.
pub fn triage(function: EventFunction, kind: EventKind, key: &str, matching_rules: usize) -> Triage {
    use EventFunction::*;
    use EventKind::*;
    let why = match (function, kind) {
        (ObjectCreated, Created | MetadataChanged) | (ObjectDeleted, Removed | DeleteMarkerCreated) => None,
        (ObjectCreated, Removed | DeleteMarkerCreated) => Some("delete events are handled by object-deleted"),
        (ObjectCreated, Ignored) => Some("this event does not change object content"),
        (ObjectDeleted, Created | MetadataChanged) => Some("created events are handled by object-created"),
        (ObjectDeleted, Ignored) => Some("this event does not delete an object"),
    };
    let why = why.or_else(|| {
        key.starts_with(RESERVED_PREFIX).then_some(match function {
            ObjectCreated => "the .crr/ prefix holds crr's own state and is never replicated",
            ObjectDeleted => "the .crr/ prefix holds crr's own state",
        })
    });
    match why.or_else(|| (matching_rules == 0).then_some("no rule's prefixes match this key")) {
        Some(why) => Triage::Ignore(why),
        None => Triage::Handle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventFunction::*;
    use EventKind::*;

    struct Row {
        what: &'static str,
        kind: EventKind,
        key: &'static str,
        rules: usize,
        created: Triage,
        deleted: Triage,
    }

    #[test]
    fn each_function_handles_its_own_events_for_replicated_keys() {
        let handle = Triage::Handle;
        let rows = [
            Row {
                what: "a new object",
                kind: Created,
                key: "a.txt",
                rules: 1,
                created: handle,
                deleted: Triage::Ignore("created events are handled by object-created"),
            },
            Row {
                what: "new metadata or tags",
                kind: MetadataChanged,
                key: "a.txt",
                rules: 2,
                created: handle,
                deleted: Triage::Ignore("created events are handled by object-created"),
            },
            Row {
                what: "a delete",
                kind: Removed,
                key: "a.txt",
                rules: 1,
                created: Triage::Ignore("delete events are handled by object-deleted"),
                deleted: handle,
            },
            Row {
                what: "a delete marker",
                kind: DeleteMarkerCreated,
                key: "a.txt",
                rules: 1,
                created: Triage::Ignore("delete events are handled by object-deleted"),
                deleted: handle,
            },
            Row {
                what: "a part of an unfinished upload",
                kind: Ignored,
                key: "a.txt",
                rules: 1,
                created: Triage::Ignore("this event does not change object content"),
                deleted: Triage::Ignore("this event does not delete an object"),
            },
            Row {
                what: "crr's own state, even where a rule would match",
                kind: Created,
                key: ".crr/backfill/r/x/checkpoint.json",
                rules: 1,
                created: Triage::Ignore("the .crr/ prefix holds crr's own state and is never replicated"),
                deleted: Triage::Ignore("created events are handled by object-created"),
            },
            Row {
                what: "deleting crr's own state",
                kind: Removed,
                key: ".crr/status/object-created.json",
                rules: 1,
                created: Triage::Ignore("delete events are handled by object-deleted"),
                deleted: Triage::Ignore("the .crr/ prefix holds crr's own state"),
            },
            Row {
                what: "a key no rule replicates",
                kind: Created,
                key: "tmp/a",
                rules: 0,
                created: Triage::Ignore("no rule's prefixes match this key"),
                deleted: Triage::Ignore("created events are handled by object-created"),
            },
            Row {
                what: "a delete of a key no rule replicates",
                kind: Removed,
                key: "tmp/a",
                rules: 0,
                created: Triage::Ignore("delete events are handled by object-deleted"),
                deleted: Triage::Ignore("no rule's prefixes match this key"),
            },
        ];
        for row in rows {
            assert_eq!(
                triage(ObjectCreated, row.kind, row.key, row.rules),
                row.created,
                "object-created: {}",
                row.what
            );
            assert_eq!(
                triage(ObjectDeleted, row.kind, row.key, row.rules),
                row.deleted,
                "object-deleted: {}",
                row.what
            );
        }
    }
}
