//! crr-bench: measures the event path against a bare GET+PUT and the memory of a
//! large copy, on whatever machine runs it. `scripts/bench` starts the servers
//! (seaweedfs for S3, the local cloud for STS) and calls this.
//!
//!     crr-bench overhead --s3 URL --objects N --size BYTES
//!     crr-bench large --s3 URL --size BYTES [--rclone PATH]
//!     crr-bench backfill --s3 URL --copy 5000,50000 --identical 100000 [--rclone PATH]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use crr::config::Endpoint;
use crr_e2e::{free_port, pattern, s3_event, s3_event_with, Function, Invoker, Setup};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}

fn size_arg(args: &[String], name: &str, default: &str) -> u64 {
    let v = arg(args, name, default);
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = n.parse().expect("a size");
    n * match unit {
        "" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        other => panic!("unknown unit {other}"),
    }
}

fn client(url: &str) -> aws_sdk_s3::Client {
    // seaweedfs here runs without authentication: any key is accepted.
    let endpoint = Endpoint { url: Some(url.to_owned()), region: "us-east-1".into(), path_style: true };
    crr::store::s3_client(
        &crr::store::http_client(),
        &endpoint,
        Arc::new(Credentials::new("bench", "bench", None, None, "bench")),
    )
}

async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {bucket}: {}", crr::error::source_text(&e)));
    }
}

