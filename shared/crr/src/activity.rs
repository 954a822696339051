//! What one function instance reports about its recent work for one rule, and
//! how a reader adds many instances' reports up.
//!
//! Every instance writes its own report (`.crr/status/<rule>/<instance>.json`, see
//! [`crate::activity_store`]), so concurrent writers never overwrite each other's
//! minutes: there is nothing to merge on write. A reader lists the reports and
//! merges them: per minute it adds the copies, bytes, failures and lag histograms
//! of every instance, then reads p50/p99/max from the merged histogram; the recent
//! failures of all instances are merged by time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::histogram::LagHistogram;

/// Minutes of history an instance keeps and a reader shows: one hour.
pub const MINUTES_KEPT: u64 = 60;
/// Recent failures an instance keeps per rule, and a reader shows per rule.
pub const FAILURES_KEPT: usize = 20;
/// The window the lag objective is judged over.
pub const OBJECTIVE_WINDOW_MINUTES: u64 = 10;
/// The version of [`InstanceActivity`]'s stored form.
pub const VERSION: u32 = 1;

/// The start of the minute `secs` falls in.
pub fn minute_of(secs: u64) -> u64 {
    secs - secs % 60
}

/// What one instance did for one rule in one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Minute {
    /// The minute's start, seconds since the epoch.
    pub start: u64,
    /// Replicas written (new copies and metadata updates).
    pub copies: u64,
    pub bytes: u64,
    pub failures: u64,
    /// Event-to-replica lag of the copies that carried an event time.
    pub lag: LagHistogram,
}

/// One failed object: which rule, key and function, when, what went wrong and,
/// when the error message names one, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    pub time: String,
    /// `time` in milliseconds since the epoch, for ordering.
    pub time_ms: u64,
    pub rule: String,
    pub key: String,
    pub function: String,
    /// The service's error code, or crr's name for the error (`ReplicaMismatch`, ...).
    pub error_type: String,
    /// What failed and why.
    pub reason: String,
    /// What to do about it, when the message says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}

impl FailureRecord {
    pub fn new(function: &str, rule: &str, key: &str, error_type: &str, message: &str) -> Self {
        let (reason, fix) = split_fix(message);
        FailureRecord {
            time: crate::clock::now_rfc3339(),
            time_ms: crate::clock::now_millis(),
            rule: rule.to_owned(),
            key: key.to_owned(),
            function: function.to_owned(),
            error_type: error_type.to_owned(),
            reason: reason.to_owned(),
            fix: fix.map(str::to_owned),
        }
    }
}

/// crr's error messages say what failed, then, after `"; "`, what to do about it
/// (`writing dst/k: Access Denied; role ... is not allowed this on dst: grant it ...`).
pub fn split_fix(message: &str) -> (&str, Option<&str>) {
    match message.split_once("; ") {
        Some((reason, fix)) if !fix.trim().is_empty() => (reason, Some(fix.trim())),
        _ => (message, None),
    }
}

/// The last replica an instance wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastCopy {
    pub key: String,
    /// `None` for copies without an event time (metadata updates of stale events).
    pub lag_ms: Option<u64>,
    pub time: String,
    pub time_ms: u64,
}

/// One instance's report for one rule, as stored under `.crr/status/<rule>/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceActivity {
    pub version: u32,
    pub rule: String,
    pub instance: String,
    /// `object-created`, `object-deleted`, `backfill`, `crr-cli`.
    pub function: String,
    pub started_at: String,
    pub updated_at: String,
    pub updated_ms: u64,
    /// Replicas this instance wrote since it started.
    pub replicated: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last: Option<LastCopy>,
    /// The last hour, oldest first, minutes with something to count only.
    pub minutes: Vec<Minute>,
    /// The most recent failures, oldest first.
    pub failures: Vec<FailureRecord>,
}

