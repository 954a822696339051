//! Replicating until the replica is settled: a round decides from the source's and
//! the replica's state and acts ([`Engine::round`]); after every write the source
//! is read again, and the replica is settled only when the source still holds what
//! was written ([`crate::decide::settle`]). Otherwise another round decides from
//! the new states: a copy that read the source before it was deleted removes what
//! it wrote (under a rule whose deletes replicate), and a slow copy of an old
//! version is followed by a copy of the new one. A round that lost a race for the
//! replica (a failed write condition) or for the source (a failed `If-Match`) goes
//! again at once.

use super::{Engine, Hint, Step, CHANGED};
use crate::decide::settle::{settle, Settle, Wrote};
use crate::error::{Error, Fault};
use crate::outcome::CopyOutcome;

/// Rounds before giving up on a source that keeps changing (the platform's retry,
/// or the next backfill, takes it from there).
pub const MAX_ROUNDS: u32 = 5;

impl Engine<'_> {
    /// Brings the replica of `key` in line with the source's current state, and
    /// leaves it only when the source, read after the last write, still agrees.
    pub async fn replicate(&self, key: &str, hint: &Hint) -> Result<CopyOutcome, Error> {
        // What earlier rounds did, if the last one had nothing left to do.
        let mut earlier: Option<CopyOutcome> = None;
        for _ in 0..MAX_ROUNDS {
            let step = match self.round(key, hint).await {
                Ok(step) => step,
                Err(Error::Storage { code: Some(code), .. }) if code == CHANGED => Step::Again,
                Err(e) => return Err(e),
            };
            match step {
                Step::Done(outcome) => return Ok(merge(earlier, outcome)),
                Step::Again => continue,
                Step::Wrote(outcome, from) => {
                    let now = self.head_source(key).await?;
                    let wrote = match &from {
                        Some(state) => Wrote::From(state),
                        None => Wrote::Deleted,
                    };
                    if settle(wrote, now.as_ref()) == Settle::Settled {
                        return Ok(merge(earlier, outcome));
                    }
                    tracing::info!(key, decision = ?outcome.decision, "the source changed while the replica was written; deciding again");
                    earlier = Some(merge(earlier, outcome));
                }
            }
        }
        Err(Error::Storage {
            op: "replicating",
            bucket: self.dest_bucket().to_owned(),
            key: key.to_owned(),
            fault: Fault::Transient,
            code: Some("SourceKeptChanging".into()),
            detail: format!(
                "the source or the replica changed during each of {MAX_ROUNDS} attempts; the platform's retry or the next backfill continues"
            ),
        })
    }
}

/// The outcome to report after several rounds: the last round's decision (what the
/// replica is now), with every round's bytes and time. A round that found nothing
/// left to do after an earlier one wrote reports that write.
fn merge(earlier: Option<CopyOutcome>, last: CopyOutcome) -> CopyOutcome {
    match earlier {
        None => last,
        Some(e) if !last.decision.wrote() && last.decision != crate::outcome::Decision::DeleteReplica => {
            CopyOutcome { ms: e.ms + last.ms, bytes: e.bytes + last.bytes, ..e }
        }
        Some(e) => CopyOutcome { bytes: e.bytes + last.bytes, ms: e.ms + last.ms, ..last },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Decision, Method};

    fn o(decision: Decision, bytes: u64) -> CopyOutcome {
        CopyOutcome { decision, method: decision.wrote().then_some(Method::Stream), bytes, ms: 1 }
    }

    #[test]
    fn several_rounds_report_what_the_replica_became() {
        let rows = [
            ("one round", None, o(Decision::Copy, 5), o(Decision::Copy, 5)),
            ("a copy, then the newer version", Some(o(Decision::Copy, 5)), o(Decision::Copy, 7), o(Decision::Copy, 12)),
            ("a copy undone", Some(o(Decision::Copy, 5)), o(Decision::DeleteReplica, 0), o(Decision::DeleteReplica, 5)),
            (
                "a copy, then nothing left to do: the copy is what happened",
                Some(o(Decision::Copy, 5)),
                o(Decision::Identical, 0),
                o(Decision::Copy, 5),
            ),
        ];
        for (what, earlier, last, want) in rows {
            let got = merge(earlier, last);
            assert_eq!((got.decision, got.bytes), (want.decision, want.bytes), "{what}");
        }
    }
}
