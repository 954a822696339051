//! The functions' shared state, built once per instance, and the object-created handler.

use std::collections::HashMap;
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::SharedHttpClient;
use fc_runtime::{Context, Event};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::{Config, Rule};
use crate::copy::{Engine, Hint, Learned, Method};
use crate::credentials::FunctionIdentity;
use crate::decide::Decision;
use crate::error::Error;
use crate::event::{EventKind, Notification, ObjectEvent};
use crate::retry::retry;
use crate::store;
use crate::sts::AssumedRole;

/// Clients and credentials for one configuration, reused across invocations.
pub struct Replicator {
    config: Config,
    identity: Arc<FunctionIdentity>,
    source: aws_sdk_s3::Client,
    /// One per rule, in rule order.
    targets: Vec<Target>,
}

struct Target {
    role: Arc<AssumedRole>,
    client: aws_sdk_s3::Client,
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
        Replicator { config, identity, source, targets }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles ObjectCreated (and metadata-change) events: every matching rule's
    /// destination ends up with the source's current object.
    pub async fn object_created(&self, event: Event<Notification>) -> Result<Report, Error> {
        let Event { payload, context } = event;
        self.identity.observe(&context);
        self.refuse_strangers(&payload.events)?;

        let events = &payload.events;
        let context = &context;
        let results: Vec<RecordResult> = stream::iter(0..events.len())
            .map(|index| self.created_one(context, index, &events[index]))
            .buffer_unordered(self.config.copy.record_concurrency)
            .flat_map(stream::iter)
            .collect()
            .await;
        Report::finish(payload.events.len(), results)
    }

    /// Events for a bucket no rule names are refused before anything is done.
    fn refuse_strangers(&self, events: &[ObjectEvent]) -> Result<(), Error> {
        match events.iter().find(|e| e.bucket != self.config.source.name) {
            Some(stranger) => Err(Error::UnknownBucket {
                bucket: stranger.bucket.clone(),
                configured: self.config.source.name.clone(),
            }),
            None => Ok(()),
        }
    }

    async fn created_one(&self, context: &Context, index: usize, ev: &ObjectEvent) -> Vec<RecordResult> {
        let base = RecordResult::new(index, ev);
        match ev.kind {
            EventKind::Created | EventKind::MetadataChanged => {}
            EventKind::Removed | EventKind::DeleteMarkerCreated => {
                return vec![base.ignored("delete events are handled by object-deleted")];
            }
            EventKind::Ignored => {
                return vec![base.ignored("this event does not change object content")];
            }
        }
        let rules: Vec<(usize, &Rule)> =
            self.config.rules.iter().enumerate().filter(|(_, r)| r.matches(&ev.key)).collect();
        if rules.is_empty() {
            return vec![base.ignored("no rule's prefixes match this key")];
        }
        let session = format!("crr-{}-{}", context.function_name.as_deref().unwrap_or("fn"), context.request_id);
        let hint = Hint { size: ev.size, etag: ev.etag.clone() };
        let mut out = Vec::with_capacity(rules.len());
        for (i, rule) in rules {
            let target = &self.targets[i];
            let mut result = base.clone().for_rule(rule);
            let engine = Engine {
                source: &self.source,
                source_bucket: &self.config.source,
                dest: &target.client,
                rule,
                role: target.role.role(),
                settings: &self.config.copy,
                learned: &target.learned,
                deadline: context.deadline,
            };
            let outcome = async {
                target.role.credentials(&session).await?;
                retry(&format!("replicating {}", ev.key), context.deadline, |_| engine.replicate(&ev.key, &hint)).await
            }
            .await;
            match outcome {
                Ok(o) => {
                    tracing::info!(bucket = %ev.bucket, key = %ev.key, rule = %rule.id, decision = ?o.decision, method = ?o.method, bytes = o.bytes, ms = o.ms, "replicated");
                    result.outcome = Some(o.decision);
                    result.method = o.method;
                    result.bytes = o.bytes;
                    result.ms = o.ms;
                }
                Err(e) => {
                    tracing::error!(bucket = %ev.bucket, key = %ev.key, rule = %rule.id, error = %e, "replication failed");
                    result.error_type = Some(e.error_type());
                    result.error = Some(e.to_string());
                }
            }
            out.push(result);
        }
        out
    }
}

/// The JSON an invocation returns.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub records: usize,
    pub copied: usize,
    pub unchanged: usize,
    pub ignored: usize,
    pub failed: usize,
    pub bytes: u64,
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordResult {
    pub index: usize,
    pub event: String,
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub bytes: u64,
    pub ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RecordResult {
    fn new(index: usize, ev: &ObjectEvent) -> Self {
        RecordResult {
            index,
            event: ev.name.clone(),
            bucket: ev.bucket.clone(),
            key: ev.key.clone(),
            rule: None,
            destination: None,
            outcome: None,
            method: None,
            ignored: None,
            bytes: 0,
            ms: 0,
            error_type: None,
            error: None,
        }
    }

    fn ignored(mut self, why: &str) -> Self {
        self.ignored = Some(why.to_owned());
        self
    }

    fn for_rule(mut self, rule: &Rule) -> Self {
        self.rule = Some(rule.id.clone());
        self.destination = Some(rule.destination.name.clone());
        self
    }
}

impl Report {
    /// The report, or an error naming every record that failed so the platform retries.
    fn finish(records: usize, mut results: Vec<RecordResult>) -> Result<Report, Error> {
        results.sort_by_key(|r| r.index);
        let count = |f: &dyn Fn(&RecordResult) -> bool| results.iter().filter(|r| f(r)).count();
        let report = Report {
            records,
            copied: count(&|r| matches!(r.outcome, Some(Decision::Copy | Decision::UpdateMetadata))),
            unchanged: count(&|r| {
                matches!(r.outcome, Some(Decision::Identical | Decision::SourceGone | Decision::SourceIsReplica))
            }),
            ignored: count(&|r| r.ignored.is_some()),
            failed: count(&|r| r.error.is_some()),
            bytes: results.iter().map(|r| r.bytes).sum(),
            results,
        };
        if report.failed == 0 {
            return Ok(report);
        }
        Err(Error::Batch(BatchFailure::from_report(&report)))
    }
}

/// Some records of a batch failed; the message lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    pub error_type: String,
    pub message: String,
}

impl BatchFailure {
    fn from_report(report: &Report) -> Self {
        let failed: Vec<&RecordResult> = report.results.iter().filter(|r| r.error.is_some()).collect();
        let error_type = failed[0].error_type.clone().unwrap_or_else(|| "ReplicationFailed".into());
        let list: Vec<String> =
            failed.iter().map(|r| format!("[{}] {}: {}", r.index, r.key, r.error.as_deref().unwrap_or(""))).collect();
        BatchFailure {
            error_type,
            message: format!(
                "{} of {} records failed ({} copied, {} unchanged); failed: {}",
                failed.len(),
                report.records,
                report.copied,
                report.unchanged,
                list.join("; ")
            ),
        }
    }
}

impl std::fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
