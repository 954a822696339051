//! `crr status --prometheus`: the figures of `crr status` in the Prometheus text
//! exposition format (version 0.0.4), for a node exporter's textfile collector or
//! a scrape job that runs the command: per rule the lag percentiles over the
//! objective's window and the hour, the objective and whether it is missed, the
//! hour's copies, bytes and failures (the figures of the functions' metrics lines,
//! added up), and the backfill's counts and progress.

use std::fmt::Write;

use crr::objective::State;
use crr::status::{Phase, RuleStatus};

/// One metric family: its name, type, help, and samples (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

pub fn render(rules: &[RuleStatus]) -> String {
    let mut families: Vec<Family> = Vec::new();
    let mut family = |name, kind, help, samples: Vec<(Vec<(&'static str, String)>, f64)>| {
        families.push(Family { name, kind, help, samples });
    };
    let rule = |r: &RuleStatus| vec![("rule", r.rule.clone()), ("destination", r.destination.clone())];
    let windowed = |r: &RuleStatus, w: &str| {
        let mut l = rule(r);
        l.push(("window", w.to_owned()));
        l
    };
    let secs = |ms: u64| ms as f64 / 1000.0;
    let per = |f: &dyn Fn(&RuleStatus) -> Option<f64>| -> Vec<(Vec<(&'static str, String)>, f64)> {
        rules.iter().filter_map(|r| f(r).map(|v| (rule(r), v))).collect()
    };
    let lag = |pick: fn(&crr::activity::WindowLag) -> u64| -> Vec<(Vec<(&'static str, String)>, f64)> {
        rules
            .iter()
            .flat_map(|r| {
                [
                    (windowed(r, "10m"), secs(pick(&r.activity.recent))),
                    (windowed(r, "1h"), secs(pick(&r.activity.hour))),
                ]
            })
            .collect()
    };
    family(
        "crr_lag_p50_seconds",
        "gauge",
        "Median event-to-replica lag of the copies in the window, all instances.",
        lag(|w| w.p50_ms),
    );
    family(
        "crr_lag_p99_seconds",
        "gauge",
        "99th percentile event-to-replica lag of the copies in the window, all instances.",
        lag(|w| w.p99_ms),
    );
    family("crr_lag_max_seconds", "gauge", "Largest event-to-replica lag in the window.", lag(|w| w.max_ms));
    family(
        "crr_lag_measured_copies",
        "gauge",
        "Copies with a measured lag in the window.",
        rules
            .iter()
            .flat_map(|r| {
                [
                    (windowed(r, "10m"), r.activity.recent.count as f64),
                    (windowed(r, "1h"), r.activity.hour.count as f64),
                ]
            })
            .collect(),
    );
    family(
        "crr_lag_objective_seconds",
        "gauge",
        "The rule's lag objective (CRR_LAG_OBJECTIVE_SECONDS).",
        per(&|r| Some(r.lag_objective_seconds as f64)),
    );
    family(
        "crr_lag_objective_missed",
        "gauge",
        "1 when the p99 lag of the last 10 minutes exceeds the objective, else 0.",
        per(&|r| Some(f64::from(u8::from(r.objective.state == State::Missed)))),
    );
    family(
        "crr_last_replica_lag_seconds",
        "gauge",
        "Lag of the last replica written by the event path.",
        per(&|r| r.lag.as_ref().and_then(|l| l.last_lag_ms).map(secs)),
    );
    family(
        "crr_last_replica_timestamp_seconds",
        "gauge",
        "When the event path last wrote a replica, seconds since the epoch.",
        per(&|r| r.activity.last.as_ref().map(|l| l.time_ms as f64 / 1000.0)),
    );
    family(
        "crr_copies_last_hour",
        "gauge",
        "Replicas written by the event functions in the last hour.",
        per(&|r| Some(r.activity.copies_last_hour as f64)),
    );
    family(
        "crr_bytes_last_hour",
        "gauge",
        "Bytes copied by the event functions in the last hour.",
        per(&|r| Some(r.activity.bytes_last_hour as f64)),
    );
    family(
        "crr_failures_last_hour",
        "gauge",
        "Objects that failed in the last hour, all functions.",
        per(&|r| Some(r.activity.failures_last_hour as f64)),
    );
    let backfill = |f: fn(&crr::status::Progress) -> Option<f64>| per(&|r| r.backfill_progress.as_ref().and_then(f));
    family(
        "crr_backfill_scanned_keys",
        "gauge",
        "Keys the backfill's current or last pass has scanned.",
        backfill(|p| Some(p.scanned as f64)),
    );
    family(
        "crr_backfill_copied_keys",
        "gauge",
        "Keys the backfill's current or last pass has copied.",
        backfill(|p| Some(p.copied as f64)),
    );
    family(
        "crr_backfill_copied_bytes",
        "gauge",
        "Bytes the backfill's current or last pass has copied.",
        backfill(|p| Some(p.bytes as f64)),
    );
    family(
        "crr_backfill_failed_keys",
        "gauge",
        "Keys the backfill's current or last pass failed to copy.",
        backfill(|p| Some(p.failed as f64)),
    );
    family(
        "crr_backfill_progress_ratio",
        "gauge",
        "Share of the backfill done, 0-1, when the total is known.",
        backfill(|p| p.percent.map(|x| x / 100.0)),
    );
    family(
        "crr_backfill_rate_keys_per_second",
        "gauge",
        "Keys scanned per second by the backfill.",
        backfill(|p| Some(p.rate)),
    );
    family(
        "crr_backfill_eta_seconds",
        "gauge",
        "Estimated time left for the backfill.",
        backfill(|p| p.eta_seconds.map(|s| s as f64)),
    );
    family(
        "crr_backfill_done",
        "gauge",
        "1 when every range of the backfill reached its end.",
        backfill(|p| Some(f64::from(u8::from(p.phase == Phase::Done)))),
    );
    family(
        "crr_backfill_ranges",
        "gauge",
        "Ranges (scopes and shards) the backfill keeps state for.",
        backfill(|p| Some(p.ranges as f64)),
    );
    family(
        "crr_status_problems",
        "gauge",
        "Parts of the status the credentials could not read (see crr status).",
        per(&|r| Some(r.problems.len() as f64)),
    );

    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in &f.samples {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = writeln!(out, "{}{{{}}} {}", f.name, labels.join(","), number(*value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::text::tests::rule;

    #[test]
    fn the_exposition_format_with_each_rules_figures() {
        let mut slow = rule("slow", 3, 5_240, 2);
        slow.destination = "a \"quoted\"\\dst".into();
        let text = render(&[rule("fast", 600, 850, 40), slow]);
        assert!(text.ends_with('\n'));
        let mut families = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families += 1;
                assert!(rest.ends_with(" gauge"), "{line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (name, rest) = line.split_once('{').unwrap_or_else(|| panic!("a sample with labels: {line}"));
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && name.starts_with("crr_"),
                "{line}"
            );
            let value = rest.rsplit_once("} ").unwrap().1;
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert!(families >= 10, "{text}");
        assert!(
            text.contains("crr_lag_p99_seconds{rule=\"fast\",destination=\"dst\",window=\"10m\"} 0.85\n"),
            "{text}"
        );
        assert!(text.contains("crr_lag_objective_missed{rule=\"fast\",destination=\"dst\"} 0\n"), "{text}");
        assert!(
            text.contains("crr_lag_objective_missed{rule=\"slow\",destination=\"a \\\"quoted\\\"\\\\dst\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("crr_lag_objective_seconds{rule=\"slow\",destination=\"a \\\"quoted\\\"\\\\dst\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("crr_copies_last_hour{rule=\"fast\",destination=\"dst\"} 40\n"), "{text}");
        assert!(!text.contains("crr_backfill_"), "no backfill figures for rules that never ran one: {text}");
    }
}
