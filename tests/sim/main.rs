//! A discrete-event simulation of a first backfill fanned out over many ranges,
//! run with crr's own planner ([`crr::backfill::planner`]) and range decisions
//! ([`crr::backfill::split`]) over a synthetic skewed key space, with simulated
//! request latency, instance bandwidth, per-partition request limits and the
//! platform's timeout and instance limit. docs/SCALE.md holds its figures.
//!
//! `scripts/test` runs 100 million keys in 100 ranges (seconds: a page of 1000 keys
//! is one event); `CRR_SIM_KEYS=1000000000` runs a billion. `CRR_SIM_TABLE=1 cargo test --profile ci -p crr-e2e --test
//! simulation -- --nocapture` prints the whole table (10 M, 100 M, 1 B keys at 1,
//! 10, 100, 1000 ranges, on Function Compute with OSS and on Lambda with S3).

mod keys;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crr::backfill::planner::{plan_with, Planner};
use crr::backfill::split::{looks_ahead, next_step, pieces_for, Next, Outlook, SplitPolicy};
use keys::KeySpace;

/// Keys per listing page (S3 and OSS list at most 1000).
const PAGE: u64 = 1000;
/// Probes a range spends estimating its rest when it looks ahead.
const LOOKAHEAD_PROBES: usize = 16;
/// The size mix: (share of objects, bytes).
const SIZE_MIX: [(f64, f64); 4] = [(0.60, 4096.0), (0.30, 262_144.0), (0.099, 4_194_304.0), (0.001, 268_435_456.0)];

fn mean_object_bytes() -> f64 {
    SIZE_MIX.iter().map(|(share, bytes)| share * bytes).sum()
}

/// A platform and a store, with the limits and prices that matter.
#[derive(Debug, Clone)]
struct Profile {
    name: &'static str,
    /// The longest invocation (Lambda: 900 s; Function Compute: the template's 7200 s).
    timeout: f64,
    /// Instances running at once (Lambda: 1000 per region by default; FC: 100 per region).
    instances: usize,
    /// Start of an invocation: the queue's delay plus a cold start.
    start: f64,
    /// One listing page.
    list_latency: f64,
    /// One small-object copy (GET of the source with a HEAD of the replica, then a PUT).
    copy_latency: f64,
    /// One stream's bandwidth, and one instance's.
    stream_bps: f64,
    instance_bps: f64,
    /// Copies in flight per range (CRR_BACKFILL_CONCURRENCY).
    concurrency: f64,
    /// Writes per second per partition (S3: 3,500 per partitioned prefix), if limited.
    partition_writes: Option<f64>,
    /// Requests per second for the whole account (OSS: 10,000), if limited.
    account_requests: Option<f64>,
    /// Prices in US dollars: per GB-second of a 1 GB instance, per request of each
    /// kind, per GB moved across regions.
    gb_second: f64,
    invoke: f64,
    write_request: f64,
    read_request: f64,
    list_request: f64,
    transfer_gb: f64,
}

fn lambda_s3() -> Profile {
    Profile {
        name: "Lambda + S3",
        timeout: 900.0,
        instances: 1000,
        start: 1.0,
        list_latency: 0.12,
        copy_latency: 0.040,
        stream_bps: 40e6,
        instance_bps: 125e6,
        concurrency: 32.0,
        partition_writes: Some(3500.0),
        account_requests: None,
        gb_second: 0.000_016_666_7,
        invoke: 0.000_000_2,
        write_request: 0.000_005,
        read_request: 0.000_000_4,
        list_request: 0.000_005,
        transfer_gb: 0.02,
    }
}

fn fc_oss() -> Profile {
    Profile {
        name: "Function Compute + OSS",
        timeout: 7200.0,
        instances: 100,
        account_requests: Some(10_000.0),
        partition_writes: None,
        ..lambda_s3()
    }
}

/// Request counts by kind.
#[derive(Debug, Clone, Copy, Default)]
struct Requests {
    source_lists: u64,
    dest_lists: u64,
    copies: u64,
    /// Everything else: planning and look-ahead probes, checkpoints, leases and
    /// claims, invocations, throttled retries.
    probes: u64,
    checkpoints: u64,
    invocation_overhead: u64,
    invokes: u64,
    retries: u64,
}

