//! Replication status for operators (`crr status`, its `--json`, `--check`,
//! `--prometheus` and the `--serve` page): per rule, what it replicates, the event
//! path's lag over the last hour and against the rule's objective, the recent
//! failures and how far the backfill has come. Everything is read from what the
//! functions keep under the destinations' reserved prefix `.crr/`, as the
//! replication role: activity reports ([`crate::activity_store`]) and backfill
//! checkpoints and leases. What the credentials may not read is reported per rule
//! as a [`Problem`] naming the permission, never as a failure of the whole status.

pub mod progress;

use serde::Serialize;

use crate::activity::{self, split_fix, RuleActivity};
use crate::backfill::state::{self, StateStore};
use crate::config::{Rule, RuleAction};
use crate::error::Error;
use crate::invocation::Invocation;
use crate::objective::{self, Verdict};
use crate::replicator::Replicator;
use crate::store::Store;

pub use progress::{Phase, Progress};

/// One range's saved backfill state.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeState {
    /// The prefix, and the shard for a sharded pass (`img/* shard 1/4`).
    pub scope: String,
    pub checkpoint: Option<state::Checkpoint>,
    /// Set while a run holds the range.
    pub running: Option<state::Lease>,
    pub progress: Progress,
}

/// The event path's latest replica and its lag over the last hour.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LagView {
    pub last_key: String,
    pub last_lag_ms: Option<u64>,
    pub last_replicated_at: String,
    /// Copies with a lag in the last hour, and their percentiles.
    pub count: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// Something the credentials could not read, and what to grant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Which part of the status is missing: `role` (nothing could be read), `activity`
    /// (lag, copies, failures) or `backfill`.
    pub part: &'static str,
    /// What could not be shown.
    pub what: String,
    pub error_type: String,
    pub reason: String,
    pub fix: Option<String>,
    /// A permission is missing (AccessDenied), as opposed to a service failure.
    pub permission: bool,
}

impl Problem {
    fn new(part: &'static str, what: &str, e: &Error, fallback_fix: String) -> Problem {
        let message = e.to_string();
        let (reason, fix) = split_fix(&message);
        let error_type = e.error_type();
        let permission = matches!(error_type.as_str(), "AccessDenied" | "Forbidden" | "NoPermission")
            || error_type.starts_with("NoPermission")
            || message.contains("AccessDenied");
        Problem {
            part,
            what: what.to_owned(),
            reason: reason.to_owned(),
            fix: Some(fix.map(str::to_owned).unwrap_or(fallback_fix)),
            error_type,
            permission,
        }
    }
}

/// What `crr status` shows for a rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuleStatus {
    pub rule: String,
    pub source: String,
    pub destination: String,
    pub destination_endpoint: Option<String>,
    pub destination_region: String,
    /// `PUT` (creates only) or `ALL` (creates and deletes).
    pub action: &'static str,
    /// Empty: every object.
    pub prefixes: Vec<String>,
    pub historical: bool,
    pub role: String,
    pub lag_objective_seconds: u64,
    /// The latest replica and the hour's lag; `None` before the event path's first copy.
    pub lag: Option<LagView>,
    /// The last hour minute by minute, the objective's window, the recent failures.
    pub activity: RuleActivity,
    pub objective: Verdict,
    /// Each range's backfill state.
    pub backfill: Vec<ScopeState>,
    /// The ranges added up; `None` if the backfill never ran.
    pub backfill_progress: Option<Progress>,
    /// What could not be read.
    pub problems: Vec<Problem>,
}

fn action_name(a: RuleAction) -> &'static str {
    match a {
        RuleAction::Put => "PUT",
        RuleAction::All => "ALL",
    }
}

/// A rule's card before anything is read.
fn card(r: &Replicator, rule: &Rule) -> RuleStatus {
    RuleStatus {
        rule: rule.id.clone(),
        source: r.config.source.name.clone(),
        destination: rule.destination.name.clone(),
        destination_endpoint: rule.destination.endpoint.url.clone(),
        destination_region: rule.destination.endpoint.region.clone(),
        action: action_name(rule.action),
        prefixes: rule.prefixes.clone(),
        historical: rule.historical,
        role: rule.role.to_string(),
        lag_objective_seconds: rule.lag_objective_seconds,
        lag: None,
        activity: RuleActivity::default(),
        objective: objective::judge(rule.lag_objective_seconds, &Default::default()),
        backfill: Vec::new(),
        backfill_progress: None,
        problems: Vec::new(),
    }
}

