//! `crr dev up` and `crr invoke`: the functions of template.yaml run locally
//! against the local cloud, triggered the way Function Compute triggers them.
//!
//! `up` reads the template, fills its parameters from the local cloud's facts
//! (`.local/cloud.env`) and `--param`, starts each function's binary as a custom
//! runtime on its own port with the template's environment, calls `/initialize`,
//! then delivers the source bucket's notifications (from the local cloud's SQS
//! queue) to the functions whose OSS triggers match them, as OSS trigger events,
//! and fires the Timer triggers on their schedules. Every invocation is one line on
//! stdout; the functions' own output goes to stderr, each line prefixed with the
//! function's name. A state file tells `crr invoke` where the functions listen.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Semaphore;

use crate::cron::Schedule;
use crate::dev::{PlatformIdentity, Pump, PumpConfig, QueueMessage, Routes};
use crate::route::Router;
use crate::template::{FunctionSpec, ResolveOptions, Stack, Trigger};

/// How many times a failed event is delivered again before it is given up,
/// like the template's `MaxAsyncRetryAttempts: 3`.
const RETRIES: u32 = 3;

#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    /// The Function Compute template whose functions and triggers to run.
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// The local cloud's facts (written by scripts/local-cloud up, or a provisioned setup's output).
    #[arg(long, default_value = ".local/cloud.env")]
    pub cloud_env: PathBuf,
    /// A template parameter, overriding its default and the value taken from the cloud env. Repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Where the function binaries are (default: the directory of this crr binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Where to write the running functions' URLs and pids, for crr invoke.
    #[arg(long, default_value = ".local/dev.json", env = "CRR_DEV_STATE")]
    pub state_file: PathBuf,
    /// Stop once no message arrived and no invocation ran for this many seconds (for scripts).
    #[arg(long, value_name = "SECONDS")]
    pub until_idle: Option<u64>,
    /// Listen address of the functions.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// First port for the functions, one each in template order (default: free ports).
    #[arg(long)]
    pub base_port: Option<u16>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct InvokeArgs {
    /// The function's name in the template, e.g. backfill.
    pub function: String,
    /// The event: JSON text, @FILE, or @- for stdin.
    #[arg(long, default_value = "{}")]
    pub payload: String,
    /// The function's base URL, instead of looking it up in the state file.
    #[arg(long)]
    pub url: Option<String>,
    /// The state file crr dev up writes.
    #[arg(long, default_value = ".local/dev.json", env = "CRR_DEV_STATE")]
    pub state_file: PathBuf,
    /// Cloud env with the function identity (LOCAL_FN_KEY_ID / LOCAL_FN_SECRET); default: the one crr dev up used.
    #[arg(long)]
    pub cloud_env: Option<PathBuf>,
    /// Seconds to wait for the answer (default: the function's Timeout).
    #[arg(long)]
    pub timeout: Option<u64>,
}

/// What `crr dev up` leaves for other commands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub pid: u32,
    pub template: PathBuf,
    pub cloud_env: PathBuf,
    pub region: String,
    pub account_id: String,
    pub functions: Vec<StateFunction>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StateFunction {
    pub name: String,
    pub service: String,
    pub url: String,
    pub pid: u32,
    pub memory_mb: u64,
    pub timeout_secs: u64,
}

/// `KEY=VALUE` lines, `#` comments ignored.
pub fn read_env_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {}: start the local cloud with scripts/local-cloud up, or pass --cloud-env with a setup's facts",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// Template parameters taken from the local cloud's facts, for the parameters the template declares.
pub const PARAMETER_MAP: &[(&str, &str)] = &[
    ("SourceBucket", "LOCAL_SRC_BUCKET"),
    ("SourceEndpoint", "LOCAL_ENDPOINT"),
    ("SourceRegion", "LOCAL_REGION"),
    ("DestBucket", "LOCAL_DST_BUCKET"),
    ("DestEndpoint", "LOCAL_ENDPOINT"),
    ("DestRegion", "LOCAL_REGION"),
    ("ReplicationRoleArn", "LOCAL_ROLE_ARN"),
    ("StsEndpoint", "LOCAL_ENDPOINT"),
];

