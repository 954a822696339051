//! Backfill end to end: thousands of objects on the local cloud's seaweedfs (fast
//! S3, no authentication) with the replication role's credentials from moto's
//! STS, driven through the backfill function in FC mode and through `crr backfill`.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use crr::config::Endpoint;
use crr_e2e::{clean_command, get_bytes, pattern, Answer, Fault, FaultProxy, Function, Gate, Invoker, Setup};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

/// A source and a destination bucket of their own on seaweedfs.
struct Fast {
    cloud: Setup,
    url: String,
    s3: aws_sdk_s3::Client,
    src: String,
    dst: String,
}

impl Fast {
    async fn new(name: &str) -> Fast {
        let cloud = Setup::default_setup();
        let url = cloud.fast_s3_endpoint().to_owned();
        let endpoint = Endpoint { url: Some(url.clone()), region: cloud.region.clone(), path_style: true };
        let s3 = crr::store::s3_client(
            &crr::store::http_client(),
            &endpoint,
            Arc::new(Credentials::new("any", "any", None, None, "test")),
        );
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let (src, dst) = (format!("bf-{name}-src-{unique}"), format!("bf-{name}-dst-{unique}"));
        for b in [&src, &dst] {
            s3.create_bucket().bucket(b).send().await.unwrap_or_else(|e| panic!("create {b}: {e:?}"));
        }
        Fast { cloud, url, s3, src, dst }
    }

    /// The functions' configuration: buckets on seaweedfs, the role from moto.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("CRR_SOURCE_BUCKET", self.src.as_str()),
            ("CRR_SOURCE_ENDPOINT", &self.url),
            ("CRR_SOURCE_REGION", &self.cloud.region),
            ("CRR_DEST_BUCKET", &self.dst),
            ("CRR_DEST_ENDPOINT", &self.url),
            ("CRR_ROLE_ARN", &self.cloud.role_arn),
            ("CRR_STS_ENDPOINT", &self.cloud.endpoint),
            ("CRR_COPY_MODE", "stream"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// The environment of `crr` run by an operator with the function's identity.
    fn cli_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env(extra);
        env.push(("AWS_ACCESS_KEY_ID".into(), self.cloud.function.id.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), self.cloud.function.secret.clone()));
        env.push(("AWS_REGION".into(), self.cloud.region.clone()));
        env
    }

    async fn put_all(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        stream::iter(objects)
            .for_each_concurrent(32, |(key, body)| async move {
                self.s3
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(body.into())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
            })
            .await;
    }

    /// Every object of `bucket` (crr's own `.crr/` state apart, unless asked): key -> (size, ETag).
    async fn listing(&self, bucket: &str, with_state: bool) -> BTreeMap<String, (i64, String)> {
        let mut out = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
            for o in page.contents() {
                let key = o.key().unwrap_or_default().to_owned();
                if with_state || !key.starts_with(".crr/") {
                    out.insert(key, (o.size().unwrap_or(0), o.e_tag().unwrap_or_default().to_owned()));
                }
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        out
    }

    /// A destination object as crr's replicas carry it (marked with the source bucket
    /// `replica_of` names), or, with `None`, one someone else wrote.
    async fn put_dst(&self, key: &str, body: Vec<u8>, replica_of: Option<&str>) {
        let mut put = self.s3.put_object().bucket(&self.dst).key(key).body(body.into());
        if let Some(source) = replica_of {
            put = put.metadata("crr-replica-of", source);
        }
        put.send().await.unwrap_or_else(|e| panic!("put {}/{key}: {e:?}", self.dst));
    }

    /// crr's own state in the destination: the keys under `.crr/`.
    async fn state_keys(&self) -> Vec<String> {
        self.listing(&self.dst, true).await.into_keys().filter(|k| k.starts_with(".crr/")).collect()
    }

    async fn checkpoint(&self) -> Option<Value> {
        let page = self.s3.list_objects_v2().bucket(&self.dst).prefix(".crr/backfill/").send().await.ok()?;
        let key = page.contents().iter().filter_map(|o| o.key()).find(|k| k.ends_with("/checkpoint.json"))?.to_owned();
        let out = self.s3.get_object().bucket(&self.dst).key(key).send().await.ok()?;
        serde_json::from_slice(&out.body.collect().await.ok()?.into_bytes()).ok()
    }

    fn backfill_cli(&self, args: &[&str], extra: &[(&str, &str)]) -> Child {
        let mut cmd = clean_command("crr", &self.cli_env(extra));
        cmd.arg("backfill").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("start crr backfill")
    }
}

