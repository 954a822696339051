//! The chaos convergence test at the size `scripts/test` runs (about two minutes
//! for the three together): an ALL rule, a PUT rule and a two-way pair, each under
//! a seeded history with lost, late and repeated events, faults at the proxy,
//! killed instances and backfills during the traffic. Each prints its figures; a
//! failure prints the seed and the shortest history it shrank to.
//!
//! `CRR_CHAOS_SEED` and `CRR_CHAOS_OPS` choose the seed and the size;
//! `scripts/chaos --ops 20000 --seed N` runs the long version.

use crr_e2e::chaos::{check, Config, Kind};

/// The size each variant runs at in `scripts/test`.
const CI_OPS: usize = 300;

async fn converges(kind: Kind) {
    let seed = std::env::var("CRR_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000
    });
    let ops = std::env::var("CRR_CHAOS_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(CI_OPS);
    eprintln!("chaos {kind}: seed {seed}, {ops} operations (CRR_CHAOS_SEED={seed} repeats it)");
    match check(&Config::new(kind, seed, ops)).await {
        Ok(line) => println!("{line}"),
        Err(report) => panic!("{report}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_an_all_rule_converges_to_the_source() {
    converges(Kind::All).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_a_put_rule_keeps_an_equal_replica_of_every_object() {
    converges(Kind::Put).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_a_two_way_pair_converges_on_the_last_writes() {
    converges(Kind::TwoWay).await;
}