/// One minute of a rule, every instance added up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteLag {
    pub start: u64,
    pub time: String,
    pub copies: u64,
    pub bytes: u64,
    pub failures: u64,
    /// Copies with a measured lag.
    pub count: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// Lag over a window of minutes, every instance added up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowLag {
    pub minutes: u64,
    pub count: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// A rule's recent activity, every instance's reports merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleActivity {
    /// Reports read (instances that worked for this rule in the last hours).
    pub instances: usize,
    /// The last replica written by any instance.
    pub last: Option<LastCopy>,
    /// The last hour's minutes with any activity, oldest first.
    pub minutes: Vec<MinuteLag>,
    /// Lag over the objective's window (the last 10 minutes).
    pub recent: WindowLag,
    /// Lag over the whole hour.
    pub hour: WindowLag,
    pub copies_last_hour: u64,
    pub bytes_last_hour: u64,
    pub failures_last_hour: u64,
    /// The most recent failures of every instance, newest first.
    pub failures: Vec<FailureRecord>,
}

fn window(minutes: &BTreeMap<u64, (Minute, LagHistogram)>, since: u64, span: u64) -> WindowLag {
    let mut lag = LagHistogram::default();
    for (_, (_, h)) in minutes.range(since..) {
        lag.merge(h);
    }
    WindowLag {
        minutes: span,
        count: lag.count(),
        p50_ms: lag.quantile(0.5),
        p99_ms: lag.quantile(0.99),
        max_ms: lag.max_ms(),
    }
}

