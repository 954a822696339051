//! Replication status for operators (`crr status`): the event path's latest lag
//! and where each rule's backfill stands, read from what the functions keep under
//! the destinations' reserved prefix, as the replication role.

use serde::Serialize;

use crate::backfill::state::{self, StateStore};
use crate::error::Error;
use crate::invocation::Invocation;
use crate::lag::{read_summary, LagSummary};
use crate::replicator::Replicator;

/// One scope's saved backfill state.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeState {
    pub scope: String,
    pub checkpoint: Option<state::Checkpoint>,
    /// Set while a run holds the scope.
    pub running: Option<state::Lease>,
}

/// What `crr status` shows for a rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuleStatus {
    pub rule: String,
    pub destination: String,
    pub historical: bool,
    /// The event path's latest lag summary, if object-created has written one.
    pub lag: Option<LagSummary>,
    pub backfill: Vec<ScopeState>,
}

/// Every rule's backfill state and the event path's latest lag, read from the
/// destinations as the replication role.
pub async fn status(r: &Replicator, invocation: &Invocation) -> Result<Vec<RuleStatus>, Error> {
    let mut out = Vec::new();
    for (i, rule) in r.config.rules.iter().enumerate() {
        let engine = r.engine(i, invocation).await?;
        let bucket = rule.destination.name.as_str();
        let lag = read_summary(engine.dest, bucket).await?;
        let mut backfill = Vec::new();
        for id in StateStore::scope_ids(engine.dest, bucket, &rule.id).await? {
            let store = StateStore::new(engine.dest.clone(), bucket, &rule.id, &id);
            let checkpoint = store.load_checkpoint().await?;
            let running = store.load_lease().await?.filter(|l| l.expires > state::now_secs());
            let scope = checkpoint.as_ref().map(|c| c.scope.clone()).unwrap_or(id);
            backfill.push(ScopeState { scope, checkpoint, running });
        }
        backfill.sort_by(|a, b| a.scope.cmp(&b.scope));
        out.push(RuleStatus {
            rule: rule.id.clone(),
            destination: bucket.to_owned(),
            historical: rule.historical,
            lag,
            backfill,
        });
    }
    Ok(out)
}
