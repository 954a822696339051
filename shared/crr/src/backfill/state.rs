//! A backfill's own state, kept as small JSON objects under the destination's
//! reserved prefix (`.crr/backfill/<rule>/<scope>/`), which replication ignores:
//! the checkpoint (last completed key, counters, config fingerprint, timestamps)
//! and the lease that keeps two runners of one scope from running at once.
//!
//! The lease is taken with a conditional write (`If-None-Match: *` to create,
//! `If-Match` to renew or take over an expired one) and read back to confirm.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::counters::Counters;
pub use crate::clock::{now_rfc3339, now_secs};
use crate::error::{Error, Failure};
use crate::object::{unquote_etag, RESERVED_PREFIX};
use crate::store::{Condition, Found, List, ObjectWrite, Store, Upload};

/// Progress of one pass over one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub version: u32,
    pub rule: String,
    pub scope: String,
    /// What the progress is valid for (buckets, prefixes, range, mode); a
    /// checkpoint with another fingerprint is not resumed.
    pub fingerprint: String,
    pub mode: String,
    pub run_id: String,
    pub started_at: String,
    pub updated_at: String,
    /// Everything up to and including this key is done.
    pub last_key: Option<String>,
    pub counters: Counters,
    pub done: bool,
    /// How many keys the last completed pass scanned: the basis of estimates.
    pub last_pass_total: Option<u64>,
}

/// Who runs a scope, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub owner: String,
    /// Seconds since the epoch.
    pub expires: u64,
}

/// The state objects of one scope.
#[derive(Clone)]
pub struct StateStore {
    store: Store,
    bucket: String,
    base: String,
}

/// The outcome of trying to take the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    Taken {
        etag: String,
    },
    /// Held by another runner until `expires`.
    Held {
        owner: String,
        expires: u64,
    },
}

impl StateStore {
    pub fn new(store: Store, bucket: &str, rule: &str, scope_id: &str) -> Self {
        StateStore {
            store,
            bucket: bucket.to_owned(),
            base: format!("{RESERVED_PREFIX}backfill/{}/{scope_id}/", sanitize(rule)),
        }
    }

    pub fn checkpoint_key(&self) -> String {
        format!("{}checkpoint.json", self.base)
    }

    fn lease_key(&self) -> String {
        format!("{}lease.json", self.base)
    }