const PREFIXES: [&str; 5] = ["logs/2026/11/", "img/", "deep/a/b/c/d/e/", "ünï/名前/", ""];

/// Objects of mixed sizes under several prefixes.
fn objects(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let size = match i % 10 {
                0 => 0,
                1..=5 => 100 + i % 900,
                6..=8 => 4096 + i % 4096,
                _ => 65_536 + i % 1000,
            };
            (format!("{}obj {i:05}.bin", PREFIXES[i % PREFIXES.len()]), pattern(size, i as u64))
        })
        .collect()
}

fn counters(report: &Value) -> Value {
    report["totals"].clone()
}

fn expect_counts(report: &Value, want: &[(&str, u64)]) {
    let totals = counters(report);
    for (name, n) in want {
        assert_eq!(totals[*name].as_u64(), Some(*n), "{name} in {totals}");
    }
}

async fn invoke(function: &Function, f: &Fast, payload: Value) -> crr_e2e::Reply {
    let headers = [
        ("x-fc-access-key-id", f.cloud.function.id.as_str()),
        ("x-fc-access-key-secret", f.cloud.function.secret.as_str()),
        ("x-fc-function-name", "backfill"),
        ("x-fc-function-timeout", "600"),
    ];
    Invoker::new().post(&format!("{}/invoke", function.base), payload.to_string(), &headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_objects_copy_exactly_what_is_missing_then_what_differs() {
    let f = Fast::new("mix").await;
    let all = objects(5000);
    // 30% already identical in the destination, 10% different (half the same size
    // with other bytes, half another size), 60% missing.
    let mut dst = Vec::new();
    for (i, (key, body)) in all.iter().enumerate() {
        match i % 10 {
            0..=2 => dst.push((key.clone(), body.clone())),
            3 if i % 20 == 3 => dst.push((key.clone(), pattern(body.len(), 999_999 + i as u64))),
            3 => dst.push((key.clone(), pattern(body.len() + 7, 7))),
            _ => {}
        }
    }
    f.put_all(&f.src, all.clone()).await;
    f.put_all(&f.dst, dst).await;
    let before = f.listing(&f.dst, true).await;
    assert_eq!(before.len(), 2000);

    let function = Function::start("backfill", &f.env(&[("CRR_BACKFILL_PAGE_SIZE", "500")]));

    // A payload that is not a request is refused with the expected shape.
    let bad = invoke(&function, &f, json!({"mode": "everything"})).await;
    assert_ne!(bad.status, 200, "{:?}", bad.json);
    let text = bad.json.to_string();
    assert!(text.contains("unknown variant `everything`") && text.contains("\\\"dryRun\\\""), "{text}");

    // Dry run: everything counted, nothing written, not even state.
    let dry = invoke(&function, &f, json!({"mode": "changed", "dryRun": true})).await;
    assert_eq!(dry.status, 200, "{:?}", dry.json);
    expect_counts(
        &dry.json,
        &[("scanned", 5000), ("missing", 3000), ("different", 500), ("identical", 1500), ("copied", 0)],
    );
    assert_eq!(f.listing(&f.dst, true).await, before, "a dry run wrote to the destination");

    // missing: copies exactly the 3000 absent objects, leaves the 500 different ones.
    let started = Instant::now();
    let missing = invoke(&function, &f, json!({"mode": "missing"})).await;
    assert_eq!(missing.status, 200, "{:?}", missing.json);
    assert_eq!(missing.json["done"], true);
    expect_counts(
        &missing.json,
        &[
            ("scanned", 5000),
            ("missing", 3000),
            ("copied", 3000),
            ("identical", 1500),
            ("different", 500),
            ("failed", 0),
        ],
    );
    let copied_bytes: u64 = all.iter().enumerate().filter(|(i, _)| i % 10 >= 4).map(|(_, (_, b))| b.len() as u64).sum();
    assert_eq!(counters(&missing.json)["bytes"].as_u64(), Some(copied_bytes));
    eprintln!("5000 keys, 3000 copies: {:?}", started.elapsed());

    // changed: now only the 500 that differ, and it says why it started a new pass.
    let changed = invoke(&function, &f, json!({"mode": "changed"})).await;
    assert_eq!(changed.status, 200, "{:?}", changed.json);
    expect_counts(&changed.json, &[("scanned", 5000), ("copied", 500), ("identical", 4500), ("different", 500)]);
    let reason = changed.json["scopes"][0]["restartReason"].as_str().unwrap_or_default();
    assert!(reason.contains("another configuration"), "{}", changed.json);

    // The destination now equals the source, byte for byte (ETags are MD5s here).
    let (src, dst) = (f.listing(&f.src, false).await, f.listing(&f.dst, false).await);
    assert_eq!(src, dst);

    // A third pass finds nothing to do. crr's checkpoint and lease live in the
    // destination under .crr/, and are never counted as extra.
    let again = invoke(&function, &f, json!({"mode": "changed"})).await;
    expect_counts(&again.json, &[("scanned", 5000), ("copied", 0), ("identical", 5000), ("extra", 0)]);
    let state = f.state_keys().await;
    assert!(state.iter().any(|k| k.ends_with("/checkpoint.json")), "no checkpoint in {state:?}");
    assert!(state.iter().any(|k| k.ends_with("/lease.json")), "no lease in {state:?}");
    let verify = invoke(&function, &f, json!({"mode": "verify"})).await;
    assert_eq!(verify.status, 200, "{:?}", verify.json);
    expect_counts(
        &verify.json,
        &[("scanned", 5000), ("identical", 5000), ("missing", 0), ("different", 0), ("extra", 0), ("copied", 0)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_mid_way_resumes_redoing_at_most_one_page() {
    let f = Fast::new("kill").await;
    let n = 1200;
    let page = 50u64;
    f.put_all(&f.src, objects(n)).await;
    let settings =
        [("CRR_BACKFILL_PAGE_SIZE", "50"), ("CRR_BACKFILL_CONCURRENCY", "2"), ("CRR_BACKFILL_LEASE_SECONDS", "5")];

    let mut first = f.backfill_cli(&["--json"], &settings);
    let deadline = Instant::now() + Duration::from_secs(60);
    let checkpoint = loop {
        if let Some(c) = f.checkpoint().await {
            if c["counters"]["scanned"].as_u64().unwrap_or(0) >= 300 {
                break c;
            }
        }
        assert!(first.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(Instant::now() < deadline, "no checkpoint within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    // Read the checkpoint as the process left it (it may have saved one more page).
    let checkpoint = f.checkpoint().await.unwrap_or(checkpoint);
    let done = checkpoint["counters"]["scanned"].as_u64().unwrap();
    let copied_in_checkpoint = checkpoint["counters"]["copied"].as_u64().unwrap();
    assert!(!checkpoint["done"].as_bool().unwrap() && done < n as u64, "{checkpoint}");
    let present = f.listing(&f.dst, false).await.len() as u64;
    assert!(
        present >= copied_in_checkpoint && present - copied_in_checkpoint <= page,
        "{present} replicas but the checkpoint counts {copied_in_checkpoint}: more than one page beyond it"
    );

    // The resumed run waits out the dead run's lease, continues after the checkpoint
    // and copies each remaining object once.
    let second = f.backfill_cli(&["--json"], &settings).wait_with_output().unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let report: Value = serde_json::from_slice(&second.stdout).unwrap();
    let scope = &report["scopes"][0];
    assert_eq!(scope["resumedAfter"], checkpoint["lastKey"], "{report}");
    expect_counts(&report, &[("scanned", n as u64 - done), ("copied", n as u64 - present), ("failed", 0)]);
    let redone = report["totals"]["identical"].as_u64().unwrap();
    assert!(redone <= page, "redid {redone} keys, more than a page of {page}");
    assert_eq!(f.listing(&f.src, false).await, f.listing(&f.dst, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_runs_of_one_rule_never_overlap_one_waits() {
    let f = Fast::new("lease").await;
    let n = 1000;
    f.put_all(&f.src, objects(n)).await;
    let settings =
        [("CRR_BACKFILL_PAGE_SIZE", "50"), ("CRR_BACKFILL_CONCURRENCY", "2"), ("CRR_BACKFILL_LEASE_SECONDS", "10")];
    let first = f.backfill_cli(&["--json"], &settings);
    // The second starts once the first holds the lease and has saved progress.
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.checkpoint().await.is_none() {
        assert!(Instant::now() < deadline, "the first run saved no checkpoint within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = f.backfill_cli(&["--json"], &settings);
    let (a, b) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (a, b): (Value, Value) =
        (serde_json::from_slice(&a.stdout).unwrap(), serde_json::from_slice(&b.stdout).unwrap());
    assert!(a["scopes"][0]["waitedForLeaseMs"].as_u64().unwrap() < 1000, "{a}");
    assert!(b["scopes"][0]["waitedForLeaseMs"].as_u64().unwrap() > 0, "the second run did not wait: {b}");
    // Every object copied exactly once, by the first run; the second found them all.
    expect_counts(&a, &[("scanned", n as u64), ("copied", n as u64)]);
    expect_counts(&b, &[("scanned", n as u64), ("copied", 0), ("identical", n as u64)]);
    assert_eq!(f.listing(&f.src, false).await, f.listing(&f.dst, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_shows_backfill_progress_and_the_event_paths_lag() {
    let f = Fast::new("status").await;
    f.put_all(&f.src, objects(300)).await;
    let out = f.backfill_cli(&["--json", "--prefix", "img/"], &[]).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    expect_counts(&report, &[("scanned", 60), ("copied", 60)]);

    // One event through object-created records its lag.
    let created = Function::start("object-created", &f.env(&[]));
    let mut event = crr_e2e::s3_event("ObjectCreated:Put", &f.src, "logs/2026/11/new.bin");
    f.put_all(&f.src, vec![("logs/2026/11/new.bin".into(), pattern(10, 1))]).await;
    let sent = aws_smithy_types::DateTime::from(std::time::SystemTime::now() - Duration::from_millis(1500));
    event["Records"][0]["eventTime"] = sent.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap().into();
    let headers = [
        ("x-fc-access-key-id", f.cloud.function.id.as_str()),
        ("x-fc-access-key-secret", f.cloud.function.secret.as_str()),
    ];
    let reply = Invoker::new().post(&format!("{}/invoke", created.base), event.to_string(), &headers).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    let lag = reply.json["results"][0]["lag_ms"].as_u64().expect("a copy reports its lag");
    assert!((1500..60_000).contains(&lag), "{lag}");

    let status = clean_command("crr", &f.cli_env(&[])).args(["status", "--json"]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let rules: Value = serde_json::from_slice(&status.stdout).unwrap();
    let rule = &rules[0];
    assert_eq!(rule["destination"], f.dst.as_str());
    assert!(rule["lag"]["lastLagMs"].as_u64().unwrap() >= 1500, "{rule}");
    assert_eq!(rule["lag"]["lastKey"], "logs/2026/11/new.bin");
    let scopes = rule["backfill"].as_array().unwrap();
    assert_eq!(scopes.len(), 1, "{rule}");
    assert_eq!(scopes[0]["scope"], "img/*");
    assert_eq!(scopes[0]["checkpoint"]["done"], true);
    assert_eq!(scopes[0]["checkpoint"]["counters"]["copied"], 60);
    assert!(scopes[0]["running"].is_null(), "the lease was released: {rule}");

    // The human form says the same.
    let text = clean_command("crr", &f.cli_env(&[])).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("backfill img/* [missing]: done") && text.contains("lag"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_budget_stops_cleanly_and_the_next_runs_continue_to_the_end() {
    let f = Fast::new("budget").await;
    let n = 600u64;
    f.put_all(&f.src, objects(n as usize)).await;
    let settings = [("CRR_BACKFILL_PAGE_SIZE", "50"), ("CRR_BACKFILL_CONCURRENCY", "1")];
    let mut runs = Vec::new();
    loop {
        let out = f.backfill_cli(&["--json", "--time-budget", "1"], &settings).wait_with_output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let code = out.status.code();
        runs.push(report.clone());
        if report["done"] == true {
            assert_eq!(code, Some(0), "a finished run exits 0");
            break;
        }
        // Stopped by its budget: exit 2, a checkpoint saved after a whole page.
        assert_eq!(code, Some(2), "{report}");
        let checkpoint = f.checkpoint().await.expect("a stopped run leaves a checkpoint");
        assert_eq!(checkpoint["done"], false);
        assert_eq!(checkpoint["counters"]["scanned"].as_u64().unwrap() % 50, 0, "{checkpoint}");
        assert!(runs.len() < 60, "no end after 60 runs");
    }
    assert!(runs.len() >= 2, "the budget never stopped a run: {runs:?}");
    let scanned: u64 = runs.iter().map(|r| r["totals"]["scanned"].as_u64().unwrap()).sum();
    let copied: u64 = runs.iter().map(|r| r["totals"]["copied"].as_u64().unwrap()).sum();
    assert_eq!((scanned, copied), (n, n), "every key scanned and copied exactly once over {} runs", runs.len());
    assert_eq!(f.listing(&f.src, false).await, f.listing(&f.dst, false).await);
}

/// Runs `crr backfill --json` with `args` to its end, off the test's runtime (which
/// may be serving a fault proxy the run goes through); the exit code and the report.
async fn backfill_report(f: &Fast, args: &[&str], extra: &[(&str, &str)]) -> (Option<i32>, Value) {
    let child = f.backfill_cli(&[&["--json"], args].concat(), extra);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_mirror_deletes_only_crrs_own_replicas_and_only_under_all_rules() {
    let f = Fast::new("mirror").await;
    // 40 objects on both sides, 10 only in the source; only in the destination: six
    // replicas crr wrote for this source, one object someone else wrote, and one
    // replica of another bucket.
    let all = objects(50);
    f.put_all(&f.src, all.clone()).await;
    f.put_all(&f.dst, all[..40].to_vec()).await;
    let ours: Vec<String> = (0..6).map(|i| format!("gone/replica {i}.bin")).collect();
    for (i, key) in ours.iter().enumerate() {
        f.put_dst(key, pattern(100 + i, i as u64), Some(&f.src)).await;
    }
    f.put_dst("gone/foreign.bin", b"not a replica".to_vec(), None).await;
    f.put_dst("gone/other.bin", b"a replica of another bucket".to_vec(), Some("some-other-bucket")).await;
    let survivors = ["gone/foreign.bin", "gone/other.bin"];

    // A PUT rule (the default) never deletes, mirror or not, and the report says why.
    let (code, put) = backfill_report(&f, &["--mirror"], &[]).await;
    assert_eq!(code, Some(0), "{put}");
    expect_counts(&put, &[("scanned", 50), ("copied", 10), ("extra", 8), ("deleted", 0), ("failed", 0)]);
    let why = put["scopes"][0]["mirrorOff"].as_str().unwrap_or_default();
    assert!(why.contains("action PUT") && why.contains("deletes nothing"), "{put}");
    let dst = f.listing(&f.dst, false).await;
    for key in ours.iter().map(String::as_str).chain(survivors) {
        assert!(dst.contains_key(key), "{key} was deleted under a PUT rule");
    }

    // An ALL rule deletes exactly crr's replicas of this source; the other two stay
    // and are reported. crr's own state under .crr/ is neither extra nor deleted.
    let (code, all_rule) = backfill_report(&f, &["--mirror"], &[("CRR_ACTION", "ALL")]).await;
    assert_eq!(code, Some(0), "{all_rule}");
    expect_counts(
        &all_rule,
        &[
            ("scanned", 50),
            ("identical", 50),
            ("copied", 0),
            ("extra", 8),
            ("deleted", 6),
            ("leftAlone", 2),
            ("failed", 0),
        ],
    );
    assert!(all_rule["scopes"][0]["mirrorOff"].is_null(), "{all_rule}");
    let reported = all_rule["scopes"][0]["leftAloneKeys"].to_string();
    assert!(
        reported.contains("gone/foreign.bin: not written by crr")
            && reported.contains("gone/other.bin: a replica of some-other-bucket"),
        "{reported}"
    );
    let dst = f.listing(&f.dst, false).await;
    assert!(ours.iter().all(|k| !dst.contains_key(k)), "a replica survived: {dst:?}");
    assert_eq!(get_bytes(&f.s3, &f.dst, "gone/foreign.bin").await.unwrap(), b"not a replica");
    assert!(dst.contains_key("gone/other.bin"));
    let mut expected = f.listing(&f.src, false).await;
    for key in survivors {
        expected.insert(key.to_owned(), dst[key].clone());
    }
    assert_eq!(dst, expected);
    assert!(f.state_keys().await.iter().any(|k| k.ends_with("/checkpoint.json")), "the mirror deleted crr's state");

    // Verify now finds nothing missing or different; the extra ones are the two kept.
    let (code, verify) = backfill_report(&f, &["--mode", "verify"], &[("CRR_ACTION", "ALL")]).await;
    assert_eq!(code, Some(0), "{verify}");
    expect_counts(&verify, &[("scanned", 50), ("identical", 50), ("missing", 0), ("different", 0), ("extra", 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_mirror_rechecks_the_source_before_deleting_and_retries_transient_faults() {
    let f = Fast::new("recheck").await;
    f.put_all(&f.src, vec![("keep/a.bin".into(), pattern(10, 1))]).await;
    f.put_all(&f.dst, vec![("keep/a.bin".into(), pattern(10, 1))]).await;
    for key in ["back/held.bin", "back/late.bin", "gone/1.bin", "gone/2.bin"] {
        f.put_dst(key, b"old replica".to_vec(), Some(&f.src)).await;
    }

    // The destination is reached through a proxy that holds the mark check of one
    // replica (the test re-creates its key in the source meanwhile), fails the batch
    // delete with SlowDown as often as the SDK tries by itself, then refuses every
    // key with InternalError, then holds it (the test re-creates another key).
    let (marked, deleting) = (Gate::default(), Gate::default());
    let on =
        |method: http::Method, matches: String, times: usize, answer: Answer| Fault { method, matches, times, answer };
    let proxy = FaultProxy::start(
        &f.url,
        vec![
            on(http::Method::HEAD, format!("/{}/back/held.bin", f.dst), 1, Answer::Hold(marked.clone())),
            on(http::Method::POST, "delete".into(), 3, Answer::Error(503, "SlowDown")),
            on(http::Method::POST, "delete".into(), 1, Answer::RefuseEveryKey("InternalError")),
            on(http::Method::POST, "delete".into(), 1, Answer::Hold(deleting.clone())),
        ],
    )
    .await;
    let run = {
        let f = &f;
        let settings = [("CRR_ACTION", "ALL"), ("CRR_DEST_ENDPOINT", proxy.base.as_str())];
        async move { backfill_report(f, &["--mirror"], &settings).await }
    };
    let test = async {
        marked.arrival(Duration::from_secs(60)).await;
        f.put_all(&f.src, vec![("back/held.bin".into(), b"new held".to_vec())]).await;
        marked.open();
        deleting.arrival(Duration::from_secs(60)).await;
        f.put_all(&f.src, vec![("back/late.bin".into(), b"new late".to_vec())]).await;
        deleting.open();
    };
    let ((code, report), ()) = tokio::join!(run, test);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(proxy.injected(), 6, "both holds and every fault were met");
    // held: back in the source before the delete, so its replica was not deleted.
    // late: re-created while the delete ran, so its replica was restored at once.
    expect_counts(&report, &[("extra", 4), ("deleted", 2), ("copied", 1), ("failed", 0)]);
    assert_eq!(get_bytes(&f.s3, &f.dst, "back/held.bin").await.unwrap(), b"old replica");
    assert_eq!(get_bytes(&f.s3, &f.dst, "back/late.bin").await.unwrap(), b"new late");
    for key in ["gone/1.bin", "gone/2.bin"] {
        assert!(get_bytes(&f.s3, &f.dst, key).await.is_none(), "{key} survived");
    }
}
