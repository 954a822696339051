//! The status page (`crr status --serve`) in a real browser: a workload like the
//! demo's on the local cloud (objects that existed before replication, copied by a
//! sharded backfill; live uploads and deletes through object-created and
//! object-deleted; one replica the destination refuses; a rule whose destination
//! the role may not read), then the page loaded in headless Chromium (Debian's,
//! driven by playwright-core). The rule cards, the backfill bar and the lag chart
//! must show the numbers `crr status --json` gives, the failure its fix, the other
//! rule the missing permission; and the page must update itself without a reload.
//! The screenshot is left in `<target>/ci/test-output/status_page/`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crr_e2e::{
    chromium, clean_command, free_port, output_dir, pattern, put_bytes, repo_root, Answer, CliRun, Fault, FaultProxy,
    Function, Setup,
};
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};

/// The workload's setup: a source, the replicated rule `photos` behind the fault
/// proxy, and `archive`, whose destination the role may not read.
struct World {
    setup: Setup,
    proxy: FaultProxy,
    config: std::path::PathBuf,
}

impl World {
    /// The functions' configuration: a rule file, the source from the variables.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("CRR_CONFIG", self.config.to_str().unwrap()),
            ("CRR_SOURCE_BUCKET", &self.setup.src_bucket),
            ("CRR_SOURCE_ENDPOINT", &self.setup.endpoint),
            ("CRR_SOURCE_REGION", &self.setup.region),
            ("CRR_STS_ENDPOINT", &self.setup.endpoint),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// `crr` as an operator runs it: the configuration and the function's identity.
    fn operator(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("AWS_ACCESS_KEY_ID".into(), self.setup.function.id.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), self.setup.function.secret.clone()));
        env.push(("AWS_REGION".into(), self.setup.region.clone()));
        env
    }

    fn crr(&self, args: &[&str]) -> CliRun {
        self.setup.crr(&self.operator(), args)
    }

    /// Delivers the source's pending notifications to the functions; when the last was delivered.
    async fn deliver(&self, created: &Function, deleted: &Function) -> Instant {
        let pump = self.setup.pump(Some(created), Some(deleted));
        for body in pump.drain(Duration::from_millis(1500)).await.expect("drain the queue") {
            pump.deliver_body(&body).await;
        }
        Instant::now()
    }
}