/// A function replicating `src` to `dst` on the S3 server at `url`; STS from the local cloud.
fn start_function(cloud: &Setup, url: &str, src: &str, dst: &str, extra: &[(&str, &str)]) -> Function {
    let mut env: Vec<(String, String)> = vec![
        ("CRR_SOURCE_BUCKET".into(), src.into()),
        ("CRR_SOURCE_ENDPOINT".into(), url.into()),
        ("CRR_DEST_BUCKET".into(), dst.into()),
        ("CRR_DEST_ENDPOINT".into(), url.into()),
        ("CRR_ROLE_ARN".into(), cloud.role_arn.clone()),
        ("CRR_STS_ENDPOINT".into(), cloud.endpoint.clone()),
        ("RUST_LOG".into(), "warn".into()),
        // Both buckets sit on one server here; stream, to compare like with like.
        ("CRR_COPY_MODE".into(), "stream".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Function::start("object-created", &env)
}

fn fc_headers(cloud: &Setup) -> Vec<(&str, &str)> {
    vec![("x-fc-access-key-id", cloud.function.id.as_str()), ("x-fc-access-key-secret", cloud.function.secret.as_str())]
}

async fn invoke(invoker: &Invoker, function: &Function, cloud: &Setup, bucket: &str, key: &str) -> serde_json::Value {
    invoke_event(invoker, function, cloud, s3_event("ObjectCreated:Put", bucket, key)).await
}

async fn invoke_event(
    invoker: &Invoker,
    function: &Function,
    cloud: &Setup,
    event: serde_json::Value,
) -> serde_json::Value {
    let reply = invoker.post(&format!("{}/invoke", function.base), event.to_string(), &fc_headers(cloud)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json
}

/// Uploads `body` and returns the event a real notification would carry for it.
async fn upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) -> serde_json::Value {
    let size = body.len() as u64;
    let out = s3.put_object().bucket(bucket).key(key).body(body.into()).send().await.unwrap();
    s3_event_with("ObjectCreated:Put", bucket, key, size, out.e_tag().unwrap())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn overhead(args: &[String]) {
    let url = arg(args, "--s3", "http://127.0.0.1:8433");
    let objects: usize = arg(args, "--objects", "200").parse().unwrap();
    let size = size_arg(args, "--size", "65536") as usize;
    let cloud = Setup::default_setup();
    let s3 = client(&url);
    let src = format!("bench-src-{size}");
    let (base_dst, fn_dst) = (format!("bench-base-{size}-{}", free_port()), format!("bench-fn-{size}-{}", free_port()));
    for b in [&src, &base_dst, &fn_dst] {
        ensure_bucket(&s3, b).await;
    }
    let mut events = Vec::with_capacity(objects);
    for i in 0..objects {
        events.push(upload(&s3, &src, &format!("obj/{i:05}"), pattern(size, i as u64)).await);
    }
    // Warm both destinations (the server allocates storage on first writes) and the
    // function (it assumes the role and opens its connections on the first event).
    for i in 0..20 {
        crr_e2e::put_bytes(&s3, &base_dst, &format!("warm/{i}"), pattern(size, i)).await;
        crr_e2e::put_bytes(&s3, &fn_dst, &format!("warm/{i}"), pattern(size, i)).await;
    }
    let function = start_function(&cloud, &url, &src, &fn_dst, &[]);
    let invoker = Invoker::new();
    let warm = upload(&s3, &src, "warm", pattern(size, 0)).await;
    assert_eq!(invoke_event(&invoker, &function, &cloud, warm.clone()).await["copied"], 1);

    // Interleaved, alternating which goes first, so drift in the server's speed
    // affects both alike.
    // The same handler in this process: the event path without the invocation hop.
    let settings: std::collections::HashMap<String, String> = [
        ("CRR_SOURCE_BUCKET", src.as_str()),
        ("CRR_SOURCE_ENDPOINT", url.as_str()),
        ("CRR_DEST_BUCKET", fn_dst.as_str()),
        ("CRR_DEST_ENDPOINT", url.as_str()),
        ("CRR_ROLE_ARN", cloud.role_arn.as_str()),
        ("CRR_STS_ENDPOINT", cloud.endpoint.as_str()),
        ("CRR_SOURCE_REGION", "us-east-1"),
        ("CRR_COPY_MODE", "stream"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let replicator = crr::Replicator::new(crr::Config::from_settings(&settings).unwrap());
    let mut invocation = crr::Invocation::new("bench");
    invocation.credentials = Some(crr_sign::AccessKey::new(cloud.function.id.clone(), cloud.function.secret.clone()));
    let handle = |event: serde_json::Value| {
        let notification = crr::Notification::from_value(event).unwrap();
        let (replicator, invocation) = (&replicator, &invocation);
        async move { crr::object_created(replicator, &notification, invocation).await.unwrap() }
    };
    handle(upload(&s3, &src, "warm-inproc", pattern(size, 0)).await).await;

    let (mut base, mut func, mut inproc) = (Vec::new(), Vec::new(), Vec::new());
    for (i, event) in events.iter().enumerate() {
        let key = format!("obj/{i:05}");
        for turn in 0..3 {
            if (i + turn) % 3 == 2 {
                let event = upload(&s3, &src, &format!("{key}-inproc"), pattern(size, i as u64)).await;
                let t = Instant::now();
                let r = handle(event).await;
                inproc.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(r.copied, 1);
            } else if (i + turn) % 3 == 0 {
                // A bare GET streamed into a PUT, with the same client configuration.
                let t = Instant::now();
                let get = s3.get_object().bucket(&src).key(&key).send().await.unwrap();
                let len = get.content_length().unwrap();
                s3.put_object().bucket(&base_dst).key(&key).content_length(len).body(get.body).send().await.unwrap();
                base.push(t.elapsed().as_secs_f64() * 1000.0);
            } else {
                // The same copy as an object-created event, one per invocation.
                let t = Instant::now();
                let r = invoke_event(&invoker, &function, &cloud, event.clone()).await;
                func.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(r["copied"], 1, "{r}");
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (bm, fm, im) = (median(base.clone()), median(func.clone()), median(inproc.clone()));
    println!(
        "| per-event overhead, {objects} objects of {size} B, one at a time | bare GET+PUT median {bm:.2} ms (mean {:.2}) | handler in-process median {im:.2} ms (mean {:.2}), ratio {:.2}x | object-created over HTTP median {fm:.2} ms (mean {:.2}), ratio {:.2}x |",
        mean(&base),
        mean(&inproc),
        im / bm,
        mean(&func),
        fm / bm
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn large(args: &[String]) {
    let url = arg(args, "--s3", "http://127.0.0.1:8433");
    let size = size_arg(args, "--size", "1GiB");
    let cloud = Setup::default_setup();
    let s3 = client(&url);
    let src = "bench-large-src";
    ensure_bucket(&s3, src).await;
    let part = 16 * 1024 * 1024u64;

    // A multipart source (16 MiB parts), generated part by part.
    let parts = size.div_ceil(part);
    let up = s3.create_multipart_upload().bucket(src).key("multipart").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for n in 0..parts {
        let len = part.min(size - n * part) as usize;
        let out = s3
            .upload_part()
            .bucket(src)
            .key("multipart")
            .upload_id(&id)
            .part_number(n as i32 + 1)
            .body(pattern(len, n).into())
            .send()
            .await
            .unwrap();
        done.push(
            aws_sdk_s3::types::CompletedPart::builder().part_number(n as i32 + 1).e_tag(out.e_tag().unwrap()).build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(src)
        .key("multipart")
        .upload_id(&id)
        .multipart_upload(aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    // A single-part source of the same size, streamed from a file.
    let file = std::env::temp_dir().join(format!("crr-bench-{}.bin", std::process::id()));
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for n in 0..parts {
            f.write_all(&pattern(part.min(size - n * part) as usize, 1000 + n)).unwrap();
        }
    }
    let body = aws_sdk_s3::primitives::ByteStream::from_path(&file).await.unwrap();
    s3.put_object().bucket(src).key("single").content_length(size as i64).body(body).send().await.unwrap();
    let _ = std::fs::remove_file(&file);

    for key in ["multipart", "single"] {
        let dst = format!("bench-large-dst-{}", free_port());
        ensure_bucket(&s3, &dst).await;
        let function = start_function(&cloud, &url, src, &dst, &[]);
        let invoker = Invoker::new();
        let before = peak_rss_kib(function.pid());
        let t = Instant::now();
        let r = invoke(&invoker, &function, &cloud, src, key).await;
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_rss_kib(function.pid());
        let a = s3.head_object().bucket(src).key(key).send().await.unwrap();
        let b = s3.head_object().bucket(&dst).key(key).send().await.unwrap();
        assert_eq!(a.content_length(), b.content_length());
        println!(
            "| copy of a {} MiB {key} object | {:.1} s, {:.0} MiB/s | peak RSS {:.1} MiB (idle {:.1} MiB) | method {} | ETag equal: {} |",
            size / (1024 * 1024),
            secs,
            size as f64 / (1024.0 * 1024.0) / secs,
            peak as f64 / 1024.0,
            before as f64 / 1024.0,
            r["results"][0]["method"],
            a.e_tag() == b.e_tag()
        );
        drop(function);
        tokio::time::sleep(Duration::from_millis(100)).await;

        if let Some(rclone) = args.iter().position(|a| a == "--rclone").and_then(|i| args.get(i + 1)) {
            rclone_copy(rclone, &url, src, &dst, key, size).await;
        }
    }
}

/// Runs rclone against the bench server and samples its peak RSS: (seconds, KiB).
async fn run_rclone(rclone: &str, url: &str, args: &[&str]) -> (f64, u64) {
    let t = Instant::now();
    let mut child = std::process::Command::new(rclone)
        .args(args)
        .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
        .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BENCH_ENDPOINT", url)
        .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", "bench")
        .env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", "bench")
        .env("RCLONE_CONFIG_BENCH_REGION", "us-east-1")
        .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true")
        .spawn()
        .expect("run rclone");
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss_kib(child.id()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (t.elapsed().as_secs_f64(), peak)
}

/// The same copy with rclone, through rclone (server-side copy disabled), for comparison.
async fn rclone_copy(rclone: &str, url: &str, src: &str, dst: &str, key: &str, size: u64) {
    let (from, to) = (format!("bench:{src}/{key}"), format!("bench:{dst}/rclone-{key}"));
    let (secs, peak) = run_rclone(rclone, url, &["copyto", "-q", &from, &to, "--disable", "copy"]).await;
    println!(
        "| same copy with rclone copyto --disable copy | {secs:.1} s, {:.0} MiB/s | peak RSS {:.1} MiB (sampled) | rclone's own chunking | |",
        size as f64 / (1024.0 * 1024.0) / secs,
        peak as f64 / 1024.0
    );
}

/// Puts `n` small objects (`size` bytes, spread over a few prefixes) into each bucket.
async fn populate(s3: &aws_sdk_s3::Client, buckets: &[&str], n: usize, size: usize) {
    use futures::stream::{self, StreamExt};
    let t = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(64, |i| async move {
            let key = format!("p{}/{:02}/obj-{i:07}", i % 7, i % 31);
            let body = pattern(size, i as u64);
            for b in buckets {
                s3.put_object().bucket(*b).key(&key).body(body.clone().into()).send().await.unwrap();
            }
        })
        .await;
    eprintln!("populated {n} objects x {} buckets in {:.1} s", buckets.len(), t.elapsed().as_secs_f64());
}

/// Runs `crr backfill` as the operator would and samples its peak RSS.
async fn run_backfill(cloud: &Setup, url: &str, src: &str, dst: &str) -> (serde_json::Value, f64, u64) {
    let env: Vec<(String, String)> = [
        ("CRR_SOURCE_BUCKET", src),
        ("CRR_SOURCE_ENDPOINT", url),
        ("CRR_DEST_BUCKET", dst),
        ("CRR_DEST_ENDPOINT", url),
        ("CRR_ROLE_ARN", cloud.role_arn.as_str()),
        ("CRR_STS_ENDPOINT", cloud.endpoint.as_str()),
        ("CRR_COPY_MODE", "stream"),
        ("AWS_ACCESS_KEY_ID", cloud.function.id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", cloud.function.secret.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let t = Instant::now();
    let mut child = crr_e2e::clean_command("crr", &env)
        .args(["backfill", "--json", "--restart"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run crr backfill");
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss_kib(child.id()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "crr backfill failed");
    (serde_json::from_slice(&out.stdout).unwrap(), secs, peak)
}

async fn backfill(args: &[String]) {
    let url = arg(args, "--s3", "http://127.0.0.1:8433");
    let cloud = Setup::default_setup();
    let s3 = client(&url);
    let tag = free_port();
    for n in arg(args, "--copy", "5000,50000").split(',').map(|n| n.parse::<usize>().unwrap()) {
        let (src, dst) = (format!("bench-bf-src-{n}-{tag}"), format!("bench-bf-dst-{n}-{tag}"));
        for b in [&src, &dst] {
            ensure_bucket(&s3, b).await;
        }
        populate(&s3, &[&src], n, 1024).await;
        let (report, secs, peak) = run_backfill(&cloud, &url, &src, &dst).await;
        assert_eq!(report["totals"]["copied"].as_u64(), Some(n as u64), "{report}");
        println!(
            "| backfill copying {n} objects of 1 KiB (empty destination) | {secs:.1} s, {:.0} objects/s | peak RSS {:.1} MiB (sampled) |",
            n as f64 / secs,
            peak as f64 / 1024.0
        );
    }
    let n: usize = arg(args, "--identical", "100000").parse().unwrap();
    let (src, dst) = (format!("bench-bf-same-src-{n}-{tag}"), format!("bench-bf-same-dst-{n}-{tag}"));
    for b in [&src, &dst] {
        ensure_bucket(&s3, b).await;
    }
    populate(&s3, &[&src, &dst], n, 100).await;
    let (report, secs, peak) = run_backfill(&cloud, &url, &src, &dst).await;
    assert_eq!(report["totals"]["identical"].as_u64(), Some(n as u64), "{report}");
    assert_eq!(report["totals"]["copied"].as_u64(), Some(0), "{report}");
    println!(
        "| backfill listing + diff of {n} keys, nothing to copy | {secs:.1} s, {:.0} objects/s | peak RSS {:.1} MiB (sampled) |",
        n as f64 / secs,
        peak as f64 / 1024.0
    );
    if let Some(rclone) = args.iter().position(|a| a == "--rclone").and_then(|i| args.get(i + 1)) {
        let (from, to) = (format!("bench:{src}"), format!("bench:{dst}"));
        let (secs, peak) = run_rclone(rclone, &url, &["copy", "-q", "--checksum", &from, &to]).await;
        println!(
            "| same with rclone copy --checksum (lists both, compares MD5) | {secs:.1} s, {:.0} objects/s | peak RSS {:.1} MiB (sampled) |",
            n as f64 / secs,
            peak as f64 / 1024.0
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("overhead") => overhead(&args).await,
        Some("large") => large(&args).await,
        Some("backfill") => backfill(&args).await,
        _ => {
            eprintln!(
                "usage: crr-bench overhead|large|backfill --s3 URL [--objects N] [--size BYTES] [--copy N,N] [--identical N] [--rclone PATH]"
            );
            std::process::exit(2);
        }
    }
}
