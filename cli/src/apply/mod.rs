//! `crr policy apply`: puts what `crr policy generate` prints where it belongs. For an
//! IAM role: crr's inline permission policy on the role and the role's trust policy
//! merged (never replaced: other principals it trusts stay), through IAM ([`iam`]). For
//! a RAM role (OSS): crr has no RAM client, so it writes the documents and prints the
//! `aliyun ram` commands that apply them ([`ram`]). For the destination bucket, S3 or
//! OSS alike: its policy merged through the store of the bucket's dialect ([`bucket`]):
//! a PUT replaces the whole document, so every existing statement goes back as it was.
//! A Deny in the way of replication stops it before anything is written; `--dry-run`
//! reads and reports only.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use aws_credential_types::Credentials;
use clap::{Args, ValueEnum};
use crr::config::{choose_api, default_path_style, Api, Endpoint};
use crr::credentials::FunctionIdentity;
use crr::error::source_text;
use crr::store::{Connections, Store};
use crr_policy::{generate, Merged, Provider, ReplicationRule};

use crate::policy::{rule_from_args, Exit, RuleArgs};

mod bucket;
mod iam;
mod ram;

/// The name of crr's permission policy (IAM: inline on the role; RAM: a custom policy
/// attached to it), unless `--policy-name` says otherwise.
pub const DEFAULT_POLICY_NAME: &str = "crr-replication";

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    /// IAM endpoint of the role's account (default: https://iam.amazonaws.com).
    #[arg(long, value_name = "URL")]
    pub iam_endpoint: Option<String>,
    /// Endpoint of the destination bucket (default: AWS S3 in --dest-region; for an OSS
    /// rule, the OSS endpoint of --dest-region, https://oss-<region>.aliyuncs.com).
    #[arg(long, value_name = "URL")]
    pub dest_endpoint: Option<String>,
    /// Region of the destination bucket (its endpoint's signing region; for OSS e.g.
    /// cn-beijing). Default: us-east-1 for S3; an OSS rule needs it or --dest-endpoint.
    #[arg(long)]
    pub dest_region: Option<String>,
    /// The API the destination bucket is spoken to with: auto (OSS endpoints get OSS's
    /// own API, everything else the S3 API), s3 or oss.
    #[arg(long, value_enum, default_value = "auto")]
    pub dest_api: ApiChoice,
    /// Name of crr's permission policy (IAM: inline on the role; RAM: a custom policy).
    #[arg(long, default_value = DEFAULT_POLICY_NAME)]
    pub policy_name: String,
    /// Apply one part only, e.g. when the role and the bucket belong to different
    /// accounts and need different credentials.
    #[arg(long, value_enum)]
    pub only: Option<Part>,
    /// For a RAM role (OSS), which crr does not change itself: where to write the
    /// documents the printed `aliyun ram` commands read.
    #[arg(long, value_name = "DIR", default_value = "crr-policies")]
    pub out: PathBuf,
    /// Read the current policies and print what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// The role's permission and trust policies.
    Role,
    /// The destination bucket's policy.
    BucketPolicy,
}

/// `--dest-api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ApiChoice {
    #[default]
    Auto,
    S3,
    Oss,
}

impl ApiChoice {
    fn chosen(self) -> Option<Api> {
        match self {
            ApiChoice::Auto => None,
            ApiChoice::S3 => Some(Api::S3),
            ApiChoice::Oss => Some(Api::Oss),
        }
    }
}

/// Runs `crr policy apply` with the credentials of the environment (an administrator of
/// the account owning the role, and of the one owning the bucket) and returns the exit
/// code: 0 applied (or nothing to change), 1 not applied (a Deny blocks replication, or
/// a RAM role, whose commands are printed instead), 3 bad input or a failed call.
pub async fn run(args: ApplyArgs) -> i32 {
    run_with(&args, &mut io::stdout().lock(), &mut io::stderr().lock()).await
}

/// `run` with the output streams given, for tests.
pub async fn run_with(args: &ApplyArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match apply(args, out, err).await {
        Ok(exit) => exit.code(),
        Err(error) => {
            let _ = writeln!(err, "error: {error:#}");
            Exit::BadInput.code()
        }
    }
}