/// Adds up the reports of every instance of a rule as of `now_secs`: minutes of the
/// last hour (the current one included), failures newest first.
pub fn merge(reports: &[InstanceActivity], now_secs: u64) -> RuleActivity {
    let current = minute_of(now_secs);
    let hour_start = current.saturating_sub((MINUTES_KEPT - 1) * 60);
    let recent_start = current.saturating_sub((OBJECTIVE_WINDOW_MINUTES - 1) * 60);
    let mut minutes: BTreeMap<u64, (Minute, LagHistogram)> = BTreeMap::new();
    for m in reports.iter().flat_map(|r| &r.minutes).filter(|m| (hour_start..=current).contains(&m.start)) {
        let (sum, lag) = minutes
            .entry(m.start)
            .or_insert_with(|| (Minute { start: m.start, ..Minute::default() }, LagHistogram::default()));
        sum.copies += m.copies;
        sum.bytes += m.bytes;
        sum.failures += m.failures;
        lag.merge(&m.lag);
    }
    let mut failures: Vec<FailureRecord> = reports.iter().flat_map(|r| r.failures.iter().cloned()).collect();
    failures.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then_with(|| a.key.cmp(&b.key)));
    failures.truncate(FAILURES_KEPT);
    RuleActivity {
        instances: reports.len(),
        last: reports.iter().filter_map(|r| r.last.as_ref()).max_by_key(|l| l.time_ms).cloned(),
        recent: window(&minutes, recent_start, OBJECTIVE_WINDOW_MINUTES),
        hour: window(&minutes, hour_start, MINUTES_KEPT),
        copies_last_hour: minutes.values().map(|(m, _)| m.copies).sum(),
        bytes_last_hour: minutes.values().map(|(m, _)| m.bytes).sum(),
        failures_last_hour: minutes.values().map(|(m, _)| m.failures).sum(),
        minutes: minutes
            .into_values()
            .map(|(m, lag)| MinuteLag {
                start: m.start,
                time: crate::clock::rfc3339_of_secs(m.start),
                copies: m.copies,
                bytes: m.bytes,
                failures: m.failures,
                count: lag.count(),
                p50_ms: lag.quantile(0.5),
                p99_ms: lag.quantile(0.99),
                max_ms: lag.max_ms(),
            })
            .collect(),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a minute, and a moment late in it.
    const CURRENT: u64 = 1_800_000_000;
    const NOW: u64 = CURRENT + 59;

    fn minute(minutes_ago: u64, copies: u64, lags: &[u64]) -> Minute {
        let mut lag = LagHistogram::default();
        lags.iter().for_each(|l| lag.record(*l));
        Minute { start: CURRENT - minutes_ago * 60, copies, bytes: copies * 10, failures: 0, lag }
    }

    fn report(instance: &str, minutes: Vec<Minute>, failures: Vec<FailureRecord>) -> InstanceActivity {
        InstanceActivity {
            version: VERSION,
            rule: "r".into(),
            instance: instance.into(),
            function: "object-created".into(),
            started_at: String::new(),
            updated_at: String::new(),
            updated_ms: 0,
            replicated: minutes.iter().map(|m| m.copies).sum(),
            last: None,
            minutes,
            failures,
        }
    }

    fn failure(key: &str, time_ms: u64) -> FailureRecord {
        FailureRecord { time_ms, ..FailureRecord::new("object-created", "r", key, "AccessDenied", "denied") }
    }

    #[test]
    fn minutes_of_several_instances_add_up_without_losing_any() {
        let a = report("a", vec![minute(0, 2, &[100, 200]), minute(5, 1, &[50])], vec![]);
        let b = report("b", vec![minute(0, 1, &[9_000]), minute(30, 4, &[10, 10, 10, 10])], vec![]);
        let merged = merge(&[a, b], NOW);
        assert_eq!(merged.instances, 2);
        let starts: Vec<u64> = merged.minutes.iter().map(|m| (CURRENT - m.start) / 60).collect();
        assert_eq!(starts, vec![30, 5, 0], "minutes ago, oldest first; every instance's minute kept");
        let now = &merged.minutes[2];
        assert_eq!((now.copies, now.bytes, now.count, now.max_ms, now.p99_ms), (3, 30, 3, 9_000, 9_000));
        assert!((200..=223).contains(&now.p50_ms), "{now:?}");
        assert_eq!((merged.recent.count, merged.recent.p99_ms), (4, 9_000), "minutes 0 and 5 are in the last 10");
        assert_eq!((merged.hour.count, merged.copies_last_hour, merged.bytes_last_hour), (8, 8, 80));
    }

    #[test]
    fn minutes_older_than_an_hour_and_future_ones_are_left_out() {
        let old = report("a", vec![minute(60, 1, &[1]), minute(59, 1, &[2])], vec![]);
        let mut future = minute(0, 1, &[3]);
        future.start = CURRENT + 60;
        let merged = merge(&[old, report("b", vec![future], vec![])], NOW);
        assert_eq!(merged.minutes.len(), 1);
        assert_eq!(merged.minutes[0].start, CURRENT - 59 * 60);
        assert_eq!(merged.recent, WindowLag { minutes: 10, ..WindowLag::default() }, "nothing in the last 10 minutes");
    }

    #[test]
    fn failures_of_every_instance_newest_first_and_bounded() {
        let a = report("a", vec![], (0..15).map(|i| failure(&format!("a{i:02}"), 1_000 + i * 2)).collect());
        let b = report("b", vec![], (0..15).map(|i| failure(&format!("b{i:02}"), 1_001 + i * 2)).collect());
        let merged = merge(&[a, b], NOW);
        assert_eq!(merged.failures.len(), FAILURES_KEPT);
        assert_eq!(merged.failures[0].key, "b14");
        assert_eq!(merged.failures[1].key, "a14");
        assert!(merged.failures.windows(2).all(|w| w[0].time_ms >= w[1].time_ms));
    }

    #[test]
    fn the_fix_is_what_the_message_says_after_the_reason() {
        for (message, reason, fix) in [
            (
                "writing dst/k: Access Denied; role r is not allowed this on dst: grant it s3:PutObject",
                "writing dst/k: Access Denied",
                Some("role r is not allowed this on dst: grant it s3:PutObject"),
            ),
            ("replica dst/k does not match its source: size", "replica dst/k does not match its source: size", None),
            ("reading src/k: HTTP 500; ", "reading src/k: HTTP 500; ", None),
        ] {
            assert_eq!(split_fix(message), (reason, fix), "{message}");
        }
        let f = FailureRecord::new("object-created", "r", "k", "AccessDenied", "writing dst/k: denied; grant it");
        assert_eq!((f.reason.as_str(), f.fix.as_deref()), ("writing dst/k: denied", Some("grant it")));
    }

    #[test]
    fn reports_round_trip() {
        let r = report("a", vec![minute(1, 2, &[5, 7])], vec![failure("k", 5)]);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"errorType\":\"AccessDenied\"") && json.contains("\"updatedMs\""), "{json}");
        assert_eq!(serde_json::from_str::<InstanceActivity>(&json).unwrap(), r);
    }
}
