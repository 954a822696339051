//! object-deleted: replicating deletes, where replication loses data if it is careless.
//!
//! * Rule action `PUT` (the default): deletes are not replicated; said in the log and counted.
//! * The permanent deletion of a specific version is never propagated (protection
//!   against malicious deletion); a delete marker is, as a delete without version
//!   (a delete marker again on a versioned destination).
//! * The reappeared-key guard: if the key exists in the source now (re-created after
//!   the delete; the event came late or out of order), nothing is deleted and the
//!   replica is made to match the current object instead. The source is checked
//!   again after deleting, so a re-creation racing with the delete is repaired too.
//! * Only crr's own replicas (marked with the source bucket) are deleted, unless the
//!   rule explicitly allows otherwise; anything else is left alone and reported.
//! * Up to 1000 keys go in one batch delete; outcomes are reported per key.
//! * Every check and delete retries transient faults as object-created does, within
//!   the invocation's deadline, also for the keys a batch delete refused with one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use fc_runtime::{Context, Event};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::app::Replicator;
use crate::config::{Rule, RuleAction};
use crate::copy::{CopyOutcome, Engine, Hint};
use crate::error::{Error, Failure, Fault};
use crate::event::{EventKind, Notification, ObjectEvent};
use crate::object::{ObjectState, RESERVED_PREFIX};
use crate::report::{Outcome, RecordResult, Report};
use crate::retry::retry;

/// Keys per DeleteObjects request: the S3 and OSS limit.
pub const MAX_BATCH_DELETE: usize = 1000;
/// From this many keys, the source is listed once instead of asked key by key.
const LIST_AT: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteOutcome {
    /// The replica was deleted (a delete marker on a versioned destination).
    Deleted,
    /// The rule's action is `PUT`: deletes are not replicated.
    NotReplicated,
    /// A specific version was deleted for good in the source: never propagated.
    VersionNotPropagated,
    /// The key exists in the source again: the replica was made to match it instead.
    SourceExists,
    /// There is no replica to delete.
    ReplicaAbsent,
    /// The destination object was not written by crr for this source: left alone.
    NotAReplica,
}

/// What the rule and the event alone decide, before any request.
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

/// A key to delete for one rule, with where its result goes.
struct Pending {
    slot: usize,
    key: String,
}

impl Replicator {
    /// Handles ObjectRemoved events for every matching rule, safely.
    pub async fn object_deleted(&self, event: Event<Notification>) -> Result<Report, Error> {
        let Event { payload, context } = event;
        self.begin(&context, &payload.events)?;
        let context = &context;

        // One result slot per (record, rule); records that need no request are settled now.
        let mut results: Vec<RecordResult> = Vec::new();
        let mut checks: Vec<(usize, usize, usize)> = Vec::new(); // (slot, rule index, event index)
        for (index, ev) in payload.events.iter().enumerate() {
            let base = RecordResult::new(index, ev);
            let why = match ev.kind {
                EventKind::Removed | EventKind::DeleteMarkerCreated => None,
                EventKind::Created | EventKind::MetadataChanged => Some("created events are handled by object-created"),
                EventKind::Ignored => Some("this event does not delete an object"),
            };
            let why =
                why.or_else(|| ev.key.starts_with(RESERVED_PREFIX).then_some("the .crr/ prefix holds crr's own state"));
            let rules = self.rules_for(&ev.key);
            if let Some(why) = why.or_else(|| rules.is_empty().then_some("no rule's prefixes match this key")) {
                results.push(base.ignored(why));
                continue;
            }
            for (i, rule) in rules {
                let mut r = base.clone().for_rule(rule);
                if let Some(outcome) = rule_decision(rule) {
                    tracing::info!(key = %ev.key, rule = %rule.id, "rule action is PUT: the delete is not replicated");
                    r.outcome = Some(Outcome::Delete(outcome));
                    results.push(r);
                } else {
                    checks.push((results.len(), i, index));
                    results.push(r);
                }
            }
        }

        // Check every candidate: the version, the source now, the replica. Many keys
        // at once (a batch delete) are looked up in one listing of the source.
        let events = &payload.events;
        let candidates: Vec<&str> = checks.iter().map(|&(_, _, e)| events[e].key.as_str()).collect();
        let presence = match self.listed_presence(&candidates, context.deadline).await {
            Ok(p) => p,
            Err(e) => {
                for (slot, _, _) in &checks {
                    results[*slot].failed(&e);
                }
                return Report::finish(payload.events.len(), results);
            }
        };
        let presence = &presence;
        let checked: Vec<(usize, usize, Result<Checked, Error>)> = stream::iter(checks)
            .map(|(slot, i, e)| async move { (slot, i, self.check_delete(i, &events[e], presence, context).await) })
            .buffer_unordered(self.config.copy.record_concurrency)
            .collect()
            .await;

        let mut batches: BTreeMap<usize, Vec<Pending>> = BTreeMap::new();
        for (slot, i, outcome) in checked {
            let r = &mut results[slot];
            match outcome {
                Ok(Checked::Done(outcome, copy)) => {
                    r.outcome = Some(Outcome::Delete(outcome));
                    if let Some(c) = copy {
                        r.copy = Some(c.decision);
                        r.method = c.method;
                        r.bytes = c.bytes;
                    }
                }
                Ok(Checked::Delete) => {
                    batches.entry(i).or_default().push(Pending { slot, key: r.key.clone() });
                }
                Err(e) => r.failed(&e),
            }
        }

        for (i, pending) in batches {
            self.delete_batch(i, pending, context, &mut results).await;
        }
        for r in &results {
            if let Some(outcome) = &r.outcome {
                tracing::info!(key = %r.key, rule = r.rule.as_deref().unwrap_or(""), outcome = ?outcome, "delete handled");
            }
        }
        Report::finish(payload.events.len(), results)
    }

