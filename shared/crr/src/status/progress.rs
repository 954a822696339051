//! How far a rule's backfill has come, from its checkpoints and leases alone: per
//! range (a scope, or one shard of it) and for the rule as a whole, the counts,
//! the share done, the rate and an estimate of the time left. Pure: the status
//! page, `crr status` and `--prometheus` all read these figures.

use serde::Serialize;

use crate::backfill::state::{Checkpoint, Lease};

/// Where one range of a backfill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// A run holds the lease.
    Running,
    /// Stopped after a key (time budget, deadline); the next run continues.
    Paused,
    Done,
    /// State without a checkpoint (a lease taken, nothing saved yet).
    Starting,
}

/// The figures of one range, or of a rule's ranges added up.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub phase: Phase,
    pub scanned: u64,
    pub copied: u64,
    pub bytes: u64,
    pub failed: u64,
    /// Keys in the range, from the last complete pass (unknown during the first pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// 0-100, when the total is known (100 when done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Keys scanned per second over the pass so far.
    pub rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Ranges counted (1 for a range; a rule's scopes and shards when added up).
    pub ranges: usize,
    pub ranges_done: usize,
    pub ranges_running: usize,
}

/// Seconds since the epoch of an RFC 3339 time.
fn secs_of(time: &str) -> Option<f64> {
    let t = aws_smithy_types::DateTime::from_str(time, aws_smithy_types::date_time::Format::DateTime).ok()?;
    Some(t.as_secs_f64())
}

