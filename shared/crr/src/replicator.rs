//! The functions' shared state, built once per instance and borrowed by every
//! handler: the configuration, the source store acting as the function's own
//! identity, and per rule the destination store acting as the replication role.
//! It knows no runtime: the hosting hands it an [`Invocation`] per call.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, Rule};
use crate::copy::{Engine, Learned};
use crate::credentials::FunctionIdentity;
use crate::error::Error;
use crate::event::ObjectEvent;
use crate::invocation::Invocation;
use crate::lag::LagTracker;
use crate::object::RESERVED_PREFIX;
use crate::presence::SourceView;
use crate::store::{self, Store};
use crate::sts::AssumedRole;

/// Stores and credentials for one configuration, reused across invocations.
pub struct Replicator {
    pub(crate) config: Config,
    identity: Arc<FunctionIdentity>,
    pub(crate) source: Store,
    /// One per rule, in rule order.
    targets: Vec<Target>,
    /// Replication lag of this instance's copies, for `crr status`.
    pub(crate) lag: LagTracker,
}

/// One rule's destination: the role's credentials and a store that uses them.
struct Target {
    role: Arc<AssumedRole>,
    store: Store,
    learned: Learned,
}

impl Replicator {
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Config::from_env()?))
    }

    pub fn new(config: Config) -> Self {
        let connections = store::Connections::new();
        let http = connections.s3().clone();
        let identity = Arc::new(FunctionIdentity::new(http.clone(), &config.source.endpoint.region));
        let source = Store::new(&connections, &config.source.endpoint, config.source.api, identity.clone());
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
                let store = Store::new(&connections, &rule.destination.endpoint, rule.destination.api, role.clone());
                Target { role, store, learned: Learned::default() }
            })
            .collect();
        let lag = LagTracker::new(config.rules.len());
        Replicator { config, identity, source, targets, lag }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the platform credentials an invocation carries for the function's identity.
    pub fn observe(&self, invocation: &Invocation) {
        self.identity.observe(invocation);
    }

    /// Takes the invocation's credentials and refuses events for a bucket no rule
    /// names, before anything is done (never act for a stranger's bucket).
    pub(crate) fn begin(&self, invocation: &Invocation, events: &[ObjectEvent]) -> Result<(), Error> {
        self.identity.observe(invocation);
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

    /// The source as the function's own identity sees it in this invocation.
    pub(crate) fn source_view(&self, invocation: &Invocation) -> SourceView<'_> {
        SourceView {
            store: &self.source,
            bucket: &self.config.source,
            deadline: invocation.deadline,
            concurrency: self.config.copy.record_concurrency,
        }
    }

    /// The destination store of rule `i`, acting as its role.
    pub(crate) fn dest(&self, i: usize) -> &Store {
        &self.targets[i].store
    }

    /// The copy engine for rule `i`, with fresh role credentials (the session name
    /// carries the function and the request that caused a refresh).
    pub(crate) async fn engine(&self, i: usize, invocation: &Invocation) -> Result<Engine<'_>, Error> {
        let target = &self.targets[i];
        target.role.credentials(&invocation.session_name()).await?;
        Ok(Engine {
            source: &self.source,
            source_bucket: &self.config.source,
            dest: &target.store,
            rule: &self.config.rules[i],
            role: target.role.role(),
            settings: &self.config.copy,
            learned: &target.learned,
            deadline: invocation.deadline,
        })
    }

    /// Writes the lag summaries that are due (at most every 5 s per instance).
    pub(crate) async fn write_lag(&self) {
        let ids: Vec<&str> = self.config.rules.iter().map(|r| r.id.as_str()).collect();
        for (i, summary) in self.lag.due(&ids) {
            crate::lag::write_summary(self.dest(i), &self.config.rules[i].destination.name, &summary).await;
        }
    }
}
