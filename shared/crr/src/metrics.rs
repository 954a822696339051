//! One structured metrics line per invocation, for the platforms' monitors: what
//! the invocation copied, deleted and failed, and the lag of each replica it wrote.
//! On Lambda the line is CloudWatch Embedded Metric Format (the same fields plus
//! an `_aws` envelope naming the metrics), so CloudWatch turns it into metrics
//! without an agent; on Function Compute it is a flat JSON line that a Log Service
//! (SLS) JSON index reads. The schema is documented in docs/METRICS.md.
//!
//! Handlers leave each invocation's figures here ([`Pending`]), keyed by request id,
//! also when the invocation fails; the hosting takes them after the handler
//! returned and prints the line, so the domain never writes to stdout itself.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

use crate::backfill::counters::Counters;
use crate::invocation::Platform;
use crate::lock::lock;
use crate::report::Report;

/// Names the schema; bumped when a field changes meaning.
pub const SCHEMA: &str = "crr.metrics/1";
/// The CloudWatch namespace of the Lambda form.
pub const NAMESPACE: &str = "crr";
/// Lag values carried per line, at most (EMF takes up to 100 values per metric).
pub const MAX_LAG_VALUES: usize = 100;

/// One invocation's figures: the documented metrics line without its envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationMetrics {
    pub schema: &'static str,
    /// `object-created`, `object-deleted` or `backfill`: the metric dimension.
    pub function: String,
    pub request_id: String,
    /// `fc`, `lambda` or `local`.
    pub platform: &'static str,
    /// Milliseconds since the epoch, when the invocation ended.
    pub timestamp: u64,
    /// The rules the invocation acted for.
    pub rules: Vec<String>,
    /// Event records received (0 for backfill).
    pub records: u64,
    /// Keys listed and compared (backfill only).
    pub scanned: u64,
    /// Replicas written: new copies and metadata updates.
    pub copies: u64,
    /// Bytes copied.
    pub bytes: u64,
    pub deletes: u64,
    /// Nothing to do: replica already right, stale event, deletes not replicated.
    pub unchanged: u64,
    pub ignored: u64,
    pub failures: u64,
    /// Event-to-replica lag of each replica written, milliseconds (at most 100).
    pub lag_ms: Vec<u64>,
    pub lag_ms_max: u64,
    pub duration_ms: u64,
    /// Set when the invocation failed as a whole, with the error's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::FunctionCompute => "fc",
        Platform::Lambda => "lambda",
        Platform::Local => "local",
    }
}

impl InvocationMetrics {
    /// An invocation that has counted nothing yet.
    pub fn new(function: &str, request_id: &str, platform: Platform) -> Self {
        InvocationMetrics {
            schema: SCHEMA,
            function: function.to_owned(),
            request_id: request_id.to_owned(),
            platform: platform_name(platform),
            timestamp: crate::clock::now_millis(),
            ..InvocationMetrics::default()
        }
    }

    /// The figures of an event function's records (failed ones included).
    pub fn add_report(&mut self, report: &Report) {
        self.records += report.records as u64;
        self.copies += report.copied as u64;
        self.bytes += report.bytes;
        self.deletes += report.deleted as u64;
        self.unchanged += (report.unchanged + report.not_replicated + report.left_alone) as u64;
        self.ignored += report.ignored as u64;
        self.failures += report.failed as u64;
        for r in &report.results {
            if let Some(rule) = &r.rule {
                if !self.rules.contains(rule) {
                    self.rules.push(rule.clone());
                }
            }
            if let Some(lag) = r.lag_ms.filter(|_| r.copied()) {
                self.lag_ms_max = self.lag_ms_max.max(lag);
                if self.lag_ms.len() < MAX_LAG_VALUES {
                    self.lag_ms.push(lag);
                }
            }
        }
    }

    /// The figures of a backfill run's scopes.
    pub fn add_backfill(&mut self, rule: &str, c: &Counters) {
        if !self.rules.iter().any(|r| r == rule) {
            self.rules.push(rule.to_owned());
        }
        self.scanned += c.scanned;
        self.copies += c.copied;
        self.bytes += c.bytes;
        self.deletes += c.deleted;
        self.unchanged += c.identical + c.left_alone;
        self.failures += c.failed;
    }

