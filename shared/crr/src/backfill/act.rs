//! Acting on one page's differences: the actions [`super::actions`] chose, carried
//! out with bounded concurrency through the same copy engine as object-created
//! (so a backfill obeys the same rules: conditional writes, a look at the source
//! after every write, never back to older content), and counted. Mirror mode
//! collects crr's replicas whose source is gone, checks the source once more and
//! deletes them in batches, each held to the ETag it was seen with; a replica of a
//! versioned source goes only after the key's history shows a delete marker.

use std::sync::Mutex;

use futures::stream::{self, StreamExt};

use super::actions::{action, compared, Action, Policy};
use super::counters::Counters;
use super::march::{Diff, Listed};
use crate::copy::{Engine, Hint};
use crate::decide::gone::needs_history;
use crate::error::Error;
use crate::lock::{into_inner, lock};
use crate::object::ObjectState;
use crate::outcome::{CopyOutcome, Decision};
use crate::replicator::Replicator;
use crate::retry::retry;
use crate::store::Doomed;

/// Failures and left-alone keys a report shows, at most.
pub(super) const SHOWN: usize = 20;

/// What acting on a page came to: its counts, and the first few failures (for the
/// report and the status page's failure ring) and keys left alone, for the report.
pub(super) struct PageOutcome {
    pub counters: Counters,
    pub failures: Vec<(String, Error)>,
    pub left_alone: Vec<String>,
}

/// What a page's actions report besides counts: failures and keys left alone, the first few.
#[derive(Default)]
struct Shown {
    failures: Mutex<Vec<(String, Error)>>,
    left_alone: Mutex<Vec<String>>,
}

impl Shown {
    fn fail(&self, c: &mut Counters, key: &str, e: &Error) {
        c.failed += 1;
        tracing::error!(key, error = %e, "backfill: failed");
        let mut shown = lock(&self.failures);
        if shown.len() < SHOWN {
            shown.push((key.to_owned(), e.clone()));
        }
    }

    fn left_alone(&self, c: &mut Counters, key: &str, why: &str) {
        c.left_alone += 1;
        tracing::warn!(key, why, "mirror: leaving a destination object in place");
        let mut shown = lock(&self.left_alone);
        if shown.len() < SHOWN {
            shown.push(format!("{key}: {why}"));
        }
    }
}

/// Acts on a page's differences as `policy` says, at most the backfill's
/// concurrency at a time.
pub(super) async fn act(r: &Replicator, engine: &Engine<'_>, diffs: Vec<Diff>, policy: Policy) -> PageOutcome {
    let shown = Shown::default();
    let to_delete: Mutex<Vec<(String, ObjectState)>> = Mutex::new(Vec::new());
    let source_bucket = r.config.source.name.as_str();
    let counts: Vec<Counters> = stream::iter(diffs.into_iter().map(|d| action(d, &policy)))
        .map(|a| {
            let (shown, to_delete, policy) = (&shown, &to_delete, &policy);
            async move {
                match a {
                    Action::Count(c) => c,
                    Action::Copy { source, counted } => copy(engine, &source, counted, shown).await,
                    Action::Check { source } => {
                        // Read with HEADs: only what travels with the object may differ.
                        let result = copy_key(engine, &source.key, &Hint::default()).await;
                        let mut c = Counters { scanned: 1, ..Counters::default() };
                        record(&mut c, &source.key, Some(source.size), result, shown);
                        c
                    }
                    Action::Compare { source } => match engine.head_replica(&source.key).await {
                        // The listing said the replica differs; a look says what it is now.
                        Ok(replica) => match compared(source, replica.as_ref(), policy) {
                            Action::Copy { source, counted } => copy(engine, &source, counted, shown).await,
                            Action::Count(c) => c,
                            other => unreachable!("compared() only counts or copies, not {other:?}"),
                        },
                        Err(e) => {
                            let mut c = Counters { scanned: 1, ..Counters::default() };
                            shown.fail(&mut c, &source.key, &e);
                            c
                        }
                    },
                    Action::MirrorDelete { key } => {
                        let mut c = Counters { extra: 1, ..Counters::default() };
                        // Only objects crr wrote for this source; the source itself is
                        // checked just before the delete, below.
                        match engine.replica_now(&key).await {
                            Ok(Some(replica)) if replica.is_replica_from(source_bucket) => {
                                lock(to_delete).push((key, replica));
                            }
                            Ok(Some(other)) => {
                                let why = match other.replica_of {
                                    Some(of) => format!("a replica of {of}, not of {source_bucket}"),
                                    None => "not written by crr".to_owned(),
                                };
                                shown.left_alone(&mut c, &key, &why);
                            }
                            Ok(None) => {}
                            Err(e) => shown.fail(&mut c, &key, &e),
                        }
                        c
                    }
                }
            }
        })
        .buffer_unordered(r.config.backfill.concurrency)
        .collect()
        .await;
    let mut total = Counters::default();
    for c in counts {
        total += c;
    }
    mirror_deletes(engine, into_inner(to_delete), &mut total, &shown).await;
    PageOutcome { counters: total, failures: into_inner(shown.failures), left_alone: into_inner(shown.left_alone) }
}