impl Requests {
    fn overhead(&self) -> u64 {
        self.probes + self.checkpoints + self.invocation_overhead + self.invokes + self.retries
    }
    fn total(&self) -> u64 {
        self.source_lists + self.dest_lists + 3 * self.copies + self.overhead()
    }
}

/// One range as it runs: key ranks `next..end` are left.
struct Range {
    next: u64,
    end: u64,
    expected: u64,
    scanned: u64,
    /// When its current invocation started, and its first.
    invocation_start: f64,
    finished: Option<f64>,
    pages_this_segment: u64,
}

struct Outcome {
    wall: f64,
    finishes: Vec<f64>,
    requests: Requests,
    instance_seconds: f64,
    ranges: usize,
    /// Ranges that turned out to hold no keys.
    empty: usize,
    splits: usize,
    plan_probes: usize,
}

impl Outcome {
    /// (latest - earliest) / latest finishing time of the ranges.
    fn spread(&self) -> f64 {
        let max = self.finishes.iter().cloned().fold(0.0, f64::max);
        let min = self.finishes.iter().cloned().fold(f64::INFINITY, f64::min);
        if max > 0.0 {
            (max - min) / max
        } else {
            0.0
        }
    }

    fn price(&self, p: &Profile, keys: u64) -> f64 {
        let r = &self.requests;
        let gb = keys as f64 * mean_object_bytes() / 1e9;
        self.instance_seconds * p.gb_second
            + r.invokes as f64 * p.invoke
            + (r.source_lists + r.dest_lists + r.probes) as f64 * p.list_request
            + r.copies as f64 * (p.write_request + 2.0 * p.read_request)
            + (r.checkpoints + r.invocation_overhead + r.retries) as f64 * p.write_request
            + gb * p.transfer_gb
    }
}

/// A token bucket as a queue: requests wait until the partition has room.
struct Throttle {
    rate: f64,
    free_at: f64,
}

impl Throttle {
    fn take(&mut self, now: f64, n: f64) -> f64 {
        self.free_at = self.free_at.max(now) + n / self.rate;
        self.free_at
    }
}

