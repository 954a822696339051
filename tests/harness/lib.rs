//! Test harness for end-to-end tests: the local cloud's facts, isolated setups,
//! function processes in their real run modes, and HTTP calls to them.
//!
//! Needs the local cloud (`scripts/local-cloud up`) and the workspace binaries
//! built in the same profile as the tests; `scripts/test` arranges both. The local
//! OSS server's side of a setup is in [`oss`].

pub mod chaos;
pub mod fast;
pub mod oss;
pub mod pairs;
mod proxy;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use bytes::Bytes;
use crr::config::Endpoint;
use crr_cli::dev::{PlatformIdentity, Pump, PumpConfig, Routes};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
pub use oss::{oss_event, OssFacts};
pub use proxy::{Answer, Fault, FaultCounts, FaultProxy, Gate, RandomFaults};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The directory holding the binaries built in the same profile as this test.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // Tests live in target/<profile>/deps/, binaries in target/<profile>/.
    let dir = exe.parent().expect("the executable's directory");
    if dir.ends_with("deps") { dir.parent().expect("target/<profile>") } else { dir }.to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries in this profile first (scripts/test does)",
        path.display()
    );
    path
}

/// A directory for what a test leaves to look at (screenshots, pages), emptied
/// first: `<target>/<profile>/test-output/<name>/`.
pub fn output_dir(name: &str) -> PathBuf {
    let dir = bin_dir().join("test-output").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The Chromium browser tests drive: `CRR_CHROMIUM`, else Debian's `chromium`.
pub fn chromium() -> PathBuf {
    let candidates = std::env::var_os("CRR_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/bin/chromium"), PathBuf::from("/usr/bin/chromium-browser")]);
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!("no Chromium: scripts/setup installs Debian's chromium package (or set CRR_CHROMIUM to a Chromium binary)")
}

#[derive(Debug, Clone)]
pub struct Keys {
    pub id: String,
    pub secret: String,
}

impl Keys {
    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.id, &self.secret, None, None, "test")
    }
}

/// One isolated two-account setup in the local cloud.
#[derive(Debug, Clone)]
pub struct Setup {
    pub endpoint: String,
    pub region: String,
    pub src_account: String,
    pub dst_account: String,
    pub src_bucket: String,
    pub dst_bucket: String,
    pub queue_url: String,
    pub role_arn: String,
    pub src_admin: Keys,
    pub dst_admin: Keys,
    /// The functions' own identity: may read the source and assume the role.
    pub function: Keys,
    /// The local Alibaba STS endpoint (`None` for a cloud started before it existed).
    pub alibaba_sts: Option<String>,
    /// The local cloud's seaweedfs S3 endpoint (no authentication), for tests with many objects.
    pub fast_s3: Option<String>,
    /// The setup's buckets and replication role on the local OSS server.
    pub oss: Option<OssFacts>,
}

