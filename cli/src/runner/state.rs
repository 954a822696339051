//! The state file `crr dev up` leaves while it runs (`.local/dev.json`): where each
//! function listens and as which process, so that `crr invoke` can reach them and a
//! second `crr dev up` knows one is already running.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use super::parameters::Platform;
use super::processes::{process_alive, Running};

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

impl State {
    /// This process running `functions`, started from `template` and `cloud_env`.
    pub(super) fn of(template: &Path, cloud_env: &Path, platform: &Platform, functions: &[Running]) -> State {
        State {
            pid: std::process::id(),
            template: absolute(template),
            cloud_env: absolute(cloud_env),
            region: platform.region.clone(),
            account_id: platform.account_id.clone(),
            functions: functions
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
        }
    }

    /// Writes the state to `path`, creating its directory.
    pub(super) fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing the state file {}", path.display()))
    }
}

/// Refuses to start while the `crr dev up` that wrote `state_file` still runs.
pub(super) fn refuse_a_second_runner(state_file: &Path) -> anyhow::Result<()> {
    if let Some(pid) = live_runner(state_file) {
        bail!(
            "crr dev up is already running (pid {pid}, state file {}); stop it first, or pass another --state-file",
            state_file.display()
        );
    }
    Ok(())
}

/// The pid of the `crr dev up` that wrote `state_file`, if it is still running.
fn live_runner(state_file: &Path) -> Option<u32> {
    let state: State = serde_json::from_slice(&std::fs::read(state_file).ok()?).ok()?;
    (state.pid != std::process::id() && process_alive(state.pid)).then_some(state.pid)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
