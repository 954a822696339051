//! What one instance saw while it worked, per rule, kept for `crr status`: the
//! replicas it wrote per minute (copies, bytes, and each copy's lag from the
//! event's time to the verified replica, in a histogram), the failures, and the
//! last replica. At most every [`FLUSH_EVERY`] (5 s) an instance writes what
//! changed as its own report under `.crr/status/<rule>/` in the rule's destination
//! ([`crate::activity_store`]); nothing is written while it is idle.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::activity::{
    minute_of, FailureRecord, InstanceActivity, LastCopy, Minute, FAILURES_KEPT, MINUTES_KEPT, VERSION,
};
use crate::clock::{now_millis, now_rfc3339, now_secs};
use crate::lock::lock;
use crate::report::RecordResult;

/// How often an instance writes its reports, at most: one small PUT per rule
/// every few seconds under load, nothing when idle.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Milliseconds from an event's time (RFC 3339) to now; `None` if the time is
/// missing or unreadable.
pub fn lag_since(event_time: Option<&str>) -> Option<u64> {
    let t = aws_smithy_types::DateTime::from_str(event_time?, aws_smithy_types::date_time::Format::DateTime).ok()?;
    let event = SystemTime::try_from(t).ok()?;
    Some(SystemTime::now().duration_since(event).map(|d| d.as_millis() as u64).unwrap_or(0))
}

/// One rule's record in this instance.
#[derive(Default)]
struct RuleLog {
    /// The last hour, oldest first.
    minutes: VecDeque<Minute>,
    failures: VecDeque<FailureRecord>,
    replicated: u64,
    last: Option<LastCopy>,
    /// Something changed since the last report was written.
    dirty: bool,
    /// This instance has written a report for the rule (and swept stale ones).
    written: bool,
}

impl RuleLog {
    /// The minute `secs` falls in, created if needed; the hour before is all that is kept.
    fn minute(&mut self, secs: u64) -> &mut Minute {
        let start = minute_of(secs);
        let oldest = start.saturating_sub((MINUTES_KEPT - 1) * 60);
        while self.minutes.front().is_some_and(|m| m.start < oldest) {
            self.minutes.pop_front();
        }
        if self.minutes.back().is_none_or(|m| m.start < start) {
            self.minutes.push_back(Minute { start, ..Minute::default() });
        }
        // A clock that stepped back lands in the newest minute.
        self.minutes.back_mut().expect("a minute was just pushed")
    }
}

/// Lags, copies and failures measured by one instance, per rule.
pub struct LagTracker {
    instance: String,
    started_at: String,
    rule_ids: Vec<String>,
    rules: Mutex<Vec<RuleLog>>,
    last_flush: Mutex<Option<Instant>>,
}

/// A report due to be written for the rule at this index.
pub struct Due {
    pub rule: usize,
    pub report: InstanceActivity,
    /// The instance's first report for the rule: sweep stale reports too.
    pub first: bool,
}

