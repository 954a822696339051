//! The figures behind `crr status`, end to end on the local cloud: the lag
//! objective judged by `crr status --check` (a copy held in the fault proxy until
//! its lag really exceeds the objective), the same figures in `--prometheus`, and
//! the metrics line each invocation logs in the documented schema (docs/METRICS.md).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crr_e2e::{put_bytes, s3_record, Answer, Fault, FaultProxy, Function, Gate, Invoker, Reply, Setup};
use serde_json::{json, Value};

/// An S3 notification for `keys` sent now, as S3 dates it.
fn event_now(bucket: &str, keys: &[&str]) -> Value {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut r = s3_record("ObjectCreated:Put", bucket, k);
            r["eventTime"] = now.clone().into();
            r
        })
        .collect();
    json!({ "Records": records })
}

/// Invokes a function as Function Compute does, with the function's identity.
async fn invoke(setup: &Setup, f: &Function, request_id: &str, event: &Value) -> Reply {
    let headers = [
        ("x-fc-request-id", request_id),
        ("x-fc-function-name", "object-created"),
        ("x-fc-access-key-id", setup.function.id.as_str()),
        ("x-fc-access-key-secret", setup.function.secret.as_str()),
    ];
    Invoker::new().post(&format!("{}/invoke", f.base), event.to_string(), &headers).await
}

