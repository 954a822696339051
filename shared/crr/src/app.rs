//! The functions' shared state, built once per instance: the configuration, the
//! source client with the function's own identity, and per rule the destination
//! client acting as the replication role. Also the object-created handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_smithy_runtime_api::client::http::SharedHttpClient;
use fc_runtime::{Context, Event};
use futures::stream::{self, StreamExt};

use crate::config::{Config, Rule};
use crate::copy::{Engine, Hint, Learned};
use crate::credentials::FunctionIdentity;
use crate::decide::Decision;
use crate::error::Error;
use crate::event::{EventKind, Notification, ObjectEvent};
use crate::object::RESERVED_PREFIX;
use crate::report::{Outcome, RecordResult, Report};
use crate::retry::retry;
use crate::store;
use crate::sts::AssumedRole;

pub use crate::report::BatchFailure;

/// Clients and credentials for one configuration, reused across invocations.
pub struct Replicator {
    pub(crate) config: Config,
    identity: Arc<FunctionIdentity>,
    pub(crate) source: aws_sdk_s3::Client,
    /// One per rule, in rule order.
    pub(crate) targets: Vec<Target>,
    /// Replication lag of this instance's copies, for `crr status`.
    lag: crate::status::LagTracker,
}

pub(crate) struct Target {
    pub(crate) role: Arc<AssumedRole>,
    pub(crate) client: aws_sdk_s3::Client,
    learned: Learned,
}

