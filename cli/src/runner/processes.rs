//! The functions as local processes: each binary started as a custom runtime on its
//! own port with the template's environment, waited for until it listens, initialized,
//! and stopped with SIGTERM (SIGKILL after a grace period). Also the signals that stop
//! `crr dev up` and the check that a recorded pid still runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use tokio::io::AsyncBufReadExt;
use tokio::sync::Semaphore;

use super::caller::{Caller, Target};
use super::parameters::Platform;
use crate::template::{FunctionSpec, Stack};

/// One started function.
pub(super) struct Running {
    pub(super) target: Target,
    pub(super) child: tokio::process::Child,
    /// Its InstanceConcurrency: requests beyond it wait, as on one instance.
    pub(super) slots: Arc<Semaphore>,
}

impl Running {
    /// How the process ended, if it has.
    pub(super) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// Where the function binaries are: `--bin-dir`, else the directory of this binary.
pub(super) fn binary_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    Ok(match given {
        Some(d) => d.to_path_buf(),
        None => std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_default(),
    })
}

/// Fails, saying how to build them, when a function's binary is missing.
pub(super) fn check_binaries(stack: &Stack, bin_dir: &Path) -> anyhow::Result<()> {
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
    Ok(())
}

/// Starts every function of `stack` in template order, each on `base_port` plus its
/// index or a free port, and waits until it listens. What was started is in `running`
/// also on failure, for the caller to stop.
pub(super) async fn start_all(
    stack: &Stack,
    bin_dir: &Path,
    host: &str,
    base_port: Option<u16>,
    platform: &Platform,
    running: &mut Vec<Running>,
) -> anyhow::Result<()> {
    for (i, f) in stack.functions.iter().enumerate() {
        let port = match base_port {
            Some(base) => base + i as u16,
            None => free_port(host)?,
        };
        let child = spawn_function(f, &bin_dir.join(&f.binary), host, port, platform)?;
        let url = format!("http://{host}:{port}");
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
        wait_until_listening(r, host, port).await?;
        println!("started function={} binary={} url={url} pid={}", f.name, f.binary, r.child.id().unwrap_or_default());
    }
    Ok(())
}

/// Waits up to 15 s for the function to accept connections, failing early if it exits.
async fn wait_until_listening(r: &mut Running, host: &str, port: u16) -> anyhow::Result<()> {
    let (name, url) = (&r.target.name, &r.target.url);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if tokio::net::TcpStream::connect((host, port)).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = r.child.try_wait()? {
            bail!("function {name} exited ({status}) before listening on {url}; its output above says why");
        }
        if Instant::now() > deadline {
            bail!("function {name} did not listen on {url} within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Calls each function's `/initialize`, as Function Compute does before the first
/// event; false (with the reason on stderr) when one fails.
pub(super) async fn initialize_all(caller: &Caller, running: &[Running]) -> bool {
    for r in running {
        match caller.call(&r.target, "/initialize", Bytes::new()).await {
            Ok(a) if a.ok() => println!("initialized function={} url={} ms={}", r.target.name, r.target.url, a.millis),
            Ok(a) => {
                eprintln!("error: {} failed to initialize: {}", r.target.name, a.error_text());
                return false;
            }
            Err(e) => {
                eprintln!("error: initializing {}: {e}", r.target.name);
                return false;
            }
        }
    }
    true
}

fn free_port(host: &str) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((host, 0))
        .with_context(|| format!("binding {host}:0 to find a free port"))?
        .local_addr()?
        .port())
}

/// The function's binary as a custom runtime: a clean environment (no stray
/// credentials: the identity comes with each request) with the template's variables
/// and what Function Compute sets.
fn spawn_function(
    f: &FunctionSpec,
    binary: &Path,
    host: &str,
    port: u16,
    platform: &Platform,
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
        .env("FC_REGION", &platform.region)
        .env("FC_ACCOUNT_ID", &platform.account_id)
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
pub(super) async fn stop_all(running: &mut [Running]) {
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

pub(super) fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
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