/// `1,234` as the page writes counts.
fn count(n: &Value) -> String {
    let digits = n.as_u64().unwrap().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(v: &Value) -> String {
    crr::objective::seconds(v.as_u64().unwrap())
}

/// A GET to the page's server with this `Host`, and what it answered.
async fn get(port: u16, method: http::Method, path: &str, host: &str) -> (u16, http::HeaderMap, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = client.request(req).await.expect("the page's server answers");
    let (parts, body) = resp.into_parts();
    (parts.status.as_u16(), parts.headers, body.collect().await.unwrap().to_bytes())
}

/// Starts `crr status --serve` and waits for the line saying where it serves.
fn serve(world: &World, port: u16) -> Child {
    let mut child = clean_command("crr", &world.operator())
        .args(["status", "--serve", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start crr status --serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains(&format!("serving the replication status on http://127.0.0.1:{port}/")), "{line}");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_shows_what_crr_status_json_gives_and_updates_itself() {
    let setup = Setup::provision("page");
    let out = output_dir("status_page");
    let src = setup.s3(&setup.src_admin);
    let archive = format!("{}-archive", setup.dst_bucket);
    setup.s3(&setup.dst_admin).create_bucket().bucket(&archive).send().await.expect("create the archive bucket");
    let proxy = FaultProxy::start(
        &setup.endpoint,
        vec![Fault {
            method: http::Method::PUT,
            matches: format!("/{}/photos/broken.jpg", setup.dst_bucket),
            times: usize::MAX,
            answer: Answer::Error(403, "AccessDenied"),
        }],
    )
    .await;
    let config = out.join("replication.json");
    let rules = json!({"rules": [
        {"id": "photos", "prefixes": ["photos/", "docs/"], "action": "ALL", "role": setup.role_arn, "lagObjectiveSeconds": 60,
         "destination": {"bucket": setup.dst_bucket, "endpoint": proxy.base, "region": setup.region}},
        {"id": "archive", "prefixes": ["archive/"], "role": setup.role_arn,
         "destination": {"bucket": archive, "endpoint": setup.endpoint, "region": setup.region}}
    ]});
    std::fs::write(&config, serde_json::to_vec_pretty(&rules).unwrap()).unwrap();
    let world = World { setup: setup.clone(), proxy, config };

    // Objects from before replication: their notifications are dropped.
    for i in 0..48u64 {
        put_bytes(&src, &setup.src_bucket, &format!("photos/old/{i:03}.jpg"), pattern(1024 + i as usize * 37, i)).await;
    }
    setup.pump(None, None).drain(Duration::from_millis(1500)).await.unwrap();

    // The live path: uploads, one refused replica, deletes.
    let created = Function::start("object-created", &world.env());
    let deleted = Function::start("object-deleted", &world.env());
    for i in 0..24u64 {
        let key = if i % 3 == 0 { format!("docs/report-{i}.txt") } else { format!("photos/live/{i:02}.jpg") };
        put_bytes(&src, &setup.src_bucket, &key, pattern(2048 + i as usize * 101, 100 + i)).await;
    }
    put_bytes(&src, &setup.src_bucket, "photos/broken.jpg", pattern(512, 7)).await;
    world.deliver(&created, &deleted).await;
    for i in [1u64, 2, 4] {
        src.delete_object().bucket(&setup.src_bucket).key(format!("photos/live/{i:02}.jpg")).send().await.unwrap();
    }
    world.deliver(&created, &deleted).await;

    // The backfill copies the older objects, in two ranges per prefix; the refused one fails again.
    let backfill = world.crr(&["backfill", "--rule", "photos", "--shards", "2", "--quiet"]);
    assert_eq!(backfill.code, 1, "the refused replica fails the run: {}", backfill.stderr);
    // "1 of <scanned> keys failed (copied 48, ...".
    let scanned: u64 = backfill
        .stderr
        .split_once("1 of ")
        .and_then(|(_, rest)| rest.split_once(" keys failed (copied 48,"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", backfill.stderr));

    // Instances write their reports at most every 5 s: one more upload after that
    // writes everything the event path saw.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    put_bytes(&src, &setup.src_bucket, "docs/final.txt", pattern(4000, 9)).await;
    let flushed = world.deliver(&created, &deleted).await;

    let status = world.crr(&["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let rules: Value = serde_json::from_str(&status.stdout).unwrap();
    let (photos, archived) = (&rules[0], &rules[1]);
    assert_eq!((photos["rule"].as_str(), archived["rule"].as_str()), (Some("photos"), Some("archive")));
    // The figures themselves: 24 live copies and the last one (the refused one failed twice).
    let activity = &photos["activity"];
    assert_eq!(activity["copiesLastHour"], 25, "{activity}");
    assert_eq!(activity["failuresLastHour"], 2, "{activity}");
    assert_eq!(photos["lag"]["lastKey"], "docs/final.txt");
    assert_eq!(photos["objective"]["state"], "met");
    let failures = activity["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2);
    for f in failures {
        assert_eq!((f["key"].as_str(), f["errorType"].as_str()), (Some("photos/broken.jpg"), Some("AccessDenied")));
        assert!(f["fix"].as_str().unwrap().contains("crr policy generate"), "{f}");
    }
    let functions: Vec<&str> = failures.iter().map(|f| f["function"].as_str().unwrap()).collect();
    assert!(functions.contains(&"object-created") && functions.contains(&"backfill"), "{functions:?}");
    let progress = &photos["backfillProgress"];
    assert_eq!((progress["phase"].as_str(), progress["percent"].as_f64()), (Some("done"), Some(100.0)), "{progress}");
    assert_eq!(progress["scanned"], scanned);
    assert_eq!(progress["copied"], 48);
    assert_eq!(progress["ranges"], photos["backfill"].as_array().unwrap().len());
    assert!(progress["ranges"].as_u64().unwrap() >= 3, "shards of photos/ and docs/: {progress}");
    let problems = archived["problems"].as_array().unwrap();
    assert!(!problems.is_empty() && problems.iter().all(|p| p["permission"] == true), "{archived}");

    // --check vouches for photos, cannot for archive.
    let check = world.crr(&["status", "--check"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(
        check.stdout.contains("OK rule photos: lag p99") && check.stdout.contains("UNREADABLE rule archive"),
        "{}",
        check.stdout
    );

    // The page's server: the JSON it polls is what --json printed; read-only; its own host only.
    let port = free_port();
    let mut server = serve(&world, port);
    let host = format!("127.0.0.1:{port}");
    let (code, headers, body) = get(port, http::Method::GET, "/api/status", &host).await;
    assert_eq!(code, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), rules, "the page's data is crr status --json");
    let text = String::from_utf8_lossy(&body);
    for secret in [&setup.function.secret, &setup.src_admin.secret, &setup.dst_admin.secret] {
        assert!(!text.contains(secret.as_str()), "a secret on the page");
    }
    let (code, headers, _) = get(port, http::Method::GET, "/", &format!("localhost:{port}")).await;
    assert_eq!(code, 200);
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(get(port, http::Method::POST, "/api/status", &host).await.0, 405, "read-only");
    assert_eq!(get(port, http::Method::GET, "/api/status", &format!("rebound.example:{port}")).await.0, 421);

    // The page in Chromium.
    let mut browser = std::process::Command::new("node")
        .arg(repo_root().join("tests/browser/status_page.mjs"))
        .args([&format!("http://127.0.0.1:{port}/"), out.to_str().unwrap(), "photos"])
        .env("CRR_CHROMIUM", chromium())
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node (Node.js 20+; scripts/setup installs playwright-core)");
    let (lines, reader) = std::sync::mpsc::channel::<String>();
    let stdout = browser.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let next = |prefix: &str| -> Value {
        let line =
            reader.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| panic!("no {prefix} from the browser"));
        let json = line.strip_prefix(prefix).unwrap_or_else(|| panic!("expected {prefix}, got {line}"));
        serde_json::from_str(json.trim()).unwrap()
    };
    let shown = next("SNAPSHOT");
    assert_eq!(shown["failures"], json!([]), "the page loaded cleanly from this server alone");
    let cards = shown["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 2);
    let screenshot = out.join("status-page.png");
    assert!(std::fs::metadata(&screenshot).map(|m| m.len() > 20_000).unwrap_or(false), "{}", screenshot.display());

    for (card, rule) in cards.iter().zip(rules.as_array().unwrap()) {
        assert_eq!(card["rule"], rule["rule"]);
        assert_eq!(card["source"], rule["source"]);
        assert_eq!(card["destination"], rule["destination"]);
        let action = card["action"].as_str().unwrap();
        assert!(action.starts_with(rule["action"].as_str().unwrap()), "{action}");
        assert_eq!(card["prefixes"], rule["prefixes"]);
        assert_eq!(
            card["objective"],
            format!("lag objective {}", ms(&json!(rule["lagObjectiveSeconds"].as_u64().unwrap() * 1000)))
        );
    }

    // The backfill bar.
    let card = &cards[0];
    let bar = &card["backfill"];
    assert_eq!(bar["percent"], "100");
    assert_eq!(bar["phase"], "done");
    for field in ["scanned", "copied", "bytes"] {
        assert_eq!(bar[field], progress[field].to_string(), "{field}");
    }
    assert!((bar["filled"].as_f64().unwrap() - 1.0).abs() < 0.01, "a full bar: {bar}");
    assert_eq!(bar["label"], "100% · done");
    assert_eq!(bar["figures"]["scanned"], count(&progress["scanned"]));
    assert_eq!(bar["figures"]["copied"], count(&progress["copied"]));
    assert_eq!(bar["figures"]["bytes"], crr_cli::backfill::human_bytes(progress["bytes"].as_u64().unwrap()));
    assert_eq!(bar["figures"]["ranges"], format!("{} of {} done", progress["rangesDone"], progress["ranges"]));
    let scopes: Vec<&Value> = photos["backfill"].as_array().unwrap().iter().map(|s| &s["scope"]).collect();
    assert_eq!(card["ranges"].as_array().unwrap().iter().collect::<Vec<_>>(), scopes);

    // The lag figures and the chart: one point per minute with copies, at the JSON's p50 and p99.
    assert_eq!(card["p50"], ms(&activity["recent"]["p50Ms"]));
    assert_eq!(card["p99"], ms(&activity["recent"]["p99Ms"]));
    assert_eq!(card["copiesHour"], count(&activity["copiesLastHour"]));
    assert_eq!(card["failuresHour"], count(&activity["failuresLastHour"]));
    let minutes: Vec<Value> = activity["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["count"].as_u64().unwrap() > 0)
        .map(|m| json!([m["start"], m["p50Ms"], m["p99Ms"], m["count"]]))
        .collect();
    assert!(!minutes.is_empty());
    let points: Vec<Value> = card["chart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["minute"], p["p50"], p["p99"], p["count"]]))
        .collect();
    assert_eq!(points, minutes, "the chart's points are the JSON's minutes");
    for p in card["chart"].as_array().unwrap() {
        assert!(p["y99"].as_f64().unwrap() <= p["y50"].as_f64().unwrap(), "p99 drawn at or above p50: {p}");
    }
    assert_eq!(card["lines"], 2, "a p50 and a p99 line");

    // The failures with their fixes, and the rule the role may not read.
    let rows = card["failures"].as_array().unwrap();
    assert_eq!(rows.len(), failures.len());
    for (row, f) in rows.iter().zip(failures) {
        assert_eq!((&row["key"], &row["type"], &row["fix"]), (&f["key"], &f["errorType"], &f["fix"]));
    }
    let blocked = cards[1]["problems"].as_array().unwrap();
    assert_eq!(blocked.len(), problems.len());
    for (shown, p) in blocked.iter().zip(problems) {
        let shown = shown.as_str().unwrap();
        assert!(shown.starts_with("Permission missing: "), "{shown}");
        assert!(shown.contains(p["fix"].as_str().unwrap()), "{shown}");
    }

    // It updates itself: one more copy shows up without a reload.
    tokio::time::sleep(Duration::from_millis(5200).saturating_sub(flushed.elapsed())).await;
    put_bytes(&src, &setup.src_bucket, "photos/live/late.jpg", pattern(3000, 11)).await;
    world.deliver(&created, &deleted).await;
    let updated = next("UPDATED");
    assert_eq!(updated["sameDocument"], true, "no reload");
    assert_eq!(updated["failures"], json!([]));
    assert_eq!(updated["cards"][0]["copiesHour"], "26");
    assert!(browser.wait().unwrap().success(), "the browser script ended cleanly");

    let _ = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let stopped = server.wait().unwrap();
    assert!(stopped.success(), "Ctrl-C or SIGTERM stops the server cleanly: {stopped}");
    drop(world.proxy);
    eprintln!("status page screenshot: {}", screenshot.display());
}