/// The parameter values for a run: the cloud env's facts mapped by [`PARAMETER_MAP`],
/// then `--param` values. An Alibaba role (`acs:ram::`) given without an STS endpoint
/// is assumed through the local Alibaba STS.
pub fn parameters(
    cloud: &BTreeMap<String, String>,
    overrides: &[String],
    declared: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (param, var) in PARAMETER_MAP {
        if let (true, Some(v)) = (declared.iter().any(|d| d == param), cloud.get(*var)) {
            params.insert(param.to_string(), v.clone());
        }
    }
    let mut given = BTreeMap::new();
    for p in overrides {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| anyhow!("--param {p:?}: expected KEY=VALUE, e.g. --param TriggerPrefix=logs/"))?;
        given.insert(k.trim().to_owned(), v.to_owned());
    }
    let alibaba_role = given.get("ReplicationRoleArn").is_some_and(|r| r.starts_with("acs:ram::"));
    if alibaba_role && !given.contains_key("StsEndpoint") {
        if let Some(sts) = cloud.get("LOCAL_ALIBABA_STS_ENDPOINT") {
            params.insert("StsEndpoint".into(), sts.clone());
        }
    }
    params.extend(given);
    Ok(params)
}

/// Calls functions the way Function Compute does: `POST /invoke` or `/initialize`
/// with the `x-fc-*` headers, the function's identity among them.
#[derive(Clone)]
pub struct Caller {
    http: Client<HttpConnector, Full<Bytes>>,
    identity: Option<PlatformIdentity>,
}

/// A function's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub millis: u128,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// `errorType: errorMessage` of a failed invocation, or the body as it came.
    pub fn error_text(&self) -> String {
        match serde_json::from_str::<serde_json::Value>(&self.body) {
            Ok(v) if v.get("errorType").is_some() || v.get("errorMessage").is_some() => format!(
                "{}: {}",
                v["errorType"].as_str().unwrap_or("Error"),
                v["errorMessage"].as_str().unwrap_or_default()
            ),
            _ => format!("status {}: {}", self.status, self.body.trim()),
        }
    }
}

/// Where and what a function is, for a call.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub service: String,
    pub url: String,
    pub memory_mb: u64,
    pub timeout: Duration,
}

impl Caller {
    pub fn new(identity: Option<PlatformIdentity>) -> Caller {
        Caller { http: Client::builder(TokioExecutor::new()).build_http(), identity }
    }

    pub async fn call(&self, target: &Target, path: &str, body: Bytes) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut req = http::Request::post(format!("{}{path}", target.url))
            .header("content-type", "application/octet-stream")
            .header("x-fc-request-id", uuid::Uuid::new_v4().to_string())
            .header("x-fc-function-name", &target.name)
            .header("x-fc-service-name", &target.service)
            .header("x-fc-function-handler", "bootstrap")
            .header("x-fc-function-initializer", "bootstrap")
            .header("x-fc-function-memory", target.memory_mb.to_string())
            .header("x-fc-function-timeout", target.timeout.as_secs().to_string())
            .header("x-fc-control-path", path);
        if let Some(id) = &self.identity {
            req = id.headers(req);
        }
        let resp = tokio::time::timeout(target.timeout, self.http.request(req.body(Full::new(body))?))
            .await
            .map_err(|_| anyhow!("{} did not answer within its timeout of {:?}", target.name, target.timeout))?
            .map_err(|e| anyhow!("{} at {}: {e}", target.name, target.url))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned(), millis: started.elapsed().as_millis() })
    }
}

