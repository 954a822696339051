//! `crr backfill`: the backfill engine from a terminal, with a progress line.
//!
//! It reads the functions' configuration (`CRR_*` variables or `CRR_CONFIG`) and acts
//! with the function's own identity from the environment, assuming the replication
//! role exactly as the functions do (so does `crr status`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use crr::backfill::{self, Counters, Mode, Progress, Request, ShardSpec};
use crr::{Invocation, Replicator};

use crr::lock::lock;

#[derive(Args, Debug, Clone)]
pub struct BackfillArgs {
    /// Only this rule (by id); default: every rule.
    #[arg(long)]
    pub rule: Option<String>,
    /// Only keys under this prefix (within the rule's prefixes).
    #[arg(long)]
    pub prefix: Option<String>,
    /// missing: copy what the destination lacks (never overwrite); changed: also what
    /// differs in size or ETag; verify: compare and report only.
    #[arg(long, default_value = "missing", value_parser = parse_mode)]
    pub mode: Mode,
    /// Count and report, write nothing (no copies, no checkpoint, no lease).
    #[arg(long)]
    pub dry_run: bool,
    /// Stop cleanly after this many seconds; the next run continues from the checkpoint.
    #[arg(long, value_name = "SECONDS")]
    pub time_budget: Option<u64>,
    /// Also delete replicas whose source is gone (rules with action ALL, crr's replicas only).
    #[arg(long)]
    pub mirror: bool,
    /// Also compare headers, metadata and tags of objects whose size and ETag agree,
    /// and bring them in line (a HEAD of each side per object).
    #[arg(long)]
    pub deep: bool,
    /// Split each scope into this many key ranges run in parallel.
    #[arg(long)]
    pub shards: Option<u32>,
    /// Run only this shard, "INDEX/COUNT".
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
    /// Start over instead of resuming from the checkpoint.
    #[arg(long)]
    pub restart: bool,
    /// Print the report as JSON (as the backfill function returns it).
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s:?} is not a mode; expected missing, changed or verify"))
}

fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| e.to_string())
}

impl BackfillArgs {
    pub fn request(&self) -> Request {
        Request {
            rule: self.rule.clone(),
            prefix: self.prefix.clone(),
            mode: self.mode,
            dry_run: self.dry_run,
            time_budget_seconds: self.time_budget,
            mirror: self.mirror,
            deep: self.deep,
            shards: self.shards,
            shard: self.shard,
            restart: self.restart,
        }
    }
}

/// The functions' configuration from the environment, or the reason it is unusable.
pub(crate) fn replicator(command: &str) -> Option<Replicator> {
    Replicator::from_env().map_err(|e| eprintln!("{command}: {e}")).ok()
}