    async fn read<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<(T, String)>, Error> {
        let Some((bytes, etag)) =
            self.store.get_bytes(&self.bucket, key).await.found().map_err(|f| self.storage_error("reading", key, f))?
        else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| self.error("reading", key, format!("not valid backfill state: {e}")))?;
        // Kept as the server sent it: it goes back in a conditional write.
        Ok(Some((value, etag)))
    }

    /// Writes `value`; `condition`: `Some(None)` create only, `Some(Some(etag))` replace
    /// only that version. Returns the new ETag, or `None` if the condition failed.
    async fn write<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        condition: Option<Option<&str>>,
    ) -> Result<Option<String>, Error> {
        let body = serde_json::to_vec_pretty(value).map_err(|e| self.error("writing", key, e.to_string()))?;
        let condition = match condition {
            Some(None) => Condition::Absent,
            Some(Some(etag)) => Condition::Matches(etag),
            None => Condition::Always,
        };
        let write = ObjectWrite { content_type: Some("application/json"), ..ObjectWrite::default() };
        match self.store.put(&self.bucket, key, Upload::bytes(body), &write, condition).await {
            Ok(written) => Ok(Some(unquote_etag(&written.etag))),
            Err(f) if f.status == Some(412) || f.code.as_deref() == Some("ConditionalRequestConflict") => Ok(None),
            Err(f) => Err(self.storage_error("writing", key, f)),
        }
    }

    /// Reads `name` under this store's prefix.
    pub async fn load<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>, Error> {
        Ok(self.read::<T>(&format!("{}{name}", self.base)).await?.map(|(v, _)| v))
    }

    /// Writes `name` under this store's prefix unless it exists; false if it did.
    pub async fn create<T: Serialize>(&self, name: &str, value: &T) -> Result<bool, Error> {
        Ok(self.write(&format!("{}{name}", self.base), value, Some(None)).await?.is_some())
    }

    pub async fn load_checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        Ok(self.read::<Checkpoint>(&self.checkpoint_key()).await?.map(|(c, _)| c))
    }

    pub async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), Error> {
        self.write(&self.checkpoint_key(), checkpoint, None).await.map(|_| ())
    }

    /// Takes the lease for `ttl` if it is free or expired.
    pub async fn acquire(&self, owner: &str, ttl: Duration) -> Result<Acquire, Error> {
        let key = self.lease_key();
        let mine = Lease { owner: owner.to_owned(), expires: now_secs() + ttl.as_secs() };
        let written = match self.read::<Lease>(&key).await? {
            None => self.write(&key, &mine, Some(None)).await?,
            Some((held, etag)) if held.owner == owner || held.expires <= now_secs() => {
                self.write(&key, &mine, Some(Some(&etag))).await?
            }
            Some((held, _)) => return Ok(Acquire::Held { owner: held.owner, expires: held.expires }),
        };
        // Read back: on servers that ignore conditional writes, the last writer wins
        // and everyone else sees they lost.
        match (written, self.read::<Lease>(&key).await?) {
            (Some(etag), Some((held, read_etag))) if held.owner == owner && read_etag == etag => {
                Ok(Acquire::Taken { etag })
            }
            (_, Some((held, _))) => Ok(Acquire::Held { owner: held.owner, expires: held.expires }),
            (_, None) => Ok(Acquire::Held { owner: "unknown".into(), expires: now_secs() + 1 }),
        }
    }

    /// The lease as it stands, held or expired.
    pub async fn load_lease(&self) -> Result<Option<Lease>, Error> {
        Ok(self.read::<Lease>(&self.lease_key()).await?.map(|(l, _)| l))
    }

    /// The scope ids with state under a rule (shard plans left out).
    pub async fn scope_ids(store: &Store, bucket: &str, rule: &str) -> Result<Vec<String>, Error> {
        let base = format!("{RESERVED_PREFIX}backfill/{}/", sanitize(rule));
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let list = List { prefix: &base, delimiter: Some("/"), continuation: token.as_deref(), ..List::default() };
            let page = store.list(bucket, list).await.map_err(|f| Error::storage("listing", bucket, &base, f))?;
            for p in &page.prefixes {
                if let Some(id) = p.strip_prefix(&base).map(|p| p.trim_end_matches('/')) {
                    if !id.starts_with("plan-") {
                        ids.push(id.to_owned());
                    }
                }
            }
            match page.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(ids)
    }

    /// Extends a lease we hold; `None` if it was lost.
    pub async fn renew(&self, owner: &str, etag: &str, ttl: Duration) -> Result<Option<String>, Error> {
        let mine = Lease { owner: owner.to_owned(), expires: now_secs() + ttl.as_secs() };
        self.write(&self.lease_key(), &mine, Some(Some(etag))).await
    }

    /// Gives the lease up so the next runner need not wait for it to expire.
    pub async fn release(&self, owner: &str, etag: &str) -> Result<(), Error> {
        let expired = Lease { owner: owner.to_owned(), expires: 0 };
        self.write(&self.lease_key(), &expired, Some(Some(etag))).await.map(|_| ())
    }

    fn error(&self, op: &'static str, key: &str, detail: String) -> Error {
        Error::Storage {
            op,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            fault: crate::error::Fault::Transient,
            code: None,
            detail,
        }
    }

    fn storage_error(&self, op: &'static str, key: &str, mut f: Failure) -> Error {
        if f.is_access_denied() {
            f.message = format!(
                "{}; the replication role needs s3:GetObject, s3:PutObject and s3:DeleteObject on {}/{RESERVED_PREFIX}*",
                f.message, self.bucket
            );
        }
        Error::storage(op, &self.bucket, key, f)
    }
}

/// A path segment from a rule id or scope.
pub fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// A short stable hash (FNV-1a, hex) for fingerprints and scope ids.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_separate_parts() {
        assert_eq!(short_hash(&["a", "b"]), short_hash(&["a", "b"]));
        assert_ne!(short_hash(&["ab", ""]), short_hash(&["a", "b"]));
        assert_eq!(short_hash(&[]).len(), 16);
    }

    #[test]
    fn checkpoints_round_trip() {
        let c = Checkpoint {
            version: 1,
            rule: "r".into(),
            scope: "logs/".into(),
            fingerprint: "f".into(),
            mode: "missing".into(),
            run_id: "run".into(),
            started_at: now_rfc3339(),
            updated_at: now_rfc3339(),
            last_key: Some("logs/0001".into()),
            counters: Counters { scanned: 5, copied: 2, ..Default::default() },
            done: false,
            last_pass_total: Some(100),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"lastKey\":\"logs/0001\""));
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), c);
    }

    #[test]
    fn sanitized_segments() {
        assert_eq!(sanitize("rule 1/x"), "rule_1_x");
    }
}
