//! How far behind the event path runs: object-created measures every copy's lag (from the event's time to the verified
//! replica) and keeps the recent ones per rule. At most every
//! [`FLUSH_EVERY`] (5 s) an instance writes a small summary to the rule's destination at
//! `.crr/status/object-created.json`, which replication and backfill ignore: one
//! object per rule, last writer wins, so it always shows the latest lag.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::now_rfc3339;
use crate::error::Error;
use crate::lock::lock;
use crate::object::RESERVED_PREFIX;
use crate::store::{Condition, Found, ObjectWrite, Store, Upload};

/// How often an instance writes its lag summary, at most: one small PUT per rule
/// every few seconds under load, nothing when idle.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Recent lags kept per rule for the percentiles.
const WINDOW: usize = 1024;

pub fn lag_key() -> String {
    format!("{RESERVED_PREFIX}status/object-created.json")
}

/// Milliseconds from an event's time (RFC 3339) to now; `None` if the time is
/// missing or unreadable.
pub fn lag_since(event_time: Option<&str>) -> Option<u64> {
    let t = aws_smithy_types::DateTime::from_str(event_time?, aws_smithy_types::date_time::Format::DateTime).ok()?;
    let event = SystemTime::try_from(t).ok()?;
    Some(SystemTime::now().duration_since(event).map(|d| d.as_millis() as u64).unwrap_or(0))
}

/// The lag summary of one rule, as written to the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LagSummary {
    pub rule: String,
    pub instance: String,
    pub updated_at: String,
    pub last_key: String,
    /// When the last replica was verified.
    pub last_replicated_at: String,
    pub last_lag_ms: u64,
    /// Over the instance's recent copies (up to 1024).
    pub window: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Copies this instance made since it started.
    pub replicated: u64,
}

/// The `q` quantile (0..=1) of `sorted` (nearest rank); 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
struct RuleLag {
    recent: VecDeque<u64>,
    replicated: u64,
    last: Option<(String, u64, String)>,
    dirty: bool,
}

/// Lags measured by one instance, per rule.
pub struct LagTracker {
    instance: String,
    rules: Mutex<Vec<RuleLag>>,
    last_flush: Mutex<Option<Instant>>,
}

impl LagTracker {
    pub fn new(rules: usize) -> Self {
        LagTracker {
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            rules: Mutex::new((0..rules).map(|_| RuleLag::default()).collect()),
            last_flush: Mutex::new(None),
        }
    }

    pub fn record(&self, rule: usize, key: &str, lag_ms: u64) {
        let mut rules = lock(&self.rules);
        let Some(r) = rules.get_mut(rule) else { return };
        if r.recent.len() == WINDOW {
            r.recent.pop_front();
        }
        r.recent.push_back(lag_ms);
        r.replicated += 1;
        r.last = Some((key.to_owned(), lag_ms, now_rfc3339()));
        r.dirty = true;
    }

    /// The summaries to write now: rules with new copies, if the last write was
    /// long enough ago (the first copies of an instance are written at once).
    pub fn due(&self, rule_ids: &[&str]) -> Vec<(usize, LagSummary)> {
        let mut last = lock(&self.last_flush);
        if last.is_some_and(|t| t.elapsed() < FLUSH_EVERY) {
            return Vec::new();
        }
        let mut rules = lock(&self.rules);
        let mut out = Vec::new();
        for (i, r) in rules.iter_mut().enumerate() {
            let Some((key, lag, at)) = r.last.clone().filter(|_| r.dirty) else { continue };
            let mut sorted: Vec<u64> = r.recent.iter().copied().collect();
            sorted.sort_unstable();
            out.push((
                i,
                LagSummary {
                    rule: rule_ids.get(i).copied().unwrap_or_default().to_owned(),
                    instance: self.instance.clone(),
                    updated_at: now_rfc3339(),
                    last_key: key,
                    last_replicated_at: at,
                    last_lag_ms: lag,
                    window: sorted.len() as u64,
                    p50_ms: percentile(&sorted, 0.5),
                    p99_ms: percentile(&sorted, 0.99),
                    max_ms: sorted.last().copied().unwrap_or(0),
                    replicated: r.replicated,
                },
            ));
            r.dirty = false;
        }
        if !out.is_empty() {
            *last = Some(Instant::now());
        }
        out
    }
}

/// Writes a lag summary; failures are logged, never fail an invocation.
pub async fn write_summary(store: &Store, bucket: &str, summary: &LagSummary) {
    let Ok(body) = serde_json::to_vec_pretty(summary) else { return };
    let write = ObjectWrite { content_type: Some("application/json"), ..ObjectWrite::default() };
    if let Err(f) = store.put(bucket, &lag_key(), Upload::bytes(body), &write, Condition::Always).await {
        tracing::warn!(bucket, code = ?f.code, "writing the replication lag summary failed (status only; replication is unaffected)");
    }
}

/// Reads the lag summary of a rule's destination, if one was written.
pub async fn read_summary(store: &Store, bucket: &str) -> Result<Option<LagSummary>, Error> {
    let key = lag_key();
    match store.get_bytes(bucket, &key).await.found() {
        Ok(Some((bytes, _))) => Ok(serde_json::from_slice(&bytes).ok()),
        Ok(None) => Ok(None),
        Err(f) => Err(Error::storage("reading", bucket, &key, f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summaries_are_written_at_most_every_flush_interval() {
        let t = LagTracker::new(2);
        assert!(t.due(&["a", "b"]).is_empty(), "nothing recorded, nothing due");
        t.record(1, "k1", 120);
        t.record(1, "k2", 80);
        let due = t.due(&["a", "b"]);
        assert_eq!(due.len(), 1);
        let (i, s) = &due[0];
        assert_eq!((*i, s.rule.as_str(), s.last_key.as_str(), s.last_lag_ms), (1, "b", "k2", 80));
        assert_eq!((s.window, s.p50_ms, s.max_ms, s.replicated), (2, 80, 120, 2));
        t.record(0, "k3", 5);
        assert!(t.due(&["a", "b"]).is_empty(), "written less than 5 s ago");
    }

    #[test]
    fn lag_from_event_time() {
        assert!(lag_since(Some("2000-01-01T00:00:00.000Z")).unwrap() > 1_000_000);
        assert_eq!(lag_since(Some("not a time")), None);
        assert_eq!(lag_since(None), None);
    }
}
