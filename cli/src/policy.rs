//! `crr policy`: generate, merge, lint and check the policies replication depends on.
//! The decisions are `crr_policy`'s; this file turns flags and files into its inputs,
//! prints its answers and maps them to exit codes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use crr::arn::RoleArn;
use crr_policy::{
    blocking_denies, evaluate, generate, lint, merge, BlockingDeny, Bucket, Decision, GeneratedPolicies, Kms, Outcome,
    Policy, Provider, ReplicationAction, ReplicationRule, Request, Role, Severity, Trustee,
};

/// How a `crr policy` command ended; the process exits with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Allowed; no errors; policies written.
    Ok = 0,
    /// Denied (`check`); lint errors (`lint`); a Deny blocks replication (`merge`,
    /// `apply`); a part `apply` cannot apply itself, a RAM role, whose commands it prints.
    Failed = 1,
    /// `check` could not decide: a condition needs context it was not given.
    Undetermined = 2,
    /// Bad input: unreadable file, invalid policy, bad flag value.
    BadInput = 3,
}

impl Exit {
    /// [`Exit::Failed`] when `failed`, else [`Exit::Ok`].
    pub fn failed_if(failed: bool) -> Exit {
        if failed {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policies one replication rule needs: the role's permission and trust
    /// policies, the destination bucket policy statements, the KMS key policy.
    Generate(Box<GenerateArgs>),
    /// Merge the replication statements into an existing bucket policy: prints the merged
    /// policy on stdout, the lines added and any blocking Deny on stderr.
    Merge(Box<MergeArgs>),
    /// Report policy mistakes that break or endanger replication, with their fixes.
    Lint(LintArgs),
    /// Decide one request against policy files: allow (exit 0), deny (1), undetermined (2).
    Check(Box<CheckArgs>),
    /// Apply the generated policies: the destination bucket policy merged, never replaced
    /// (S3 or OSS); for an IAM role crr's inline policy and its trust policy merged; for a
    /// RAM role (OSS) the documents written and the `aliyun ram` commands printed.
    Apply(Box<crate::apply::ApplyArgs>),
}

/// One replication rule, as flags.
#[derive(Debug, Default, Args)]
pub struct RuleArgs {
    /// oss (Alibaba Cloud OSS, RAM policies) or aws (AWS S3 and S3-compatible, IAM);
    /// default: from --role-arn.
    #[arg(long)]
    pub provider: Option<String>,
    /// The bucket replicated from (required).
    #[arg(long)]
    pub source_bucket: Option<String>,
    /// Account id / UID owning the source bucket (required for oss).
    #[arg(long)]
    pub source_account: Option<String>,
    /// The bucket replicated into (required).
    #[arg(long)]
    pub dest_bucket: Option<String>,
    /// Account id / UID owning the destination bucket (required).
    #[arg(long)]
    pub dest_account: Option<String>,
    /// The replication role: acs:ram::<uid>:role/<name> or arn:aws:iam::<account>:role/<name> (required).
    #[arg(long)]
    pub role_arn: Option<String>,
    /// PUT (replicate creates only; the default) or ALL (creates and deletes).
    #[arg(long)]
    pub action: Option<String>,
    /// Replicate only keys with this prefix; repeat for several (at most 10).
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,
    /// Replicate KMS-encrypted objects, re-encrypted with this destination key (id or ARN).
    #[arg(long)]
    pub kms_key: Option<String>,
    /// The key source objects are encrypted with (default: any key of the source account).
    #[arg(long)]
    pub source_kms_key: Option<String>,
    /// The service trusted to assume the role (default: fc.aliyuncs.com / lambda.amazonaws.com).
    #[arg(long)]
    pub trust_service: Option<String>,
    /// Trust this account id or role/user ARN to assume the role instead of a service.
    #[arg(long)]
    pub trust_principal: Option<String>,
}

impl RuleArgs {
    fn is_empty(&self) -> bool {
        self.provider.is_none()
            && self.source_bucket.is_none()
            && self.source_account.is_none()
            && self.dest_bucket.is_none()
            && self.dest_account.is_none()
            && self.role_arn.is_none()
            && self.action.is_none()
            && self.prefixes.is_empty()
            && self.kms_key.is_none()
            && self.source_kms_key.is_none()
            && self.trust_service.is_none()
            && self.trust_principal.is_none()
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Also write each document as a JSON file into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The destination bucket's current policy (JSON; an empty file: no policy yet).
    #[arg(long, value_name = "FILE")]
    pub existing: PathBuf,
    /// Statements to add, e.g. dest-bucket-policy.json from `generate --out`; or give the
    /// rule flags of `generate` instead.
    #[arg(long, value_name = "FILE")]
    pub generated: Option<PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The policy to lint (JSON).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files (JSON), evaluated together: a Deny in any wins.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The action asked for, e.g. oss:PutObject or s3:GetObject.
    #[arg(long)]
    pub action: Option<String>,
    /// The resource, e.g. acs:oss:cn-hangzhou:<uid>:<bucket>/<key> or arn:aws:s3:::<bucket>/<key>.
    #[arg(long)]
    pub resource: Option<String>,
    /// Who asks, e.g. arn:sts::<uid>:assumed-role/<role>/<session>.
    #[arg(long)]
    pub principal: Option<String>,
    /// A condition key's value in the request; repeat for more keys or values.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
}

/// Runs a `crr policy` command on stdout/stderr and returns the exit code.
pub async fn run(command: PolicyCommand) -> i32 {
    match command {
        PolicyCommand::Apply(args) => crate::apply::run(*args).await,
        command => run_with(command, &mut io::stdout().lock(), &mut io::stderr().lock()),
    }
}

/// `run` with the output streams given, for tests.
pub fn run_with(command: PolicyCommand, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let result = match command {
        PolicyCommand::Generate(args) => run_generate(&args, out, err),
        PolicyCommand::Merge(args) => run_merge(&args, out, err),
        PolicyCommand::Lint(args) => run_lint(&args, out),
        PolicyCommand::Check(args) => run_check(&args, out),
        // The one command that calls the services: [`run`] awaits `crate::apply::run`.
        PolicyCommand::Apply(_) => Err(anyhow!("crr policy apply runs through crr_cli::policy::run")),
    };
    match result {
        Ok(exit) => exit.code(),
        Err(error) => {
            // One line: what failed, why, what to do.
            let _ = writeln!(err, "error: {error:#}");
            Exit::BadInput.code()
        }
    }
}

fn run_generate(args: &GenerateArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Exit> {
    let (rule, role_arn) = rule_from_args(&args.rule, "crr policy generate")?;
    let generated = generate(&rule)?;
    for document in documents(&rule, &role_arn, &generated) {
        writeln!(out, "== {} ==", document.heading)?;
        if let Some(policy) = &document.policy {
            writeln!(out, "{}", policy.to_pretty_json())?;
        }
        writeln!(out)?;
    }
    writeln!(out, "== Notes ==")?;
    for note in &generated.notes {
        writeln!(out, "- {note}")?;
    }
    if let Some(dir) = &args.out {
        write_documents(dir, &documents(&rule, &role_arn, &generated), err)?;
    }
    Ok(Exit::Ok)
}

/// A printed document: heading, and the policy when there is one to apply.
struct Document {
    heading: String,
    file: &'static str,
    policy: Option<Policy>,
}

fn documents(rule: &ReplicationRule, role_arn: &RoleArn, generated: &GeneratedPolicies) -> Vec<Document> {
    let role = role_arn.name();
    let mut documents = vec![
        Document {
            heading: format!("Permission policy: attach it to the role {role_arn}"),
            file: "permission-policy.json",
            policy: Some(generated.permission.clone()),
        },
        Document {
            heading: format!("Trust policy of {role}: who may assume it"),
            file: "trust-policy.json",
            policy: Some(generated.trust.clone()),
        },
        if generated.bucket_policy_needed {
            Document {
                heading: format!(
                    "Destination bucket policy statements for {}: needed, the role is in account {} and the bucket in account {}; merge them with crr policy merge",
                    rule.destination.name,
                    rule.role.account,
                    rule.destination.account.as_deref().unwrap_or("?")
                ),
                file: "dest-bucket-policy.json",
                policy: Some(generated.bucket_policy.clone()),
            }
        } else {
            Document {
                heading: format!(
                    "Destination bucket policy for {}: not needed, the role is in the destination account {}",
                    rule.destination.name, rule.role.account
                ),
                file: "dest-bucket-policy.json",
                policy: None,
            }
        },
    ];
    if let (Some(kms), Some(policy)) = (&rule.kms, &generated.kms_key_policy) {
        documents.push(Document {
            heading: format!(
                "KMS key policy statement: add it to the policy of the destination key {}",
                kms.destination_key
            ),
            file: "kms-key-policy.json",
            policy: Some(policy.clone()),
        });
    }
    documents
}

fn write_documents(dir: &Path, documents: &[Document], err: &mut dyn Write) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| {
        format!("cannot create the --out directory {}; check the path and permissions", dir.display())
    })?;
    for document in documents {
        let Some(policy) = &document.policy else {
            continue;
        };
        let path = dir.join(document.file);
        fs::write(&path, policy.to_pretty_json() + "\n")
            .with_context(|| format!("cannot write {}; check the directory's permissions", path.display()))?;
        writeln!(err, "wrote {}", path.display())?;
    }
    Ok(())
}

/// The rule the flags describe, checked flag by flag.
pub(crate) fn rule_from_args(args: &RuleArgs, command: &str) -> anyhow::Result<(ReplicationRule, RoleArn)> {
    let explicit_provider = args.provider.as_deref().map(str::parse::<Provider>).transpose().context("--provider")?;
    let missing: Vec<&str> = [
        ("--source-bucket", args.source_bucket.is_none()),
        ("--dest-bucket", args.dest_bucket.is_none()),
        ("--dest-account", args.dest_account.is_none()),
        ("--role-arn", args.role_arn.is_none()),
    ]
    .into_iter()
    .filter_map(|(flag, absent)| absent.then_some(flag))
    .collect();
    if !missing.is_empty() {
        bail!(
            "missing {}: {command} needs the source and destination buckets, the destination account and the replication role's ARN (see --help)",
            missing.join(", ")
        );
    }
    let role_text = args.role_arn.clone().unwrap_or_default();
    let role_arn: RoleArn = role_text.parse().context("--role-arn")?;
    let provider = match explicit_provider {
        Some(provider) => provider,
        None if role_arn.is_alibaba() => Provider::Oss,
        None => Provider::Aws,
    };
    if role_arn.is_alibaba() != (provider == Provider::Oss) {
        bail!(
            "--role-arn {role_arn} is {} role but --provider is {provider}: give a role of the same cloud, or drop --provider",
            if role_arn.is_alibaba() { "an Alibaba Cloud RAM" } else { "an AWS IAM" }
        );
    }
    if provider == Provider::Oss && args.source_account.is_none() {
        bail!("missing --source-account: OSS resource names include the UID of the source bucket's owner");
    }
    let role = match &role_arn {
        RoleArn::Alibaba { uid, name } => Role::alibaba(uid, name),
        RoleArn::Aws { partition, account, name, path } => Role::aws(partition, account, path, name),
    };
    let kms = match (&args.kms_key, &args.source_kms_key) {
        (Some(key), source) => Some(Kms { destination_key: key.clone(), source_key: source.clone() }),
        (None, Some(_)) => bail!("--source-kms-key needs --kms-key, the destination key replicas are encrypted with"),
        (None, None) => None,
    };
    let trustee = match (&args.trust_service, &args.trust_principal) {
        (Some(_), Some(_)) => bail!("give either --trust-service or --trust-principal, not both"),
        (Some(service), None) => Some(Trustee::Service(service.clone())),
        (None, Some(principal)) => Some(Trustee::Principal(principal.clone())),
        (None, None) => None,
    };
    let rule = ReplicationRule {
        provider,
        source: Bucket { name: args.source_bucket.clone().unwrap_or_default(), account: args.source_account.clone() },
        destination: Bucket { name: args.dest_bucket.clone().unwrap_or_default(), account: args.dest_account.clone() },
        role,
        action: args.action.as_deref().map_or(Ok(ReplicationAction::Put), str::parse).context("--action")?,
        prefixes: args.prefixes.clone(),
        kms,
        trustee,
    };
    Ok((rule, role_arn))
}

fn run_merge(args: &MergeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Exit> {
    let existing_text = read_file(&args.existing, "--existing")?;
    let (additions, required) = match (&args.generated, args.rule.is_empty()) {
        (Some(_), false) => bail!("give either --generated FILE or the rule flags, not both"),
        (None, true) => bail!(
            "nothing to merge: give --generated FILE (e.g. dest-bucket-policy.json from crr policy generate --out) or the rule flags of crr policy generate"
        ),
        (Some(path), true) => {
            let policy = read_policy(path, "--generated")?;
            (Some(policy.clone()), policy)
        }
        (None, false) => {
            let (rule, _) = rule_from_args(&args.rule, "crr policy merge")?;
            let generated = generate(&rule)?;
            let additions = generated.bucket_policy_needed.then(|| generated.bucket_policy.clone());
            (additions, generated.bucket_policy)
        }
    };
    let blocking = match additions {
        Some(additions) => {
            let merged = merge(&existing_text, &additions)
                .with_context(|| format!("merging into {}", args.existing.display()))?;
            writeln!(out, "{}", merged.policy.to_pretty_json())?;
            if merged.changed() {
                write!(err, "{}", merged.diff())?;
            } else {
                writeln!(err, "no changes: the existing policy already has every statement to add")?;
            }
            merged.blocking
        }
        None => {
            writeln!(
                err,
                "no statements to add: the role is in the destination account, so its permission policy is enough; the existing policy is printed unchanged"
            )?;
            if existing_text.trim().is_empty() {
                Vec::new()
            } else {
                let existing = Policy::parse(&existing_text)
                    .with_context(|| format!("{} is not a valid policy", args.existing.display()))?;
                writeln!(out, "{}", existing.to_pretty_json())?;
                blocking_denies(&existing, &required)
            }
        }
    };
    report_blocking(&blocking, err)?;
    Ok(Exit::failed_if(blocking.iter().any(|b| b.certain)))
}

pub(crate) fn report_blocking(blocking: &[BlockingDeny], err: &mut dyn Write) -> io::Result<()> {
    for deny in blocking {
        if deny.certain {
            writeln!(
                err,
                "error: existing {} denies what replication needs, and no Allow overrides a Deny:",
                deny.statement
            )?;
        } else {
            writeln!(
                err,
                "warning: existing {} denies what replication needs when its conditions hold ({}):",
                deny.statement,
                deny.conditions.join("; ")
            )?;
        }
        for blocked in &deny.blocked {
            writeln!(err, "  {blocked}")?;
        }
        writeln!(err, "  fix: narrow that Deny's Action/Resource, or exempt the replication role from it")?;
    }
    Ok(())
}

fn run_lint(args: &LintArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let policy = read_policy(&args.file, "the policy")?;
    let findings = lint(&policy);
    if findings.is_empty() {
        writeln!(out, "no findings in {}", args.file.display())?;
    }
    for finding in &findings {
        writeln!(out, "{finding}")?;
    }
    Ok(Exit::failed_if(findings.iter().any(|f| f.severity == Severity::Error)))
}

fn run_check(args: &CheckArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    if args.files.is_empty() {
        bail!("no policy file given: crr policy check FILE... --action ACTION --resource RESOURCE");
    }
    let (Some(action), Some(resource)) = (&args.action, &args.resource) else {
        bail!("give the request to check with --action (e.g. oss:PutObject) and --resource (e.g. acs:oss:*:<uid>:<bucket>/<key>)");
    };
    let policies = args.files.iter().map(|path| read_policy(path, "the policy")).collect::<anyhow::Result<Vec<_>>>()?;
    let mut request = Request::new(action.as_str(), resource.as_str());
    if let Some(principal) = &args.principal {
        request = request.with_principal(principal.as_str());
    }
    for pair in &args.context {
        let (key, value) = parse_context(pair)?;
        request = request.with_context(key, value);
    }
    let decision = evaluate(&policies, &request);
    for line in describe_decision(&decision, &request, &args.files) {
        writeln!(out, "{line}")?;
    }
    Ok(match decision.outcome {
        Outcome::Allow => Exit::Ok,
        Outcome::ExplicitDeny | Outcome::ImplicitDeny => Exit::Failed,
        Outcome::Undetermined => Exit::Undetermined,
    })
}

/// `KEY=VALUE` of `--context`.
fn parse_context(pair: &str) -> anyhow::Result<(&str, &str)> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key, value)),
        _ => Err(anyhow!("--context {pair:?} is not KEY=VALUE: write e.g. --context acs:SourceIp=10.0.0.1")),
    }
}

