//! The chaos convergence test, model-based and seeded. A history of puts,
//! overwrites, multipart uploads, deletes, copies of metadata and tag changes
//! ([`history`]) runs on the source ([`user`]) while the functions replicate it:
//! every event is delivered late, some twice, some never ([`delivery`]); about one
//! request in twenty meets a fault at the proxy (5xx, SlowDown, a reset before or
//! after the server acted, latency, a body cut short); function instances are
//! killed with SIGKILL while they work ([`fleet`]); backfills run, and are killed,
//! during the traffic. Then one backfill pass, and the destination is compared
//! with the model ([`verdict`]). A failing run is shrunk to the shortest history
//! that still fails ([`shrink`]).

pub mod delivery;
pub mod fleet;
pub mod history;
pub mod shrink;
pub mod user;
pub mod verdict;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use delivery::{Courier, Event, Weather};
use fleet::Group;
use history::{key_name, Mix, Op};
use user::{Model, User};
use verdict::Verdict;

use crate::fast::Fast;
use crate::{FaultProxy, RandomFaults};

/// Which rules a run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One rule, action ALL: the destination must equal the source.
    All,
    /// One rule, action PUT: every source object has an equal replica.
    Put,
    /// A→B and B→A, both two-way: both sides hold the last write of every key.
    TwoWay,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        match text.to_ascii_lowercase().as_str() {
            "all" => Some(Kind::All),
            "put" => Some(Kind::Put),
            "two-way" | "twoway" => Some(Kind::TwoWay),
            _ => None,
        }
    }

    fn mix(self) -> Mix {
        match self {
            Kind::TwoWay => Mix { sides: 2, deletes_and_tags: false, multipart: true },
            _ => Mix { sides: 1, deletes_and_tags: true, multipart: true },
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::All => "ALL rule",
            Kind::Put => "PUT rule",
            Kind::TwoWay => "two-way pair",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub kind: Kind,
    pub seed: u64,
    pub ops: usize,
    pub keys: usize,
    /// The share of requests through the proxy that meet a fault.
    pub fault_rate: f64,
    pub weather: Weather,
    /// The longest pause between two operations of the user.
    pub pace: Duration,
    /// The mean time between kills of a busy instance.
    pub kill_every: Duration,
    /// The mean time between backfill runs during the traffic.
    pub backfill_every: Duration,
}

impl Config {
    pub fn new(kind: Kind, seed: u64, ops: usize) -> Config {
        Config {
            kind,
            seed,
            ops,
            keys: (ops / 8).clamp(6, 400),
            fault_rate: 0.05,
            weather: Weather {
                drop_rate: 0.02,
                duplicate_rate: 0.1,
                max_delay: Duration::from_millis(800),
                retries: 3,
            },
            pace: Duration::from_millis(40),
            kill_every: Duration::from_millis(1500),
            backfill_every: Duration::from_secs(4),
        }
    }

    pub fn history(&self) -> Vec<Op> {
        history::generate(self.seed, self.ops, self.keys, self.kind.mix())
    }
}

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub operations: usize,
    pub faults: usize,
    pub duplicates: usize,
    pub reorders: usize,
    pub drops: usize,
    pub kills: usize,
    pub lost: usize,
    pub stale: usize,
    pub resurrected: usize,
    pub secs: f64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operations {}, faults injected {}, duplicates {}, reorders {}, drops {}, kills {}, lost {}, stale {}, resurrected {}",
            self.operations,
            self.faults,
            self.duplicates,
            self.reorders,
            self.drops,
            self.kills,
            self.lost,
            self.stale,
            self.resurrected
        )
    }
}

pub struct Run {
    pub figures: Figures,
    pub verdict: Verdict,
}

/// One rule of a run: its source and destination side.
#[derive(Clone, Copy)]
struct Rule {
    from: usize,
    to: usize,
}