    /// The invocation failed as a whole (`error_type`); counts at least one failure.
    pub fn failed(&mut self, error_type: &str) {
        self.error_type = Some(error_type.to_owned());
        self.failures = self.failures.max(1);
    }

    /// The line to log: flat JSON, with the Embedded Metric Format envelope on Lambda.
    pub fn line(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if self.platform == "lambda" {
            value["_aws"] = self.emf_envelope();
        }
        value.to_string()
    }

    /// `_aws`: which top-level fields CloudWatch takes as metrics, by `function`.
    fn emf_envelope(&self) -> Value {
        let mut metrics = vec![
            json!({"Name": "records", "Unit": "Count"}),
            json!({"Name": "scanned", "Unit": "Count"}),
            json!({"Name": "copies", "Unit": "Count"}),
            json!({"Name": "bytes", "Unit": "Bytes"}),
            json!({"Name": "deletes", "Unit": "Count"}),
            json!({"Name": "unchanged", "Unit": "Count"}),
            json!({"Name": "ignored", "Unit": "Count"}),
            json!({"Name": "failures", "Unit": "Count"}),
            json!({"Name": "durationMs", "Unit": "Milliseconds"}),
        ];
        // An empty list is no value: the metric is named only when a replica was written.
        if !self.lag_ms.is_empty() {
            metrics.push(json!({"Name": "lagMs", "Unit": "Milliseconds"}));
            metrics.push(json!({"Name": "lagMsMax", "Unit": "Milliseconds"}));
        }
        json!({
            "Timestamp": self.timestamp,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["function"]], "Metrics": metrics}],
        })
    }
}

/// Each running invocation's figures, until the hosting takes them. Bounded: figures
/// nobody takes (the operator's tool runs handlers without hosting) are dropped oldest first.
#[derive(Debug, Default)]
pub struct Pending {
    by_request: Mutex<HashMap<String, InvocationMetrics>>,
}

const MAX_PENDING: usize = 256;

impl Pending {
    /// Adds to the figures of `request_id`, starting them with `start` if there are none.
    pub fn update(
        &self,
        request_id: &str,
        start: impl FnOnce() -> InvocationMetrics,
        f: impl FnOnce(&mut InvocationMetrics),
    ) {
        let mut map = lock(&self.by_request);
        if map.len() >= MAX_PENDING && !map.contains_key(request_id) {
            if let Some(oldest) = map.values().min_by_key(|m| m.timestamp).map(|m| m.request_id.clone()) {
                map.remove(&oldest);
            }
        }
        f(map.entry(request_id.to_owned()).or_insert_with(start));
    }