/// The lines `check` prints: the answer first, then what it rests on.
pub fn describe_decision(decision: &Decision, request: &Request, files: &[PathBuf]) -> Vec<String> {
    let file =
        |policy: usize| files.get(policy).map_or_else(|| format!("policy {policy}"), |f| f.display().to_string());
    let what = format!("{} on {}", request.action, request.resource);
    let mut lines = match (decision.outcome, &decision.decided_by) {
        (Outcome::Allow, Some(by)) => vec![format!("allow: {} of {} allows {what}", by.statement, file(by.policy))],
        (Outcome::ExplicitDeny, Some(by)) => {
            vec![format!("deny: {} of {} explicitly denies {what}", by.statement, file(by.policy))]
        }
        (Outcome::Undetermined, _) => {
            let mut lines = vec![format!("undetermined: {what} depends on what the request does not say:")];
            for unresolved in &decision.unresolved {
                for reason in &unresolved.reasons {
                    lines.push(format!(
                        "  {} of {} ({}): {reason}",
                        unresolved.at.statement,
                        file(unresolved.at.policy),
                        unresolved.effect
                    ));
                }
            }
            lines.push("  give the missing values with --principal / --context KEY=VALUE".to_owned());
            lines
        }
        _ => vec![format!("deny: no statement allows {what} (implicit deny)")],
    };
    lines.extend(decision.assumptions.iter().map(|a| format!("note: {a}")));
    lines
}

/// A policy is a few kilobytes (S3 allows 20 KB, RAM 6 KB): a file larger than this
/// is refused before it is read.
const MAX_POLICY_FILE: u64 = 1024 * 1024;

fn read_file(path: &Path, what: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| anyhow!("cannot read {what} file {}: {e}; check the path", path.display());
    let file = fs::File::open(path).map_err(cannot)?;
    if file.metadata().map_err(cannot)?.len() > MAX_POLICY_FILE {
        return Err(anyhow!("{what} file {} is larger than {MAX_POLICY_FILE} bytes; is it a policy?", path.display()));
    }
    let mut text = String::new();
    file.take(MAX_POLICY_FILE + 1).read_to_string(&mut text).map_err(cannot)?;
    if text.len() as u64 > MAX_POLICY_FILE {
        return Err(anyhow!("{what} file {} is larger than {MAX_POLICY_FILE} bytes; is it a policy?", path.display()));
    }
    Ok(text)
}

fn read_policy(path: &Path, what: &str) -> anyhow::Result<Policy> {
    let text = read_file(path, what)?;
    Policy::parse(&text).with_context(|| format!("{} is not a valid policy", path.display()))
}