    async fn check_delete(
        &self,
        i: usize,
        ev: &ObjectEvent,
        presence: &Option<HashSet<String>>,
        context: &Context,
    ) -> Result<Checked, Error> {
        let engine = self.engine(i, context).await?;
        let key = ev.key.as_str();
        if let (EventKind::Removed, Some(version)) = (ev.kind, ev.version_id.as_deref()) {
            let status = retry(&format!("checking the deleted version of {key}"), engine.deadline, |_| {
                self.head_source_version(&engine, key, version)
            })
            .await?;
            if let Some(outcome) = version_decision(status) {
                return Ok(Checked::Done(outcome, None));
            }
        }
        let source_now = async {
            match presence {
                Some(listed) if !listed.contains(key) => Ok(None),
                _ => self.source_now(&engine, key).await,
            }
        };
        let (source, replica) = tokio::join!(source_now, replica_now(&engine, key));
        let (source, replica) = (source?, replica?);
        match state_decision(source.as_ref(), replica.as_ref(), &self.config.source.name, engine.rule.delete_unmarked) {
            DeleteOutcome::SourceExists => {
                let hint =
                    Hint { size: source.as_ref().map(|s| s.size), etag: source.as_ref().map(|s| s.etag.clone()) };
                let copy = ensure_replica(&engine, key, &hint).await?;
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
            DeleteOutcome::Deleted => Ok(Checked::Delete),
            other => Ok(Checked::Done(other, None)),
        }
    }

    /// Which of `keys` exist in the source, from one listing of their common prefix,
    /// when there are enough keys for that to beat a HEAD each. `None`: ask per key
    /// (few keys, or the prefix holds too much else to list).
    async fn listed_presence(
        &self,
        keys: &[&str],
        deadline: Option<Instant>,
    ) -> Result<Option<HashSet<String>>, Error> {
        if keys.len() < LIST_AT {
            return Ok(None);
        }
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
        let prefix = common_prefix(first, last);
        let budget = (sorted.len() * 4).max(5000);
        let wanted: HashSet<&str> = sorted.iter().copied().collect();
        let bucket = &self.config.source.name;
        let mut present = HashSet::new();
        let mut scanned = 0;
        let mut token: Option<String> = None;
        loop {
            let page = retry(&format!("listing {bucket}/{prefix}"), deadline, |_| {
                let token = token.clone();
                async move {
                    self.source
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_continuation_token(token)
                        .send()
                        .await
                        .map_err(|e| {
                            let f = Failure::from_sdk(&e);
                            Error::Storage {
                                op: "listing",
                                bucket: bucket.clone(),
                                key: prefix.to_owned(),
                                fault: f.fault,
                                code: f.code,
                                detail: format!(
                                    "{}; the function's own identity needs s3:ListBucket on {bucket}",
                                    f.message
                                ),
                            }
                        })
                }
            })
            .await?;
            for object in page.contents() {
                let key = object.key().unwrap_or_default();
                if key > last {
                    return Ok(Some(present));
                }
                if wanted.contains(key) {
                    present.insert(key.to_owned());
                }
            }
            scanned += page.contents().len();
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => return Ok(Some(present)),
            }
            if scanned > budget {
                return Ok(None);
            }
        }
    }

