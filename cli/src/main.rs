//! `crr`: the operator's command line.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crr_cli::dev::{PlatformIdentity, Pump, PumpConfig, Routes};

#[derive(Parser)]
#[command(name = "crr", version, about = "Cross-account object replication for OSS and S3-compatible stores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the replication configuration in the environment (CRR_* variables) and print it.
    Config,
    /// Check a deployment's configuration and permissions against the real services.
    Doctor(crr_cli::doctor::DoctorArgs),
    /// Copy what the destination lacks (or differs, or only compare), resumably, with progress.
    Backfill(crr_cli::backfill::BackfillArgs),
    /// Where replication stands per rule: lag against its objective, failures, backfill progress
    /// (--json, --check for cron, --prometheus, --serve for a page that updates itself).
    Status(crr_cli::status::StatusArgs),
    /// Invoke a function started by `crr dev up` as Function Compute would; prints its JSON answer.
    Invoke(crr_cli::runner::InvokeArgs),
    /// Local development tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Generate, merge, lint and check replication policies (OSS/RAM and S3/IAM).
    #[command(subcommand)]
    Policy(crr_cli::policy::PolicyCommand),
}

#[derive(Subcommand)]
enum DevCommand {
    /// Run template.yaml's functions locally: start them, deliver the local cloud's bucket
    /// notifications by their OSS triggers and fire their timers.
    #[command(alias = "run")]
    Up(crr_cli::runner::UpArgs),
    /// Deliver bucket notifications from an SQS queue to functions running in FC mode.
    Pump(Box<PumpArgs>),
}

#[derive(clap::Args)]
struct PumpArgs {
    /// The queue receiving the source bucket's notifications.
    #[arg(long, env = "LOCAL_QUEUE_URL")]
    queue_url: String,
    /// SQS endpoint.
    #[arg(long, env = "LOCAL_ENDPOINT")]
    endpoint: String,
    #[arg(long, env = "LOCAL_REGION", default_value = "us-east-1")]
    region: String,
    /// Base URL of object-created in FC mode, e.g. http://127.0.0.1:9001
    #[arg(long)]
    created: Option<String>,
    /// Base URL of object-deleted in FC mode.
    #[arg(long)]
    deleted: Option<String>,
    /// Access key the queue is read with (default: AWS_ACCESS_KEY_ID).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    queue_key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    queue_secret: String,
    /// The functions' own credentials, passed as x-fc-access-key-* headers like Function Compute does.
    #[arg(long, env = "LOCAL_FN_KEY_ID", hide_env_values = true)]
    function_key_id: Option<String>,
    #[arg(long, env = "LOCAL_FN_SECRET", hide_env_values = true)]
    function_secret: Option<String>,
    #[arg(long, env = "LOCAL_SRC_ACCOUNT", default_value = "111111111111")]
    account_id: String,
    /// Stop after this many seconds without messages (default: run until Ctrl-C).
    #[arg(long)]
    until_idle: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fc_runtime::init_logging();
    match Cli::parse().command {
        Command::Config => {
            let config = crr::Config::from_env().context("invalid configuration")?;
            println!("{config:#?}");
            Ok(())
        }
        Command::Doctor(args) => std::process::exit(crr_cli::doctor::run(args).await),
        Command::Backfill(args) => std::process::exit(crr_cli::backfill::run(args).await),
        Command::Status(args) => std::process::exit(crr_cli::status::run(args).await),
        Command::Dev { command: DevCommand::Pump(args) } => pump(*args).await,
        Command::Dev { command: DevCommand::Up(args) } => match crr_cli::runner::up(args).await {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(1)
            }
        },
        Command::Invoke(args) => std::process::exit(crr_cli::runner::invoke(args).await),
        Command::Policy(command) => std::process::exit(crr_cli::policy::run(command).await),
    }
}

async fn pump(args: PumpArgs) -> anyhow::Result<()> {
    let identity = match (args.function_key_id, args.function_secret) {
        (Some(id), Some(secret)) => Some(PlatformIdentity {
            access_key_id: id,
            access_key_secret: fc_runtime::Secret::new(secret),
            region: args.region.clone(),
            account_id: args.account_id.clone(),
        }),
        _ => None,
    };
    let pump = Pump::new(PumpConfig {
        endpoint: args.endpoint,
        region: args.region,
        queue_url: args.queue_url,
        queue_credentials: aws_credential_types::Credentials::new(
            args.queue_key_id,
            args.queue_secret,
            None,
            None,
            "cli",
        ),
        routes: Routes { created: args.created, deleted: args.deleted },
        identity,
        function_timeout: Duration::from_secs(60),
    });
    let stats = match args.until_idle {
        Some(secs) => pump.run_until_idle(Duration::from_secs(secs), Duration::from_secs(3600)).await?,
        None => {
            pump.run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?
        }
    };
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