/// Mirror mode: crr's replicas whose source is still gone now. Replicas of a
/// versioned source go through the engine one by one (it reads the key's history:
/// a delete marker replicates, versions deleted for good do not); the others go in
/// batch deletes, each key held to the ETag its replica was seen with.
async fn mirror_deletes(
    engine: &Engine<'_>,
    candidates: Vec<(String, ObjectState)>,
    total: &mut Counters,
    shown: &Shown,
) {
    if candidates.is_empty() {
        return;
    }
    let keys: Vec<&str> = candidates.iter().map(|(k, _)| k.as_str()).collect();
    let mut gone: Vec<&(String, ObjectState)> = Vec::with_capacity(candidates.len());
    for (key, now) in engine.source_view().sources_now(&keys).await {
        match now {
            Ok(None) => gone.extend(candidates.iter().find(|(k, _)| *k == key)),
            Ok(Some(_)) => tracing::info!(key = %key, "mirror: the key is back in the source; its replica stays"),
            Err(e) => shown.fail(total, &key, &e),
        }
    }
    let (versioned, plain): (Vec<_>, Vec<_>) = gone.into_iter().partition(|(_, replica)| needs_history(replica));
    for (key, _) in versioned {
        match copy_key(engine, key, &Hint::default()).await {
            Ok(o) if o.decision == Decision::DeleteReplica => total.deleted += 1,
            Ok(o) if o.decision == Decision::VersionsDeleted => shown.left_alone(
                total,
                key,
                "its versions were deleted for good in the source, which is never replicated",
            ),
            outcome => record(total, key, None, outcome, shown),
        }
    }
    let doomed: Vec<Doomed> = plain.iter().map(|(key, replica)| Doomed { key, etag: Some(&replica.etag) }).collect();
    for (key, outcome) in engine.delete_replicas(&doomed).await {
        match outcome {
            Ok(None) => total.deleted += 1,
            Ok(Some(copy)) => record(total, &key, None, Ok(copy), shown),
            Err(e) => shown.fail(total, &key, &e),
        }
    }
}

/// Copies one listed source object and counts it on top of what the key `counted`.
async fn copy(engine: &Engine<'_>, source: &Listed, mut counted: Counters, shown: &Shown) -> Counters {
    let hint = Hint { size: Some(source.size), etag: Some(source.etag.clone()) };
    let result = copy_key(engine, &source.key, &hint).await;
    record(&mut counted, &source.key, Some(source.size), result, shown);
    counted
}

/// Brings one key's replica in line under the retry policy.
async fn copy_key(engine: &Engine<'_>, key: &str, hint: &Hint) -> Result<CopyOutcome, Error> {
    retry(&format!("backfilling {key}"), engine.deadline, |_| engine.replicate(key, hint)).await
}

/// Counts what bringing a key in line did; `bytes` counts the object's size also
/// when it was copied inside the storage service (no bytes through the function).
fn record(c: &mut Counters, key: &str, size: Option<u64>, result: Result<CopyOutcome, Error>, shown: &Shown) {
    match result {
        Ok(o) => match o.decision {
            Decision::Copy => {
                c.copied += 1;
                c.bytes += o.bytes.max(size.unwrap_or(0));
            }
            Decision::UpdateMetadata => {
                c.copied += 1;
                c.bytes += o.bytes;
            }
            Decision::Identical => {
                // Written meanwhile (by the event path): nothing to do after all.
                c.missing = c.missing.saturating_sub(1);
                c.different = c.different.saturating_sub(1);
                c.identical += 1;
            }
            // The source was deleted since it was listed, and the rule's deletes replicate.
            Decision::DeleteReplica => c.deleted += 1,
            Decision::ReplicaNewer | Decision::DestinationNewer => {
                tracing::warn!(key, decision = ?o.decision, "backfill: the destination holds newer content than the source; kept");
                c.kept_newer += 1;
            }
            Decision::SourceGone | Decision::SourceIsReplica | Decision::SkippedKms | Decision::VersionsDeleted => {}
        },
        Err(e) => shown.fail(c, key, &e),
    }
}
