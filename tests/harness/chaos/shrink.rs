//! Shrinking a failing chaos history: first to the operations on the keys that
//! went wrong, then by dropping chunks of it (delta debugging), keeping each
//! smaller history that still fails. Runs are real and concurrent, so a history
//! may fail one time and not the next: the shortest one that failed is reported,
//! within a budget of runs and time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::history::Op;
use super::verdict::Verdict;
use super::{run, Config};

const MAX_RUNS: usize = 12;
const MAX_TIME: Duration = Duration::from_secs(240);

pub async fn shrink(config: &Config, history: &[Op], failed: &Verdict) -> Vec<Op> {
    let started = Instant::now();
    let mut runs = 0;
    let mut best: Vec<Op> = history.to_vec();
    let fails = |candidate: Vec<Op>| async move {
        let out = run(config, &candidate).await;
        (!out.verdict.ok(), candidate)
    };

    let keys: BTreeSet<usize> = failed.failing_keys.clone();
    if !keys.is_empty() {
        let only: Vec<Op> = history.iter().filter(|op| keys.contains(&op.key())).cloned().collect();
        if only.len() < best.len() {
            runs += 1;
            let (failed, candidate) = fails(only).await;
            if failed {
                best = candidate;
            }
        }
    }

    let mut chunks = 2;
    while best.len() > 1 && runs < MAX_RUNS && started.elapsed() < MAX_TIME {
        let size = best.len().div_ceil(chunks);
        let mut shrunk = false;
        for start in (0..best.len()).step_by(size) {
            if runs >= MAX_RUNS || started.elapsed() >= MAX_TIME {
                break;
            }
            let candidate: Vec<Op> = best
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < start || *i >= start + size)
                .map(|(_, op)| op.clone())
                .collect();
            runs += 1;
            let (failed, candidate) = fails(candidate).await;
            if failed {
                best = candidate;
                chunks = (chunks - 1).max(2);
                shrunk = true;
                break;
            }
        }
        if !shrunk {
            if chunks >= best.len() {
                break;
            }
            chunks = (chunks * 2).min(best.len());
        }
    }
    best
}