/// The environment of `crr` run by an operator with the function's identity.
fn cli_env(setup: &Setup, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = setup.function_env();
    env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
    env.push(("AWS_REGION".into(), setup.region.clone()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// The samples of a Prometheus text exposition: `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l}"));
            (series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {l}")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_passes_within_the_lag_objective_and_fails_when_a_held_copy_misses_it() {
    let setup = Setup::provision("check");
    let src = setup.s3(&setup.src_admin);
    for key in ["fast.txt", "slow.txt"] {
        put_bytes(&src, &setup.src_bucket, key, key.as_bytes().to_vec()).await;
    }
    // The destination behind the fault proxy, so a replica's write can be held.
    let proxy = FaultProxy::start(&setup.endpoint, vec![]).await;
    let mut env = setup.function_env();
    for (k, v) in env.iter_mut() {
        if k == "CRR_DEST_ENDPOINT" {
            *v = proxy.base.clone();
        }
    }
    env.push(("CRR_LAG_OBJECTIVE_SECONDS".into(), "3".into()));
    env.push(("RUST_LOG".into(), "warn".into()));
    let created = Function::start("object-created", &env);
    let operator = cli_env(&setup, &[("CRR_LAG_OBJECTIVE_SECONDS", "3")]);

    // A prompt copy: within the objective of 3 s.
    let reply = invoke(&setup, &created, "req-fast", &event_now(&setup.src_bucket, &["fast.txt"])).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert!(reply.json["results"][0]["lag_ms"].as_u64().unwrap() < 3_000, "{}", reply.json);
    let check = setup.crr(&operator, &["status", "--check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.starts_with("OK rule default: lag p99 over the last 10 minutes is "), "{}", check.stdout);
    assert!(check.stdout.contains("(1 copy), within the objective of 3 s"), "{}", check.stdout);

    // The replica's PUT is held in the proxy for 6 s: the copy finishes late, its
    // lag measured from the event's time.
    let gate = Gate::default();
    proxy.set_faults(vec![Fault {
        method: http::Method::PUT,
        matches: format!("/{}/slow.txt", setup.dst_bucket),
        times: 1,
        answer: Answer::Hold(gate.clone()),
    }]);
    let slow = {
        let (setup, created_base) = (setup.clone(), created.base.clone());
        tokio::spawn(async move {
            let headers = [
                ("x-fc-request-id", "req-slow"),
                ("x-fc-function-name", "object-created"),
                ("x-fc-access-key-id", setup.function.id.as_str()),
                ("x-fc-access-key-secret", setup.function.secret.as_str()),
            ];
            let event = event_now(&setup.src_bucket, &["slow.txt"]);
            Invoker::new().post(&format!("{created_base}/invoke"), event.to_string(), &headers).await
        })
    };
    gate.arrival(Duration::from_secs(30)).await;
    let held = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    gate.open();
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.json);
    let lag = reply.json["results"][0]["lag_ms"].as_u64().unwrap();
    assert!(lag >= 6_000 && lag >= held.elapsed().as_millis() as u64 - 1_000, "the held copy's lag: {lag}");

    let check = setup.crr(&operator, &["status", "--check"]);
    assert_eq!(check.code, 1, "a missed objective fails the check: {}{}", check.stdout, check.stderr);
    let line = check.stdout.lines().next().unwrap();
    assert!(line.starts_with("MISSED rule default: lag p99 over the last 10 minutes is "), "{line}");
    assert!(line.contains("(2 copies), ") && line.ends_with(" over the objective of 3 s"), "{line}");

    // --json says the same, and --prometheus prints the same figures.
    let status = setup.crr(&operator, &["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let rules: Value = serde_json::from_str(&status.stdout).unwrap();
    let rule = &rules[0];
    let objective = &rule["objective"];
    assert_eq!((objective["state"].as_str(), objective["objectiveSeconds"].as_u64()), (Some("missed"), Some(3)));
    let p99 = objective["p99Ms"].as_u64().unwrap();
    assert!(p99 >= lag && p99 <= lag + lag / 8, "p99 {p99} is the held copy's lag {lag}, to a bin");
    assert_eq!(objective["overByMs"].as_u64(), Some(p99 - 3_000));
    let over = crr::objective::seconds(p99 - 3_000);
    assert!(line.contains(&format!("{over} over")), "{line} names {over}");
    assert_eq!(rule["activity"]["recent"]["count"], 2);
    assert_eq!(rule["lag"]["lastKey"], "slow.txt");

    let prom = setup.crr(&operator, &["status", "--prometheus"]);
    assert_eq!(prom.code, 0, "{}", prom.stderr);
    let s = samples(&prom.stdout);
    let labels = format!("rule=\"default\",destination=\"{}\"", setup.dst_bucket);
    assert_eq!(s[&format!("crr_lag_objective_missed{{{labels}}}")], 1.0, "{}", prom.stdout);
    assert_eq!(s[&format!("crr_lag_objective_seconds{{{labels}}}")], 3.0);
    assert_eq!(s[&format!("crr_lag_p99_seconds{{{labels},window=\"10m\"}}")], p99 as f64 / 1000.0);
    assert_eq!(
        s[&format!("crr_lag_p50_seconds{{{labels},window=\"10m\"}}")],
        rule["activity"]["recent"]["p50Ms"].as_u64().unwrap() as f64 / 1000.0
    );
    assert_eq!(s[&format!("crr_lag_measured_copies{{{labels},window=\"10m\"}}")], 2.0);
    assert_eq!(s[&format!("crr_copies_last_hour{{{labels}}}")], 2.0);
    assert_eq!(s[&format!("crr_bytes_last_hour{{{labels}}}")], ("fast.txt".len() + "slow.txt".len()) as f64);
    assert_eq!(s[&format!("crr_failures_last_hour{{{labels}}}")], 0.0);
    assert_eq!(s[&format!("crr_status_problems{{{labels}}}")], 0.0);

    // A larger objective: the same lag is within it.
    let relaxed = cli_env(&setup, &[("CRR_LAG_OBJECTIVE_SECONDS", "600")]);
    let check = setup.crr(&relaxed, &["status", "--check"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("within the objective of 10 min"), "{}", check.stdout);
}

/// The metrics lines a function printed on stdout for `request_id`, once there is one
/// (the pipe from the function may lag behind its reply).
async fn metrics_lines(f: &Function, request_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = f
            .stdout_lines()
            .iter()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .filter(|v| v["schema"] == crr::metrics::SCHEMA && v["requestId"] == request_id)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_invocation_logs_one_metrics_line_in_the_documented_schema() {
    let setup = Setup::provision("metrics");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "a.txt", vec![b'a'; 100]).await;
    put_bytes(&src, &setup.src_bucket, "b.txt", vec![b'b'; 200]).await;
    put_bytes(&src, &setup.src_bucket, "refused.txt", vec![b'c'; 50]).await;
    // The destination refuses one replica, as a missing grant would.
    let proxy = FaultProxy::start(
        &setup.endpoint,
        vec![Fault {
            method: http::Method::PUT,
            matches: format!("/{}/refused.txt", setup.dst_bucket),
            times: usize::MAX,
            answer: Answer::Error(403, "AccessDenied"),
        }],
    )
    .await;
    let mut env = setup.function_env();
    for (k, v) in env.iter_mut() {
        if k == "CRR_DEST_ENDPOINT" {
            *v = proxy.base.clone();
        }
    }
    let created = Function::start("object-created", &env);

    // A known workload: three records, two copies of 100 and 200 bytes, one refused.
    let started = Instant::now();
    let reply =
        invoke(&setup, &created, "req-m1", &event_now(&setup.src_bucket, &["a.txt", "b.txt", "refused.txt"])).await;
    let elapsed = started.elapsed().as_millis() as u64;
    assert_eq!(reply.status, 404, "a failed record fails the invocation: {}", reply.json);
    let lines = metrics_lines(&created, "req-m1").await;
    assert_eq!(lines.len(), 1, "one line per invocation: {:?}", created.stdout_lines());
    let m = &lines[0];
    for field in [
        "schema",
        "function",
        "requestId",
        "platform",
        "timestamp",
        "rules",
        "records",
        "scanned",
        "copies",
        "bytes",
        "deletes",
        "unchanged",
        "ignored",
        "failures",
        "lagMs",
        "lagMsMax",
        "durationMs",
    ] {
        assert!(m.get(field).is_some(), "{field} missing: {m}");
    }
    assert_eq!((m["function"].as_str(), m["platform"].as_str()), (Some("object-created"), Some("fc")));
    assert_eq!(m["rules"], json!(["default"]));
    assert_eq!((m["records"].as_u64(), m["copies"].as_u64(), m["bytes"].as_u64()), (Some(3), Some(2), Some(300)));
    assert_eq!((m["failures"].as_u64(), m["errorType"].as_str()), (Some(1), Some("AccessDenied")));
    assert_eq!((m["deletes"].as_u64(), m["unchanged"].as_u64(), m["ignored"].as_u64()), (Some(0), Some(0), Some(0)));
    let lags: Vec<u64> = m["lagMs"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(lags.len(), 2, "{m}");
    assert!(lags.iter().all(|l| *l < 60_000) && m["lagMsMax"].as_u64() == lags.iter().max().copied(), "{m}");
    let duration = m["durationMs"].as_u64().unwrap();
    assert!(duration > 0 && duration <= elapsed, "{duration} ms within the {elapsed} ms the call took");
    assert!(m.get("_aws").is_none(), "Embedded Metric Format on Lambda only");
    let text = created.stdout_lines().join("\n");
    assert!(!text.contains(&setup.function.secret), "no secret in the function's output");

    // An invocation with nothing to do still logs its line; the FC runtime's own
    // start and end lines stay around it.
    put_bytes(&src, &setup.src_bucket, "c.txt", b"c".to_vec()).await;
    let reply = invoke(&setup, &created, "req-m2", &event_now(&setup.src_bucket, &["a.txt", "c.txt"])).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let m = &metrics_lines(&created, "req-m2").await[0];
    assert_eq!((m["records"].as_u64(), m["copies"].as_u64(), m["unchanged"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!((m["failures"].as_u64(), m.get("errorType")), (Some(0), None));
    // The runtime's end line is written after the reply; the pipe may lag behind.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !created.stdout_lines().iter().any(|l| l.contains("FC Invoke End RequestId: req-m2")) {
        assert!(Instant::now() < deadline, "no end line: {:?}", created.stdout_lines());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = created.stdout_lines();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}"));
    assert!(at("FC Invoke Start RequestId: req-m2") < at("\"requestId\":\"req-m2\""));
    assert!(at("\"requestId\":\"req-m2\"") < at("FC Invoke End RequestId: req-m2"));
}
