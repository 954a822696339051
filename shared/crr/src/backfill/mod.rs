//! Backfill: copies what the destination lacks (historical objects, anything the
//! event path missed), on a timer or by hand, in bounded memory.
//!
//! Source and destination are listed in key order a page at a time, both a page
//! ahead, and walked side by side ([`march`]); copies go through the same engine
//! as object-created. Progress is checkpointed after every page and a lease keeps
//! two runners of one scope apart ([`state`]). Large buckets split into shards by
//! key range ([`shard`]) that run in parallel.

pub mod abandoned;
mod act;
pub mod actions;
pub mod counters;
pub mod keyspace;
pub mod lister;
pub mod march;
pub mod planner;
pub mod request;
pub mod run;
pub mod shard;
pub mod split;
pub mod state;

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;

pub use counters::Counters;
pub use request::{BackfillEvent, Mode, Request, ShardSpec, Trigger};
pub use run::{Options, Progress, Scope, ScopeReport};

use crate::error::{BatchFailure, Error};
use crate::invocation::Invocation;
use crate::replicator::Replicator;

/// Time kept in hand before an invocation's deadline: the run stops, saves its
/// checkpoint and reports.
const DEADLINE_MARGIN: Duration = Duration::from_secs(15);

/// What a backfill invocation returns.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackfillReport {
    /// Every scope reached its end.
    pub done: bool,
    pub totals: Counters,
    pub scopes: Vec<ScopeReport>,
}

/// The scopes a request covers: each selected rule's prefixes narrowed by the
/// requested prefix (rules the prefix does not touch are left out).
pub fn scopes(r: &Replicator, request: &Request) -> Result<Vec<Scope>, Error> {
    let mut out = Vec::new();
    let mut named = false;
    for (i, rule) in r.config.rules.iter().enumerate() {
        if request.rule.as_deref().is_some_and(|id| id != rule.id) {
            continue;
        }
        named = true;
        let wanted = request.prefix.clone().unwrap_or_default();
        let prefixes: Vec<String> = if rule.prefixes.is_empty() { vec![String::new()] } else { rule.prefixes.clone() };
        for p in prefixes {
            let prefix = if wanted.starts_with(&p) {
                wanted.clone()
            } else if p.starts_with(&wanted) {
                p.clone()
            } else {
                continue;
            };
            out.push(Scope { rule: i, label: format!("{prefix}*"), prefix, lower: None, upper: None });
        }
    }
    if !named {
        return Err(Error::UnknownRule {
            rule: request.rule.clone().unwrap_or_default(),
            configured: r.config.rules.iter().map(|r| r.id.clone()).collect(),
        });
    }
    Ok(out)
}

/// Runs a request: every scope, split into shards when asked, in parallel.
pub async fn run(
    r: &Replicator,
    request: &Request,
    invocation: &Invocation,
    progress: Option<&(dyn Fn(&Progress) + Sync)>,
) -> Result<BackfillReport, Error> {
    let budget = request.time_budget_seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let platform = invocation.deadline.map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d));
    let deadline = match (budget, platform) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let opts = Options {
        mode: request.mode,
        dry_run: request.dry_run,
        mirror: request.mirror,
        deep: request.deep,
        restart: request.restart,
        deadline,
        progress,
    };

    let mut units = Vec::new();
    for scope in scopes(r, request)? {
        match (request.shard, request.shards) {
            (Some(spec), _) => units.push(shard::shard_of(r, &scope, spec, invocation).await?),
            (None, Some(n)) if n > 1 => units.extend(shard::all_shards(r, &scope, n, invocation).await?),
            _ => units.push(scope),
        }
    }
    let reports: Vec<Result<ScopeReport, Error>> =
        join_all(units.iter().map(|u| run::run_scope(r, u, opts, invocation))).await;
    let mut scopes = Vec::with_capacity(reports.len());
    for report in reports {
        scopes.push(report?);
    }
    let mut totals = Counters::default();
    for s in &scopes {
        totals += s.counters;
    }
    let report = BackfillReport { done: scopes.iter().all(|s| s.done), totals, scopes };
    let counts: Vec<(&str, Counters)> = report.scopes.iter().map(|s| (s.rule.as_str(), s.counters)).collect();
    r.settle_backfill(invocation, &counts, !request.dry_run).await;
    if report.totals.failed > 0 {
        let first: Vec<String> = report.scopes.iter().flat_map(|s| s.failures.iter().cloned()).take(20).collect();
        return Err(Error::Batch(BatchFailure {
            error_type: "BackfillFailures".into(),
            message: format!(
                "{} of {} keys failed (copied {}, identical {}); the checkpoint moved on, the next pass retries them; failed: {}",
                report.totals.failed,
                report.totals.scanned,
                report.totals.copied,
                report.totals.identical,
                first.join("; ")
            ),
        }));
    }
    Ok(report)
}