fn simulate(space: &KeySpace, p: &Profile, ranges: usize, plan_budget: Option<usize>) -> Outcome {
    let mut requests = Requests::default();
    // The coordinator plans (probes 8 at a time) and invokes every range.
    let budget = plan_budget.unwrap_or_else(|| Planner::budget_for(ranges));
    let mut planner = Planner::new("", None, None, PAGE, budget);
    plan_with(&mut planner, 8, |after| space.list(after, PAGE));
    let plan_probes = planner.probes();
    requests.probes += plan_probes as u64;
    let planned = (plan_probes as f64 / 8.0).ceil() * p.list_latency;
    let pieces = planner.pieces(ranges);
    let rank = |k: &Option<String>, default: u64| k.as_ref().map(|k| space.rank_after(k)).unwrap_or(default);
    let mut all: Vec<Range> = pieces
        .iter()
        .map(|piece| Range {
            next: rank(&piece.lower, 0),
            end: rank(&piece.upper, space.total()),
            expected: piece.expected,
            scanned: 0,
            invocation_start: 0.0,
            finished: None,
            pages_this_segment: 0,
        })
        .collect();
    requests.invokes += all.len() as u64;

    let policy = SplitPolicy::default();
    let per_page = |n: u64| -> (f64, f64) {
        let bytes = n as f64 * mean_object_bytes();
        let streams = n as f64 * (p.copy_latency + mean_object_bytes() / p.stream_bps) / p.concurrency;
        (streams.max(bytes / p.instance_bps).max(p.list_latency), bytes)
    };
    let mut partitions: Vec<Throttle> = (0..space.partitions())
        .map(|_| Throttle { rate: p.partition_writes.unwrap_or(f64::INFINITY), free_at: 0.0 })
        .collect();
    let mut account = Throttle { rate: p.account_requests.unwrap_or(f64::INFINITY), free_at: 0.0 };

    // Events: (time, range); invocations wait for a free instance.
    let mut events: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let at = |t: f64| (t * 1000.0) as u64;
    let mut waiting: VecDeque<usize> = (0..all.len()).collect();
    let mut running = 0usize;
    let (mut instance_seconds, mut splits, mut now) = (0.0, 0usize, planned);
    let start = |i: usize,
                 now: f64,
                 all: &mut Vec<Range>,
                 events: &mut BinaryHeap<Reverse<(u64, usize)>>,
                 req: &mut Requests| {
        all[i].invocation_start = now;
        all[i].pages_this_segment = 0;
        // Claim (put, list), lease (get, put, get), checkpoint (get).
        req.invocation_overhead += 6;
        events.push(Reverse((at(now + p.start), i)));
    };
    while running < p.instances {
        let Some(i) = waiting.pop_front() else { break };
        running += 1;
        start(i, now, &mut all, &mut events, &mut requests);
    }
    while let Some(Reverse((t, i))) = events.pop() {
        now = t as f64 / 1000.0;
        let left = all[i].end.saturating_sub(all[i].next);
        if left == 0 {
            all[i].finished = Some(now);
            instance_seconds += now - all[i].invocation_start;
            running -= 1;
            if let Some(j) = waiting.pop_front() {
                running += 1;
                start(j, now, &mut all, &mut events, &mut requests);
            }
            continue;
        }
        // One page: list it (read ahead), copy it within the partition's and the
        // account's limits, save the checkpoint.
        let n = left.min(PAGE);
        let (work, _) = per_page(n);
        let mut done = now + work;
        if p.partition_writes.is_some() {
            done = done.max(partitions[space.partition(all[i].next)].take(now, n as f64));
        }
        if p.account_requests.is_some() {
            done = done.max(account.take(now, 3.0 * n as f64 + 2.0));
        }
        if done > now + work + 0.5 {
            // Throttled: SlowDown answers, retried with backoff.
            requests.retries += n;
        }
        requests.source_lists += 1;
        if all[i].pages_this_segment == 0 {
            requests.dest_lists += 1; // an empty destination answers one page
        }
        requests.copies += n;
        requests.checkpoints += 1;
        let before = all[i].scanned;
        all[i].next += n;
        all[i].scanned += n;
        all[i].pages_this_segment += 1;

        // Look ahead at the lookouts: estimate the rest, split off what is too much.
        let r = &all[i];
        if r.next < r.end && looks_ahead(r.expected, before, r.scanned) {
            let (from, to) = (space.key(r.next - 1), r.end);
            let upper = (to < space.total()).then(|| space.key(to - 1));
            let mut rest = Planner::new("", Some(from), upper, PAGE, LOOKAHEAD_PROBES);
            plan_with(&mut rest, 8, |after| space.list(after, PAGE));
            requests.probes += rest.probes() as u64;
            let outlook = Outlook { expected: r.expected, scanned: r.scanned, remaining: rest.total() };
            let k = pieces_for(outlook, &policy);
            if k > 1 {
                let cut = rest.pieces(k);
                let share = cut.first().map(|c| c.expected).unwrap_or(0);
                let keep_end = rank(&cut[0].upper, r.end);
                for piece in &cut[1..] {
                    all.push(Range {
                        next: rank(&piece.lower, 0),
                        end: rank(&piece.upper, space.total()),
                        expected: piece.expected,
                        scanned: 0,
                        invocation_start: 0.0,
                        finished: None,
                        pages_this_segment: 0,
                    });
                    requests.invokes += 1;
                    splits += 1;
                    waiting.push_back(all.len() - 1);
                }
                all[i].end = keep_end;
                all[i].expected = all[i].scanned + share;
                while running < p.instances {
                    let Some(j) = waiting.pop_front() else { break };
                    running += 1;
                    start(j, done, &mut all, &mut events, &mut requests);
                }
            }
        }
        // Hand on before the invocation's timeout (15 s kept in hand).
        let left_time = p.timeout - 15.0 - (done - all[i].invocation_start);
        match next_step(
            all[i].next >= all[i].end,
            Some(std::time::Duration::from_secs_f64(left_time.max(0.0))),
            std::time::Duration::from_secs_f64(work),
        ) {
            Next::HandOn => {
                instance_seconds += done - all[i].invocation_start;
                requests.invokes += 1;
                start(i, done, &mut all, &mut events, &mut requests);
            }
            Next::Done | Next::CarryOn => events.push(Reverse((at(done), i))),
        }
    }
    // Finishing times of the ranges that had keys (a range cut where there are
    // none ends at once).
    let finishes: Vec<f64> = all.iter().filter(|r| r.scanned > 0).filter_map(|r| r.finished).collect();
    let empty = all.iter().filter(|r| r.scanned == 0).count();
    assert!(all.iter().all(|r| r.finished.is_some()), "every range finished");
    Outcome {
        wall: finishes.iter().cloned().fold(0.0, f64::max),
        finishes,
        requests,
        instance_seconds,
        ranges: all.len(),
        empty,
        splits,
        plan_probes,
    }
}