impl LagTracker {
    /// A tracker for the rules with these ids, in rule order.
    pub fn new(rule_ids: Vec<String>) -> Self {
        LagTracker {
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            started_at: now_rfc3339(),
            rules: Mutex::new(rule_ids.iter().map(|_| RuleLog::default()).collect()),
            rule_ids,
            last_flush: Mutex::new(None),
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A replica of `key` written for rule `rule`, `lag_ms` after its event (if known).
    pub fn record_copy(&self, rule: usize, key: &str, bytes: u64, lag_ms: Option<u64>) {
        self.record_copy_at(rule, key, bytes, lag_ms, now_millis());
    }

    fn record_copy_at(&self, rule: usize, key: &str, bytes: u64, lag_ms: Option<u64>, at_ms: u64) {
        let mut rules = lock(&self.rules);
        let Some(r) = rules.get_mut(rule) else { return };
        let minute = r.minute(at_ms / 1000);
        minute.copies += 1;
        minute.bytes += bytes;
        if let Some(lag) = lag_ms {
            minute.lag.record(lag);
        }
        r.replicated += 1;
        let time = crate::clock::rfc3339_of_secs(at_ms / 1000);
        r.last = Some(LastCopy { key: key.to_owned(), lag_ms, time, time_ms: at_ms });
        r.dirty = true;
    }

    /// A failure for rule `rule`; the most recent [`FAILURES_KEPT`] are kept.
    pub fn record_failure(&self, rule: usize, failure: FailureRecord) {
        let mut rules = lock(&self.rules);
        let Some(r) = rules.get_mut(rule) else { return };
        r.minute(failure.time_ms / 1000).failures += 1;
        if r.failures.len() == FAILURES_KEPT {
            r.failures.pop_front();
        }
        r.failures.push_back(failure);
        r.dirty = true;
    }

    /// The index of the rule with id `id`.
    pub fn rule_index(&self, id: &str) -> Option<usize> {
        self.rule_ids.iter().position(|r| r == id)
    }

    /// Every replica written and every failure among an event function's results.
    pub fn record_results(&self, function: &str, results: &[RecordResult]) {
        for r in results {
            let Some(rule) = r.rule.as_deref().and_then(|id| self.rule_index(id)) else { continue };
            if let (Some(error_type), Some(error)) = (&r.error_type, &r.error) {
                self.record_failure(
                    rule,
                    FailureRecord::new(function, &self.rule_ids[rule], &r.key, error_type, error),
                );
            } else if r.copied() {
                self.record_copy(rule, &r.key, r.bytes, r.lag_ms);
            }
        }
    }

    /// The reports to write now: rules with news, if the last write was long
    /// enough ago (an instance's first news is written at once).
    pub fn due(&self, function: &str) -> Vec<Due> {
        let mut last = lock(&self.last_flush);
        if last.is_some_and(|t| t.elapsed() < FLUSH_EVERY) {
            return Vec::new();
        }
        let mut rules = lock(&self.rules);
        let mut out = Vec::new();
        for (i, r) in rules.iter_mut().enumerate().filter(|(_, r)| r.dirty) {
            // Drop minutes that fell out of the hour even when nothing new came.
            r.minute(now_secs());
            out.push(Due {
                rule: i,
                report: InstanceActivity {
                    version: VERSION,
                    rule: self.rule_ids[i].clone(),
                    instance: self.instance.clone(),
                    function: function.to_owned(),
                    started_at: self.started_at.clone(),
                    updated_at: now_rfc3339(),
                    updated_ms: now_millis(),
                    replicated: r.replicated,
                    last: r.last.clone(),
                    minutes: r.minutes.iter().filter(|m| m.copies + m.failures > 0).cloned().collect(),
                    failures: r.failures.iter().cloned().collect(),
                },
                first: !r.written,
            });
            r.dirty = false;
            r.written = true;
        }
        if !out.is_empty() {
            *last = Some(Instant::now());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> LagTracker {
        LagTracker::new(vec!["a".into(), "b".into()])
    }

    #[test]
    fn reports_are_written_at_most_every_flush_interval() {
        let t = tracker();
        assert!(t.due("object-created").is_empty(), "nothing recorded, nothing due");
        t.record_copy(1, "k1", 10, Some(120));
        t.record_copy(1, "k2", 20, Some(80));
        let due = t.due("object-created");
        assert_eq!(due.len(), 1);
        let Due { rule, report, first } = &due[0];
        assert_eq!((*rule, report.rule.as_str(), report.function.as_str(), *first), (1, "b", "object-created", true));
        let last = report.last.as_ref().unwrap();
        assert_eq!((last.key.as_str(), last.lag_ms), ("k2", Some(80)));
        assert_eq!(report.replicated, 2);
        assert_eq!(report.minutes.len(), 1);
        let m = &report.minutes[0];
        assert_eq!((m.copies, m.bytes, m.lag.count(), m.lag.max_ms()), (2, 30, 2, 120));
        t.record_copy(0, "k3", 1, Some(5));
        assert!(t.due("object-created").is_empty(), "written less than 5 s ago");
    }

    #[test]
    fn minutes_roll_over_and_only_the_last_hour_is_kept() {
        let t = tracker();
        let base = 1_800_000_000_000u64; // the start of a minute, in milliseconds
        for minute in 0..90u64 {
            t.record_copy_at(0, "k", 1, Some(minute), base + minute * 60_000);
        }
        t.record_copy_at(0, "k", 1, Some(7), base + 89 * 60_000 + 30_000);
        let rules = lock(&t.rules);
        let minutes = &rules[0].minutes;
        assert_eq!(minutes.len(), 60);
        assert_eq!(minutes.front().unwrap().start, (base + 30 * 60_000) / 1000);
        let newest = minutes.back().unwrap();
        assert_eq!((newest.copies, newest.lag.count(), newest.lag.max_ms()), (2, 2, 89));
    }

    #[test]
    fn the_failure_ring_keeps_the_most_recent() {
        let t = tracker();
        for i in 0..(FAILURES_KEPT + 5) {
            t.record_failure(
                0,
                FailureRecord::new("backfill", "a", &format!("k{i}"), "AccessDenied", "denied; grant it"),
            );
        }
        let due = t.due("backfill");
        let failures = &due[0].report.failures;
        assert_eq!(failures.len(), FAILURES_KEPT);
        assert_eq!(failures.first().unwrap().key, "k5");
        assert_eq!(failures.last().unwrap().key, format!("k{}", FAILURES_KEPT + 4));
        assert_eq!(failures[0].fix.as_deref(), Some("grant it"));
        assert_eq!(due[0].report.minutes[0].failures, (FAILURES_KEPT + 5) as u64);
    }

    #[test]
    fn lag_from_event_time() {
        assert!(lag_since(Some("2000-01-01T00:00:00.000Z")).unwrap() > 1_000_000);
        assert_eq!(lag_since(Some("not a time")), None);
        assert_eq!(lag_since(None), None);
    }
}