impl Setup {
    /// The default setup written by `scripts/local-cloud up`.
    pub fn default_setup() -> Setup {
        let dir = std::env::var("CRR_LOCAL_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".local"));
        let path = dir.join("cloud.env");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; start the local cloud with scripts/local-cloud up", path.display()));
        Setup::from_env_text(&text)
    }

    /// A fresh setup of its own (buckets, queue, role, function user), so tests
    /// running at the same time never see each other's events.
    pub fn provision(name: &str) -> Setup {
        let unique = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let out = Command::new(repo_root().join("scripts/local-cloud"))
            .args(["provision", &unique])
            .output()
            .expect("run scripts/local-cloud provision");
        assert!(
            out.status.success(),
            "scripts/local-cloud provision {unique} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Setup::from_env_text(&String::from_utf8_lossy(&out.stdout))
    }

    fn from_env_text(text: &str) -> Setup {
        let vars: HashMap<&str, &str> =
            text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| vars.get(k).unwrap_or_else(|| panic!("{k} missing from the cloud env")).to_string();
        Setup {
            endpoint: get("LOCAL_ENDPOINT"),
            region: get("LOCAL_REGION"),
            src_account: get("LOCAL_SRC_ACCOUNT"),
            dst_account: get("LOCAL_DST_ACCOUNT"),
            src_bucket: get("LOCAL_SRC_BUCKET"),
            dst_bucket: get("LOCAL_DST_BUCKET"),
            queue_url: get("LOCAL_QUEUE_URL"),
            role_arn: get("LOCAL_ROLE_ARN"),
            src_admin: Keys { id: get("LOCAL_SRC_ADMIN_KEY_ID"), secret: get("LOCAL_SRC_ADMIN_SECRET") },
            dst_admin: Keys { id: get("LOCAL_DST_ADMIN_KEY_ID"), secret: get("LOCAL_DST_ADMIN_SECRET") },
            function: Keys { id: get("LOCAL_FN_KEY_ID"), secret: get("LOCAL_FN_SECRET") },
            alibaba_sts: vars.get("LOCAL_ALIBABA_STS_ENDPOINT").map(|v| v.to_string()),
            fast_s3: vars.get("LOCAL_FAST_S3_ENDPOINT").map(|v| v.to_string()),
            oss: OssFacts::from_vars(&vars),
        }
    }

    /// This setup's facts in the form of `.local/cloud.env` (`LOCAL_*=value` lines).
    pub fn cloud_env_text(&self) -> String {
        let mut lines = vec![
            ("LOCAL_ENDPOINT", self.endpoint.as_str()),
            ("LOCAL_REGION", &self.region),
            ("LOCAL_SRC_ACCOUNT", &self.src_account),
            ("LOCAL_DST_ACCOUNT", &self.dst_account),
            ("LOCAL_SRC_BUCKET", &self.src_bucket),
            ("LOCAL_DST_BUCKET", &self.dst_bucket),
            ("LOCAL_QUEUE_URL", &self.queue_url),
            ("LOCAL_ROLE_ARN", &self.role_arn),
            ("LOCAL_SRC_ADMIN_KEY_ID", &self.src_admin.id),
            ("LOCAL_SRC_ADMIN_SECRET", &self.src_admin.secret),
            ("LOCAL_DST_ADMIN_KEY_ID", &self.dst_admin.id),
            ("LOCAL_DST_ADMIN_SECRET", &self.dst_admin.secret),
            ("LOCAL_FN_KEY_ID", &self.function.id),
            ("LOCAL_FN_SECRET", &self.function.secret),
        ];
        if let Some(sts) = &self.alibaba_sts {
            lines.push(("LOCAL_ALIBABA_STS_ENDPOINT", sts));
        }
        if let Some(oss) = &self.oss {
            lines.extend([
                ("LOCAL_OSS_ENDPOINT", oss.endpoint.as_str()),
                ("LOCAL_OSS_REGION", &oss.region),
                ("LOCAL_OSS_SRC_BUCKET", &oss.src_bucket),
                ("LOCAL_OSS_DST_BUCKET", &oss.dst_bucket),
                ("LOCAL_OSS_ROLE_ARN", &oss.role_arn),
            ]);
        }
        lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    /// The local Alibaba STS endpoint that knows this setup's function key.
    pub fn alibaba_sts_endpoint(&self) -> &str {
        self.alibaba_sts.as_deref().unwrap_or_else(|| {
            panic!(
                "LOCAL_ALIBABA_STS_ENDPOINT is missing from the cloud env: the local cloud predates \
                 the Alibaba STS endpoint; restart it (scripts/local-cloud down && scripts/local-cloud up)"
            )
        })
    }

    /// The local seaweedfs S3 endpoint.
    pub fn fast_s3_endpoint(&self) -> &str {
        self.fast_s3.as_deref().unwrap_or_else(|| {
            panic!(
                "LOCAL_FAST_S3_ENDPOINT is missing from the cloud env: the local cloud predates \
                 seaweedfs; run scripts/local-cloud up again"
            )
        })
    }

    /// The replication role's name, without path.
    pub fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn)
    }

    /// The setup's name, as `scripts/local-cloud` knows it (its role is `crr-replicator-NAME`).
    pub fn name(&self) -> &str {
        self.role_name().strip_prefix("crr-replicator-").expect("a provisioned setup")
    }

    /// Rewrites the replication role's policy with `scripts/local-cloud set-role-policy`:
    /// `["--without", "s3:PutObject"]` takes an action away, no arguments restore it.
    pub fn set_role_policy(&self, args: &[&str]) {
        let out = Command::new(repo_root().join("scripts/local-cloud"))
            .args(["set-role-policy", self.name()])
            .args(args)
            .output()
            .expect("run scripts/local-cloud set-role-policy");
        assert!(out.status.success(), "set-role-policy failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs the `crr` tool with `env` and `args`; fails the test if its output shows any
    /// of this setup's secrets.
    pub fn crr(&self, env: &[(String, String)], args: &[&str]) -> CliRun {
        let out = clean_command("crr", env).args(args).output().expect("run crr");
        let run = CliRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for secret in [&self.function.secret, &self.src_admin.secret, &self.dst_admin.secret] {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "a secret was printed"
            );
        }
        run
    }

    /// Puts `policy` as the destination bucket's policy, with the destination admin's keys.
    pub async fn put_dest_bucket_policy(&self, policy: &serde_json::Value) {
        self.s3(&self.dst_admin)
            .put_bucket_policy()
            .bucket(&self.dst_bucket)
            .policy(policy.to_string())
            .send()
            .await
            .expect("put the bucket policy");
    }

    /// The replication role as an Alibaba Cloud RAM role ARN, `acs:ram::<uid>:role/<name>`.
    pub fn alibaba_role_arn(&self) -> String {
        format!("acs:ram::{}:role/{}", self.dst_account, self.role_name())
    }

    /// [`Setup::function_env`] with the role assumed through the local Alibaba STS.
    pub fn alibaba_function_env(&self) -> Vec<(String, String)> {
        let mut env = self.function_env();
        for (k, v) in env.iter_mut() {
            match k.as_str() {
                "CRR_ROLE_ARN" => *v = self.alibaba_role_arn(),
                "CRR_STS_ENDPOINT" => *v = self.alibaba_sts_endpoint().to_owned(),
                _ => {}
            }
        }
        env
    }

    pub fn s3(&self, keys: &Keys) -> aws_sdk_s3::Client {
        let endpoint = Endpoint { url: Some(self.endpoint.clone()), region: self.region.clone(), path_style: true };
        crr::store::s3_client(&crr::store::http_client(), &endpoint, Arc::new(keys.credentials()))
    }

    /// The `CRR_*` configuration for functions replicating this setup.
    pub fn function_env(&self) -> Vec<(String, String)> {
        [
            ("CRR_SOURCE_BUCKET", self.src_bucket.as_str()),
            ("CRR_SOURCE_ENDPOINT", &self.endpoint),
            ("CRR_SOURCE_REGION", &self.region),
            ("CRR_DEST_BUCKET", &self.dst_bucket),
            ("CRR_DEST_ENDPOINT", &self.endpoint),
            ("CRR_ROLE_ARN", &self.role_arn),
            ("CRR_STS_ENDPOINT", &self.endpoint),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A pump delivering this setup's notifications to the given functions.
    pub fn pump(&self, created: Option<&Function>, deleted: Option<&Function>) -> Pump {
        Pump::new(PumpConfig {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            queue_url: self.queue_url.clone(),
            queue_credentials: self.src_admin.credentials(),
            routes: Routes { created: created.map(|f| f.base.clone()), deleted: deleted.map(|f| f.base.clone()) },
            identity: Some(PlatformIdentity {
                access_key_id: self.function.id.clone(),
                access_key_secret: fc_runtime::Secret::new(self.function.secret.clone()),
                region: self.region.clone(),
                account_id: self.src_account.clone(),
            }),
            function_timeout: Duration::from_secs(120),
        })
    }
}

/// A function binary running as a Function Compute custom runtime on a free port.
/// What one run of the `crr` tool printed, and its exit code.
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Function {
    child: Child,
    pub base: String,
    pub port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A command for a workspace binary with a clean environment: only PATH,
/// RUST_LOG and what the test passes, so no stray credentials leak in.
pub fn clean_command(name: &str, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.env_clear();
    for k in ["PATH", "RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    // No instance metadata lookups in tests.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd
}

impl Function {
    /// Starts `name` in FC mode with `env` and waits until it accepts connections.
    pub fn start(name: &str, env: &[(String, String)]) -> Function {
        let port = free_port();
        let mut cmd = clean_command(name, env);
        cmd.env("FC_SERVER_PORT", port.to_string()).env("FC_SERVER_HOST", "127.0.0.1");
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stdout.take().expect("piped stdout");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited before listening: {status}");
            }
            assert!(Instant::now() < deadline, "{name} did not listen on {port} within 15 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Function { child, base: format!("http://127.0.0.1:{port}"), port, stdout }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lines the function wrote to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response from a function.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: serde_json::Value,
}

/// POSTs `body` to `url` with `headers`, on a new connection.
pub async fn post(url: &str, body: impl Into<Bytes>, headers: &[(&str, &str)]) -> Reply {
    Invoker::new().post(url, body, headers).await
}

/// [`post`], with a failed connection (a killed function, say) as an error.
pub async fn try_post(url: &str, body: impl Into<Bytes>, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| format!("invoking {url}: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.map_err(|e| format!("reading the reply of {url}: {e}"))?.to_bytes();
    let json =
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    Ok(Reply { status, headers, json })
}

/// An HTTP client that keeps its connections, as the platform does between invocations.
#[derive(Clone)]
pub struct Invoker(Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>);

impl Default for Invoker {
    fn default() -> Self {
        Self::new()
    }
}

impl Invoker {
    pub fn new() -> Self {
        Invoker(Client::builder(TokioExecutor::new()).build_http())
    }

    pub async fn post(&self, url: &str, body: impl Into<Bytes>, headers: &[(&str, &str)]) -> Reply {
        post_with(&self.0, url, body.into(), headers).await
    }
}

async fn post_with(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    body: Bytes,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = http::Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Full::new(body)).unwrap()).await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json =
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    Reply { status, headers, json }
}

/// An S3 notification record for `key` (form-encoded like S3 and moto send it).
pub fn s3_event(event_name: &str, bucket: &str, key: &str) -> serde_json::Value {
    serde_json::json!({"Records": [s3_record(event_name, bucket, key)]})
}

pub fn s3_record(event_name: &str, bucket: &str, key: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": event_name,
        "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": form_encode(key)}}
    })
}

/// An S3 notification record with the size and ETag real notifications carry.
pub fn s3_event_with(event_name: &str, bucket: &str, key: &str, size: u64, etag: &str) -> serde_json::Value {
    let mut record = s3_record(event_name, bucket, key);
    record["s3"]["object"]["size"] = size.into();
    record["s3"]["object"]["eTag"] = etag.trim_matches('"').into();
    serde_json::json!({ "Records": [record] })
}

/// Form-encodes a key the way S3 notifications do (`quote_plus`).
pub fn form_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Reads a whole object.
pub async fn get_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => {
            let f = crr::error::Failure::from_sdk(&e);
            assert!(f.is_not_found(), "get {bucket}/{key}: {f:?}");
            None
        }
    }
}

