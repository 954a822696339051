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
//!
//! This module holds `up`, step by step; `parameters` (the cloud's facts and the
//! template's parameters), `processes` (starting and stopping the functions),
//! `dispatch` (delivering events to them), `caller` (one call as Function Compute
//! makes it), `state` (the state file) and `invoke` (`crr invoke`) do the work.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::dev::Pump;
use crate::route::Router;

mod caller;
mod dispatch;
mod invoke;
mod parameters;
mod processes;
mod state;

pub use caller::{Answer, Caller, Target};
pub use invoke::{invoke, InvokeArgs};
pub use parameters::{parameters, read_env_file, CloudFact, PARAMETER_MAP};
pub use state::{State, StateFunction};

use dispatch::Dispatcher;
use parameters::{identity_from, resolve_stack, Platform};
use processes::{binary_dir, check_binaries, initialize_all, shutdown_signal, start_all, stop_all, Running};
use state::refuse_a_second_runner;

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

/// `crr dev up`: runs until Ctrl-C, SIGTERM or `--until-idle`; returns the exit code.
pub async fn up(args: UpArgs) -> anyhow::Result<i32> {
    refuse_a_second_runner(&args.state_file)?;
    let cloud = read_env_file(&args.cloud_env)?;
    let platform = Platform::from_cloud(&cloud);
    let stack = resolve_stack(&args.template, &cloud, &args.params, &platform)?;
    let bin_dir = binary_dir(args.bin_dir.as_deref())?;
    check_binaries(&stack, &bin_dir)?;
    let identity = identity_from(&cloud);
    if identity.is_none() {
        eprintln!(
            "warning: no LOCAL_FN_KEY_ID/LOCAL_FN_SECRET in {}: functions get no credentials",
            args.cloud_env.display()
        );
    }

    let mut running = Vec::new();
    if let Err(e) = start_all(&stack, &bin_dir, &args.host, args.base_port, &platform, &mut running).await {
        stop_all(&mut running).await;
        return Err(e);
    }
    let caller = Caller::new(identity.clone());
    if !initialize_all(&caller, &running).await {
        stop_all(&mut running).await;
        return Ok(1);
    }
    State::of(&args.template, &args.cloud_env, &platform, &running).write(&args.state_file)?;

    let router = Router::from_stack(&stack, &platform.region, &platform.account_id);
    let dispatcher = Arc::new(Dispatcher::new(caller, &running, router));
    let pump = dispatcher.queue_pump(&cloud, &args.cloud_env, &platform, identity)?;
    let timers = dispatcher.start_timers(&stack)?;
    println!("ready functions={} state={}", running.len(), args.state_file.display());

    let code = serve(&dispatcher, pump, &mut running, args.until_idle.map(Duration::from_secs)).await;
    for timer in timers {
        timer.abort();
    }
    // Let deliveries in flight finish (bounded), then stop the functions.
    dispatcher.drain(Duration::from_secs(30)).await;
    stop_all(&mut running).await;
    let _ = std::fs::remove_file(&args.state_file);
    println!("summary {}", serde_json::to_string(&dispatcher.stats)?);
    Ok(code)
}

/// Pumps the queue until Ctrl-C or SIGTERM (0), `idle` without activity (0), or a
/// function exiting (1); returns that exit code.
async fn serve(
    dispatcher: &Arc<Dispatcher>,
    pump: Option<Arc<Pump>>,
    running: &mut [Running],
    idle: Option<Duration>,
) -> i32 {
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        for r in running.iter_mut() {
            if let Some(status) = r.exited() {
                eprintln!("error: function {} exited ({status}); its output above says why. Stopping.", r.target.name);
                return 1;
            }
        }
        if let Some(idle) = idle.filter(|idle| dispatcher.idle_for(*idle)) {
            println!("idle for {}s: stopping", idle.as_secs());
            return 0;
        }
        tokio::select! {
            _ = &mut shutdown => {
                println!("stopping");
                return 0;
            }
            _ = async {
                match &pump {
                    Some(pump) => dispatcher.clone().pump_once(pump.clone()).await,
                    None => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            } => {}
        }
    }
}