/// Every rule's status, read from the destinations as the replication role.
pub async fn status(r: &Replicator, invocation: &Invocation) -> Vec<RuleStatus> {
    let mut out = Vec::new();
    for (i, rule) in r.config.rules.iter().enumerate() {
        let mut status = card(r, rule);
        match r.engine(i, invocation).await {
            Ok(engine) => read_rule(engine.dest, rule, &mut status).await,
            Err(e) => status.problems.push(Problem::new(
                "role",
                "anything of this rule: the replication role could not be assumed",
                &e,
                format!("the credentials crr status runs with must be allowed sts:AssumeRole on {}", rule.role),
            )),
        }
        out.push(status);
    }
    out
}

async fn read_rule(dest: &Store, rule: &Rule, status: &mut RuleStatus) {
    let bucket = rule.destination.name.as_str();
    match crate::activity_store::read_all(dest, bucket, &rule.id).await {
        Ok(reports) => {
            let merged = activity::merge(&reports, crate::clock::now_secs());
            status.objective = objective::judge(rule.lag_objective_seconds, &merged.recent);
            status.lag = merged.last.as_ref().map(|last| LagView {
                last_key: last.key.clone(),
                last_lag_ms: last.lag_ms,
                last_replicated_at: last.time.clone(),
                count: merged.hour.count,
                p50_ms: merged.hour.p50_ms,
                p99_ms: merged.hour.p99_ms,
                max_ms: merged.hour.max_ms,
            });
            status.activity = merged;
        }
        Err(e) => status.problems.push(Problem::new(
            "activity",
            "lag, copies and failures (activity reports under .crr/status/)",
            &e,
            format!("grant the replication role s3:ListBucket on {bucket} and s3:GetObject on {bucket}/.crr/* (crr policy generate)"),
        )),
    }
    match backfill_states(dest, bucket, &rule.id).await {
        Ok(scopes) => {
            let ranges: Vec<Progress> = scopes.iter().map(|s| s.progress.clone()).collect();
            status.backfill_progress = progress::of_rule(&ranges);
            status.backfill = scopes;
        }
        Err(e) => status.problems.push(Problem::new(
            "backfill",
            "backfill progress (checkpoints under .crr/backfill/)",
            &e,
            format!("grant the replication role s3:ListBucket on {bucket} and s3:GetObject on {bucket}/.crr/* (crr policy generate)"),
        )),
    }
}

async fn backfill_states(dest: &Store, bucket: &str, rule: &str) -> Result<Vec<ScopeState>, Error> {
    let mut out = Vec::new();
    for id in StateStore::scope_ids(dest, bucket, rule).await? {
        let store = StateStore::new(dest.clone(), bucket, rule, &id);
        let checkpoint = store.load_checkpoint().await?;
        let running = store.load_lease().await?.filter(|l| l.expires > state::now_secs());
        let progress = progress::of_range(checkpoint.as_ref(), running.as_ref());
        let scope = checkpoint.as_ref().map(|c| c.scope.clone()).unwrap_or(id);
        out.push(ScopeState { scope, checkpoint, running, progress });
    }
    out.sort_by(|a, b| a.scope.cmp(&b.scope));
    Ok(out)
}

/// True when any rule misses its lag objective.
pub fn any_missed(rules: &[RuleStatus]) -> bool {
    rules.iter().any(|r| r.objective.state == objective::State::Missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_the_fix_the_error_gives_or_the_one_for_the_step() {
        let denied = Error::Storage {
            op: "listing",
            bucket: "dst".into(),
            key: ".crr/status/r/".into(),
            fault: crate::error::Fault::Permanent,
            code: Some("AccessDenied".into()),
            detail: "Access Denied; reading replication status needs s3:ListBucket on dst".into(),
        };
        let p = Problem::new("activity", "lag", &denied, "fallback".into());
        assert!(p.permission);
        assert_eq!(p.reason, "listing dst/.crr/status/r/: Access Denied");
        assert_eq!(p.fix.as_deref(), Some("reading replication status needs s3:ListBucket on dst"));
        let down = Error::Storage {
            op: "reading",
            bucket: "dst".into(),
            key: "k".into(),
            fault: crate::error::Fault::Transient,
            code: Some("InternalError".into()),
            detail: "We encountered an internal error".into(),
        };
        let p = Problem::new("activity", "lag", &down, "grant it".into());
        assert!(!p.permission);
        assert_eq!(p.fix.as_deref(), Some("grant it"));
    }
}
