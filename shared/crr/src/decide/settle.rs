//! Is the replica settled after a write? The source is read again right after
//! every write crr makes to a replica. If it still holds what was copied (or,
//! after a delete, still nothing), the replica matches a state the source had
//! after the write landed, and any later change has its own event. Otherwise the
//! source changed while the write was under way (a delete, an overwrite, a
//! re-creation), and the copy decides again from the states as they are now: a
//! copy that started before a delete never leaves a replica behind, and a slow
//! copy of an old version never has the last word.

use crate::object::ObjectState;

/// What a write did to the replica.
#[derive(Debug, Clone, Copy)]
pub enum Wrote<'a> {
    /// Content or metadata, from this state of the source.
    From(&'a ObjectState),
    /// The replica was deleted: the source had no object.
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The source is as it was copied: done.
    Settled,
    /// The source changed meanwhile: decide and act again.
    Again,
}

/// Compares what was written with the source as it is now.
pub fn settle(wrote: Wrote<'_>, source_now: Option<&ObjectState>) -> Settle {
    let settled = match (wrote, source_now) {
        (Wrote::Deleted, None) => true,
        (Wrote::From(copied), Some(now)) => {
            copied.etag == now.etag
                && copied.size == now.size
                && copied.headers == now.headers
                && copied.metadata == now.metadata
                && copied.replica_of == now.replica_of
        }
        _ => false,
    };
    if settled {
        Settle::Settled
    } else {
        Settle::Again
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixtures::{state, with};

    #[test]
    fn a_write_settles_only_when_the_source_still_holds_what_was_written() {
        let v1 = state(5, "aa");
        let v2 = state(5, "bb");
        let rows = [
            ("unchanged", Wrote::From(&v1), Some(v1.clone()), Settle::Settled),
            ("deleted while the copy was under way", Wrote::From(&v1), None, Settle::Again),
            ("overwritten while the copy was under way", Wrote::From(&v1), Some(v2.clone()), Settle::Again),
            (
                "new metadata while the copy was under way",
                Wrote::From(&v1),
                Some(with(v1.clone(), |s| {
                    s.metadata.insert("owner".into(), "b".into());
                })),
                Settle::Again,
            ),
            (
                "a new content type",
                Wrote::From(&v1),
                Some(with(v1.clone(), |s| s.headers.content_type = Some("image/png".into()))),
                Settle::Again,
            ),
            (
                "the same bytes written again: settled (the replica holds them)",
                Wrote::From(&v1),
                Some(with(v1.clone(), |s| s.last_modified = Some(99))),
                Settle::Settled,
            ),
            ("a delete, the source still gone", Wrote::Deleted, None, Settle::Settled),
            ("a delete, the key re-created meanwhile", Wrote::Deleted, Some(v2.clone()), Settle::Again),
        ];
        for (what, wrote, now, want) in rows {
            assert_eq!(settle(wrote, now.as_ref()), want, "{what}");
        }
    }
}