/// Runs `history` under `config`'s weather and faults, then the final pass and the verdict.
pub async fn run(config: &Config, history: &[Op]) -> Run {
    let started = Instant::now();
    let f = Fast::new();
    // Source and destination, or the two sides of a pair.
    let mut buckets = Vec::with_capacity(2);
    for side in ["chaos-a", "chaos-b"] {
        buckets.push(f.bucket(side).await);
    }
    let rules: Vec<Rule> = match config.kind {
        Kind::TwoWay => vec![Rule { from: 0, to: 1 }, Rule { from: 1, to: 0 }],
        _ => vec![Rule { from: 0, to: 1 }],
    };
    let proxy = FaultProxy::start(&f.url, Vec::new()).await;
    proxy.forget_requests();
    proxy.set_random(Some(RandomFaults::new(config.seed ^ 0xFA17, config.fault_rate)));
    let settings = rule_settings(config.kind, &proxy.base);
    let env = |rule: Rule, extra: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(extra);
        f.env(&buckets[rule.from], &buckets[rule.to], &all)
    };

    // Per rule: two object-created instances (one streams every copy, one lets the
    // server copy when it can) and one object-deleted instance.
    let mut groups = Vec::new();
    for &rule in &rules {
        let created = vec![env(rule, &[("CRR_COPY_MODE", "stream")]), env(rule, &[("CRR_COPY_MODE", "auto")])];
        groups.push(Arc::new(Group::start("object-created", created).await));
        groups.push(Arc::new(Group::start("object-deleted", vec![env(rule, &[])]).await));
    }
    let courier = Courier::new(config.seed ^ 0xC0, config.weather, groups.clone(), f.cloud.function.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = tokio::spawn(kill_busy_instances(config.clone(), groups.clone(), stop.clone(), kills.clone()));
    let backfills = {
        let jobs: Vec<BackfillJob> = rules
            .iter()
            .map(|&r| BackfillJob {
                src: buckets[r.from].clone(),
                dst: buckets[r.to].clone(),
                env: env(r, &[("CRR_BACKFILL_LEASE_SECONDS", "5")]),
            })
            .collect();
        tokio::spawn(backfill_during_traffic(config.clone(), jobs, stop.clone(), kills.clone()))
    };

    // The user's history, with the events the source sends for it.
    let user = User { s3: f.s3.clone(), buckets: buckets.clone(), two_way: config.kind == Kind::TwoWay };
    let mut model = Model::default();
    let mut pace = fastrand::Rng::with_seed(config.seed ^ 0x9ACE);
    for (index, op) in history.iter().enumerate() {
        if let Some(record) = user.apply(op, &mut model).await {
            let rule = rules.iter().position(|r| r.from == op.side()).expect("a rule from every side");
            let route =
                rule * 2 + usize::from(record["eventName"].as_str().is_some_and(|n| n.starts_with("ObjectRemoved")));
            courier.send(Event { index, key: key_name(op.key()), route, record });
        }
        tokio::time::sleep(Duration::from_millis(pace.u64(0..=config.pace.as_millis() as u64))).await;
    }
    courier.drain().await;
    stop.store(true, Ordering::SeqCst);
    let _ = killer.await;
    let _ = backfills.await;
    let faults = proxy.injected();
    proxy.set_random(None);

    // One backfill pass per rule, then the verdict. A deep pass: a tag or metadata
    // change whose event was lost leaves size and ETag alone, and only a deep pass
    // compares the rest (README, Backfill).
    let mut verdict = Verdict::default();
    for &rule in &rules {
        let mut args = vec!["--mode", "changed", "--restart", "--deep"];
        if config.kind == Kind::All {
            args.push("--mirror");
        }
        let final_env = env(rule, &[("CRR_ABANDONED_UPLOAD_SECONDS", "0")]);
        let final_env: Vec<(&str, &str)> = final_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, report) = f.backfill(&buckets[rule.from], &buckets[rule.to], &args, &final_env).await;
        if code != Some(0) || report["done"] != true {
            verdict.other += 1;
            verdict.problems.push(format!("the final backfill pass did not finish cleanly (exit {code:?}): {report}"));
        }
    }
    let found = match config.kind {
        Kind::TwoWay => verdict::two_way(&f.s3, &buckets, &model).await,
        kind => verdict::one_way(&f.s3, &buckets[0], &buckets[1], &model, kind == Kind::All).await,
    };
    merge(&mut verdict, found);
    for &rule in &rules {
        let left = verdict::incomplete_uploads(&f.s3, &buckets[rule.to]).await;
        if !left.is_empty() {
            verdict.other += 1;
            verdict.problems.push(format!(
                "{} incomplete multipart uploads remain in {}: {left:?}",
                left.len(),
                buckets[rule.to]
            ));
        }
    }
    let delivery = courier.counts();
    let figures = Figures {
        operations: history.len(),
        faults,
        duplicates: delivery.duplicates,
        reorders: delivery.reorders,
        drops: delivery.drops,
        kills: kills.load(Ordering::SeqCst),
        lost: verdict.lost,
        stale: verdict.stale,
        resurrected: verdict.resurrected,
        secs: started.elapsed().as_secs_f64(),
    };
    Run { figures, verdict }
}

