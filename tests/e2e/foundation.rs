//! The walking skeleton end to end: real uploads into the source account drive
//! object-created through bucket notifications, and the replica arrives in the
//! destination account written with the assumed role. Also the runtime contract
//! in each of the three run modes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crr_e2e::*;
use http_body_util::{BodyExt, Full};
use tokio::sync::{Mutex, Notify};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_replicate_through_notifications_with_the_assumed_role() {
    let setup = Setup::provision("walk");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    // No credentials in the environment: the function gets its identity only from
    // the x-fc-* headers of each invocation, as on Function Compute.
    let function = Function::start("object-created", &setup.function_env());

    let objects = [
        ("hello.txt", b"hello, world".to_vec()),
        ("deep/path/with space and +plus and %percent/ünïcødé 文件.bin", pattern(70_000, 7)),
        ("empty", Vec::new()),
    ];
    for (key, body) in &objects {
        put_bytes(&src, &setup.src_bucket, key, body.clone()).await;
    }
    let stats = setup
        .pump(Some(&function), None)
        .run_until_idle(Duration::from_secs(2), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(stats.failed_invocations, 0, "{stats:?}");
    assert!(stats.events >= 3, "{stats:?}");

    for (key, body) in &objects {
        let replica = get_bytes(&dst, &setup.dst_bucket, key).await;
        assert_eq!(replica.as_ref(), Some(body), "replica of {key:?}");
        let head = dst.head_object().bucket(&setup.dst_bucket).key(*key).send().await.unwrap();
        assert_eq!(
            head.metadata().and_then(|m| m.get(crr::object::REPLICA_MARK)).map(String::as_str),
            Some(setup.src_bucket.as_str()),
            "the replica names its source"
        );
    }

    // Enforcement: the function's own identity cannot write the destination, so
    // the replicas above were written with the assumed role's credentials.
    let own = setup.s3(&setup.function);
    let denied = own
        .put_object()
        .bucket(&setup.dst_bucket)
        .key("written-by-the-function-itself")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("the function's own identity must not write the destination");
    assert!(crr::error::Failure::from_sdk(&denied).is_access_denied(), "{denied:?}");
    // ...and it can read the source, but nothing in the destination account.
    assert!(get_bytes(&own, &setup.src_bucket, "hello.txt").await.is_some());
    let denied = own.get_object().bucket(&setup.dst_bucket).key("hello.txt").send().await.unwrap_err();
    assert!(crr::error::Failure::from_sdk(&denied).is_access_denied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_created_speaks_the_function_compute_protocol() {
    let setup = Setup::provision("fc");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "a.txt", b"abc".to_vec()).await;
    let function = Function::start("object-created", &setup.function_env());
    let invoke = format!("{}/invoke", function.base);
    let headers = [
        ("content-type", "application/octet-stream"),
        ("x-fc-request-id", "req-ok-1"),
        ("x-fc-function-name", "object-created"),
        ("x-fc-function-timeout", "60"),
        ("x-fc-function-memory", "512"),
        ("x-fc-region", "us-east-1"),
        ("x-fc-account-id", "111111111111"),
        ("x-fc-access-key-id", setup.function.id.as_str()),
        ("x-fc-access-key-secret", setup.function.secret.as_str()),
        ("x-fc-security-token", ""),
    ];

    let init = post(&format!("{}/initialize", function.base), "", &[("x-fc-request-id", "init-1")]).await;
    assert_eq!(init.status, 200);

    let event = s3_event("ObjectCreated:Put", &setup.src_bucket, "a.txt").to_string();
    let ok = post(&invoke, event.clone(), &headers).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(ok.headers["x-fc-status"], "200");
    assert_eq!(ok.json["records"], 1);
    assert_eq!(ok.json["copied"], 1);
    assert_eq!(ok.json["results"][0]["outcome"], "copy");
    assert_eq!(ok.json["results"][0]["bytes"], 3);

    // The same event again: the replica is already identical.
    let again = post(&invoke, event, &headers).await;
    assert_eq!(again.json["results"][0]["outcome"], "identical");

    // A malformed body: an error response with a type and what is wrong...
    let mut bad_headers = headers;
    bad_headers[1] = ("x-fc-request-id", "req-bad-2");
    let bad = post(&invoke, "{\"Records\": [{\"s3\": {\"bucket\": {}}}]}", &bad_headers).await;
    assert_eq!(bad.status, 404);
    assert_eq!(bad.headers["x-fc-status"], "404");
    assert_eq!(bad.json["errorType"], "InvalidEvent");
    let message = bad.json["errorMessage"].as_str().unwrap();
    assert!(message.contains("S3 notification record 0") && message.contains("missing field"), "{message}");

    // ...a stranger's bucket is refused...
    let stranger =
        post(&invoke, s3_event("ObjectCreated:Put", "someone-elses-bucket", "a.txt").to_string(), &headers).await;
    assert_eq!(stranger.status, 404);
    assert_eq!(stranger.json["errorType"], "UnknownBucket");

    // ...and the process keeps serving.
    let after = post(&invoke, s3_event("ObjectCreated:Put", &setup.src_bucket, "a.txt").to_string(), &headers).await;
    assert_eq!(after.status, 200, "{}", after.json);

    let lines = function.stdout_lines();
    for expected in [
        "FC Initialize Start RequestId: init-1",
        "FC Initialize End RequestId: init-1",
        "FC Invoke Start RequestId: req-ok-1",
        "FC Invoke End RequestId: req-ok-1",
        "FC Invoke Start RequestId: req-bad-2",
        "FC Invoke End RequestId: req-bad-2, Error: Unhandled function error",
    ] {
        assert!(lines.iter().any(|l| l == expected), "missing {expected:?} in stdout {lines:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_fails_the_initializer_and_every_invocation() {
    let setup = Setup::provision("init");
    let mut env = setup.function_env();
    env.retain(|(k, _)| k != "CRR_DEST_BUCKET");
    let function = Function::start("object-created", &env);
    let init = post(&format!("{}/initialize", function.base), "", &[("x-fc-request-id", "i")]).await;
    assert_eq!(init.status, 404);
    assert_eq!(init.json["errorType"], "InitError");
    assert!(init.json["errorMessage"].as_str().unwrap().contains("CRR_DEST_BUCKET is not set"), "{}", init.json);
    let invoke = post(&format!("{}/invoke", function.base), "{}", &[]).await;
    assert_eq!(invoke.status, 404);
    assert!(invoke.json["errorMessage"].as_str().unwrap().contains("CRR_DEST_BUCKET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_function_exit_cleanly() {
    let setup = Setup::provision("term");
    let mut function = Function::start("object-created", &setup.function_env());
    let status = function.terminate(Duration::from_secs(10)).expect("exited after SIGTERM");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_mode_prints_the_result_or_fails() {
    let setup = Setup::provision("once");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "one/shot.txt", b"once".to_vec()).await;
    let dir = std::env::temp_dir().join(format!("crr-once-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, s3_event("ObjectCreated:Put", &setup.src_bucket, "one/shot.txt").to_string()).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "[]").unwrap();

    let mut env = setup.function_env();
    env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
    let out = clean_command("object-created", &env).arg("--event").arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["copied"], 1);
    let dst = setup.s3(&setup.dst_admin);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "one/shot.txt").await.unwrap(), b"once");

    let out = clean_command("object-created", &env).arg("--event").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: InvalidEvent") && stderr.contains("not a JSON object"), "{stderr}");
}

/// A minimal AWS Lambda Runtime API: hands out queued events and records what
/// the function posts back.
#[derive(Default)]
struct RuntimeApi {
    queue: Mutex<VecDeque<(String, String)>>,
    posts: Mutex<Vec<(String, Option<String>, String)>>,
    posted: Notify,
}

impl RuntimeApi {
    async fn serve(self: Arc<Self>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let api = self.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        port
    }

    async fn handle(&self, req: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        if req.method() == http::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            loop {
                if let Some((id, body)) = self.queue.lock().await.pop_front() {
                    let deadline =
                        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                            + 60_000;
                    return http::Response::builder()
                        .header("Lambda-Runtime-Aws-Request-Id", id)
                        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                        .header(
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:us-east-1:111111111111:function:object-created",
                        )
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let error_type =
            req.headers().get("Lambda-Runtime-Function-Error-Type").map(|v| v.to_str().unwrap().to_owned());
        let body = req.into_body().collect().await.unwrap().to_bytes();
        self.posts.lock().await.push((path, error_type, String::from_utf8_lossy(&body).into()));
        self.posted.notify_waiters();
        http::Response::builder().status(202).body(Full::new(Bytes::new())).unwrap()
    }

    async fn wait_for_posts(&self, n: usize) -> Vec<(String, Option<String>, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let posts = self.posts.lock().await.clone();
            if posts.len() >= n {
                return posts;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} posts: {posts:?}", posts.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_binary_runs_under_the_lambda_runtime_api() {
    let setup = Setup::provision("lambda");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "from-lambda.txt", b"lambda".to_vec()).await;

    let api = Arc::new(RuntimeApi::default());
    {
        let mut q = api.queue.lock().await;
        q.push_back((
            "id-good".into(),
            s3_event("ObjectCreated:Put", &setup.src_bucket, "from-lambda.txt").to_string(),
        ));
        q.push_back(("id-bad".into(), "{\"nothing\": true}".into()));
    }
    let port = api.clone().serve().await;
    let mut env = setup.function_env();
    // Lambda passes the function role's credentials in the environment.
    env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), format!("127.0.0.1:{port}")));
    env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), "object-created".into()));
    let mut child = clean_command("object-created", &env).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let posts = api.wait_for_posts(2).await;
    let _ = child.kill();
    let stdout = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();

    let (path, error_type, body) = &posts[0];
    assert_eq!(path, "/2018-06-01/runtime/invocation/id-good/response");
    assert!(error_type.is_none());
    let report: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(report["copied"], 1, "{report}");

    let (path, error_type, body) = &posts[1];
    assert_eq!(path, "/2018-06-01/runtime/invocation/id-bad/error");
    assert_eq!(error_type.as_deref(), Some("InvalidEvent"));
    let error: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["errorType"], "InvalidEvent");
    assert!(error["errorMessage"].as_str().unwrap().contains("unrecognised event"), "{error}");

    let dst = setup.s3(&setup.dst_admin);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "from-lambda.txt").await.unwrap(), b"lambda");

    // The invocation's metrics line, in CloudWatch Embedded Metric Format (docs/METRICS.md).
    let metrics: Vec<serde_json::Value> =
        stdout.lines().filter(|l| l.contains("\"_aws\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(metrics.len(), 1, "one line for the invocation that reached the handler: {stdout}");
    let m = &metrics[0];
    assert_eq!((m["requestId"].as_str(), m["platform"].as_str()), (Some("id-good"), Some("lambda")));
    assert_eq!(
        (m["function"].as_str(), m["copies"].as_u64(), m["bytes"].as_u64()),
        (Some("object-created"), Some(1), Some(6))
    );
    let directive = &m["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        (directive["Namespace"].as_str(), &directive["Dimensions"]),
        (Some("crr"), &serde_json::json!([["function"]]))
    );
    assert!(m["_aws"]["Timestamp"].as_u64().is_some(), "{m}");
    for metric in directive["Metrics"].as_array().unwrap() {
        let name = metric["Name"].as_str().unwrap();
        assert!(m[name].is_u64() || m[name].is_array(), "{name} is a top-level value: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_init_errors_are_reported_to_the_runtime_api() {
    let api = Arc::new(RuntimeApi::default());
    let port = api.clone().serve().await;
    let env = vec![("AWS_LAMBDA_RUNTIME_API".to_string(), format!("127.0.0.1:{port}"))];
    let status = clean_command("object-created", &env).status().unwrap();
    assert!(!status.success());
    let posts = api.wait_for_posts(1).await;
    assert_eq!(posts[0].0, "/2018-06-01/runtime/init/error");
    assert_eq!(posts[0].1.as_deref(), Some("InitError"));
    assert!(posts[0].2.contains("CRR_SOURCE_BUCKET is not set"), "{}", posts[0].2);
}

/// `scripts/local-cloud` with a state directory and ports of its own.
fn local_cloud(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(repo_root().join("scripts/local-cloud"))
        .args(args)
        .env("CRR_LOCAL_DIR", dir)
        .env("CRR_LOCAL_PORT", "4960")
        .env("CRR_LOCAL_STS_PORT", "4961")
        .env("CRR_LOCAL_S3_PORT", "4962")
        .env("CRR_LOCAL_OSS_PORT", "4966")
        .output()
        .expect("run scripts/local-cloud")
}

#[test]
fn the_local_cloud_starts_once_and_stops_only_what_it_started() {
    let dir = std::env::temp_dir().join(format!("crr-cloud-{}", uuid::Uuid::new_v4().simple()));
    let pid_of = |name: &str| std::fs::read_to_string(dir.join(name)).ok().map(|t| t.trim().to_owned());
    let up = local_cloud(&dir, &["up"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let moto = pid_of("moto.pid").expect("up records the server's pid");
    let again = local_cloud(&dir, &["up"]);
    assert!(again.status.success(), "starting twice is harmless: {}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already running"));
    assert_eq!(pid_of("moto.pid").as_deref(), Some(moto.as_str()), "the second up starts nothing");
    assert!(local_cloud(&dir, &["status"]).status.success());

    let down = local_cloud(&dir, &["down"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(!std::path::Path::new(&format!("/proc/{moto}")).exists(), "down stopped the server");
    assert!(!dir.join("cloud.env").exists(), "down removes the env file of a cloud that is gone");
    assert!(!local_cloud(&dir, &["status"]).status.success(), "status fails when nothing runs");

    // A pid file naming a process this script did not start (a reused pid): left alone.
    let mut stranger = std::process::Command::new("sleep").arg("30").spawn().expect("start sleep");
    std::fs::write(dir.join("moto.pid"), stranger.id().to_string()).unwrap();
    let down = local_cloud(&dir, &["down"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(stranger.try_wait().unwrap().is_none(), "down must not stop a process it did not start");
    stranger.kill().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What an assumed role's session token from the local cloud's STS starts with (moto's
/// `SESSION_TOKEN_PREFIX`): every destination request carries one, so it must never be
/// printed, whatever the log level.
const ROLE_TOKEN_PREFIX: &str = "FQoGZXIvYXdzEBYaD";

/// Fails when `output` shows a secret: one of `secrets`, an assumed role's session
/// token, or a raw STS answer's secret fields.
fn assert_no_secrets(what: &str, output: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!output.contains(secret), "{what} printed a secret key at TRACE level");
    }
    assert!(!output.contains(ROLE_TOKEN_PREFIX), "{what} printed an assumed role's session token at TRACE level");
    for field in ["<SecretAccessKey>", "\"AccessKeySecret\"", "<SessionToken>", "\"SecurityToken\""] {
        assert!(!output.contains(field), "{what} printed an STS answer's {field} at TRACE level");
    }
}

/// The three functions and `crr` at TRACE level, as a whole run: object-created
/// (through AWS STS and through Alibaba Cloud STS), object-deleted, a backfill, and
/// crr doctor and crr backfill. The function's secret key, the administrators' keys
/// and the role's session tokens appear nowhere in what they print.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_printed_at_trace_level() {
    let setup = Setup::provision("trace");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "trace/a.txt", b"traced".to_vec()).await;
    put_bytes(&src, &setup.src_bucket, "trace/b.txt", b"traced too".to_vec()).await;
    let dir = std::env::temp_dir().join(format!("crr-trace-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let event = |name: &str, body: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, body.to_string()).unwrap();
        path
    };
    let created = event("created.json", s3_event("ObjectCreated:Put", &setup.src_bucket, "trace/a.txt"));
    let deleted = event("deleted.json", s3_event("ObjectRemoved:Delete", &setup.src_bucket, "trace/a.txt"));
    let backfill = event("backfill.json", serde_json::json!({"mode": "missing"}));
    let secrets = [setup.function.secret.as_str(), setup.src_admin.secret.as_str(), setup.dst_admin.secret.as_str()];

    let with_keys = |mut env: Vec<(String, String)>| {
        env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
        env.push(("ALIBABA_CLOUD_ACCESS_KEY_ID".into(), setup.function.id.clone()));
        env.push(("ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(), setup.function.secret.clone()));
        env.push(("RUST_LOG".into(), "trace".into()));
        env.push(("CRR_ACTION".into(), "ALL".into()));
        env
    };
    let aws = with_keys(setup.function_env());
    let alibaba = with_keys(setup.alibaba_function_env());

    let mut printed = 0;
    let runs = [
        ("object-created", &aws, &created),
        ("object-created", &alibaba, &created),
        ("backfill", &aws, &backfill),
        ("object-deleted", &aws, &deleted),
    ];
    for (function, env, event) in runs {
        if function == "object-deleted" {
            setup
                .s3(&setup.src_admin)
                .delete_object()
                .bucket(&setup.src_bucket)
                .key("trace/a.txt")
                .send()
                .await
                .unwrap();
        }
        let out = clean_command(function, env).arg("--event").arg(event).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{function}: {}", text.lines().rev().take(20).collect::<Vec<_>>().join("\n"));
        assert!(text.contains("TRACE"), "{function} logged nothing at TRACE level");
        assert_no_secrets(function, &text, &secrets);
        printed += text.len();
    }
    for args in [&["doctor", "--dest-account", &setup.dst_account][..], &["backfill", "--mode", "verify"][..]] {
        let run = setup.crr(&aws, args);
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(text.contains("TRACE"), "crr {args:?} logged nothing at TRACE level");
        assert_no_secrets(&format!("crr {args:?}"), &text, &secrets);
        printed += text.len();
    }
    // The runs did their work: the replica of b.txt came from the backfill, a.txt's went with its delete.
    let dst = setup.s3(&setup.dst_admin);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "trace/b.txt").await.as_deref(), Some(&b"traced too"[..]));
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "trace/a.txt").await, None);
    assert!(printed > 10_000, "only {printed} bytes were printed at TRACE level");
    std::fs::remove_dir_all(&dir).ok();
}
