//! object-created: every matching rule's destination ends up with the source's
//! current object, for ObjectCreated and metadata-change events.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use crate::copy::Hint;
use crate::decide::{triage, EventFunction, Triage};
use crate::error::Error;
use crate::event::{Notification, ObjectEvent};
use crate::invocation::Invocation;
use crate::replicator::Replicator;
use crate::report::{Outcome, RecordResult, Report};
use crate::retry::retry;

/// Handles one notification's records, a bounded number at a time.
pub async fn object_created(
    r: &Replicator,
    notification: &Notification,
    invocation: &Invocation,
) -> Result<Report, Error> {
    r.begin(invocation, &notification.events)?;
    let events = &notification.events;
    let results: Vec<RecordResult> = stream::iter(0..events.len())
        .map(|index| created_one(r, invocation, index, &events[index]))
        .buffer_unordered(r.config.copy.record_concurrency)
        .flat_map(stream::iter)
        .collect()
        .await;
    r.settle("object-created", invocation, events.len(), &results).await;
    Report::finish(events.len(), results)
}

async fn created_one(r: &Replicator, invocation: &Invocation, index: usize, ev: &ObjectEvent) -> Vec<RecordResult> {
    let base = RecordResult::new(index, ev);
    let rules = r.rules_for(&ev.key);
    if let Triage::Ignore(why) = triage(EventFunction::ObjectCreated, ev.kind, &ev.key, rules.len()) {
        return vec![base.ignored(why)];
    }
    let hint = Hint { size: ev.size, etag: ev.etag.clone() };
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules {
        let mut result = base.clone().for_rule(rule);
        let started = Instant::now();
        let outcome = async {
            let engine = r.engine(i, invocation).await?;
            retry(&format!("replicating {}", ev.key), invocation.deadline, |_| engine.replicate(&ev.key, &hint)).await
        }
        .await;
        result.ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(o) => {
                tracing::info!(bucket = %ev.bucket, key = %ev.key, rule = %rule.id, decision = ?o.decision, method = ?o.method, bytes = o.bytes, ms = result.ms, "replicated");
                result.outcome = Some(Outcome::Copy(o.decision));
                result.method = o.method;
                result.bytes = o.bytes;
                if o.decision.wrote() {
                    result.lag_ms = crate::lag::lag_since(ev.time.as_deref());
                }
            }
            Err(e) => {
                tracing::error!(bucket = %ev.bucket, key = %ev.key, rule = %rule.id, error = %e, "replication failed");
                result.failed(&e);
            }
        }
        out.push(result);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Config;

    /// A replicator whose buckets sit behind a closed port: any request would fail.
    fn replicator(prefixes: &str) -> Replicator {
        let settings: HashMap<String, String> = [
            ("CRR_SOURCE_BUCKET", "crr-src"),
            ("CRR_SOURCE_ENDPOINT", "http://127.0.0.1:9"),
            ("CRR_DEST_BUCKET", "crr-dst"),
            ("CRR_DEST_ENDPOINT", "http://127.0.0.1:9"),
            ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
            ("CRR_STS_ENDPOINT", "http://127.0.0.1:9"),
            ("CRR_PREFIXES", prefixes),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Replicator::new(Config::from_settings(&settings).unwrap())
    }

    fn created(keys: &[&str]) -> Notification {
        let records: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| serde_json::json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "crr-src"}, "object": {"key": k, "size": 1}}}))
            .collect();
        Notification::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    #[tokio::test]
    async fn created_events_under_the_reserved_prefix_are_ignored_without_a_request() {
        // Even a rule whose prefixes name .crr/ (or match everything) never replicates it.
        for prefixes in ["", ".crr/,logs/", ".c"] {
            let r = replicator(prefixes);
            let keys = [".crr/backfill/default/all/checkpoint.json", ".crr/status/object-created.json"];
            let report = object_created(&r, &created(&keys), &Invocation::new("req-1"))
                .await
                .unwrap_or_else(|e| panic!("{prefixes:?}: {e}"));
            assert_eq!((report.ignored, report.copied, report.failed), (2, 0, 0), "{prefixes:?}: {report:?}");
            for (result, key) in report.results.iter().zip(keys) {
                assert_eq!(result.key, key);
                assert_eq!(
                    result.ignored.as_deref(),
                    Some("the .crr/ prefix holds crr's own state and is never replicated"),
                    "{prefixes:?}"
                );
            }
            assert!(r.rules_for(".crr/anything").is_empty(), "{prefixes:?}");
        }
    }
}
