//! `crr status` for a terminal: per rule what it replicates, its lag against the
//! objective, the event path's last hour, the backfill's progress per range, the
//! recent failures with their fixes, and what the credentials could not read.

use std::fmt::Write;

use crr::objective::seconds;
use crr::status::{Phase, Progress, RuleStatus};

use crate::backfill::{counts, human_bytes, human_secs};

pub fn render(rules: &[RuleStatus]) -> String {
    let mut out = String::new();
    for r in rules {
        rule(&mut out, r);
    }
    out
}

fn rule(out: &mut String, r: &RuleStatus) {
    let prefixes = if r.prefixes.is_empty() { "every object".to_owned() } else { r.prefixes.join(", ") };
    let _ = writeln!(
        out,
        "rule {} -> {} ({} -> {}, action {}, {prefixes})",
        r.rule, r.destination, r.source, r.destination, r.action
    );
    let flag = if r.objective.state == crr::objective::State::Missed { "MISSED" } else { "ok" };
    let _ = writeln!(out, "  objective [{flag}]: {}", r.objective.describe());
    match &r.lag {
        Some(l) => {
            let last = l.last_lag_ms.map(|ms| format!(", lag {}", seconds(ms))).unwrap_or_default();
            let _ = writeln!(
                out,
                "  event path: last replica {} ({}){last}; last hour {} copies ({}), lag p50 {}, p99 {}, max {}",
                l.last_replicated_at,
                l.last_key,
                r.activity.copies_last_hour,
                human_bytes(r.activity.bytes_last_hour),
                seconds(l.p50_ms),
                seconds(l.p99_ms),
                seconds(l.max_ms)
            );
        }
        None => {
            let _ =
                writeln!(out, "  event path: no lag recorded yet (object-created writes it after its first copies)");
        }
    }
    match &r.backfill_progress {
        Some(p) => {
            let _ = writeln!(out, "  backfill: {}", progress(p));
        }
        None if r.historical => {
            let _ = writeln!(out, "  backfill: never run");
        }
        None => {
            let _ = writeln!(out, "  backfill: never run (historical replication is off)");
        }
    }
    for s in &r.backfill {
        let state = match (&s.running, &s.checkpoint) {
            (Some(lease), _) => format!("running ({}, lease until {})", lease.owner, lease.expires),
            (None, Some(c)) if c.done => "done".into(),
            (None, Some(_)) => "paused (the next run continues)".into(),
            (None, None) => "no checkpoint".into(),
        };
        match &s.checkpoint {
            Some(c) => {
                let after =
                    c.last_key.as_ref().filter(|_| !c.done).map(|k| format!("; after {k:?}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  backfill {} [{}]: {state}; updated {}; {}{after}",
                    s.scope,
                    c.mode,
                    c.updated_at,
                    counts(&c.counters)
                );
            }
            None => {
                let _ = writeln!(out, "  backfill {}: {state}", s.scope);
            }
        }
    }
    if !r.activity.failures.is_empty() {
        let _ = writeln!(out, "  recent failures ({} in the last hour):", r.activity.failures_last_hour);
        for f in r.activity.failures.iter().take(5) {
            let _ = writeln!(out, "    {} {} [{}] {}: {}", f.time, f.key, f.function, f.error_type, f.reason);
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
        }
    }
    for p in &r.problems {
        let missing = if p.permission { "permission missing" } else { "unreadable" };
        let _ = writeln!(out, "  cannot read {} ({missing}): {}", p.what, p.reason);
        if let Some(fix) = &p.fix {
            let _ = writeln!(out, "    fix: {fix}");
        }
    }
}

/// `done, 120 of 120 keys (100%), copied 120 (1.2 MiB), 40 keys/s, 1 range`.
pub fn progress(p: &Progress) -> String {
    let phase = match p.phase {
        Phase::Running => "running",
        Phase::Paused => "paused",
        Phase::Done => "done",
        Phase::Starting => "starting",
    };
    let of = match (p.total, p.percent) {
        (Some(t), Some(pct)) => format!("{} of {t} keys ({pct:.0}%)", p.scanned),
        _ => format!("{} keys scanned (the total is known after a first complete pass)", p.scanned),
    };
    let eta = match p.eta_seconds {
        Some(s) if p.phase != Phase::Done && s > 0 => format!(", about {} left", human_secs(s as f64)),
        _ => String::new(),
    };
    let failed = if p.failed > 0 { format!(", failed {}", p.failed) } else { String::new() };
    let ranges =
        if p.ranges == 1 { "1 range".to_owned() } else { format!("{} ranges ({} done)", p.ranges, p.ranges_done) };
    format!(
        "{phase}, {of}, copied {} ({}){failed}, {:.0} keys/s{eta}, {ranges}",
        p.copied,
        human_bytes(p.bytes),
        p.rate
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use crr::activity::{RuleActivity, WindowLag};
    use crr::status::{LagView, RuleStatus};

    use super::*;

    /// A rule whose last 10 minutes had `count` copies with this p99.
    pub(crate) fn rule(id: &str, objective: u64, p99_ms: u64, count: u64) -> RuleStatus {
        let recent = WindowLag { minutes: 10, count, p50_ms: p99_ms / 2, p99_ms, max_ms: p99_ms };
        RuleStatus {
            rule: id.into(),
            source: "src".into(),
            destination: "dst".into(),
            destination_endpoint: None,
            destination_region: "us-east-1".into(),
            action: "PUT",
            prefixes: vec![],
            historical: true,
            role: "arn:aws:iam::222222222222:role/crr-replicator".into(),
            lag_objective_seconds: objective,
            lag: (count > 0).then(|| LagView {
                last_key: "k".into(),
                last_lag_ms: Some(p99_ms),
                last_replicated_at: "2026-11-01T10:00:00Z".into(),
                count,
                p50_ms: p99_ms / 2,
                p99_ms,
                max_ms: p99_ms,
            }),
            activity: RuleActivity { recent: recent.clone(), copies_last_hour: count, ..RuleActivity::default() },
            objective: crr::objective::judge(objective, &recent),
            backfill: vec![],
            backfill_progress: None,
            problems: vec![],
        }
    }

    #[test]
    fn a_rule_reads_in_a_few_lines() {
        let mut r = rule("default", 3, 5_240, 2);
        r.prefixes = vec!["logs/".into(), "img/".into()];
        r.activity.failures.push(crr::activity::FailureRecord::new(
            "object-created",
            "default",
            "logs/a.txt",
            "AccessDenied",
            "writing dst/logs/a.txt: Access Denied; grant it s3:PutObject",
        ));
        r.activity.failures_last_hour = 1;
        let text = render(&[r]);
        assert!(text.starts_with("rule default -> dst (src -> dst, action PUT, logs/, img/)\n"), "{text}");
        assert!(
            text.contains("  objective [MISSED]: lag p99 over the last 10 minutes is 5.2 s (2 copies), 2.2 s over"),
            "{text}"
        );
        assert!(text.contains("lag p50 2.6 s, p99 5.2 s"), "{text}");
        assert!(text.contains("  backfill: never run\n"), "{text}");
        assert!(text.contains("logs/a.txt [object-created] AccessDenied: writing dst/logs/a.txt: Access Denied\n      fix: grant it s3:PutObject"), "{text}");
    }

    #[test]
    fn progress_lines() {
        let p = Progress {
            phase: Phase::Running,
            scanned: 500,
            copied: 250,
            bytes: 2048,
            failed: 0,
            total: Some(1000),
            percent: Some(50.0),
            rate: 10.0,
            eta_seconds: Some(50),
            ranges: 4,
            ranges_done: 1,
            ranges_running: 3,
        };
        assert_eq!(
            progress(&p),
            "running, 500 of 1000 keys (50%), copied 250 (2.0 KiB), 10 keys/s, about 50s left, 4 ranges (1 done)"
        );
    }
}
