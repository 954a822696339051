//! Convergence of the backfill under concurrency: a versioned source's deletes and
//! roll-backs as the event path treats them, a replica that vanishes between the
//! listing and its check, the pass over the destination's extra keys within the
//! time budget, and runs killed at random points that resume where they stopped.

use std::time::{Duration, Instant};

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use crr_e2e::fast::Fast;
use crr_e2e::*;
use serde_json::Value;

fn counts(report: &Value, names: &[&str]) -> Vec<u64> {
    names.iter().map(|n| report["totals"][*n].as_u64().unwrap_or(u64::MAX)).collect()
}

/// Runs `crr backfill --json ARGS` against the moto setup, as an operator with the
/// function's own keys would.
fn moto_backfill(setup: &Setup, args: &[&str], extra: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut env = setup.function_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
    env.push(("AWS_REGION".into(), setup.region.clone()));
    let out = clean_command("crr", &env).arg("backfill").arg("--json").args(args).output().expect("run crr backfill");
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_and_changed_backfills_never_propagate_a_version_delete() {
    let setup = Setup::provision("bfversions");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    src.put_bucket_versioning().bucket(&setup.src_bucket).versioning_configuration(enabled).send().await.unwrap();
    let bucket = setup.src_bucket.as_str();
    for (key, body) in [
        ("gone-for-good.txt", "its only version is deleted for good"),
        ("rolled-back.txt", "version one"),
        ("rolled-back.txt", "version two, deleted for good later"),
        ("deleted.txt", "deleted with a delete marker"),
    ] {
        // Writes are ordered by the second they were made in: each comes a second later.
        if key == "rolled-back.txt" {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        put_bytes(&src, bucket, key, body.as_bytes().to_vec()).await;
    }
    let all = [("CRR_ACTION", "ALL")];
    let (code, report) = moto_backfill(&setup, &[], &all);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(counts(&report, &["copied"]), [3]);

    // Permanent deletes of versions, as someone with access to the source may make
    // them: never propagated by object-deleted, so never by a backfill either.
    for key in ["gone-for-good.txt", "rolled-back.txt"] {
        let version = head(&src, bucket, key).await.unwrap().version_id().unwrap().to_owned();
        src.delete_object().bucket(bucket).key(key).version_id(version).send().await.unwrap();
    }
    // A delete: a delete marker.
    src.delete_object().bucket(bucket).key("deleted.txt").send().await.unwrap();

    let (code, report) = moto_backfill(&setup, &["--mode", "changed", "--mirror", "--restart"], &all);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        get_bytes(&dst, &setup.dst_bucket, "gone-for-good.txt").await.as_deref(),
        Some(&b"its only version is deleted for good"[..]),
        "mirror propagated the permanent deletion of a version: {report}"
    );
    assert_eq!(
        get_bytes(&dst, &setup.dst_bucket, "rolled-back.txt").await.as_deref(),
        Some(&b"version two, deleted for good later"[..]),
        "changed rolled the replica back to an older version: {report}"
    );
    assert!(head(&dst, &setup.dst_bucket, "deleted.txt").await.is_none(), "a delete marker replicates: {report}");
    assert_eq!(counts(&report, &["deleted", "keptNewer", "leftAlone", "failed"]), [1, 1, 1, 0], "{report}");
    let why = report["scopes"][0]["leftAloneKeys"].to_string();
    assert!(why.contains("gone-for-good.txt: its versions were deleted for good"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_backfill_copies_a_replica_deleted_after_the_listing() {
    let f = Fast::new();
    let (src, dst) = (f.bucket("bfhole-src").await, f.bucket("bfhole-dst").await);
    // The same size, other bytes: the listing says "different", and the pass looks
    // at the replica to see whether it recorded the source's ETag.
    f.put(&src, "doc.txt", "the source's bytes").await;
    f.put_replica(&dst, "doc.txt", "an old replica....", &src).await;
    let gate = Gate::default();
    let proxy = FaultProxy::start(
        &f.url,
        vec![Fault {
            method: http::Method::HEAD,
            matches: format!("/{dst}/doc.txt"),
            times: 1,
            answer: Answer::Hold(gate.clone()),
        }],
    )
    .await;
    let through_proxy = [("CRR_DEST_ENDPOINT", proxy.base.as_str())];
    let run = f.backfill(&src, &dst, &[], &through_proxy);
    let test = async {
        // The replica goes between the listing and the look at it.
        gate.arrival(Duration::from_secs(60)).await;
        f.delete(&dst, "doc.txt").await;
        gate.open();
    };
    let ((code, report), ()) = tokio::join!(run, test);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        f.get(&dst, "doc.txt").await.as_deref(),
        Some(&b"the source's bytes"[..]),
        "a missing replica was left missing by a missing-mode pass: {report}"
    );
    assert_eq!(counts(&report, &["missing", "copied", "different"]), [1, 1, 0], "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_over_extra_keys_keeps_the_time_budget_and_checkpoints() {
    let f = Fast::new();
    let (src, dst) = (f.bucket("bfextra-src").await, f.bucket("bfextra-dst").await);
    let kept: Vec<(String, Vec<u8>)> = (0..10).map(|i| (format!("a/{i:02}"), pattern(100, i))).collect();
    f.put_all(&src, kept.clone()).await;
    f.put_all(&dst, kept).await;
    // After the source's last key: 600 replicas whose source is gone.
    let extra = 600u64;
    futures::future::join_all((0..extra).map(|i| {
        let (f, src, dst) = (&f, &src, &dst);
        async move { f.put_replica(dst, &format!("z/{i:04}"), pattern(10, i), src).await }
    }))
    .await;
    let settings = [("CRR_ACTION", "ALL"), ("CRR_BACKFILL_PAGE_SIZE", "50"), ("CRR_BACKFILL_CONCURRENCY", "2")];

    // Every run stops when its budget would not cover another page, also among the
    // extra keys, and saves where it stopped: a run the platform stops at its timeout
    // loses one page at most, never the whole pass over the extra keys.
    let mut runs = Vec::new();
    loop {
        let (code, report) = f.backfill(&src, &dst, &["--mirror", "--time-budget", "1"], &settings).await;
        let done = report["done"] == true;
        assert_eq!(code, Some(if done { 0 } else { 2 }), "{report}");
        let handled = report["totals"]["extra"].as_u64().unwrap();
        assert!(handled <= 50, "run {} went on past its budget over {handled} extra keys: {report}", runs.len() + 1);
        if !done && handled > 0 {
            let checkpoint = f.checkpoint(&dst).await.expect("a checkpoint");
            let last = checkpoint["lastKey"].as_str().unwrap_or_default().to_owned();
            assert!(last.starts_with("z/"), "the checkpoint did not move into the extra keys: {checkpoint}");
        }
        runs.push(report);
        if done {
            break;
        }
        assert!(runs.len() < 40, "no end after 40 runs");
    }
    let deleted: u64 = runs.iter().map(|r| r["totals"]["deleted"].as_u64().unwrap()).sum();
    assert_eq!(deleted, extra, "every extra replica deleted exactly once over {} runs", runs.len());
    assert_eq!(f.listing(&src).await, f.listing(&dst).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_at_random_points_resumes_and_redoes_at_most_one_page() {
    let f = Fast::new();
    let (src, dst) = (f.bucket("bfkill-src").await, f.bucket("bfkill-dst").await);
    let n = 900u64;
    let page = 50u64;
    f.put_all(&src, (0..n).map(|i| (format!("k/{i:04}"), pattern(200 + i as usize % 300, i))).collect()).await;
    let settings =
        [("CRR_BACKFILL_PAGE_SIZE", "50"), ("CRR_BACKFILL_CONCURRENCY", "2"), ("CRR_BACKFILL_LEASE_SECONDS", "5")];
    let seed: u64 = std::env::var("CRR_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    let mut rng = fastrand::Rng::with_seed(seed);
    eprintln!("kill points from seed {seed} (CRR_KILL_SEED={seed} repeats them)");

    // Killed with SIGKILL at random moments, up to five times, then left to finish.
    let mut copied_before = 0u64;
    for kill in 0..5 {
        let mut run = f.backfill_cli(&src, &dst, &[], &settings);
        let wait = Duration::from_millis(rng.u64(300..1500));
        let started = Instant::now();
        while started.elapsed() < wait && run.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if run.try_wait().unwrap().is_some() {
            break;
        }
        run.kill().unwrap();
        run.wait().unwrap();
        let present = f.listing(&dst).await.len() as u64;
        let checkpoint = f.checkpoint(&dst).await;
        let saved = checkpoint.as_ref().map(|c| c["counters"]["copied"].as_u64().unwrap()).unwrap_or(0);
        assert!(
            present >= saved && present - saved <= page,
            "kill {kill} (seed {seed}): {present} replicas, the checkpoint counts {saved}: more than a page beyond it"
        );
        copied_before = present;
    }
    let last = f.backfill_cli(&src, &dst, &[], &settings);
    let out = tokio::task::spawn_blocking(move || last.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["done"], true, "seed {seed}: {report}");
    let redone = report["totals"]["identical"].as_u64().unwrap_or(0);
    assert!(redone <= page, "seed {seed}: the last run found {redone} keys already copied, more than a page");
    assert_eq!(report["totals"]["copied"].as_u64(), Some(n - copied_before), "seed {seed}: {report}");
    assert_eq!(f.listing(&src).await, f.listing(&dst).await, "seed {seed}");
}