async fn apply(args: &ApplyArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Exit> {
    let (rule, role_arn) = rule_from_args(&args.rule, "crr policy apply")?;
    let generated = generate(&rule)?;
    let connections = Connections::new();
    if args.dry_run {
        writeln!(out, "dry run: reading only, nothing is changed")?;
    }
    let mut not_applied = false;
    if args.only != Some(Part::BucketPolicy) {
        match rule.provider {
            Provider::Oss => {
                ram::print_commands(args, &role_arn, &generated, out, err)?;
                not_applied = true;
            }
            Provider::Aws => {
                let identity = FunctionIdentity::new(connections.s3().clone(), "us-east-1");
                let credentials = credentials(&identity, &rule, Part::Role).await?;
                not_applied |= iam::apply_role(args, &role_arn, &generated, &credentials, out, err).await?;
            }
        }
    }
    if args.only != Some(Part::Role) {
        let (endpoint, api) = destination(args, &rule)?;
        let identity = Arc::new(FunctionIdentity::new(connections.s3().clone(), &endpoint.region));
        credentials(&identity, &rule, Part::BucketPolicy).await?;
        let store = Store::new(&connections, &endpoint, api, identity);
        not_applied |= bucket::apply_bucket_policy(args, &rule, &generated, &store, out, err).await?;
    }
    if let Some(kms) = &rule.kms {
        writeln!(
            out,
            "KMS key policy of {}: not changed by crr (a key policy guards more than replication); add the statement \
             `crr policy generate --out DIR` writes to DIR/kms-key-policy.json",
            kms.destination_key
        )?;
    }
    Ok(Exit::failed_if(not_applied))
}

/// The destination bucket's endpoint and API: `--dest-endpoint` (or the region's
/// default endpoint of the rule's cloud) spoken to as `--dest-api` says.
fn destination(args: &ApplyArgs, rule: &ReplicationRule) -> anyhow::Result<(Endpoint, Api)> {
    let endpoint = match (&args.dest_endpoint, &args.dest_region, rule.provider) {
        (None, None, Provider::Oss) => bail!(
            "an OSS destination needs --dest-endpoint (e.g. https://oss-cn-beijing.aliyuncs.com) or --dest-region \
             (e.g. cn-beijing) to find {}",
            rule.destination.name
        ),
        (None, Some(region), Provider::Oss) => Endpoint::oss(region),
        (url, region, _) => Endpoint {
            url: url.clone(),
            region: region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
            path_style: default_path_style(url.as_deref()),
        },
    };
    let api = choose_api(args.dest_api.chosen(), &endpoint);
    Ok((endpoint, api))
}

/// The credentials of the environment, or an error saying which to set for `part`.
async fn credentials(identity: &FunctionIdentity, rule: &ReplicationRule, part: Part) -> anyhow::Result<Credentials> {
    identity.credentials().await.map_err(|e| {
        let whose = match part {
            Part::Role => format!("an administrator of the account {} owning the role", rule.role.account),
            Part::BucketPolicy => format!(
                "the account {} owning the bucket {}",
                rule.destination.account.as_deref().unwrap_or("?"),
                rule.destination.name
            ),
        };
        let variables = match rule.provider {
            Provider::Oss => {
                "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN)"
            }
            Provider::Aws => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)",
        };
        anyhow!(
            "no credentials to apply the policies with: {}; set {variables} of {whose}, and apply the other part \
             separately with --only if it belongs to another account",
            source_text(&e)
        )
    })
}

/// One line on what a merge added (or would add), then the statements added.
fn describe_merge(what: &str, merged: &Merged, dry_run: bool, out: &mut dyn Write) -> io::Result<()> {
    let kept = merged.policy.statements().len() - merged.added.len();
    if !merged.changed() {
        return writeln!(out, "{what}: unchanged: it already has every statement replication needs ({kept} kept)");
    }
    writeln!(
        out,
        "{what}: {} {} statement(s), kept the {kept} already there",
        if dry_run { "would add" } else { "added" },
        merged.added.len()
    )?;
    for line in merged.diff().lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}