    /// The figures of `request_id`, removed.
    pub fn take(&self, request_id: &str) -> Option<InvocationMetrics> {
        lock(&self.by_request).remove(request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Cloud, EventKind, ObjectEvent};
    use crate::outcome::{Decision, DeleteOutcome};
    use crate::report::{Outcome, RecordResult};

    fn result(index: usize, outcome: Option<Outcome>, bytes: u64, lag_ms: Option<u64>, error: bool) -> RecordResult {
        let ev = ObjectEvent {
            cloud: Cloud::S3,
            name: "ObjectCreated:Put".into(),
            kind: EventKind::Created,
            bucket: "src".into(),
            key: format!("k{index}"),
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
            time: None,
        };
        let mut r = RecordResult::new(index, &ev);
        r.rule = Some("default".into());
        r.outcome = outcome;
        r.bytes = bytes;
        r.lag_ms = lag_ms;
        if error {
            r.error_type = Some("AccessDenied".into());
            r.error = Some("writing dst/k: denied".into());
        }
        r
    }

    fn known_workload() -> InvocationMetrics {
        let report = Report::tally(
            5,
            vec![
                result(0, Some(Outcome::Copy(Decision::Copy)), 1_000, Some(120), false),
                result(1, Some(Outcome::Copy(Decision::Copy)), 2_000, Some(340), false),
                result(2, Some(Outcome::Copy(Decision::Identical)), 0, None, false),
                result(3, Some(Outcome::Delete(DeleteOutcome::Deleted)), 0, None, false),
                result(4, None, 0, None, true),
            ],
        );
        let mut m = InvocationMetrics::new("object-created", "req-1", Platform::FunctionCompute);
        m.add_report(&report);
        m.duration_ms = 42;
        m
    }

    #[test]
    fn the_function_compute_line_is_flat_json_with_every_documented_field() {
        let line = known_workload().line();
        assert!(!line.contains('\n'), "one line");
        let v: Value = serde_json::from_str(&line).unwrap();
        for field in [
            "schema",
            "function",
            "requestId",
            "platform",
            "timestamp",
            "rules",
            "records",
            "scanned",
            "copies",
            "bytes",
            "deletes",
            "unchanged",
            "ignored",
            "failures",
            "lagMs",
            "lagMsMax",
            "durationMs",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {line}");
        }
        assert!(v.get("_aws").is_none(), "no EMF envelope off Lambda");
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["platform"], "fc");
        assert_eq!(v["rules"], json!(["default"]));
        assert_eq!((v["records"].as_u64(), v["copies"].as_u64(), v["bytes"].as_u64()), (Some(5), Some(2), Some(3_000)));
        assert_eq!(
            (v["deletes"].as_u64(), v["unchanged"].as_u64(), v["failures"].as_u64()),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!((v["lagMs"].clone(), v["lagMsMax"].as_u64()), (json!([120, 340]), Some(340)));
    }

    #[test]
    fn the_lambda_line_is_embedded_metric_format() {
        let mut m = known_workload();
        m.platform = "lambda";
        let v: Value = serde_json::from_str(&m.line()).unwrap();
        let aws = &v["_aws"];
        assert_eq!(aws["Timestamp"], v["timestamp"]);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["function"]]));
        assert_eq!(v["function"], "object-created", "the dimension's value is a top-level member");
        let names: Vec<&str> =
            directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
        for name in &names {
            let value = &v[*name];
            assert!(
                value.is_u64() || value.as_array().is_some_and(|a| !a.is_empty() && a.len() <= 100),
                "{name}: {value}"
            );
        }
        assert!(names.contains(&"lagMs") && names.contains(&"copies") && names.contains(&"failures"), "{names:?}");
        m.lag_ms.clear();
        let v: Value = serde_json::from_str(&m.line()).unwrap();
        assert!(!v["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string().contains("lagMs"), "no empty metric");
    }

    #[test]
    fn backfill_and_whole_invocation_failures() {
        let mut m = InvocationMetrics::new("backfill", "req-2", Platform::Local);
        m.add_backfill(
            "default",
            &Counters { scanned: 100, copied: 40, identical: 60, bytes: 4_096, ..Counters::default() },
        );
        m.add_backfill("logs", &Counters { scanned: 1, failed: 1, ..Counters::default() });
        assert_eq!((m.scanned, m.copies, m.unchanged, m.bytes, m.failures), (101, 40, 60, 4_096, 1));
        assert_eq!(m.rules, vec!["default", "logs"]);
        let mut bad = InvocationMetrics::new("object-created", "req-3", Platform::Local);
        bad.failed("InvalidEvent");
        let v: Value = serde_json::from_str(&bad.line()).unwrap();
        assert_eq!((v["errorType"].as_str(), v["failures"].as_u64()), (Some("InvalidEvent"), Some(1)));
    }

    #[test]
    fn pending_figures_are_taken_once_and_bounded() {
        let p = Pending::default();
        let start = |id: &str| {
            let id = id.to_owned();
            move || InvocationMetrics::new("f", &id, Platform::Local)
        };
        p.update("a", start("a"), |m| m.copies += 1);
        p.update("a", start("a"), |m| m.copies += 2);
        assert_eq!(p.take("a").map(|m| m.copies), Some(3));
        assert!(p.take("a").is_none());
        for i in 0..(MAX_PENDING + 10) {
            let id = format!("r{i}");
            p.update(&id, start(&id), |_| {});
        }
        assert_eq!(lock(&p.by_request).len(), MAX_PENDING);
    }
}