/// The invocation the operator's tool acts in: its own request id, no deadline.
pub(crate) fn invocation() -> Invocation {
    let mut invocation = Invocation::new(format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    invocation.function_name = Some("crr-cli".into());
    invocation
}

/// Draws progress on stderr: a live line on a terminal, a line every few seconds otherwise.
struct Display {
    tty: bool,
    started: Instant,
    scopes: Mutex<Scopes>,
}

/// Each scope's latest progress, and when a line was last drawn.
#[derive(Default)]
struct Scopes {
    latest: BTreeMap<String, Progress>,
    drawn_at: Option<Instant>,
}

impl Display {
    fn new() -> Self {
        Display { tty: std::io::stderr().is_terminal(), started: Instant::now(), scopes: Mutex::new(Scopes::default()) }
    }

    fn update(&self, p: &Progress) {
        let mut state = lock(&self.scopes);
        state.latest.insert(format!("{}\u{0}{}", p.rule, p.scope), p.clone());
        let every = if self.tty { Duration::from_millis(100) } else { Duration::from_secs(2) };
        let finished = p.remaining_estimate == Some(0);
        if state.drawn_at.is_some_and(|t| t.elapsed() < every) && !finished {
            return;
        }
        state.drawn_at = Some(Instant::now());
        let line = line(&state.latest, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// The progress line for every scope's latest progress, `elapsed` into this run. The
/// rate and ETA come from what this run did: a resumed pass's totals include earlier runs.
fn line(scopes: &BTreeMap<String, Progress>, elapsed: Duration) -> String {
    let mut c = Counters::default();
    let mut scanned_now = 0;
    let mut left: Option<u64> = Some(0);
    for p in scopes.values() {
        c += p.counters;
        scanned_now += p.run_counters.scanned;
        left = match (left, p.remaining_estimate) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    let rate = scanned_now as f64 / elapsed.as_secs_f64().max(0.001);
    let bar = match left {
        Some(left) if c.scanned + left > 0 => {
            let done = c.scanned as f64 / (c.scanned + left) as f64;
            let filled = (done * 24.0).round() as usize;
            let eta = if rate > 0.0 { format!(" eta {}", human_secs(left as f64 / rate)) } else { String::new() };
            format!("[{}{}] {:>3.0}%{eta} ", "#".repeat(filled), "-".repeat(24 - filled.min(24)), done * 100.0)
        }
        _ => String::new(),
    };
    format!("{bar}{}, {rate:.0} keys/s", counts(&c))
}

/// The counters an operator reads first.
pub(crate) fn counts(c: &Counters) -> String {
    format!(
        "scanned {}, copied {} ({}), identical {}, different {}, missing {}, failed {}",
        c.scanned,
        c.copied,
        human_bytes(c.bytes),
        c.identical,
        c.different,
        c.missing,
        c.failed
    )
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub(crate) fn human_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `crr backfill`: exit 0 when every scope reached its end, 2 when the time budget
/// ran out first (run again to continue), 1 on failures or bad configuration.
pub async fn run(args: BackfillArgs) -> i32 {
    let Some(replicator) = replicator("crr backfill") else { return 1 };
    let display = Display::new();
    let show = |p: &Progress| display.update(p);
    let progress: Option<&(dyn Fn(&Progress) + Sync)> = if args.quiet || args.json { None } else { Some(&show) };
    let result = backfill::run(&replicator, &args.request(), &invocation(), progress).await;
    if progress.is_some() {
        display.finish();
    }
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                for s in &report.scopes {
                    let c = s.counters;
                    let state = match (&s.skipped, s.done) {
                        (Some(why), _) => format!("skipped: {why}"),
                        (None, true) => "done".into(),
                        (None, false) => "stopped at the time budget; run again to continue".into(),
                    };
                    let dry = if s.dry_run { " (dry run: nothing written)" } else { "" };
                    let kept = if c.left_alone > 0 { format!(", left alone {}", c.left_alone) } else { String::new() };
                    println!(
                        "{} {} [{}]{dry}: {}, extra {}, deleted {}{kept} in {:.1} s: {state}",
                        s.rule,
                        s.scope,
                        s.mode,
                        counts(&c),
                        c.extra,
                        c.deleted,
                        s.elapsed_ms as f64 / 1000.0
                    );
                    if let Some(why) = &s.mirror_off {
                        println!("  mirror: {why}");
                    }
                    for kept in &s.left_alone_keys {
                        println!("  left alone: {kept}");
                    }
                    if let Some(k) = &s.resumed_after {
                        println!("  resumed after {k:?}");
                    }
                    if let Some(why) = &s.restart_reason {
                        println!("  started over: {why}");
                    }
                    if s.waited_for_lease_ms > 500 {
                        println!("  waited {:.1} s for another run to finish", s.waited_for_lease_ms as f64 / 1000.0);
                    }
                }
            }
            if report.done {
                0
            } else {
                2
            }
        }
        Err(e) => {
            eprintln!("crr backfill: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_shards_parse_with_clear_errors() {
        assert_eq!(parse_mode("changed").unwrap(), Mode::Changed);
        assert!(parse_mode("all").unwrap_err().contains("missing, changed or verify"));
        assert_eq!(parse_shard("1/4").unwrap(), ShardSpec { index: 1, count: 4 });
        assert!(parse_shard("4/4").unwrap_err().contains("INDEX/COUNT"));
    }

    #[test]
    fn a_resumed_pass_shows_this_runs_rate_and_eta() {
        // 9000 keys were scanned by earlier runs; this run scanned 1000 in 10 s.
        let p = Progress {
            rule: "r".into(),
            scope: "*".into(),
            counters: Counters { scanned: 10_000, ..Default::default() },
            run_counters: Counters { scanned: 1000, ..Default::default() },
            elapsed_ms: 10_000,
            rate: 100.0,
            remaining_estimate: Some(10_000),
            last_key: None,
        };
        let scopes = BTreeMap::from([("r\u{0}*".to_owned(), p)]);
        let shown = line(&scopes, Duration::from_secs(10));
        assert!(shown.contains(" 50% eta 1m40s ") && shown.ends_with(", 100 keys/s"), "{shown}");
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(100 * 1024 * 1024), "100.0 MiB");
        assert_eq!(human_secs(75.0), "1m15s");
        assert_eq!(human_secs(3700.0), "1h01m");
    }
}
