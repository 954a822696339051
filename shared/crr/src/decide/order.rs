//! Which of two writes of one key came last. A replica records when the content it
//! holds was written at its origin ([`crate::object::SOURCE_MODIFIED`]), so two
//! states of a key compare wherever they sit: the source's object against crr's
//! replica (a replica never goes back to older content), or, for two-way rules,
//! the two buckets' objects against each other (the last writer wins).
//!
//! The order is the origin's Last-Modified (seconds), then the ETag: writes within
//! the same second are ordered by their content's ETag, so both rules of a two-way
//! pair pick the same winner without talking to each other.

use crate::object::ObjectState;

/// When content was written at its origin, with the tie-break for writes in the
/// same second. Ordered by `modified`, then `etag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp<'a> {
    pub modified: i64,
    pub etag: &'a str,
}

/// The stamp of `object`'s content: what its marks record when it is a replica,
/// its own Last-Modified and ETag otherwise. `None` when the server told no time.
pub fn stamp(object: &ObjectState) -> Option<Stamp<'_>> {
    let modified = object.source_modified.or(object.last_modified)?;
    let etag = object.source_etag.as_deref().unwrap_or(&object.etag);
    Some(Stamp { modified, etag })
}

/// True when `a` holds content written after `b`'s, by the stamps' full order.
pub fn newer(a: &ObjectState, b: &ObjectState) -> bool {
    matches!((stamp(a), stamp(b)), (Some(a), Some(b)) if a > b)
}

/// True when crr's replica recorded content written at its origin after the
/// source's current content: the source went back (a newer version was deleted
/// for good). Within one second nothing counts as going back.
pub fn went_back(source: &ObjectState, replica: &ObjectState) -> bool {
    matches!((replica.source_modified, stamp(source)), (Some(recorded), Some(now)) if recorded > now.modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(modified: Option<i64>, etag: &str) -> ObjectState {
        ObjectState { etag: etag.into(), last_modified: modified, ..ObjectState::default() }
    }

    fn replica(written: i64, recorded: Option<i64>, etag: &str) -> ObjectState {
        ObjectState { source_modified: recorded, ..object(Some(written), etag) }
    }

    struct Row {
        what: &'static str,
        a: ObjectState,
        b: ObjectState,
        a_newer: bool,
        b_newer: bool,
    }

    #[test]
    fn the_later_write_is_newer_whichever_side_asks() {
        let rows = [
            Row {
                what: "a later second wins",
                a: object(Some(11), "aa"),
                b: object(Some(10), "bb"),
                a_newer: true,
                b_newer: false,
            },
            Row {
                what: "the same second: the greater ETag wins, on both sides alike",
                a: object(Some(10), "bb"),
                b: object(Some(10), "aa"),
                a_newer: true,
                b_newer: false,
            },
            Row {
                what: "the same write is not newer than itself",
                a: object(Some(10), "aa"),
                b: object(Some(10), "aa"),
                a_newer: false,
                b_newer: false,
            },
            Row {
                what: "a replica counts when its origin wrote, not when it was copied",
                a: replica(50, Some(10), "aa"),
                b: object(Some(11), "bb"),
                a_newer: false,
                b_newer: true,
            },
            Row {
                what: "a replica recorded without a time counts when it was written",
                a: replica(50, None, "aa"),
                b: object(Some(11), "bb"),
                a_newer: true,
                b_newer: false,
            },
            Row {
                what: "no time told: neither is newer",
                a: object(None, "aa"),
                b: object(Some(11), "bb"),
                a_newer: false,
                b_newer: false,
            },
        ];
        for row in rows {
            assert_eq!(newer(&row.a, &row.b), row.a_newer, "{}", row.what);
            assert_eq!(newer(&row.b, &row.a), row.b_newer, "{} (sides swapped)", row.what);
        }
    }

    #[test]
    fn a_replica_never_goes_back() {
        let rows = [
            (
                "the source's newest version was deleted for good",
                object(Some(10), "v1"),
                replica(60, Some(20), "v2"),
                true,
            ),
            ("the source moved on", object(Some(30), "v3"), replica(60, Some(20), "v2"), false),
            ("the same second is not going back", object(Some(20), "v1"), replica(60, Some(20), "v2"), false),
            ("a replica without a recorded time", object(Some(10), "v1"), replica(60, None, "v2"), false),
        ];
        for (what, source, replica, want) in rows {
            assert_eq!(went_back(&source, &replica), want, "{what}");
        }
    }
}