fn identity_from(cloud: &BTreeMap<String, String>) -> Option<PlatformIdentity> {
    Some(PlatformIdentity {
        access_key_id: cloud.get("LOCAL_FN_KEY_ID")?.clone(),
        access_key_secret: fc_runtime::Secret::new(cloud.get("LOCAL_FN_SECRET")?.clone()),
        region: cloud.get("LOCAL_REGION").cloned().unwrap_or_else(|| "us-east-1".into()),
        account_id: cloud.get("LOCAL_SRC_ACCOUNT").cloned().unwrap_or_default(),
    })
}

/// One started function.
struct Running {
    target: Target,
    child: tokio::process::Child,
    /// Its InstanceConcurrency: requests beyond it wait, as on one instance.
    slots: Arc<Semaphore>,
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    messages: AtomicU64,
    events: AtomicU64,
    invocations: AtomicU64,
    failed: AtomicU64,
    unrouted: AtomicU64,
    timer_fires: AtomicU64,
    given_up: AtomicU64,
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `crr dev up`: runs until Ctrl-C, SIGTERM or `--until-idle`; returns the exit code.
pub async fn up(args: UpArgs) -> anyhow::Result<i32> {
    if let Some(pid) = live_runner(&args.state_file) {
        bail!(
            "crr dev up is already running (pid {pid}, state file {}); stop it first, or pass another --state-file",
            args.state_file.display()
        );
    }
    let cloud = read_env_file(&args.cloud_env)?;
    let region = cloud.get("LOCAL_REGION").cloned().unwrap_or_else(|| "us-east-1".into());
    let account_id = cloud.get("LOCAL_SRC_ACCOUNT").cloned().unwrap_or_default();

    // The template's parameter names first, to know which facts apply.
    let declared = crate::template::declared_parameters(&args.template)?;
    let params = parameters(&cloud, &args.params, &declared)?;
    let options =
        ResolveOptions { params, region: region.clone(), account_id: account_id.clone(), stack_name: "crr-dev".into() };
    let stack = crate::template::load(&args.template, &options)?;

    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    for f in &stack.functions {
        let path = bin_dir.join(&f.binary);
        if !path.is_file() {
            bail!(
                "{}: the binary for function {} (CodeUri names {}) is missing; build it with \
                 `cargo build --profile ci --bins` and pass its directory with --bin-dir",
                path.display(),
                f.name,
                f.binary
            );
        }
    }
    let identity = identity_from(&cloud);
    if identity.is_none() {
        eprintln!(
            "warning: no LOCAL_FN_KEY_ID/LOCAL_FN_SECRET in {}: functions get no credentials",
            args.cloud_env.display()
        );
    }

    let mut running = Vec::new();
    let result = start_all(&args, &stack, &bin_dir, &region, &account_id, &mut running).await;
    if let Err(e) = result {
        stop_all(&mut running).await;
        return Err(e);
    }
    let caller = Caller::new(identity.clone());
    for r in &running {
        let answer = caller.call(&r.target, "/initialize", Bytes::new()).await;
        match answer {
            Ok(a) if a.ok() => println!("initialized function={} url={} ms={}", r.target.name, r.target.url, a.millis),
            Ok(a) => {
                eprintln!("error: {} failed to initialize: {}", r.target.name, a.error_text());
                stop_all(&mut running).await;
                return Ok(1);
            }
            Err(e) => {
                eprintln!("error: initializing {}: {e}", r.target.name);
                stop_all(&mut running).await;
                return Ok(1);
            }
        }
    }

    let state = State {
        pid: std::process::id(),
        template: absolute(&args.template),
        cloud_env: absolute(&args.cloud_env),
        region: region.clone(),
        account_id: account_id.clone(),
        functions: running
            .iter()
            .map(|r| StateFunction {
                name: r.target.name.clone(),
                service: r.target.service.clone(),
                url: r.target.url.clone(),
                pid: r.child.id().unwrap_or_default(),
                memory_mb: r.target.memory_mb,
                timeout_secs: r.target.timeout.as_secs(),
            })
            .collect(),
    };
    if let Some(dir) = args.state_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.state_file, serde_json::to_vec_pretty(&state)?)
        .with_context(|| format!("writing the state file {}", args.state_file.display()))?;

