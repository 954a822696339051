//! One pass over one scope (a rule's prefix, or a shard of it): list both sides a
//! page ahead, march them, act on the differences with bounded concurrency, and
//! save a checkpoint after every page, so memory stays one page and a killed run
//! redoes at most one page. The run holds the scope's lease while it works and
//! stops cleanly before its deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::abandoned::abort_abandoned;
use super::act::{act, SHOWN};
use super::actions::Policy;
use super::lister::{Lister, Range};
use super::march::{march, Listed};
use super::request::Mode;
use super::state::{now_rfc3339, now_secs, short_hash, Acquire, Checkpoint, Counters, StateStore};
use crate::config::RuleAction;
use crate::copy::Engine;
use crate::error::Error;
use crate::invocation::Invocation;
use crate::lock::lock;
use crate::replicator::Replicator;

/// What to pass over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub rule: usize,
    pub prefix: String,
    /// Keys after this one (exclusive)...
    pub lower: Option<String>,
    /// ...up to this one (inclusive).
    pub upper: Option<String>,
    /// Shown in reports: `logs/*`, `logs/* shard 2/8`.
    pub label: String,
}

impl Scope {
    fn id(&self) -> String {
        short_hash(&[&self.prefix, self.lower.as_deref().unwrap_or(""), self.upper.as_deref().unwrap_or("")])
    }
}

/// How to run a pass.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    pub mode: Mode,
    pub dry_run: bool,
    pub mirror: bool,
    /// Compare headers, metadata and tags of objects whose listings agree, too.
    pub deep: bool,
    pub restart: bool,
    /// Stop cleanly (checkpoint saved) when the next page could not finish before this.
    pub deadline: Option<Instant>,
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
}

/// Where a pass stands; reported after every page.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub rule: String,
    pub scope: String,
    /// The pass's running totals, including what earlier runs of a resumed pass counted.
    pub counters: Counters,
    /// What this run has counted.
    pub run_counters: Counters,
    pub elapsed_ms: u64,
    /// Keys scanned per second by this run.
    pub rate: f64,
    /// Keys left, estimated from the last complete pass, if there was one.
    pub remaining_estimate: Option<u64>,
    pub last_key: Option<String>,
}

/// The outcome of a pass over one scope.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeReport {
    pub rule: String,
    pub scope: String,
    pub mode: Mode,
    pub dry_run: bool,
    /// The pass reached the end of the scope.
    pub done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub waited_for_lease_ms: u64,
    /// This run's counts (not the checkpoint's running total).
    pub counters: Counters,
    pub elapsed_ms: u64,
    pub rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_estimate: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Mirror mode: destination-only objects it did not delete because crr did not
    /// write them for this source (the first few; all are counted in `leftAlone`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_alone_keys: Vec<String>,
    /// Why mirror mode deleted nothing in this scope, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_off: Option<String>,
}

impl ScopeReport {
    /// Adds a page's failures and keys left alone, up to the few a report shows.
    fn add_shown(&mut self, mut failures: Vec<String>, mut left_alone: Vec<String>) {
        failures.truncate(SHOWN.saturating_sub(self.failures.len()));
        self.failures.extend(failures);
        left_alone.truncate(SHOWN.saturating_sub(self.left_alone_keys.len()));
        self.left_alone_keys.extend(left_alone);
    }
}