fn merge(into: &mut Verdict, found: Verdict) {
    into.lost += found.lost;
    into.stale += found.stale;
    into.resurrected += found.resurrected;
    into.other += found.other;
    into.problems.extend(found.problems);
    into.failing_keys.extend(found.failing_keys);
}

/// Every rule's settings: the proxy in front of both buckets, the action, two-way.
fn rule_settings(kind: Kind, proxy: &str) -> Vec<(&'static str, String)> {
    let mut s = vec![
        ("CRR_SOURCE_ENDPOINT", proxy.to_owned()),
        ("CRR_DEST_ENDPOINT", proxy.to_owned()),
        ("CRR_ACTION", if kind == Kind::All { "ALL" } else { "PUT" }.to_owned()),
        ("RUST_LOG", "error".to_owned()),
    ];
    if kind == Kind::TwoWay {
        s.push(("CRR_TWO_WAY", "true".to_owned()));
    }
    s
}

/// Kills a busy instance now and then (SIGKILL), until `stop`.
async fn kill_busy_instances(config: Config, groups: Vec<Arc<Group>>, stop: Arc<AtomicBool>, kills: Arc<AtomicUsize>) {
    let mut rng = fastrand::Rng::with_seed(config.seed ^ 0x4111);
    let mean = config.kill_every.as_millis() as u64;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.u64(mean / 2..=mean * 3 / 2))).await;
        let group = &groups[rng.usize(0..groups.len())];
        if group.kill_a_busy_one(&mut rng).await {
            kills.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One rule's backfill: its buckets and the functions' environment.
struct BackfillJob {
    src: String,
    dst: String,
    env: Vec<(String, String)>,
}

/// Runs backfills now and then while the traffic goes on, a few of them killed
/// (SIGKILL) part way, until `stop`.
async fn backfill_during_traffic(
    config: Config,
    jobs: Vec<BackfillJob>,
    stop: Arc<AtomicBool>,
    kills: Arc<AtomicUsize>,
) {
    let mut rng = fastrand::Rng::with_seed(config.seed ^ 0xBAC);
    let mean = config.backfill_every.as_millis() as u64;
    let f = Fast::new();
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.u64(mean / 2..=mean * 3 / 2))).await;
        let BackfillJob { src, dst, env } = &jobs[rng.usize(0..jobs.len())];
        let mut args = vec!["--time-budget", "3"];
        if rng.bool() {
            args.extend(["--mode", "changed"]);
        }
        if config.kind == Kind::All && rng.bool() {
            args.push("--mirror");
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut child = f.backfill_cli(src, dst, &args, &env);
        let kill_after = rng.f64() < 0.3;
        let deadline = Instant::now() + Duration::from_millis(if kill_after { rng.u64(200..2500) } else { 30_000 });
        loop {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                if kill_after {
                    kills.fetch_add(1, Ordering::SeqCst);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs `config`'s history; on success the figures line, on failure a report with
/// the seed, the problems and the shortest history that still failed.
pub async fn check(config: &Config) -> Result<String, String> {
    let history = config.history();
    let run = run(config, &history).await;
    let line = format!("chaos {} seed {}: {} ({:.1} s)", config.kind, config.seed, run.figures, run.figures.secs);
    if run.verdict.ok() {
        return Ok(line);
    }
    let shortest = shrink::shrink(config, &history, &run.verdict).await;
    Err(format!(
        "{line}\nFAILED with seed {seed} ({kind}); rerun: scripts/chaos --kind {kind_arg} --ops {ops} --seed {seed}\n{problems}\nshortest failing history ({n} of {total} operations):\n{ops_text}",
        seed = config.seed,
        kind = config.kind,
        kind_arg = match config.kind {
            Kind::All => "all",
            Kind::Put => "put",
            Kind::TwoWay => "two-way",
        },
        ops = config.ops,
        problems = run.verdict.problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"),
        n = shortest.len(),
        total = history.len(),
        ops_text = shortest.iter().map(|op| format!("  {op}")).collect::<Vec<_>>().join("\n"),
    ))
}