    /// The source's object at `key` now, `None` if there is none; transient faults are retried.
    pub(crate) async fn source_now(&self, engine: &Engine<'_>, key: &str) -> Result<Option<ObjectState>, Error> {
        retry(&format!("checking the source of {key}"), engine.deadline, |_| self.head_source(engine, key)).await
    }

    /// The source's object now at each of `keys`: the absent ones from one listing
    /// when there are many, the others from a HEAD each.
    pub(crate) async fn sources_now(
        &self,
        engine: &Engine<'_>,
        keys: &[&str],
    ) -> Vec<(String, Result<Option<ObjectState>, Error>)> {
        let presence = self.listed_presence(keys, engine.deadline).await;
        let presence = &presence;
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        stream::iter(keys)
            .map(|key| async move {
                let now = match presence {
                    Ok(Some(listed)) if !listed.contains(&key) => Ok(None),
                    Err(e) => Err(e.clone()),
                    _ => self.source_now(engine, &key).await,
                };
                (key, now)
            })
            .buffer_unordered(self.config.copy.record_concurrency)
            .collect()
            .await
    }

    /// A HEAD of one version of a source object: `Ok(Err(404))` when the version is
    /// gone for good, `Ok(Err(405))` when it is a delete marker.
    async fn head_source_version(
        &self,
        engine: &Engine<'_>,
        key: &str,
        version: &str,
    ) -> Result<Result<(), u16>, Error> {
        match self.source.head_object().bucket(&self.config.source.name).key(key).version_id(version).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                match f.status {
                    Some(status @ (404 | 405)) => Ok(Err(status)),
                    _ => Err(engine.source_error("checking the deleted version of", key, f)),
                }
            }
        }
    }

    pub(crate) async fn head_source(&self, engine: &Engine<'_>, key: &str) -> Result<Option<ObjectState>, Error> {
        match self.source.head_object().bucket(&self.config.source.name).key(key).send().await {
            Ok(h) => Ok(Some(ObjectState::from_head(&h))),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_not_found() {
                    Ok(None)
                } else {
                    Err(engine.source_error("checking the source of", key, f))
                }
            }
        }
    }

    /// Deletes `pending` keys of rule `i`; each gets its own outcome.
    async fn delete_batch(&self, i: usize, pending: Vec<Pending>, context: &Context, results: &mut [RecordResult]) {
        let engine = match self.engine(i, context).await {
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
        let keys: Vec<&str> = by_key.keys().copied().collect();
        let started = Instant::now();
        let outcomes = self.delete_replicas(&engine, &keys).await;
        let ms = started.elapsed().as_millis() as u64;
        for (key, outcome) in outcomes {
            for p in &by_key[key.as_str()] {
                let r = &mut results[p.slot];
                r.ms = ms;
                match &outcome {
                    Ok(None) => r.outcome = Some(Outcome::Delete(DeleteOutcome::Deleted)),
                    Ok(Some(copy)) => {
                        r.outcome = Some(Outcome::Delete(DeleteOutcome::SourceExists));
                        r.copy = Some(copy.decision);
                        r.method = copy.method;
                        r.bytes = copy.bytes;
                    }
                    Err(e) => r.failed(e),
                }
            }
        }
    }

    /// Deletes `keys` from the rule's destination in batch requests under the retry
    /// policy, then checks the source once more: a key re-created meanwhile gets its
    /// replica back at once. Per key: `Ok(None)` deleted, `Ok(Some(copy))` back in
    /// the source and replicated again, or why it failed.
    pub(crate) async fn delete_replicas(
        &self,
        engine: &Engine<'_>,
        keys: &[&str],
    ) -> Vec<(String, Result<Option<CopyOutcome>, Error>)> {
        let mut out = Vec::with_capacity(keys.len());
        let mut deleted: Vec<&str> = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH_DELETE) {
            let mut refused: HashMap<String, Error> = delete_objects_retried(engine, chunk).await.into_iter().collect();
            for key in chunk {
                match refused.remove(*key) {
                    Some(e) => out.push((key.to_string(), Err(e))),
                    None => deleted.push(key),
                }
            }
        }

        // The re-creation race: a key that is back in the source gets its replica back.
        for (key, now) in self.sources_now(engine, &deleted).await {
            let outcome = match now {
                Ok(None) => Ok(None),
                Ok(Some(s)) => {
                    tracing::info!(key = %key, "the key was re-created while its replica was deleted; restoring the replica");
                    ensure_replica(engine, &key, &Hint { size: Some(s.size), etag: Some(s.etag) }).await.map(Some)
                }
                Err(e) => Err(e),
            };
            out.push((key, outcome));
        }
        out
    }
}