/// Runs one pass (or the rest of one) over `scope`.
pub async fn run_scope(
    r: &Replicator,
    scope: &Scope,
    opts: Options<'_>,
    invocation: &Invocation,
) -> Result<ScopeReport, Error> {
    let started = Instant::now();
    let rule = &r.config.rules[scope.rule];
    let mut report = ScopeReport {
        rule: rule.id.clone(),
        scope: scope.label.clone(),
        mode: opts.mode,
        dry_run: opts.dry_run,
        done: false,
        resumed_after: None,
        restart_reason: None,
        skipped: None,
        waited_for_lease_ms: 0,
        counters: Counters::default(),
        elapsed_ms: 0,
        rate: 0.0,
        remaining_estimate: None,
        failures: Vec::new(),
        left_alone_keys: Vec::new(),
        mirror_off: (opts.mirror && rule.action != RuleAction::All).then(|| {
            format!(
                "rule {} has action PUT (deletes are not replicated), so mirror deletes nothing; destination-only objects are counted under extra",
                rule.id
            )
        }),
    };
    let since = if rule.historical {
        None
    } else {
        match r.config.backfill.since {
            Some(t) => Some(t),
            None => {
                report.skipped = Some(
                    "historical replication is off for this rule and CRR_REPLICATE_SINCE is not set: nothing before the rule is copied".into(),
                );
                report.done = true;
                return Ok(report);
            }
        }
    };
    let engine = r.engine(scope.rule, invocation).await?;
    let store = StateStore::new(r.dest(scope.rule).clone(), &rule.destination.name, &rule.id, &scope.id());
    let run_id = format!("{}-{}", invocation.request_id, &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let ttl = r.config.backfill.lease;

    // The lease: wait while another runner holds it (not for dry runs, which write nothing).
    let lease = if opts.dry_run {
        None
    } else {
        let waited = Instant::now();
        loop {
            match store.acquire(&run_id, ttl).await? {
                Acquire::Taken { etag } => break Some(Arc::new(Mutex::new(etag))),
                Acquire::Held { owner, expires } => {
                    let wait = Duration::from_secs(expires.saturating_sub(now_secs()).clamp(1, 2));
                    if opts.deadline.is_some_and(|d| Instant::now() + wait > d) {
                        report.waited_for_lease_ms = waited.elapsed().as_millis() as u64;
                        report.skipped = Some(format!(
                            "another run ({owner}) holds this scope's lease until {expires}; it was still held when this run's time ran out"
                        ));
                        report.elapsed_ms = started.elapsed().as_millis() as u64;
                        return Ok(report);
                    }
                    tracing::info!(rule = %rule.id, scope = %scope.label, owner, "another run holds the lease; waiting");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    };
    report.waited_for_lease_ms = if lease.is_some() { started.elapsed().as_millis() as u64 } else { 0 };

    // Keep the lease alive while the pass runs; a lost lease stops it.
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewer = lease.as_ref().map(|etag| {
        let (etag, lost, run_id) = (etag.clone(), lost.clone(), run_id.clone());
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let current = lock(&etag).clone();
                match store.renew(&run_id, &current, ttl).await {
                    Ok(Some(new)) => *lock(&etag) = new,
                    Ok(None) => {
                        lost.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing the backfill lease failed; retrying"),
                }
            }
        })
    });

    // Uploads abandoned by copies killed mid-way, before this run's own copies begin.
    if !opts.dry_run && opts.mode != Mode::Verify {
        let range = (scope.lower.as_deref(), scope.upper.as_deref());
        let after = r.config.backfill.abandoned_uploads;
        match abort_abandoned(engine.dest, &rule.destination.name, &scope.prefix, range, after).await {
            Ok(n) => report.counters.aborted_uploads += n,
            Err(e) => {
                tracing::warn!(error = %e, "aborting abandoned multipart uploads failed; the next run tries again")
            }
        }
    }
    let result = pass(r, &engine, &store, scope, opts, since, &run_id, &lost, &mut report).await;

    if let Some(task) = renewer {
        task.abort();
    }
    if let Some(etag) = &lease {
        let current = lock(etag).clone();
        if let Err(e) = store.release(&run_id, &current).await {
            tracing::warn!(error = %e, "releasing the backfill lease failed; it expires by itself");
        }
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report.rate = rate(report.counters.scanned, started.elapsed());
    result.map(|_| report)
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

#[allow(clippy::too_many_arguments)]
async fn pass(
    r: &Replicator,
    engine: &Engine<'_>,
    store: &StateStore,
    scope: &Scope,
    opts: Options<'_>,
    since: Option<i64>,
    run_id: &str,
    lost: &std::sync::atomic::AtomicBool,
    report: &mut ScopeReport,
) -> Result<(), Error> {
    let started = Instant::now();
    let rule = engine.rule;
    let fingerprint = short_hash(&[
        &r.config.source.name,
        &rule.destination.name,
        &scope.prefix,
        scope.lower.as_deref().unwrap_or(""),
        scope.upper.as_deref().unwrap_or(""),
        &opts.mode.to_string(),
        if opts.mirror { "mirror" } else { "" },
        &since.map(|s| s.to_string()).unwrap_or_default(),
    ]);

    // Resume, restart, or begin a new pass.
    let previous = if opts.restart { None } else { store.load_checkpoint().await? };
    let fresh = |last_pass_total| Checkpoint {
        version: 1,
        rule: rule.id.clone(),
        scope: scope.label.clone(),
        fingerprint: fingerprint.clone(),
        mode: opts.mode.to_string(),
        run_id: run_id.to_owned(),
        started_at: now_rfc3339(),
        updated_at: now_rfc3339(),
        last_key: None,
        counters: Counters::default(),
        done: false,
        last_pass_total,
    };
    let mut checkpoint = match previous {
        Some(c) if c.fingerprint != fingerprint => {
            report.restart_reason = Some(format!(
                "the checkpoint was made for another configuration (mode {}, or the buckets, prefixes, shard or mirror setting changed); starting over",
                c.mode
            ));
            fresh(None)
        }
        Some(c) if c.done => fresh(Some(c.counters.scanned)),
        Some(mut c) => {
            report.resumed_after = c.last_key.clone();
            c.run_id = run_id.to_owned();
            c
        }
        None => fresh(None),
    };
    let after = match (&checkpoint.last_key, &scope.lower) {
        (Some(k), _) => Some(k.clone()),
        (None, lower) => lower.clone(),
    };
    let range = Range { prefix: scope.prefix.clone(), after, until: scope.upper.clone() };
    let page_size = r.config.backfill.page_size;
    let mut sources = Lister::start(engine.source.clone(), r.config.source.name.clone(), range.clone(), page_size);
    let mut replicas = Lister::start(engine.dest.clone(), rule.destination.name.clone(), range, page_size);
    let mut replica_buffer: Vec<Listed> = Vec::new();
    let mut replicas_done = false;
    let mut slowest_page = Duration::ZERO;
    let mut pages = 0u64;

    // Source pages, then what is left of the destination (extra keys): each page
    // acted on, checkpointed, and the next one begun only if it can end in time.
    let mut source_done = false;
    loop {
        if lost.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Storage {
                op: "holding the lease of",
                bucket: rule.destination.name.clone(),
                key: store.checkpoint_key(),
                fault: crate::error::Fault::Transient,
                code: Some("LeaseLost".into()),
                detail: "another run took this scope's lease; this run stopped after its last checkpoint".into(),
            });
        }
        // Every run does at least one page, so even a tiny budget makes progress.
        if pages > 0 && opts.deadline.is_some_and(|d| Instant::now() + slowest_page + Duration::from_secs(2) > d) {
            tracing::info!(rule = %rule.id, scope = %scope.label, "stopping before the deadline; the next run continues from the checkpoint");
            return Ok(());
        }
        let page_started = Instant::now();
        let page = if source_done { None } else { sources.next().await? };
        let (diffs, last) = match page {
            Some(page) => {
                let last = page.last().map(|l| l.key.clone());
                // Destination entries up to this page's last key.
                while !replicas_done && replica_buffer.last().map(|l| Some(&l.key) <= last.as_ref()).unwrap_or(true) {
                    match replicas.next().await? {
                        Some(more) => replica_buffer.extend(more),
                        None => replicas_done = true,
                    }
                }
                (march(&page, &mut replica_buffer, false), last)
            }
            None => {
                // The source is exhausted: what is left in the destination is extra,
                // a page at a time.
                source_done = true;
                if replica_buffer.is_empty() && !replicas_done {
                    match replicas.next().await? {
                        Some(more) => replica_buffer.extend(more),
                        None => replicas_done = true,
                    }
                }
                if replica_buffer.is_empty() {
                    break;
                }
                let last = replica_buffer.last().map(|l| l.key.clone());
                (march(&[], &mut replica_buffer, true), last)
            }
        };
        let policy =
            Policy::new(opts.mode, opts.dry_run, opts.mirror, rule.action == RuleAction::All, since).deep(opts.deep);
        let page = act(r, engine, diffs, policy).await;
        let counted = page.counters;
        r.record_backfill_failures(rule, &page.failures, opts.dry_run);
        let failures = page.failures.into_iter().map(|(key, e)| format!("{key}: {e}")).collect();
        report.add_shown(failures, page.left_alone);
        report.counters += counted;
        checkpoint.counters += counted;
        checkpoint.last_key = last;
        checkpoint.updated_at = now_rfc3339();
        if !opts.dry_run {
            store.save_checkpoint(&checkpoint).await?;
        }
        slowest_page = slowest_page.max(page_started.elapsed());
        pages += 1;
        progress(opts, rule.id.as_str(), scope, &checkpoint, report.counters, started);
    }

    checkpoint.done = true;
    checkpoint.updated_at = now_rfc3339();
    if !opts.dry_run {
        store.save_checkpoint(&checkpoint).await?;
    }
    report.done = true;
    progress(opts, rule.id.as_str(), scope, &checkpoint, report.counters, started);
    report.remaining_estimate = Some(0);
    Ok(())
}

fn progress(opts: Options<'_>, rule: &str, scope: &Scope, checkpoint: &Checkpoint, run: Counters, started: Instant) {
    if let Some(callback) = opts.progress {
        callback(&progress_of(rule, scope, checkpoint, run, started.elapsed()));
    }
}

/// Where a pass stands after `elapsed` of this run, which counted `run`. The rate
/// is this run's own: a resumed pass's checkpoint also counts earlier runs' keys.
fn progress_of(rule: &str, scope: &Scope, checkpoint: &Checkpoint, run: Counters, elapsed: Duration) -> Progress {
    let c = checkpoint.counters;
    Progress {
        rule: rule.to_owned(),
        scope: scope.label.clone(),
        counters: c,
        run_counters: run,
        elapsed_ms: elapsed.as_millis() as u64,
        rate: rate(run.scanned, elapsed),
        remaining_estimate: if checkpoint.done {
            Some(0)
        } else {
            checkpoint.last_pass_total.map(|t| t.saturating_sub(c.scanned))
        },
        last_key: checkpoint.last_key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_pass_reports_this_runs_rate() {
        let scope = Scope { rule: 0, prefix: String::new(), lower: None, upper: None, label: "*".into() };
        let checkpoint = Checkpoint {
            version: 1,
            rule: "r".into(),
            scope: "*".into(),
            fingerprint: "f".into(),
            mode: "missing".into(),
            run_id: "run".into(),
            started_at: String::new(),
            updated_at: String::new(),
            last_key: Some("k".into()),
            // 9000 keys by earlier runs, 1000 by this one.
            counters: Counters { scanned: 10_000, copied: 10_000, ..Default::default() },
            done: false,
            last_pass_total: Some(20_000),
        };
        let run = Counters { scanned: 1000, copied: 1000, ..Default::default() };
        let p = progress_of("r", &scope, &checkpoint, run, Duration::from_secs(10));
        assert_eq!(p.rate, 100.0, "1000 keys in 10 s, not the pass's 10000");
        assert_eq!(p.counters.scanned, 10_000, "the totals still show the whole pass");
        assert_eq!(p.run_counters.scanned, 1000);
        assert_eq!(p.remaining_estimate, Some(10_000));
    }
}