fn hours(s: f64) -> String {
    if s >= 86_400.0 * 2.0 {
        format!("{:.1} d", s / 86_400.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn row(p: &Profile, keys: u64, ranges: usize, o: &Outcome) -> String {
    let r = &o.requests;
    format!(
        "| {} | {} M | {ranges} | {} | {:.1} M | {:.1} M | {:.3} M ({:.2}%) | ${:.0} | {:.1}% | {} |",
        p.name,
        keys / 1_000_000,
        hours(o.wall),
        r.total() as f64 / 1e6,
        (r.source_lists + r.dest_lists) as f64 / 1e6,
        r.overhead() as f64 / 1e6,
        r.overhead() as f64 / r.total() as f64 * 100.0,
        o.price(p, keys),
        o.spread() * 100.0,
        o.splits
    )
}

#[test]
fn a_skewed_bucket_fanned_out_copies_every_key_once_with_bounded_overhead() {
    // CI size by default (seconds); CRR_SIM_KEYS=1000000000 for a billion keys.
    let keys = std::env::var("CRR_SIM_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000_000u64);
    let space = KeySpace::skewed(keys);
    for p in [lambda_s3(), fc_oss()] {
        let o = simulate(&space, &p, 100, None);
        eprintln!("{} ({} empty ranges)", row(&p, keys, 100, &o), o.empty);
        let r = &o.requests;
        // Every key copied exactly once, over one listing of the source: a range's
        // last page may be short, so at most one page more per range.
        assert_eq!(r.copies, space.total(), "{}", p.name);
        let pages = space.total().div_ceil(PAGE);
        assert!(
            (pages..=pages + o.ranges as u64).contains(&r.source_lists),
            "{}: {} source pages for {pages} pages of keys in {} ranges",
            p.name,
            r.source_lists,
            o.ranges
        );
        // The rest is bounded: one checkpoint per page, a few requests per invocation,
        // the planning and look-ahead probes, and throttled retries.
        let invocations = r.invokes;
        assert!(r.checkpoints <= r.source_lists);
        assert!(r.invocation_overhead <= 6 * invocations);
        assert!(r.probes <= (o.plan_probes + LOOKAHEAD_PROBES * 3 * o.ranges) as u64);
        assert!(r.overhead() - r.retries <= r.source_lists + 7 * invocations + r.probes, "{}: overhead {r:?}", p.name);
        assert!(
            (r.overhead() - r.retries) as f64 <= 0.01 * r.total() as f64,
            "{}: overhead past retries is under 1% of the requests: {r:?}",
            p.name
        );
        // The spread of the ranges' finishing times is reported (docs/SCALE.md): the
        // planner's estimates decide it.
        assert_eq!(o.finishes.len() + o.empty, o.ranges, "{}", p.name);
    }
}

#[test]
fn the_scale_table() {
    if std::env::var("CRR_SIM_TABLE").is_err() {
        eprintln!("set CRR_SIM_TABLE=1 for the whole table (minutes)");
        return;
    }
    println!(
        "| platform | keys | ranges | wall time | requests | list pages | overhead | price | finish spread | splits |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for p in [fc_oss(), lambda_s3()] {
        for keys in [10_000_000u64, 100_000_000, 1_000_000_000] {
            let space = KeySpace::skewed(keys);
            for ranges in [1usize, 10, 100, 1000] {
                let o = simulate(&space, &p, ranges, None);
                println!("{}", row(&p, keys, ranges, &o));
            }
        }
    }
}
