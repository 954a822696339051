//! `crr status`: where replication stands, read from what the functions keep
//! under the destinations' `.crr/` prefix, as the replication role, with the
//! functions' configuration and identity from the environment.
//!
//! * no flag: a few lines per rule ([`text`]);
//! * `--json`: the same as JSON (the page's data: [`crr::status::RuleStatus`]);
//! * `--check`: exit 1 when a rule misses its lag objective, for cron ([`check`]);
//! * `--prometheus`: the figures in Prometheus text format ([`prometheus`]);
//! * `--serve [ADDR]`: a read-only page that updates itself ([`serve`]).

pub mod check;
pub mod prometheus;
pub mod serve;
pub mod text;

use clap::Args;
use crr::status::RuleStatus;

use crate::backfill::{invocation, replicator};

/// Where `--serve` listens unless told: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8088";

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Print JSON instead of text (what the page shows).
    #[arg(long, group = "form")]
    pub json: bool,
    /// Exit 1 when a rule's p99 lag over the last 10 minutes exceeds its lag objective
    /// (CRR_LAG_OBJECTIVE_SECONDS, default 600), 2 when the status cannot be read, else 0.
    #[arg(long, group = "form")]
    pub check: bool,
    /// Print the figures in Prometheus text exposition format.
    #[arg(long, group = "form")]
    pub prometheus: bool,
    /// Serve a read-only status page that updates itself, on ADDR (default 127.0.0.1:8088).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_ADDR, group = "form")]
    pub serve: Option<String>,
}

/// Every rule's status as the environment's credentials see it.
pub async fn read(replicator: &crr::Replicator) -> Vec<RuleStatus> {
    crr::status::status(replicator, &invocation()).await
}

/// `crr status`; returns the exit code.
pub async fn run(args: StatusArgs) -> i32 {
    if let Some(addr) = &args.serve {
        let addr = match serve::parse_addr(addr) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("crr status --serve: {e}");
                return 3;
            }
        };
        let Some(replicator) = replicator("crr status") else { return 1 };
        return match serve::serve(replicator, addr, shutdown_signal()).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("crr status --serve: {e:#}");
                1
            }
        };
    }
    let Some(replicator) = replicator("crr status") else { return if args.check { 2 } else { 1 } };
    let rules = read(&replicator).await;
    if args.check {
        let verdict = check::check(&rules);
        print!("{}", verdict.text);
        return verdict.code;
    }
    if args.json {
        println!("{}", json(&rules));
    } else if args.prometheus {
        print!("{}", prometheus::render(&rules));
    } else {
        print!("{}", text::render(&rules));
    }
    0
}

/// The JSON `--json` prints and the page polls.
pub fn json(rules: &[RuleStatus]) -> String {
    serde_json::to_string_pretty(rules).unwrap_or_else(|_| "[]".into())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