    let engine = Arc::new(Engine {
        caller,
        targets: running.iter().map(|r| (r.target.name.clone(), (r.target.clone(), r.slots.clone()))).collect(),
        router: Router::from_stack(&stack, &region, &account_id),
        stats: Stats::default(),
        in_flight: AtomicUsize::new(0),
        last_activity: Mutex::new(Instant::now()),
        attempts: Mutex::new(HashMap::new()),
    });

    let pump = match (cloud.get("LOCAL_QUEUE_URL"), cloud.get("LOCAL_ENDPOINT")) {
        (Some(queue_url), Some(endpoint)) if !engine.router.routes.is_empty() => {
            let (Some(key), Some(secret)) = (cloud.get("LOCAL_SRC_ADMIN_KEY_ID"), cloud.get("LOCAL_SRC_ADMIN_SECRET"))
            else {
                bail!(
                    "{}: LOCAL_SRC_ADMIN_KEY_ID and LOCAL_SRC_ADMIN_SECRET are needed to read the queue",
                    args.cloud_env.display()
                );
            };
            println!("pumping queue={queue_url} routes={}", engine.router.routes.len());
            Some(Arc::new(Pump::new(PumpConfig {
                endpoint: endpoint.clone(),
                region: region.clone(),
                queue_url: queue_url.clone(),
                queue_credentials: aws_credential_types::Credentials::new(key, secret, None, None, "cloud-env"),
                routes: Routes::default(),
                identity: identity.clone(),
                function_timeout: Duration::from_secs(60),
            })))
        }
        _ => {
            println!("not pumping: no OSS triggers, or no LOCAL_QUEUE_URL/LOCAL_ENDPOINT in the cloud env");
            None
        }
    };

    let mut tasks = Vec::new();
    for f in &stack.functions {
        for t in &f.triggers {
            if let Trigger::Timer(timer) = t {
                if !timer.enabled {
                    println!("timer function={} trigger={} disabled", f.name, timer.name);
                    continue;
                }
                let schedule = Schedule::parse(&timer.cron).map_err(|e| anyhow!("{}: {e}", timer.name))?;
                println!("timer function={} trigger={} schedule={:?}", f.name, timer.name, timer.cron);
                tasks.push(tokio::spawn(engine.clone().run_timer(
                    f.name.clone(),
                    timer.name.clone(),
                    schedule,
                    timer.payload.clone(),
                )));
            }
        }
    }
    println!("ready functions={} state={}", running.len(), args.state_file.display());

    let idle = args.until_idle.map(Duration::from_secs);
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut code = 0;
    loop {
        if let Some((name, status)) =
            running.iter_mut().find_map(|r| r.child.try_wait().ok().flatten().map(|s| (r.target.name.clone(), s)))
        {
            eprintln!("error: function {name} exited ({status}); its output above says why. Stopping.");
            code = 1;
            break;
        }
        if let Some(idle) = idle {
            let quiet = engine.last_activity.lock().unwrap().elapsed();
            if quiet >= idle && engine.in_flight.load(Ordering::SeqCst) == 0 {
                println!("idle for {}s: stopping", idle.as_secs());
                break;
            }
        }
        tokio::select! {
            _ = &mut shutdown => {
                println!("stopping");
                break;
            }
            _ = async {
                match &pump {
                    Some(pump) => engine.clone().pump_once(pump.clone()).await,
                    None => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            } => {}
        }
    }
    for t in tasks {
        t.abort();
    }
    // Let deliveries in flight finish (bounded), then stop the functions.
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_all(&mut running).await;
    let _ = std::fs::remove_file(&args.state_file);
    println!("summary {}", serde_json::to_string(&engine.stats)?);
    Ok(code)
}

/// The pid of the `crr dev up` that wrote `state_file`, if it is still running.
fn live_runner(state_file: &Path) -> Option<u32> {
    let state: State = serde_json::from_slice(&std::fs::read(state_file).ok()?).ok()?;
    (state.pid != std::process::id() && process_alive(state.pid)).then_some(state.pid)
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn free_port(host: &str) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((host, 0))
        .with_context(|| format!("binding {host}:0 to find a free port"))?
        .local_addr()?
        .port())
}