/// What checking one delete found.
enum Checked {
    Done(DeleteOutcome, Option<crate::copy::CopyOutcome>),
    Delete,
}

async fn ensure_replica(engine: &Engine<'_>, key: &str, hint: &Hint) -> Result<CopyOutcome, Error> {
    retry(&format!("replicating {key}"), engine.deadline, |_| engine.replicate(key, hint)).await
}

/// The replica at `key` now, `None` if there is none; transient faults are retried.
pub(crate) async fn replica_now(engine: &Engine<'_>, key: &str) -> Result<Option<ObjectState>, Error> {
    retry(&format!("checking the replica of {key}"), engine.deadline, |_| engine.head_replica(key)).await
}

/// One batch delete under the retry policy: the whole request again after a
/// transient fault, and again for just the keys the destination refused with one
/// (SlowDown, InternalError, ServiceUnavailable). Returns the keys still refused, with why.
async fn delete_objects_retried(engine: &Engine<'_>, keys: &[&str]) -> Vec<(String, Error)> {
    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }
    let pending: Mutex<Vec<&str>> = Mutex::new(keys.to_vec());
    // Refused for good, and refused transiently by the latest request.
    let refused: Mutex<Vec<(String, Error)>> = Mutex::new(Vec::new());
    let latest: Mutex<Vec<(String, Error)>> = Mutex::new(Vec::new());
    let (p, r, l) = (&pending, &refused, &latest);
    let outcome = retry(&format!("deleting {} replicas", keys.len()), engine.deadline, move |_| async move {
        let now: Vec<&str> = lock(p).clone();
        lock(l).clear();
        let failures = delete_objects(engine, &now).await?;
        let (transient, permanent): (Vec<_>, Vec<_>) =
            failures.into_iter().partition(|(_, e)| e.fault() == Fault::Transient);
        lock(r).extend(permanent);
        *lock(p) = now.into_iter().filter(|k| transient.iter().any(|(t, _)| t == k)).collect();
        let first = transient.first().map(|(_, e)| e.clone());
        *lock(l) = transient;
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
    .await;
    let mut refused = refused.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Err(e) = outcome {
        let latest = latest.into_inner().unwrap_or_else(PoisonError::into_inner);
        if latest.is_empty() {
            // The request itself failed: so did every key it carried.
            let pending = pending.into_inner().unwrap_or_else(PoisonError::into_inner);
            refused.extend(pending.into_iter().map(|k| (k.to_owned(), e.clone())));
        } else {
            refused.extend(latest);
        }
    }
    refused
}

/// One DeleteObjects request; returns the keys the destination refused, with why.
async fn delete_objects(engine: &Engine<'_>, keys: &[&str]) -> Result<Vec<(String, Error)>, Error> {
    let objects: Vec<ObjectIdentifier> =
        keys.iter().map(|k| ObjectIdentifier::builder().key(*k).build()).collect::<Result<_, _>>().map_err(|e| {
            Error::Storage {
                op: "deleting",
                bucket: engine.rule.destination.name.clone(),
                key: keys.first().map(|k| k.to_string()).unwrap_or_default(),
                fault: Fault::Permanent,
                code: None,
                detail: e.to_string(),
            }
        })?;
    let delete = Delete::builder().set_objects(Some(objects)).quiet(false).build().map_err(|e| Error::Storage {
        op: "deleting",
        bucket: engine.rule.destination.name.clone(),
        key: String::new(),
        fault: Fault::Permanent,
        code: None,
        detail: e.to_string(),
    })?;
    let out = engine
        .dest
        .delete_objects()
        .bucket(&engine.rule.destination.name)
        .delete(delete)
        .customize()
        // S3 and OSS require Content-MD5 on a batch delete.
        .mutate_request(|req| {
            use base64::Engine as _;
            use md5::Digest;
            if let Some(body) = req.body().bytes() {
                let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
                req.headers_mut().insert("Content-MD5", md5);
            }
        })
        .send()
        .await
        .map_err(|e| {
            engine.dest_error("deleting replicas in", keys.first().copied().unwrap_or(""), Failure::from_sdk(&e))
        })?;
    Ok(out
        .errors()
        .iter()
        .map(|err| {
            let key = err.key().unwrap_or_default().to_owned();
            let code = err.code().map(str::to_owned);
            let fault = match code.as_deref() {
                Some("InternalError" | "SlowDown" | "ServiceUnavailable") => Fault::Transient,
                _ => Fault::Permanent,
            };
            let e = Error::Storage {
                op: "deleting",
                bucket: engine.rule.destination.name.clone(),
                key: key.clone(),
                fault,
                code,
                detail: err.message().unwrap_or("refused").to_owned(),
            };
            (key, e)
        })
        .collect())
}

/// The longest common prefix of two keys, cut at a character boundary.
fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let mut end = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            break;
        }
        end = i + ca.len_utf8();
    }
    &a[..end]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{Encryption, StandardHeaders};

    fn state(replica_of: Option<&str>) -> ObjectState {
        ObjectState {
            size: 1,
            etag: "0cc175b9c0f1b6a831c399e269772661".into(),
            headers: StandardHeaders::default(),
            metadata: HashMap::new(),
            replica_of: replica_of.map(str::to_owned),
            source_etag: None,
            tag_count: None,
            encryption: Encryption::None,
            storage_class: None,
            version_id: None,
            last_modified: None,
        }
    }

    #[test]
    fn state_decisions() {
        use DeleteOutcome::*;
        let ours = state(Some("crr-src"));
        let theirs = state(Some("other-src"));
        let unmarked = state(None);
        let source = state(None);
        for (src, replica, unmarked_ok, want) in [
            (Some(&source), Some(&ours), false, SourceExists),
            (Some(&source), None, false, SourceExists),
            (None, None, false, ReplicaAbsent),
            (None, Some(&ours), false, Deleted),
            (None, Some(&unmarked), false, NotAReplica),
            (None, Some(&theirs), false, NotAReplica),
            (None, Some(&unmarked), true, Deleted),
            (None, Some(&theirs), true, Deleted),
        ] {
            assert_eq!(state_decision(src, replica, "crr-src", unmarked_ok), want, "{src:?} {replica:?} {unmarked_ok}");
        }
    }

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix("batch/0001.txt", "batch/0999.txt"), "batch/0");
        assert_eq!(common_prefix("a", "b"), "");
        assert_eq!(common_prefix("日本/x", "日本/y"), "日本/");
        assert_eq!(common_prefix("日", "旦"), "", "never inside a character");
    }

    #[test]
    fn version_decisions() {
        assert_eq!(version_decision(Err(404)), Some(DeleteOutcome::VersionNotPropagated), "deleted for good");
        assert_eq!(version_decision(Err(405)), None, "a delete marker replicates");
        assert_eq!(version_decision(Ok(())), Some(DeleteOutcome::VersionNotPropagated), "still there");
    }
}
