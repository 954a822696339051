//! object-deleted: replicating deletes, where replication loses data if it is careless.
//!
//! * Rule action `PUT` (the default): deletes are not replicated; said in the log and counted.
//! * The permanent deletion of a specific version is never propagated (protection
//!   against malicious deletion); a delete marker is, as a delete without version
//!   (a delete marker again on a versioned destination). After a version-specific
//!   delete the key's current object is brought to the replica: deleting a delete
//!   marker (an undelete) makes an older version current with no created event, and
//!   the replica comes back; a replica never goes back to older content, though.
//! * The reappeared-key guard: if the key exists in the source now (re-created after
//!   the delete; the event came late or out of order), nothing is deleted and the
//!   replica is made to match the current object instead. The source is checked
//!   again after deleting, so a re-creation racing with the delete is repaired too.
//! * Only crr's own replicas (marked with the source bucket) are deleted, unless the
//!   rule explicitly allows otherwise; anything else is left alone and reported. The
//!   delete is held to the ETag the replica had when it was checked.
//! * Up to 1000 keys go in one batch delete; outcomes are reported per key.
//! * Every check and delete retries transient faults as object-created does, within
//!   the invocation's deadline, also for the keys a batch delete refused with one.
//!
//! The decisions are [`crate::decide::delete`]; removing replicas is [`crate::removal`].

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use futures::stream::{self, StreamExt};

use crate::copy::Hint;
use crate::decide::{rule_decision, state_decision, triage, version_decision, EventFunction, Triage};
use crate::error::Error;
use crate::event::{EventKind, Notification, ObjectEvent};
use crate::invocation::Invocation;
use crate::outcome::{CopyOutcome, DeleteOutcome};
use crate::replicator::Replicator;
use crate::report::{Outcome, RecordResult, Report};
use crate::retry::retry;
use crate::store::Doomed;

/// A record to check for one rule: where its result goes, the rule, the event.
struct Candidate {
    slot: usize,
    rule: usize,
    event: usize,
}

/// A key to delete for one rule, with where its result goes and the ETag its
/// replica had when it was checked.
struct Pending {
    slot: usize,
    key: String,
    etag: Option<String>,
}

/// What checking one delete found.
enum Checked {
    Done(DeleteOutcome, Option<CopyOutcome>),
    /// Delete the replica, which had this ETag.
    Delete(Option<String>),
}

/// Handles ObjectRemoved events for every matching rule, safely.
pub async fn object_deleted(
    r: &Replicator,
    notification: &Notification,
    invocation: &Invocation,
) -> Result<Report, Error> {
    r.begin(invocation, &notification.events)?;
    let events = &notification.events;

    // One result slot per (record, rule); records that need no request are settled now.
    let mut results: Vec<RecordResult> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for (index, ev) in events.iter().enumerate() {
        let base = RecordResult::new(index, ev);
        let rules = r.rules_for(&ev.key);
        if let Triage::Ignore(why) = triage(EventFunction::ObjectDeleted, ev.kind, &ev.key, rules.len()) {
            results.push(base.ignored(why));
            continue;
        }
        for (i, rule) in rules {
            let mut result = base.clone().for_rule(rule);
            if let Some(outcome) = rule_decision(rule) {
                tracing::info!(key = %ev.key, rule = %rule.id, "rule action is PUT: the delete is not replicated");
                result.outcome = Some(Outcome::Delete(outcome));
            } else {
                candidates.push(Candidate { slot: results.len(), rule: i, event: index });
            }
            results.push(result);
        }
    }

    // Check every candidate: the version, the source now, the replica. Many keys
    // at once (a batch delete) are looked up in one listing of the source.
    let keys: Vec<&str> = candidates.iter().map(|c| events[c.event].key.as_str()).collect();
    let presence = match r.source_view(invocation).listed_presence(&keys).await {
        Ok(p) => p,
        Err(e) => {
            for c in &candidates {
                results[c.slot].failed(&e);
            }
            r.settle("object-deleted", invocation, events.len(), &results).await;
            return Report::finish(events.len(), results);
        }
    };
    let presence = &presence;
    let checked: Vec<(Candidate, Result<Checked, Error>)> = stream::iter(candidates)
        .map(|c| async move {
            let outcome = check_delete(r, c.rule, &events[c.event], presence, invocation).await;
            (c, outcome)
        })
        .buffer_unordered(r.config.copy.record_concurrency)
        .collect()
        .await;

    let mut batches: BTreeMap<usize, Vec<Pending>> = BTreeMap::new();
    for (c, outcome) in checked {
        let result = &mut results[c.slot];
        match outcome {
            Ok(Checked::Done(outcome, copy)) => {
                result.outcome = Some(Outcome::Delete(outcome));
                if let Some(copy) = copy {
                    result.copied_back(&copy);
                }
            }
            Ok(Checked::Delete(etag)) => {
                batches.entry(c.rule).or_default().push(Pending { slot: c.slot, key: result.key.clone(), etag })
            }
            Err(e) => result.failed(&e),
        }
    }

    for (i, pending) in batches {
        delete_batch(r, i, pending, invocation, &mut results).await;
    }
    for result in &results {
        if let Some(outcome) = &result.outcome {
            tracing::info!(key = %result.key, rule = result.rule.as_deref().unwrap_or(""), outcome = ?outcome, "delete handled");
        }
    }
    r.settle("object-deleted", invocation, events.len(), &results).await;
    Report::finish(events.len(), results)
}