async fn start_all(
    args: &UpArgs,
    stack: &Stack,
    bin_dir: &Path,
    region: &str,
    account_id: &str,
    running: &mut Vec<Running>,
) -> anyhow::Result<()> {
    for (i, f) in stack.functions.iter().enumerate() {
        let port = match args.base_port {
            Some(base) => base + i as u16,
            None => free_port(&args.host)?,
        };
        let child = spawn_function(f, &bin_dir.join(&f.binary), &args.host, port, region, account_id)?;
        let url = format!("http://{}:{port}", args.host);
        running.push(Running {
            target: Target {
                name: f.name.clone(),
                service: f.service.clone(),
                url: url.clone(),
                memory_mb: f.memory_mb,
                timeout: Duration::from_secs(f.timeout_secs.max(1)),
            },
            child,
            slots: Arc::new(Semaphore::new(f.instance_concurrency as usize)),
        });
        let r = running.last_mut().expect("just pushed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if tokio::net::TcpStream::connect((args.host.as_str(), port)).await.is_ok() {
                break;
            }
            if let Some(status) = r.child.try_wait()? {
                bail!("function {} exited ({status}) before listening on {url}; its output above says why", f.name);
            }
            if Instant::now() > deadline {
                bail!("function {} did not listen on {url} within 15 s", f.name);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        println!("started function={} binary={} url={url} pid={}", f.name, f.binary, r.child.id().unwrap_or_default());
    }
    Ok(())
}

/// The function's binary as a custom runtime: a clean environment (no stray
/// credentials: the identity comes with each request) with the template's variables
/// and what Function Compute sets.
fn spawn_function(
    f: &FunctionSpec,
    binary: &Path,
    host: &str,
    port: u16,
    region: &str,
    account_id: &str,
) -> anyhow::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear();
    for k in ["PATH", "RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("FC_SERVER_PORT", port.to_string())
        .env("FC_SERVER_HOST", host)
        .env("FC_REGION", region)
        .env("FC_ACCOUNT_ID", account_id)
        .env("FC_SERVICE_NAME", &f.service)
        .env("FC_FUNCTION_NAME", &f.name)
        .env("FC_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string())
        .envs(&f.env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {} ({})", f.name, binary.display()))?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(prefix_lines(f.name.clone(), out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(prefix_lines(f.name.clone(), err));
    }
    Ok(child)
}

async fn prefix_lines(name: String, pipe: impl tokio::io::AsyncRead + Unpin) {
    let mut lines = tokio::io::BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[{name}] {line}");
    }
}

/// SIGTERM, so in-flight invocations finish, then SIGKILL after 10 s.
async fn stop_all(running: &mut [Running]) {
    for r in running.iter() {
        if let Some(pid) = r.child.id() {
            // SAFETY: kill(2) on a child process we started and still own.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }
    for r in running.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(10), r.child.wait()).await {
            Ok(Ok(status)) => println!("stopped function={} ({status})", r.target.name),
            _ => {
                let _ = r.child.kill().await;
                println!("killed function={} (it did not stop within 10 s of SIGTERM)", r.target.name);
            }
        }
    }
}

struct Engine {
    caller: Caller,
    targets: HashMap<String, (Target, Arc<Semaphore>)>,
    router: Router,
    stats: Stats,
    in_flight: AtomicUsize,
    last_activity: Mutex<Instant>,
    /// Deliveries per message body so far, for giving up after the retries.
    attempts: Mutex<HashMap<String, u32>>,
}

impl Engine {
    fn touch(&self) {
        *self.last_activity.lock().unwrap() = Instant::now();
    }

    async fn pump_once(self: Arc<Self>, pump: Arc<Pump>) {
        let messages = match pump.receive(Duration::from_secs(1)).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("warning: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
        };
        for message in messages {
            self.touch();
            self.stats.messages.fetch_add(1, Ordering::Relaxed);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let (engine, pump) = (self.clone(), pump.clone());
            tokio::spawn(async move {
                engine.handle_message(&pump, message).await;
                engine.touch();
                engine.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    async fn handle_message(&self, pump: &Pump, message: QueueMessage) {
        let events = match crr::event::Notification::from_json(message.body.as_bytes()) {
            Ok(n) => n.events,
            Err(e) => {
                println!("dropped message: not a bucket notification ({e})");
                let _ = pump.ack(&message).await;
                return;
            }
        };
        self.stats.events.fetch_add(events.len() as u64, Ordering::Relaxed);
        let routing = self.router.route(&events, now_millis());
        for u in &routing.unrouted {
            self.stats.unrouted.fetch_add(1, Ordering::Relaxed);
            println!("unrouted event={} bucket={} key={:?} reason={:?}", u.event_name, u.bucket, u.key, u.reason);
        }
        let calls = routing.invocations.iter().map(|inv| async move {
            let detail = format!("event={} key={:?}", inv.event_name, inv.key);
            self.invoke(&inv.function, &inv.trigger, Bytes::from(inv.payload.to_string()), &detail).await
        });
        let ok = futures::future::join_all(calls).await.into_iter().all(|ok| ok);
        if ok {
            self.attempts.lock().unwrap().remove(&message.body);
            if let Err(e) = pump.ack(&message).await {
                eprintln!("warning: {e}");
            }
            return;
        }
        let attempts = {
            let mut map = self.attempts.lock().unwrap();
            let n = map.entry(message.body.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if attempts > RETRIES {
            self.stats.given_up.fetch_add(1, Ordering::Relaxed);
            println!(
                "gave up message after {attempts} deliveries (Function Compute would send it to the failure destination)"
            );
            self.attempts.lock().unwrap().remove(&message.body);
            let _ = pump.ack(&message).await;
        } else {
            pump.retry_soon(&message).await;
        }
    }

    /// One invocation, logged as one line; true on success.
    async fn invoke(&self, function: &str, trigger: &str, body: Bytes, detail: &str) -> bool {
        let Some((target, slots)) = self.targets.get(function) else {
            println!("invoke function={function} trigger={trigger} status=error error=\"not running\" {detail}");
            return false;
        };
        let _slot = slots.acquire().await;
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        match self.caller.call(target, "/invoke", body).await {
            Ok(a) if a.ok() => {
                println!("invoke function={function} trigger={trigger} status={} ms={} {detail}", a.status, a.millis);
                true
            }
            Ok(a) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                println!(
                    "invoke function={function} trigger={trigger} status={} ms={} {detail} error={:?}",
                    a.status,
                    a.millis,
                    a.error_text()
                );
                false
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                println!(
                    "invoke function={function} trigger={trigger} status=error {detail} error={:?}",
                    e.to_string()
                );
                false
            }
        }
    }

    async fn run_timer(self: Arc<Self>, function: String, trigger: String, schedule: Schedule, payload: String) {
        let mut next = now_millis() / 1000;
        loop {
            let now = now_millis();
            next = match schedule.every() {
                Some(d) => next + d.as_secs().max(1),
                None => match schedule.next_after((now / 1000).max(next)) {
                    Some(t) => t,
                    None => return,
                },
            };
            let wait = (next * 1000).saturating_sub(now);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.stats.timer_fires.fetch_add(1, Ordering::Relaxed);
            // The event Function Compute's timer trigger sends.
            let event = serde_json::json!({
                "triggerTime": crate::cron::rfc3339_millis(next * 1000).replace(".000Z", "Z"),
                "triggerName": trigger,
                "payload": payload,
            });
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let (engine, function, trigger) = (self.clone(), function.clone(), trigger.clone());
            // Timer runs are not activity for --until-idle (a frequent schedule would never
            // leave it idle); they only delay the stop while they run.
            tokio::spawn(async move {
                engine.invoke(&function, &trigger, Bytes::from(event.to_string()), "event=timer").await;
                engine.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
}

/// `crr invoke`: returns the exit code (0 success, 1 the function failed, 2 the call could not be made).
pub async fn invoke(args: InvokeArgs) -> i32 {
    match invoke_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

async fn invoke_inner(args: InvokeArgs) -> anyhow::Result<i32> {
    let payload = read_payload(&args.payload)?;
    let state: Option<State> = match std::fs::read(&args.state_file) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a crr dev state file", args.state_file.display()))?,
        ),
        Err(_) if args.url.is_some() => None,
        Err(e) => bail!(
            "reading {}: {e}; start the functions with `crr dev up` (or pass --state-file, or --url)",
            args.state_file.display()
        ),
    };
    if let (Some(s), None) = (&state, &args.url) {
        if !process_alive(s.pid) {
            bail!(
                "{} was written by crr dev up (pid {}), which is no longer running; start it again",
                args.state_file.display(),
                s.pid
            );
        }
    }
    let known = state.as_ref().and_then(|s| s.functions.iter().find(|f| f.name == args.function));
    let url = match (&args.url, known) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(f)) => f.url.clone(),
        (None, None) => {
            let names: Vec<&str> = state.iter().flat_map(|s| s.functions.iter().map(|f| f.name.as_str())).collect();
            bail!("no function {:?} is running; crr dev up runs {}", args.function, names.join(", "));
        }
    };
    let cloud_env = args.cloud_env.clone().or_else(|| state.as_ref().map(|s| s.cloud_env.clone()));
    let identity = match &cloud_env {
        Some(path) => {
            let identity = identity_from(&read_env_file(path)?);
            if identity.is_none() {
                eprintln!(
                    "warning: no LOCAL_FN_KEY_ID/LOCAL_FN_SECRET in {}: invoking without credentials",
                    path.display()
                );
            }
            identity
        }
        None => None,
    };
    let timeout = args.timeout.or(known.map(|f| f.timeout_secs)).unwrap_or(600);
    let target = Target {
        name: args.function.clone(),
        service: known.map(|f| f.service.clone()).unwrap_or_else(|| "crr".into()),
        url,
        memory_mb: known.map(|f| f.memory_mb).unwrap_or(512),
        timeout: Duration::from_secs(timeout.max(1)),
    };
    let answer = Caller::new(identity).call(&target, "/invoke", payload).await?;
    if !answer.ok() {
        eprintln!("{} failed: {}", args.function, answer.error_text());
        return Ok(1);
    }
    match serde_json::from_str::<serde_json::Value>(&answer.body) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Err(_) => println!("{}", answer.body),
    }
    Ok(0)
}

fn read_payload(arg: &str) -> anyhow::Result<Bytes> {
    Ok(Bytes::from(match arg.strip_prefix('@') {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading the payload from stdin")?;
            buf
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading the payload file {path}"))?,
        None => arg.as_bytes().to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud() -> BTreeMap<String, String> {
        [
            ("LOCAL_ENDPOINT", "http://127.0.0.1:4590"),
            ("LOCAL_REGION", "us-east-1"),
            ("LOCAL_SRC_BUCKET", "crr-src"),
            ("LOCAL_DST_BUCKET", "crr-dst"),
            ("LOCAL_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
            ("LOCAL_ALIBABA_STS_ENDPOINT", "http://127.0.0.1:4591"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn declared() -> Vec<String> {
        crate::template::declared_parameters(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")))
            .unwrap()
    }

    #[test]
    fn cloud_facts_become_parameters_and_params_override_them() {
        let p = parameters(&cloud(), &["TriggerSuffix=.jpg".into(), "DestBucket=other".into()], &declared()).unwrap();
        assert_eq!(p["SourceBucket"], "crr-src");
        assert_eq!(p["SourceEndpoint"], "http://127.0.0.1:4590");
        assert_eq!(p["DestEndpoint"], "http://127.0.0.1:4590");
        assert_eq!(p["StsEndpoint"], "http://127.0.0.1:4590");
        assert_eq!(p["ReplicationRoleArn"], "arn:aws:iam::222222222222:role/crr-replicator");
        assert_eq!(p["DestBucket"], "other");
        assert_eq!(p["TriggerSuffix"], ".jpg");

        // Only parameters the template declares are filled in.
        let p = parameters(&cloud(), &[], &["SourceBucket".to_owned()]).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["SourceBucket"]);

        // An Alibaba role goes through the local Alibaba STS unless told otherwise.
        let role = "ReplicationRoleArn=acs:ram::222222222222:role/crr-replicator".to_owned();
        let p = parameters(&cloud(), std::slice::from_ref(&role), &declared()).unwrap();
        assert_eq!(p["StsEndpoint"], "http://127.0.0.1:4591");
        let p = parameters(&cloud(), &[role, "StsEndpoint=http://x".into()], &declared()).unwrap();
        assert_eq!(p["StsEndpoint"], "http://x");

        let e = parameters(&cloud(), &["TriggerSuffix".into()], &declared()).unwrap_err().to_string();
        assert!(e.contains("expected KEY=VALUE"), "{e}");
    }

    #[test]
    fn the_template_resolves_against_the_local_cloud() {
        let options = ResolveOptions {
            params: parameters(&cloud(), &["Action=ALL".into()], &declared()).unwrap(),
            region: "us-east-1".into(),
            account_id: "111111111111".into(),
            stack_name: "crr-dev".into(),
        };
        let stack =
            crate::template::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")), &options)
                .unwrap();
        let env = &stack.function("object-created").unwrap().env;
        let settings: HashMap<String, String> = env.clone().into_iter().collect();
        let config = crr::Config::from_settings(&settings).expect("a valid configuration");
        assert!(format!("{config:?}").contains("crr-dst"), "{config:?}");
        assert_eq!(env["CRR_SOURCE_ENDPOINT"], "http://127.0.0.1:4590");
        assert_eq!(env["CRR_ACTION"], "ALL");
    }

    #[test]
    fn error_answers_read_as_type_and_message() {
        let a = Answer { status: 404, body: r#"{"errorType":"AccessDenied","errorMessage":"no"}"#.into(), millis: 1 };
        assert_eq!(a.error_text(), "AccessDenied: no");
        let a = Answer { status: 502, body: "bad gateway\n".into(), millis: 1 };
        assert_eq!(a.error_text(), "status 502: bad gateway");
    }

    #[test]
    fn payloads_from_text_and_files() {
        assert_eq!(read_payload(r#"{"mode":"verify"}"#).unwrap(), Bytes::from_static(br#"{"mode":"verify"}"#));
        let path = std::env::temp_dir().join(format!("crr-payload-{}.json", std::process::id()));
        std::fs::write(&path, b"{\"dryRun\":true}").unwrap();
        assert_eq!(read_payload(&format!("@{}", path.display())).unwrap(), Bytes::from_static(b"{\"dryRun\":true}"));
        std::fs::remove_file(&path).unwrap();
        let e = read_payload("@/nonexistent/p.json").unwrap_err().to_string();
        assert!(e.contains("reading the payload file /nonexistent/p.json"), "{e}");
    }
}
