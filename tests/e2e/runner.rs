//! crr dev up: template.yaml's functions run locally against the local cloud, the
//! source bucket's notifications routed by the template's OSS triggers (with their key
//! filters) and its timer fired; crr invoke calls a running function. With `--oss`, the
//! seed's flow: the local OSS server's own OSS events replicated across two accounts,
//! the destination grant put by `crr policy apply`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crr::store::{Condition, Found, ObjectWrite, Read, Upload};
use crr_e2e::*;

/// `crr dev up` as a child process, its stdout lines collected.
struct Runner {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Runner {
    fn start(dir: &Path, args: &[&str]) -> Runner {
        let mut cmd = clean_command("crr", &[]);
        cmd.args(["dev", "up", "--template"])
            .arg(repo_root().join("template.yaml"))
            .arg("--cloud-env")
            .arg(dir.join("cloud.env"))
            .arg("--state-file")
            .arg(dir.join("dev.json"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start crr dev up");
        let pipe = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                println!("runner: {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Runner { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a line contains all of `parts`.
    async fn wait_for_line(&mut self, parts: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("crr dev up exited ({status}) before printing {parts:?}: {:#?}", self.lines());
            }
            assert!(Instant::now() < deadline, "no line with {parts:?} within {limit:?}: {:#?}", self.lines());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "crr dev up still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let _ = self.wait_exit(Duration::from_secs(20));
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crr-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn crr_invoke(dir: &Path, args: &[&str]) -> std::process::Output {
    clean_command("crr", &[]).arg("invoke").args(args).arg("--state-file").arg(dir.join("dev.json")).output().unwrap()
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn alive(pid: u32) -> bool {
    Command::new("kill").args(["-0", &pid.to_string()]).stderr(Stdio::null()).status().unwrap().success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_routes_events_by_the_template_s_triggers_and_crr_invoke_reaches_the_functions() {
    let setup = Setup::provision("runner");
    let dir = temp_dir("runner");
    std::fs::write(dir.join("cloud.env"), setup.cloud_env_text()).unwrap();
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);

    let mut runner = Runner::start(&dir, &["--param", "TriggerSuffix=.jpg", "--param", "Action=ALL"]);
    runner.wait_for_line(&["ready functions=3"], Duration::from_secs(30)).await;
    for f in ["object-created", "object-deleted", "backfill"] {
        runner.wait_for_line(&["initialized", &format!("function={f} ")], Duration::from_secs(1)).await;
    }
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("dev.json")).unwrap()).unwrap();
    let pids: Vec<u32> =
        state["functions"].as_array().unwrap().iter().map(|f| f["pid"].as_u64().unwrap() as u32).collect();
    assert_eq!(pids.len(), 3, "{state:#}");
    let text = std::fs::read_to_string(dir.join("dev.json")).unwrap();
    assert!(!text.contains(&setup.function.secret), "the state file holds no secret");

    let matching = ["photos/cat.jpg", "photos/my dog 你好.jpg"];
    let other = ["notes/readme.txt", "photos/cat.jpg.bak"];
    for (i, key) in matching.iter().chain(other.iter()).enumerate() {
        put_bytes(&src, &setup.src_bucket, key, pattern(1000 + i, i as u64)).await;
    }
    for key in matching {
        wait_until(&format!("{key} replicated"), Duration::from_secs(60), || async {
            head(&dst, &setup.dst_bucket, key).await.is_some()
        })
        .await;
        let a = get_bytes(&src, &setup.src_bucket, key).await.unwrap();
        assert_eq!(get_bytes(&dst, &setup.dst_bucket, key).await.unwrap(), a, "{key}");
        runner
            .wait_for_line(
                &["invoke function=object-created trigger=object-created status=200", &format!("key={key:?}")],
                Duration::from_secs(5),
            )
            .await;
    }
    for key in other {
        let line = runner.wait_for_line(&["unrouted", &format!("key={key:?}")], Duration::from_secs(30)).await;
        assert!(line.contains("event=ObjectCreated:Put") && line.contains("suffix \\\".jpg\\\""), "{line}");
    }
    // The unrouted ones were never handed to a function: no replica.
    for key in other {
        assert!(head(&dst, &setup.dst_bucket, key).await.is_none(), "{key} must not be replicated");
    }

    // Action ALL: a delete reaches object-deleted through its oss:ObjectRemoved:* trigger.
    src.delete_object().bucket(&setup.src_bucket).key(matching[0]).send().await.unwrap();
    wait_until("the replica of the deleted object removed", Duration::from_secs(60), || async {
        head(&dst, &setup.dst_bucket, matching[0]).await.is_none()
    })
    .await;
    runner
        .wait_for_line(
            &["invoke function=object-deleted trigger=object-deleted status=200", "event=ObjectRemoved:DeleteObject"],
            Duration::from_secs(5),
        )
        .await;
    assert!(head(&dst, &setup.dst_bucket, matching[1]).await.is_some());

    // crr invoke finds backfill through the state file and prints its report.
    let out = crr_invoke(&dir, &["backfill", "--payload", r#"{"mode":"verify","dryRun":true}"#]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "crr invoke: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["done"], true, "{report:#}");

    // A function error: exit 1 with its type and message.
    let payload = dir.join("bad.json");
    std::fs::write(&payload, r#"{"mode":"sideways"}"#).unwrap();
    let out = crr_invoke(&dir, &["backfill", "--payload", &format!("@{}", payload.display())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("backfill failed: ") && stderr.contains("sideways"), "{stderr}");
    // An unknown function: exit 2, naming the running ones.
    let out = crr_invoke(&dir, &["nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("object-created, object-deleted, backfill"), "{stderr}");

    // A second runner on the same state file is refused while this one runs.
    let out = clean_command("crr", &[])
        .args(["dev", "up", "--cloud-env"])
        .arg(dir.join("cloud.env"))
        .arg("--state-file")
        .arg(dir.join("dev.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("crr dev up is already running"), "{stderr}");

    // SIGTERM stops the runner and its functions, and removes the state file.
    Command::new("kill").args(["-TERM", &runner.child.id().to_string()]).status().unwrap();
    let status = runner.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    assert!(runner.lines().iter().any(|l| l.starts_with("summary ")), "{:#?}", runner.lines());
    assert!(!dir.join("dev.json").exists());
    for pid in pids {
        assert!(!alive(pid), "function pid {pid} still running");
    }

    // The timer trigger: backfill fires on its schedule with the template's payload
    // ({"mode":"missing"}), and copies what the suffix filter kept from the event path.
    let mut runner = Runner::start(
        &dir,
        &["--param", "TriggerSuffix=.jpg", "--param", "BackfillSchedule=*/2 * * * * *", "--until-idle", "5"],
    );
    let status = runner.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "{status}");
    let lines = runner.lines();
    assert!(
        lines.iter().any(|l| l.contains("invoke function=backfill trigger=backfill-schedule status=200")),
        "{lines:#?}"
    );
    for key in other {
        assert!(head(&dst, &setup.dst_bucket, key).await.is_some(), "backfill copies {key}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runner_refuses_bad_input_with_what_to_do() {
    let dir = temp_dir("runner-bad");
    let run = |args: &[&str]| {
        let out = clean_command("crr", &[]).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let missing = dir.join("missing.env");
    let (code, err) = run(&["dev", "up", "--cloud-env", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("scripts/local-cloud up"), "{err}");

    std::fs::write(dir.join("cloud.env"), "LOCAL_REGION=us-east-1\n").unwrap();
    let template = repo_root().join("template.yaml");
    let (code, err) = run(&[
        "dev",
        "up",
        "--template",
        template.to_str().unwrap(),
        "--cloud-env",
        dir.join("cloud.env").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--param SourceBucket=VALUE"), "{err}");

    let (code, err) = run(&["invoke", "backfill", "--state-file", dir.join("none.json").to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("crr dev up"), "{err}");

    // A state file left by a runner that is gone.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let state = serde_json::json!({"pid": pid, "template": "t", "cloudEnv": "c", "region": "r", "accountId": "a",
        "functions": [{"name": "backfill", "service": "crr", "url": "http://127.0.0.1:9", "pid": pid,
                       "memoryMb": 1024, "timeoutSecs": 5}]});
    std::fs::write(dir.join("stale.json"), state.to_string()).unwrap();
    let (code, err) = run(&["invoke", "backfill", "--state-file", dir.join("stale.json").to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no longer running; start it again"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `crr policy apply --only bucket-policy` as the destination account's administrator
/// would run it for the setup's OSS rule (the seed's step 2).
fn apply_oss_grant(setup: &Setup, out: &Path) -> CliRun {
    let oss = setup.oss();
    let env = vec![
        ("ALIBABA_CLOUD_ACCESS_KEY_ID".to_owned(), setup.dst_admin.id.clone()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET".to_owned(), setup.dst_admin.secret.clone()),
    ];
    let out = out.display().to_string();
    #[rustfmt::skip]
    let args = [
        "policy", "apply", "--only", "bucket-policy",
        "--source-bucket", &oss.src_bucket, "--source-account", &setup.src_account,
        "--dest-bucket", &oss.dst_bucket, "--dest-account", &setup.dst_account,
        "--role-arn", &oss.role_arn, "--action", "ALL",
        "--dest-endpoint", &oss.endpoint, "--dest-region", &oss.region, "--out", &out,
    ];
    setup.crr(&env, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_s_flow_replicates_the_local_oss_server_s_own_events_across_accounts() {
    let setup = Setup::provision("runner-oss");
    let oss = setup.oss().clone();
    // Where the local OSS server sends the source bucket's events (scripts/local_cloud.py
    // writes the notifications file it reads; cloud.env names the queue LOCAL_OSS_QUEUE_URL).
    let local_dir = std::env::var("CRR_LOCAL_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".local"));
    let notifications: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local_dir.join("oss-notifications.json")).unwrap()).unwrap();
    let queue_url = notifications["buckets"][&oss.src_bucket][0]["queue_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no queue for {} in {notifications:#}", oss.src_bucket))
        .to_owned();
    let dir = temp_dir("runner-oss");
    let env = format!("{}LOCAL_OSS_QUEUE_URL={queue_url}\n", setup.cloud_env_text());
    std::fs::write(dir.join("cloud.env"), env).unwrap();
    let src = setup.oss_store(&setup.src_admin);
    let dst = setup.oss_store(&setup.dst_admin);

    // Step 2 through crr itself: the grant merged into the destination bucket policy
    // over OSS's own PutBucketPolicy; a second run finds nothing to add.
    let run = apply_oss_grant(&setup, &dir.join("policies"));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("bucket policy of {}: added", oss.dst_bucket)), "{}", run.stdout);
    let policy = dst.bucket_policy(&oss.dst_bucket).await.unwrap().expect("a bucket policy");
    let principal = format!("arn:sts::{}:assumed-role/{}/*", setup.src_account, oss.role_name().to_lowercase());
    assert!(policy.contains(&principal), "{policy}");
    let again = apply_oss_grant(&setup, &dir.join("policies"));
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);

    // Step 3: the template's functions, fed the OSS events the local OSS server emits.
    let mut runner = Runner::start(&dir, &["--oss", "--param", "Action=ALL"]);
    let pumping = runner.wait_for_line(&["pumping queue="], Duration::from_secs(30)).await;
    assert!(pumping.contains(&queue_url), "{pumping}");
    runner.wait_for_line(&["ready functions=3"], Duration::from_secs(30)).await;

    let keys = ["docs/季度报告 q4.txt", "data/a+b c.bin"];
    let write = ObjectWrite {
        content_type: Some("text/plain"),
        metadata: [("owner".to_owned(), "finance".to_owned())].into(),
        ..ObjectWrite::default()
    };
    for (i, key) in keys.iter().enumerate() {
        src.put(&oss.src_bucket, key, Upload::bytes(pattern(3000 + i, i as u64)), &write, Condition::Always)
            .await
            .unwrap_or_else(|f| panic!("putting {key}: {f:?}"));
    }
    for key in keys {
        wait_until(&format!("{key} replicated"), Duration::from_secs(60), || async {
            dst.head(&oss.dst_bucket, key, Read::default()).await.found().unwrap().is_some()
        })
        .await;
        let a = src.head(&oss.src_bucket, key, Read::default()).await.unwrap();
        let b = dst.head(&oss.dst_bucket, key, Read::default()).await.unwrap();
        assert_eq!((b.size, b.crc64), (a.size, a.crc64), "{key}: size and CRC-64 of the replica");
        assert_eq!(b.metadata.get("owner").map(String::as_str), Some("finance"), "{key}");
        // The OSS event's own name reached the function: the server emitted it, not moto.
        runner
            .wait_for_line(
                &[
                    "invoke function=object-created",
                    "status=200",
                    "event=ObjectCreated:PutObject",
                    &format!("key={key:?}"),
                ],
                Duration::from_secs(5),
            )
            .await;
    }

    // Action ALL: the source's delete event removes the replica.
    src.delete_version(&oss.src_bucket, keys[0], None).await.unwrap();
    wait_until("the replica of the deleted object removed", Duration::from_secs(60), || async {
        dst.head(&oss.dst_bucket, keys[0], Read::default()).await.found().unwrap().is_none()
    })
    .await;
    runner
        .wait_for_line(
            &["invoke function=object-deleted", "status=200", "event=ObjectRemoved:DeleteObject"],
            Duration::from_secs(5),
        )
        .await;
    assert!(dst.head(&oss.dst_bucket, keys[1], Read::default()).await.found().unwrap().is_some());

    Command::new("kill").args(["-TERM", &runner.child.id().to_string()]).status().unwrap();
    assert!(runner.wait_exit(Duration::from_secs(30)).success());
    let _ = std::fs::remove_dir_all(&dir);
}
