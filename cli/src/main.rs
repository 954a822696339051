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
    /// Print where the manual (the book built from docs/) is, or open it; `crr docs
    /// configuration` prints the configuration page's generated table.
    Docs(crr_cli::docs::DocsArgs),
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
        Command::Docs(args) => std::process::exit(crr_cli::docs::run(args)),
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

/// The book's examples are checked against the product: every `crr` command line in
/// a shell block parses with this command line's own parser, every shell block is
/// valid shell, JSON and YAML blocks parse, rule files (`rule-file` blocks) load as
/// a configuration and backfill requests (`backfill-request`) are accepted by the
/// backfill, and the configuration page's table is the one the registry generates.
#[cfg(test)]
mod docs_examples {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use clap::Parser;
    use crr_cli::docs::{code_blocks, crr_command, shell_lines, shell_words, CodeBlock};

    use super::Cli;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// README.md and every chapter of the book.
    fn pages() -> Vec<(String, String)> {
        let mut pages = vec![("README.md".to_owned(), std::fs::read_to_string(root().join("README.md")).unwrap())];
        let mut chapters: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        chapters.sort();
        for path in chapters {
            let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
            pages.push((name, std::fs::read_to_string(&path).unwrap()));
        }
        pages
    }

    fn blocks() -> Vec<(String, CodeBlock)> {
        pages()
            .into_iter()
            .flat_map(|(name, text)| code_blocks(&text).into_iter().map(move |b| (name.clone(), b)))
            .collect()
    }

    #[test]
    fn every_crr_command_in_the_docs_parses() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for (page, block) in blocks().iter().filter(|(_, b)| matches!(b.language(), "sh" | "bash")) {
            for (offset, line) in shell_lines(&block.text) {
                let at = format!("{page}:{}", block.line + offset);
                let words = match shell_words(&line) {
                    Ok(w) => w,
                    Err(e) => {
                        failures.push(format!("{at}: {e}"));
                        continue;
                    }
                };
                let Some(argv) = crr_command(&words) else { continue };
                checked += 1;
                if let Err(e) = Cli::try_parse_from(&argv) {
                    let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                    failures.push(format!("{at}: `{}`: {first}", argv.join(" ")));
                }
            }
        }
        assert!(failures.is_empty(), "crr command lines in the docs that crr refuses:\n{}", failures.join("\n"));
        assert!(checked >= 20, "only {checked} crr command lines found in the docs");
    }

    #[test]
    fn every_shell_block_is_valid_shell() {
        let mut failures = Vec::new();
        for (page, block) in blocks().iter().filter(|(_, b)| matches!(b.language(), "sh" | "bash")) {
            let out = std::process::Command::new("bash").args(["-n", "-c", &block.text]).output().expect("bash runs");
            if !out.status.success() {
                failures.push(format!("{page}:{}: {}", block.line, String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        assert!(failures.is_empty(), "shell blocks bash cannot parse:\n{}", failures.join("\n"));
    }

    #[test]
    fn json_yaml_rule_files_and_backfill_requests_in_the_docs_are_valid() {
        let mut failures = Vec::new();
        let mut rule_files = 0;
        let mut requests = 0;
        for (page, block) in blocks() {
            let at = format!("{page}:{}", block.line);
            match block.language() {
                "json" => {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&block.text) {
                        failures.push(format!("{at}: not JSON: {e}"));
                    }
                }
                "yaml" | "yml" => {
                    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&block.text) {
                        failures.push(format!("{at}: not YAML: {e}"));
                    }
                }
                _ => {}
            }
            if block.tagged("rule-file") {
                rule_files += 1;
                let ext = if block.language() == "xml" { "xml" } else { "json" };
                let path = std::env::temp_dir().join(format!("crr-docs-rule-{}.{ext}", uuid::Uuid::new_v4()));
                std::fs::write(&path, &block.text).unwrap();
                let settings: HashMap<String, String> = [
                    ("CRR_CONFIG", path.to_str().unwrap()),
                    ("CRR_SOURCE_BUCKET", "photos"),
                    ("CRR_SOURCE_REGION", "cn-hangzhou"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
                let loaded = crr::Config::from_settings(&settings);
                std::fs::remove_file(&path).ok();
                if let Err(e) = loaded {
                    failures.push(format!("{at}: the rule file does not load: {e}"));
                }
            }
            if block.tagged("backfill-request") {
                requests += 1;
                let accepted = serde_json::from_str(&block.text)
                    .map_err(|e| e.to_string())
                    .and_then(crr::backfill::BackfillEvent::from_value);
                if let Err(e) = accepted {
                    failures.push(format!("{at}: the backfill refuses this request: {e}"));
                }
            }
        }
        assert!(failures.is_empty(), "examples in the docs that do not hold:\n{}", failures.join("\n"));
        assert!(rule_files >= 2 && requests >= 1, "rule files {rule_files}, backfill requests {requests}");
    }

    #[test]
    fn the_configuration_page_is_generated_from_the_registry() {
        let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
        let start = "<!-- generated by `crr docs configuration` from crr::config::VARIABLES; edit the registry, not this table -->\n";
        let end = "<!-- end of generated table -->";
        let table = page
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(table, _)| table)
            .expect("docs/configuration.md has the generated table's markers");
        assert!(
            table == crr::config::markdown_table(),
            "docs/configuration.md's table differs from crr::config::VARIABLES: run scripts/docs --generate \
             (it writes `crr docs configuration` between the markers)"
        );
    }
}