/// One range's progress; `running` is a lease that has not expired.
pub fn of_range(checkpoint: Option<&Checkpoint>, running: Option<&Lease>) -> Progress {
    let Some(c) = checkpoint else {
        let phase = if running.is_some() { Phase::Running } else { Phase::Starting };
        return Progress {
            phase,
            scanned: 0,
            copied: 0,
            bytes: 0,
            failed: 0,
            total: None,
            percent: None,
            rate: 0.0,
            eta_seconds: None,
            ranges: 1,
            ranges_done: 0,
            ranges_running: usize::from(running.is_some()),
        };
    };
    let phase = match (running, c.done) {
        (Some(_), _) => Phase::Running,
        (None, true) => Phase::Done,
        (None, false) => Phase::Paused,
    };
    let elapsed = match (secs_of(&c.started_at), secs_of(&c.updated_at)) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 0.0,
    };
    let scanned = c.counters.scanned;
    let rate = if elapsed > 0.0 { scanned as f64 / elapsed } else { 0.0 };
    let total = if c.done { Some(scanned) } else { c.last_pass_total.map(|t| t.max(scanned)) };
    let percent = total.map(|t| if t == 0 || c.done { 100.0 } else { round1(scanned as f64 * 100.0 / t as f64) });
    let eta_seconds = match total {
        _ if c.done => Some(0),
        Some(t) if rate > 0.0 => Some(((t - scanned) as f64 / rate).ceil() as u64),
        _ => None,
    };
    Progress {
        phase,
        scanned,
        copied: c.counters.copied,
        bytes: c.counters.bytes,
        failed: c.counters.failed,
        total,
        percent,
        rate: round1(rate),
        eta_seconds,
        ranges: 1,
        ranges_done: usize::from(phase == Phase::Done),
        ranges_running: usize::from(phase == Phase::Running),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A rule's ranges added up: counts summed, the total known only if every range's
/// is, the rate of the ranges that run (or ran, when none runs now).
pub fn of_rule(ranges: &[Progress]) -> Option<Progress> {
    if ranges.is_empty() {
        return None;
    }
    let sum = |f: fn(&Progress) -> u64| ranges.iter().map(f).sum::<u64>();
    let (scanned, done, running) = (
        sum(|p| p.scanned),
        ranges.iter().filter(|p| p.phase == Phase::Done).count(),
        ranges.iter().filter(|p| p.phase == Phase::Running).count(),
    );
    let total = ranges.iter().map(|p| p.total).sum::<Option<u64>>();
    let rate: f64 = ranges.iter().filter(|p| running == 0 || p.phase == Phase::Running).map(|p| p.rate).sum();
    let phase = if done == ranges.len() {
        Phase::Done
    } else if running > 0 {
        Phase::Running
    } else if ranges.iter().all(|p| p.phase == Phase::Starting) {
        Phase::Starting
    } else {
        Phase::Paused
    };
    let percent = match total {
        _ if phase == Phase::Done => Some(100.0),
        Some(0) => Some(100.0),
        Some(t) => Some(round1(scanned as f64 * 100.0 / t as f64)),
        None => None,
    };
    let eta_seconds = match total {
        _ if phase == Phase::Done => Some(0),
        Some(t) if rate > 0.0 => Some(((t.saturating_sub(scanned)) as f64 / rate).ceil() as u64),
        _ => None,
    };
    Some(Progress {
        phase,
        scanned,
        copied: sum(|p| p.copied),
        bytes: sum(|p| p.bytes),
        failed: sum(|p| p.failed),
        total,
        percent,
        rate: round1(rate),
        eta_seconds,
        ranges: ranges.len(),
        ranges_done: done,
        ranges_running: running,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::Counters;

    fn checkpoint(scanned: u64, done: bool, last_pass_total: Option<u64>) -> Checkpoint {
        Checkpoint {
            version: 1,
            rule: "r".into(),
            scope: "*".into(),
            fingerprint: "f".into(),
            mode: "missing".into(),
            run_id: "run".into(),
            started_at: "2026-11-01T10:00:00Z".into(),
            updated_at: "2026-11-01T10:01:40Z".into(),
            last_key: Some("k".into()),
            counters: Counters { scanned, copied: scanned / 2, bytes: scanned * 100, ..Counters::default() },
            done,
            last_pass_total,
        }
    }

    fn lease() -> Lease {
        Lease { owner: "run".into(), expires: u64::MAX }
    }

    #[test]
    fn ranges() {
        for (what, c, running, phase, percent, rate, eta) in [
            (
                "first pass, running: no total yet",
                Some(checkpoint(1_000, false, None)),
                Some(lease()),
                Phase::Running,
                None,
                10.0,
                None,
            ),
            (
                "second pass, half way",
                Some(checkpoint(1_000, false, Some(2_000))),
                Some(lease()),
                Phase::Running,
                Some(50.0),
                10.0,
                Some(100),
            ),
            (
                "paused by its time budget",
                Some(checkpoint(500, false, Some(2_000))),
                None,
                Phase::Paused,
                Some(25.0),
                5.0,
                Some(300),
            ),
            ("done", Some(checkpoint(2_000, true, Some(1_900))), None, Phase::Done, Some(100.0), 20.0, Some(0)),
            (
                "a bucket grown past the last pass",
                Some(checkpoint(2_100, false, Some(2_000))),
                None,
                Phase::Paused,
                Some(100.0),
                21.0,
                Some(0),
            ),
            ("lease taken, nothing saved", None, Some(lease()), Phase::Running, None, 0.0, None),
        ] {
            let p = of_range(c.as_ref(), running.as_ref());
            assert_eq!((p.phase, p.percent, p.rate, p.eta_seconds), (phase, percent, rate, eta), "{what}");
            assert_eq!(p.ranges, 1, "{what}");
        }
    }

    #[test]
    fn a_rules_ranges_add_up() {
        let shards = [
            of_range(Some(&checkpoint(1_000, true, None)), None),
            of_range(Some(&checkpoint(500, false, Some(1_000))), Some(&lease())),
            of_range(Some(&checkpoint(250, false, Some(1_000))), Some(&lease())),
        ];
        let p = of_rule(&shards).unwrap();
        assert_eq!((p.phase, p.scanned, p.copied, p.bytes), (Phase::Running, 1_750, 875, 175_000));
        assert_eq!((p.total, p.percent), (Some(3_000), Some(58.3)));
        assert_eq!((p.ranges, p.ranges_done, p.ranges_running), (3, 1, 2));
        assert_eq!(p.rate, 7.5, "the rate of the shards running now");
        assert_eq!(p.eta_seconds, Some(167));
        let first_pass = [of_range(Some(&checkpoint(10, false, None)), None), shards[0].clone()];
        assert_eq!(of_rule(&first_pass).unwrap().percent, None, "unknown until every range knows its total");
        assert!(of_rule(&[]).is_none());
    }
}