pub async fn put_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {}", crr::error::source_text(&e)));
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Uploads `parts` as one multipart object; returns its ETag (without quotes).
pub async fn put_multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> String {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let upload = s3.create_multipart_upload().bucket(bucket).key(key).send().await.expect("create multipart upload");
    let id = upload.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(part.clone().into())
            .send()
            .await
            .expect("upload part");
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let out = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .expect("complete multipart upload");
    out.e_tag().unwrap().trim_matches('"').to_owned()
}

/// HEAD, or `None` if the object does not exist.
pub async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Option<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Some(h),
        Err(e) => {
            let f = crr::error::Failure::from_sdk(&e);
            assert!(f.is_not_found(), "head {bucket}/{key}: {f:?}");
            None
        }
    }
}

/// Tags of an object, sorted.
pub async fn tags(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = s3.get_object_tagging().bucket(bucket).key(key).send().await.expect("get tagging");
    let mut t: Vec<(String, String)> =
        out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    t.sort();
    t
}

/// Delivers the setup's pending notifications to `function` until the queue is
/// idle; returns the function's replies.
pub async fn deliver_all(setup: &Setup, created: &Function) -> Vec<crr_cli::dev::Delivery> {
    let pump = setup.pump(Some(created), None);
    let bodies = pump.drain(Duration::from_millis(1500)).await.expect("drain queue");
    let mut replies = Vec::new();
    for body in bodies {
        let (_, mut d) = pump.deliver_body(&body).await;
        replies.append(&mut d);
    }
    replies
}

/// The JSON replies of successful invocations, flattened to their per-record results.
pub fn results(replies: &[crr_cli::dev::Delivery]) -> Vec<serde_json::Value> {
    replies
        .iter()
        .filter(|d| d.status == 200)
        .flat_map(|d| {
            let v: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_default();
            v["results"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

/// The result for `key` (the last one if several).
pub fn result_for<'a>(results: &'a [serde_json::Value], key: &str) -> &'a serde_json::Value {
    results.iter().rev().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no result for {key:?} in {results:#?}"))
}

/// Every outcome reported for `key`, in delivery order.
pub fn outcomes_for(results: &[serde_json::Value], key: &str) -> Vec<String> {
    results.iter().filter(|r| r["key"] == key).filter_map(|r| r["outcome"].as_str().map(str::to_owned)).collect()
}

/// The result that copied `key`.
pub fn copy_result_for<'a>(results: &'a [serde_json::Value], key: &str) -> &'a serde_json::Value {
    results
        .iter()
        .find(|r| r["key"] == key && r["outcome"] == "copy")
        .unwrap_or_else(|| panic!("{key:?} was never copied: {:?}", outcomes_for(results, key)))
}
