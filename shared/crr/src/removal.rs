//! Removing replicas, where replication loses data if it is careless: batch
//! deletes under the retry policy (the whole request after a transient fault,
//! then just the keys the destination refused with one), each key held to the
//! ETag its replica had when it was checked (servers that honour the condition
//! refuse a replica that changed since, and the copy engine decides about it
//! again), and a last look at the source afterwards, so a key re-created meanwhile
//! gets its replica straight back.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::copy::{Engine, Hint, CHANGED};
use crate::error::{Error, Fault};
use crate::lock::{into_inner, lock};
use crate::outcome::{CopyOutcome, Decision};
use crate::retry::retry;
use crate::store::Doomed;

/// A key the destination refused to delete, with why.
struct Refused {
    key: String,
    error: Error,
}

/// Keys per DeleteObjects request: the S3 and OSS limit.
pub const MAX_BATCH_DELETE: usize = 1000;

impl Engine<'_> {
    /// Deletes `doomed` replicas from the rule's destination in batch requests under
    /// the retry policy, then checks the source once more: a key re-created meanwhile
    /// gets its replica back at once. Per key: `Ok(None)` deleted, `Ok(Some(copy))`
    /// back in the source (or its replica changed since it was checked) and brought
    /// in line again, or why it failed.
    pub async fn delete_replicas(&self, doomed: &[Doomed<'_>]) -> Vec<(String, Result<Option<CopyOutcome>, Error>)> {
        let mut out = Vec::with_capacity(doomed.len());
        let mut deleted: Vec<&str> = Vec::with_capacity(doomed.len());
        let mut changed: Vec<&str> = Vec::new();
        for chunk in doomed.chunks(MAX_BATCH_DELETE) {
            let mut refused: HashMap<String, Error> =
                self.delete_many_retried(chunk).await.into_iter().map(|r| (r.key, r.error)).collect();
            for d in chunk {
                match refused.remove(d.key) {
                    Some(Error::Storage { code: Some(code), .. }) if code == CHANGED => changed.push(d.key),
                    Some(e) => out.push((d.key.to_string(), Err(e))),
                    None => deleted.push(d.key),
                }
            }
        }

        // A replica that changed since it was checked: the engine decides about it now
        // (removes it if its source is still gone, keeps a new copy of a re-created one).
        for key in changed {
            tracing::info!(key, "the replica changed since it was checked; deciding again");
            let outcome = self
                .ensure_replica(key, &Hint::default())
                .await
                .map(|o| (o.decision != Decision::DeleteReplica).then_some(o));
            out.push((key.to_owned(), outcome));
        }

        // The re-creation race: a key that is back in the source gets its replica back.
        for (key, now) in self.source_view().sources_now(&deleted).await {
            let outcome = match now {
                Ok(None) => Ok(None),
                Ok(Some(s)) => {
                    tracing::info!(key = %key, "the key was re-created while its replica was deleted; restoring the replica");
                    self.ensure_replica(&key, &Hint { size: Some(s.size), etag: Some(s.etag) }).await.map(Some)
                }
                Err(e) => Err(e),
            };
            out.push((key, outcome));
        }
        out
    }

    /// Replicates `key` under the retry policy.
    pub async fn ensure_replica(&self, key: &str, hint: &Hint) -> Result<CopyOutcome, Error> {
        retry(&format!("replicating {key}"), self.deadline, |_| self.replicate(key, hint)).await
    }

    /// One batch delete under the retry policy: the whole request again after a
    /// transient fault, and again for just the keys the destination refused with one
    /// (SlowDown, InternalError, ServiceUnavailable). Returns the keys still refused, with why.
    async fn delete_many_retried(&self, keys: &[Doomed<'_>]) -> Vec<Refused> {
        let pending: Mutex<Vec<Doomed>> = Mutex::new(keys.to_vec());
        // Refused for good, and refused transiently by the latest request.
        let refused: Mutex<Vec<Refused>> = Mutex::new(Vec::new());
        let latest: Mutex<Vec<Refused>> = Mutex::new(Vec::new());
        let (p, r, l) = (&pending, &refused, &latest);
        let outcome = retry(&format!("deleting {} replicas", keys.len()), self.deadline, move |_| async move {
            let now: Vec<Doomed> = lock(p).clone();
            lock(l).clear();
            let failures = self.delete_many(&now).await?;
            let (transient, permanent): (Vec<_>, Vec<_>) =
                failures.into_iter().partition(|r| r.error.fault() == Fault::Transient);
            lock(r).extend(permanent);
            *lock(p) = now.into_iter().filter(|d| transient.iter().any(|r| r.key == d.key)).collect();
            let first = transient.first().map(|r| r.error.clone());
            *lock(l) = transient;
            match first {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
        .await;
        let mut refused = into_inner(refused);
        if let Err(e) = outcome {
            let latest = into_inner(latest);
            if latest.is_empty() {
                // The request itself failed: so did every key it carried.
                let pending = into_inner(pending);
                refused.extend(pending.into_iter().map(|d| Refused { key: d.key.to_owned(), error: e.clone() }));
            } else {
                refused.extend(latest);
            }
        }
        refused
    }

    /// One DeleteObjects request; returns the keys the destination refused, with why.
    async fn delete_many(&self, keys: &[Doomed<'_>]) -> Result<Vec<Refused>, Error> {
        let bucket = self.dest_bucket();
        let refusals = self
            .dest
            .delete_many(bucket, keys)
            .await
            .map_err(|f| self.dest_error("deleting replicas in", keys.first().map(|d| d.key).unwrap_or(""), f))?;
        Ok(refusals
            .into_iter()
            // Gone already (a server holding a key to its ETag says so): what was asked.
            .filter(|refusal| refusal.code.as_deref() != Some("NoSuchKey"))
            .map(|mut refusal| {
                let fault = match refusal.code.as_deref() {
                    Some("InternalError" | "SlowDown" | "ServiceUnavailable") => Fault::Transient,
                    Some("PreconditionFailed") => {
                        refusal.code = Some(CHANGED.into());
                        Fault::Permanent
                    }
                    _ => Fault::Permanent,
                };
                let error = Error::Storage {
                    op: "deleting",
                    bucket: bucket.to_owned(),
                    key: refusal.key.clone(),
                    fault,
                    code: refusal.code,
                    detail: refusal.message,
                };
                Refused { key: refusal.key, error }
            })
            .collect())
    }
}
