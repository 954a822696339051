//! `crr invoke`: calls one function started by `crr dev up` as Function Compute would,
//! found through the state file (or `--url`), and prints its JSON answer.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;

use super::caller::{Caller, Target};
use super::parameters::{identity_from, read_env_file};
use super::processes::process_alive;
use super::state::State;
use crate::dev::PlatformIdentity;

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
    let state = read_state(&args)?;
    let target = target(&args, state.as_ref())?;
    let identity = identity(&args, state.as_ref())?;
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

/// The state `crr dev up` wrote, which must still be running unless `--url` says where
/// to call; `None` when there is none and `--url` is given.
fn read_state(args: &InvokeArgs) -> anyhow::Result<Option<State>> {
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
    Ok(state)
}

/// The function to call: `--url`, or its entry in the state, with its settings.
fn target(args: &InvokeArgs, state: Option<&State>) -> anyhow::Result<Target> {
    let known = state.and_then(|s| s.functions.iter().find(|f| f.name == args.function));
    let url = match (&args.url, known) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(f)) => f.url.clone(),
        (None, None) => {
            let names: Vec<&str> = state.iter().flat_map(|s| s.functions.iter().map(|f| f.name.as_str())).collect();
            bail!("no function {:?} is running; crr dev up runs {}", args.function, names.join(", "));
        }
    };
    let timeout = args.timeout.or(known.map(|f| f.timeout_secs)).unwrap_or(600);
    Ok(Target {
        name: args.function.clone(),
        service: known.map(|f| f.service.clone()).unwrap_or_else(|| "crr".into()),
        url,
        memory_mb: known.map(|f| f.memory_mb).unwrap_or(512),
        timeout: Duration::from_secs(timeout.max(1)),
    })
}

/// The function identity from `--cloud-env`, else from the cloud env `crr dev up` used.
fn identity(args: &InvokeArgs, state: Option<&State>) -> anyhow::Result<Option<PlatformIdentity>> {
    let Some(path) = args.cloud_env.clone().or_else(|| state.map(|s| s.cloud_env.clone())) else {
        return Ok(None);
    };
    let identity = identity_from(&read_env_file(&path)?);
    if identity.is_none() {
        eprintln!("warning: no LOCAL_FN_KEY_ID/LOCAL_FN_SECRET in {}: invoking without credentials", path.display());
    }
    Ok(identity)
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