impl Replicator {
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Config::from_env()?))
    }

    pub fn new(config: Config) -> Self {
        let http: SharedHttpClient = store::http_client();
        let identity = Arc::new(FunctionIdentity::new(http.clone(), &config.source.endpoint.region));
        let source = store::s3_client(&http, &config.source.endpoint, identity.clone());
        // Rules that share a role share its credentials.
        let mut roles: HashMap<String, Arc<AssumedRole>> = HashMap::new();
        let targets = config
            .rules
            .iter()
            .map(|rule| {
                let role = roles
                    .entry(rule.role.to_string())
                    .or_insert_with(|| {
                        Arc::new(AssumedRole::new(
                            rule.role.clone(),
                            config.sts.clone(),
                            identity.clone(),
                            http.clone(),
                        ))
                    })
                    .clone();
                let client = store::s3_client(&http, &rule.destination.endpoint, role.clone());
                Target { role, client, learned: Learned::default() }
            })
            .collect();
        let lag = crate::status::LagTracker::new(config.rules.len());
        Replicator { config, identity, source, targets, lag }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the platform credentials an invocation carries for the function's identity.
    pub fn observe(&self, context: &Context) {
        self.identity.observe(context);
    }

    /// Takes the invocation's credentials and refuses events for a bucket no rule
    /// names, before anything is done (never act for a stranger's bucket).
    pub(crate) fn begin(&self, context: &Context, events: &[ObjectEvent]) -> Result<(), Error> {
        self.identity.observe(context);
        match events.iter().find(|e| e.bucket != self.config.source.name) {
            Some(stranger) => Err(Error::UnknownBucket {
                bucket: stranger.bucket.clone(),
                configured: self.config.source.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The rules (with their index) that replicate `key`; crr's own reserved prefix never.
    pub(crate) fn rules_for(&self, key: &str) -> Vec<(usize, &Rule)> {
        if key.starts_with(RESERVED_PREFIX) {
            return Vec::new();
        }
        self.config.rules.iter().enumerate().filter(|(_, r)| r.matches(key)).collect()
    }

    /// The copy engine for rule `i`, with fresh role credentials (the session name
    /// carries the function and the request that caused a refresh).
    pub(crate) async fn engine(&self, i: usize, context: &Context) -> Result<Engine<'_>, Error> {
        let target = &self.targets[i];
        let session = format!("crr-{}-{}", context.function_name.as_deref().unwrap_or("fn"), context.request_id);
        target.role.credentials(&session).await?;
        Ok(Engine {
            source: &self.source,
            source_bucket: &self.config.source,
            dest: &target.client,
            rule: &self.config.rules[i],
            role: target.role.role(),
            settings: &self.config.copy,
            learned: &target.learned,
            deadline: context.deadline,
        })
    }

    /// Handles ObjectCreated (and metadata-change) events: every matching rule's
    /// destination ends up with the source's current object.
    pub async fn object_created(&self, event: Event<Notification>) -> Result<Report, Error> {
        let Event { payload, context } = event;
        self.begin(&context, &payload.events)?;
        let (events, context) = (&payload.events, &context);
        let results: Vec<RecordResult> = stream::iter(0..events.len())
            .map(|index| self.created_one(context, index, &events[index]))
            .buffer_unordered(self.config.copy.record_concurrency)
            .flat_map(stream::iter)
            .collect()
            .await;
        self.write_lag().await;
        Report::finish(events.len(), results)
    }

    /// Writes the lag summaries that are due (at most every 5 s per instance).
    async fn write_lag(&self) {
        let ids: Vec<&str> = self.config.rules.iter().map(|r| r.id.as_str()).collect();
        for (i, summary) in self.lag.due(&ids) {
            crate::status::write_summary(&self.targets[i].client, &self.config.rules[i].destination.name, &summary)
                .await;
        }
    }

    async fn created_one(&self, context: &Context, index: usize, ev: &ObjectEvent) -> Vec<RecordResult> {
        let base = RecordResult::new(index, ev);
        match ev.kind {
            EventKind::Created | EventKind::MetadataChanged => {}
            EventKind::Removed | EventKind::DeleteMarkerCreated => {
                return vec![base.ignored("delete events are handled by object-deleted")];
            }
            EventKind::Ignored => return vec![base.ignored("this event does not change object content")],
        }
        if ev.key.starts_with(RESERVED_PREFIX) {
            return vec![base.ignored("the .crr/ prefix holds crr's own state and is never replicated")];
        }
        let rules = self.rules_for(&ev.key);
        if rules.is_empty() {
            return vec![base.ignored("no rule's prefixes match this key")];
        }
        let hint = Hint { size: ev.size, etag: ev.etag.clone() };
        let mut out = Vec::with_capacity(rules.len());
        for (i, rule) in rules {
            let mut result = base.clone().for_rule(rule);
            let started = Instant::now();
            let outcome = async {
                let engine = self.engine(i, context).await?;
                retry(&format!("replicating {}", ev.key), context.deadline, |_| engine.replicate(&ev.key, &hint)).await
            }
            .await;
            result.ms = started.elapsed().as_millis() as u64;
            match outcome {
                Ok(o) => {
                    tracing::info!(bucket = %ev.bucket, key = %ev.key, rule = %rule.id, decision = ?o.decision, method = ?o.method, bytes = o.bytes, ms = result.ms, "replicated");
                    result.outcome = Some(Outcome::Copy(o.decision));
                    result.method = o.method;
                    result.bytes = o.bytes;
                    if matches!(o.decision, Decision::Copy | Decision::UpdateMetadata) {
                        result.lag_ms = crate::status::lag_since(ev.time.as_deref());
                        if let Some(lag) = result.lag_ms {
                            self.lag.record(i, &ev.key, lag);
                        }
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
}

/// The event-driven functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFunction {
    ObjectCreated,
    ObjectDeleted,
}

/// Runs an event-driven function in whichever mode the process was started in: the
/// configuration is read once by the initializer, every invocation reuses the clients.
pub async fn serve(function: EventFunction) -> Result<(), fc_runtime::Error> {
    fc_runtime::run_with_init(move || async move {
        let replicator = Arc::new(Replicator::from_env().map_err(Error::into_function_error)?);
        Ok(fc_runtime::service_fn(move |event: Event<Notification>| {
            let replicator = replicator.clone();
            async move {
                let report = match function {
                    EventFunction::ObjectCreated => replicator.object_created(event).await,
                    EventFunction::ObjectDeleted => replicator.object_deleted(event).await,
                };
                report.map_err(Error::into_function_error)
            }
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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

    fn created(keys: &[&str]) -> Event<Notification> {
        let records: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| serde_json::json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "crr-src"}, "object": {"key": k, "size": 1}}}))
            .collect();
        let payload = Notification::from_value(serde_json::json!({ "Records": records })).unwrap();
        Event { payload, context: Context::new("req-1") }
    }

    #[tokio::test]
    async fn created_events_under_the_reserved_prefix_are_ignored_without_a_request() {
        // Even a rule whose prefixes name .crr/ (or match everything) never replicates it.
        for prefixes in ["", ".crr/,logs/", ".c"] {
            let r = replicator(prefixes);
            let keys = [".crr/backfill/default/all/checkpoint.json", ".crr/status/object-created.json"];
            let report = r.object_created(created(&keys)).await.unwrap_or_else(|e| panic!("{prefixes:?}: {e}"));
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
