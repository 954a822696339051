//! crr-chaos: the chaos convergence test at any size, for `scripts/chaos`.
//!
//!     crr-chaos [--ops N] [--seed N] [--kind all|put|two-way|every]
//!
//! Prints one line of figures per kind; on a failure, the seed, the problems and
//! the shortest history that still failed, and exits 1.

use crr_e2e::chaos::{check, Config, Kind};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ops: usize = arg(&args, "--ops").map(|v| v.parse().expect("--ops takes a number")).unwrap_or(20_000);
    let seed: u64 = arg(&args, "--seed").map(|v| v.parse().expect("--seed takes a number")).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000
    });
    let kinds = match arg(&args, "--kind").as_deref() {
        None | Some("every") => vec![Kind::All, Kind::Put, Kind::TwoWay],
        Some(k) => vec![Kind::parse(k).unwrap_or_else(|| panic!("--kind {k}: expected all, put, two-way or every"))],
    };
    let mut failed = false;
    for kind in kinds {
        eprintln!("chaos {kind}: seed {seed}, {ops} operations");
        match check(&Config::new(kind, seed, ops)).await {
            Ok(line) => println!("{line}"),
            Err(report) => {
                println!("{report}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