async fn check_delete(
    r: &Replicator,
    i: usize,
    ev: &ObjectEvent,
    presence: &Option<HashSet<String>>,
    invocation: &Invocation,
) -> Result<Checked, Error> {
    let engine = r.engine(i, invocation).await?;
    let key = ev.key.as_str();
    let source = engine.source_view();
    if let (EventKind::Removed, Some(version)) = (ev.kind, ev.version_id.as_deref()) {
        let status = retry(&format!("checking the deleted version of {key}"), engine.deadline, |_| {
            source.head_source_version(key, version)
        })
        .await?;
        if let Some(outcome) = version_decision(status) {
            // Not propagated. The key's current object may be another one now (an
            // undelete): the replica is brought in line with it, never rolled back.
            let copy = match source.source_now(key).await? {
                Some(now) => {
                    Some(engine.ensure_replica(key, &Hint { size: Some(now.size), etag: Some(now.etag) }).await?)
                }
                None => None,
            };
            return Ok(Checked::Done(outcome, copy));
        }
    }
    let source_now = async {
        match presence {
            Some(listed) if !listed.contains(key) => Ok(None),
            _ => source.source_now(key).await,
        }
    };
    let (source, replica) = tokio::join!(source_now, engine.replica_now(key));
    let (source, replica) = (source?, replica?);
    match state_decision(source.as_ref(), replica.as_ref(), &r.config.source.name, engine.rule.delete_unmarked) {
        DeleteOutcome::SourceExists => {
            let hint = Hint { size: source.as_ref().map(|s| s.size), etag: source.as_ref().map(|s| s.etag.clone()) };
            let copy = engine.ensure_replica(key, &hint).await?;
            Ok(Checked::Done(DeleteOutcome::SourceExists, Some(copy)))
        }
        DeleteOutcome::NotAReplica => {
            tracing::warn!(
                key,
                destination = %engine.rule.destination.name,
                replica_of = replica.as_ref().and_then(|r| r.replica_of.as_deref()).unwrap_or("none"),
                "not deleting a destination object crr did not write for this source"
            );
            Ok(Checked::Done(DeleteOutcome::NotAReplica, None))
        }
        DeleteOutcome::Deleted => Ok(Checked::Delete(replica.map(|r| r.etag))),
        other => Ok(Checked::Done(other, None)),
    }
}

/// Deletes `pending` keys of rule `i`; each gets its own outcome.
async fn delete_batch(
    r: &Replicator,
    i: usize,
    pending: Vec<Pending>,
    invocation: &Invocation,
    results: &mut [RecordResult],
) {
    let engine = match r.engine(i, invocation).await {
        Ok(e) => e,
        Err(e) => {
            for p in &pending {
                results[p.slot].failed(&e);
            }
            return;
        }
    };
    // A key named twice in one invocation is deleted once.
    let mut by_key: BTreeMap<&str, Vec<&Pending>> = BTreeMap::new();
    for p in &pending {
        by_key.entry(p.key.as_str()).or_default().push(p);
    }
    let doomed: Vec<Doomed> =
        by_key.iter().map(|(key, ps)| Doomed { key, etag: ps.first().and_then(|p| p.etag.as_deref()) }).collect();
    let started = Instant::now();
    let outcomes = engine.delete_replicas(&doomed).await;
    let ms = started.elapsed().as_millis() as u64;
    for (key, outcome) in outcomes {
        for p in &by_key[key.as_str()] {
            let result = &mut results[p.slot];
            result.ms = ms;
            match &outcome {
                Ok(None) => result.outcome = Some(Outcome::Delete(DeleteOutcome::Deleted)),
                Ok(Some(copy)) => {
                    result.outcome = Some(Outcome::Delete(DeleteOutcome::SourceExists));
                    result.copied_back(copy);
                }
                Err(e) => result.failed(e),
            }
        }
    }
}
