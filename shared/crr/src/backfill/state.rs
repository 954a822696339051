//! A backfill's own state, kept as small JSON objects under the destination's
//! reserved prefix (`.crr/backfill/<rule>/<scope>/`), which replication ignores:
//! the checkpoint (last completed key, counters, config fingerprint, timestamps)
//! and the lease that keeps two runners of one scope from running at once.
//!
//! The lease is taken with a conditional write (`If-None-Match: *` to create,
//! `If-Match` to renew or take over an expired one) and read back to confirm.

use std::ops::AddAssign;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Failure};
use crate::object::{normalize_etag, RESERVED_PREFIX};

/// What a run has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    pub scanned: u64,
    pub copied: u64,
    pub identical: u64,
    pub different: u64,
    pub missing: u64,
    pub extra: u64,
    pub deleted: u64,
    /// Mirror mode: destination-only objects kept because crr did not write them for this source.
    pub left_alone: u64,
    pub bytes: u64,
    pub failed: u64,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.scanned += o.scanned;
        self.copied += o.copied;
        self.identical += o.identical;
        self.different += o.different;
        self.missing += o.missing;
        self.extra += o.extra;
        self.deleted += o.deleted;
        self.left_alone += o.left_alone;
        self.bytes += o.bytes;
        self.failed += o.failed;
    }
}

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

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// The state objects of one scope.
#[derive(Clone)]
pub struct StateStore {
    client: aws_sdk_s3::Client,
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
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, rule: &str, scope_id: &str) -> Self {
        StateStore {
            client,
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
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = normalize_etag(out.e_tag().unwrap_or_default());
                let bytes = out.body.collect().await.map_err(|e| self.error("reading", key, e.to_string()))?;
                let value = serde_json::from_slice(&bytes.into_bytes())
                    .map_err(|e| self.error("reading", key, format!("not valid backfill state: {e}")))?;
                Ok(Some((value, etag)))
            }
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_not_found() {
                    Ok(None)
                } else {
                    Err(self.storage_error("reading", key, f))
                }
            }
        }
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
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        put = match condition {
            Some(None) => put.if_none_match("*"),
            Some(Some(etag)) => put.if_match(format!("\"{etag}\"")),
            None => put,
        };
        match put.send().await {
            Ok(out) => Ok(Some(normalize_etag(out.e_tag().unwrap_or_default()))),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.status == Some(412) || f.code.as_deref() == Some("ConditionalRequestConflict") {
                    Ok(None)
                } else {
                    Err(self.storage_error("writing", key, f))
                }
            }
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
    pub async fn scope_ids(client: &aws_sdk_s3::Client, bucket: &str, rule: &str) -> Result<Vec<String>, Error> {
        let base = format!("{RESERVED_PREFIX}backfill/{}/", sanitize(rule));
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&base)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| Error::storage("listing", bucket, &base, Failure::from_sdk(&e)))?;
            for p in page.common_prefixes() {
                if let Some(id) = p.prefix().and_then(|p| p.strip_prefix(&base)).map(|p| p.trim_end_matches('/')) {
                    if !id.starts_with("plan-") {
                        ids.push(id.to_owned());
                    }
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
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
