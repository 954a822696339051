//! `crr policy apply`: puts what `crr policy generate` prints where it belongs, for
//! IAM roles and S3 bucket policies: crr's inline permission policy on the role,
//! the role's trust policy merged (never replaced: other principals it trusts stay),
//! and the destination bucket policy merged (a PUT replaces the whole document, so
//! every existing statement goes back as it was). A Deny in the way of replication
//! stops it before anything is written; `--dry-run` reads and reports only.

use std::io::{self, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use aws_sdk_s3::error::ProvideErrorMetadata;
use clap::{Args, ValueEnum};
use crr::arn::RoleArn;
use crr::config::{default_path_style, Endpoint};
use crr::credentials::FunctionIdentity;
use crr::error::source_text;
use crr::iam::Iam;
use crr::store;
use crr_policy::{generate, merge, merge_policies, GeneratedPolicies, Merged, Policy, Provider, ReplicationRule};
use crr_sign::AccessKey;

use crate::policy::{report_blocking, rule_from_args, Exit, RuleArgs};

/// The name of crr's inline policy on the role, unless `--policy-name` says otherwise.
pub const DEFAULT_POLICY_NAME: &str = "crr-replication";

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    /// IAM endpoint of the role's account (default: https://iam.amazonaws.com).
    #[arg(long, value_name = "URL")]
    pub iam_endpoint: Option<String>,
    /// S3 endpoint of the destination bucket (default: AWS S3 in --dest-region).
    #[arg(long, value_name = "URL")]
    pub dest_endpoint: Option<String>,
    /// Signing region of the destination bucket's endpoint.
    #[arg(long, default_value = "us-east-1")]
    pub dest_region: String,
    /// Name of crr's inline permission policy on the role.
    #[arg(long, default_value = DEFAULT_POLICY_NAME)]
    pub policy_name: String,
    /// Apply one part only, e.g. when the role and the bucket belong to different
    /// accounts and need different credentials.
    #[arg(long, value_enum)]
    pub only: Option<Part>,
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

/// Runs `crr policy apply` with the credentials of the environment (an administrator of
/// the account owning the role, and of the one owning the bucket) and returns the exit
/// code: 0 applied (or nothing to change), 1 refused (a Deny blocks replication), 3 bad
/// input or a failed call.
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
    if rule.provider == Provider::Oss {
        bail!(
            "crr policy apply changes IAM roles and S3 bucket policies; for the RAM role {role_arn} and the OSS bucket {}, \
             write the documents with `crr policy generate --out DIR` and apply them in the RAM and OSS consoles \
             (or with `aliyun ram CreatePolicy`/`AttachPolicyToRole`/`UpdateRole` and `ossutil bucket-policy`), \
             merging the bucket policy with `crr policy merge` first",
            rule.destination.name
        );
    }
    let generated = generate(&rule)?;
    let http = store::http_client();
    let identity = Arc::new(FunctionIdentity::new(http.clone(), &args.dest_region));
    let credentials = identity.credentials().await.map_err(|e| {
        anyhow!(
            "no credentials to apply the policies with: {}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile) \
             of an administrator of the account owning the role, or the bucket with --only bucket-policy",
            source_text(&e)
        )
    })?;
    let mut key = AccessKey::new(credentials.access_key_id(), credentials.secret_access_key());
    if let Some(token) = credentials.session_token() {
        key = key.with_security_token(token);
    }
    if args.dry_run {
        writeln!(out, "dry run: reading only, nothing is changed")?;
    }
    let mut refused = false;
    if args.only != Some(Part::BucketPolicy) {
        refused |= apply_role(args, &role_arn, &generated, key, out, err).await?;
    }
    if args.only != Some(Part::Role) {
        let endpoint = Endpoint {
            url: args.dest_endpoint.clone(),
            region: args.dest_region.clone(),
            path_style: default_path_style(args.dest_endpoint.as_deref()),
        };
        let s3 = store::s3_client(&http, &endpoint, identity);
        refused |= apply_bucket_policy(args, &rule, &generated, &s3, out, err).await?;
    }
    if let Some(kms) = &rule.kms {
        writeln!(
            out,
            "KMS key policy of {}: not changed by crr (a key policy guards more than replication); add the statement \
             `crr policy generate --out DIR` writes to DIR/kms-key-policy.json",
            kms.destination_key
        )?;
    }
    Ok(Exit::failed_if(refused))
}

/// The role's permission and trust policies. True when a Deny in the trust policy
/// refused the change.
async fn apply_role(
    args: &ApplyArgs,
    role_arn: &RoleArn,
    generated: &GeneratedPolicies,
    key: AccessKey,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    let name = role_arn.name();
    let account = role_arn.account();
    let admin_hint = || {
        format!(
            "apply with an administrator's credentials of account {account} \
             (allowed iam:GetRole, iam:GetRolePolicy, iam:PutRolePolicy, iam:UpdateAssumeRolePolicy)"
        )
    };
    let iam = Iam::new(args.iam_endpoint.as_deref(), key).map_err(|e| anyhow!("setting up the IAM client: {e}"))?;
    let role = match iam.get_role(name).await {
        Ok(role) => role,
        Err(e) if e.code() == Some("NoSuchEntity") => bail!(
            "the role {name} does not exist in the account of these credentials: create it with the trust policy \
             `crr policy generate --out DIR` writes (aws iam create-role --role-name {name} \
             --assume-role-policy-document file://DIR/trust-policy.json), or use credentials of account {account}"
        ),
        Err(e) => return Err(e).with_context(admin_hint),
    };
    if role.arn != role_arn.to_string() {
        bail!(
            "these credentials see the role {} instead of {role_arn}: use credentials of account {account}, or fix --role-arn",
            role.arn
        );
    }

    let wanted = &generated.permission;
    let current = iam.get_role_policy(name, &args.policy_name).await.with_context(admin_hint)?;
    let (state, change) = match current.as_deref().map(Policy::parse) {
        None => ("created", "would create"),
        Some(Ok(current)) if current.to_value() == wanted.to_value() => ("unchanged", "unchanged"),
        Some(_) => ("replaced", "would replace"),
    };
    if state != "unchanged" && !args.dry_run {
        iam.put_role_policy(name, &args.policy_name, &wanted.to_pretty_json()).await.with_context(admin_hint)?;
    }
    writeln!(
        out,
        "role {role_arn}: permission policy {}: {} ({} statements)",
        args.policy_name,
        if args.dry_run { change } else { state },
        wanted.statements().len()
    )?;

    let existing = Policy::parse(&role.trust_policy)
        .with_context(|| format!("the current trust policy of {name} cannot be read"))?;
    let merged = merge_policies(Some(&existing), &generated.trust)
        .with_context(|| format!("merging into the trust policy of {name}"))?;
    if merged.blocks_replication() {
        report_blocking(&merged.blocking, err)?;
        writeln!(out, "role {role_arn}: trust policy: not changed: a Deny in it blocks assuming the role (above)")?;
        return Ok(true);
    }
    report_blocking(&merged.blocking, err)?;
    if merged.changed() && !args.dry_run {
        iam.update_assume_role_policy(name, &merged.policy.to_pretty_json()).await.with_context(admin_hint)?;
    }
    describe_merge(&format!("role {role_arn}: trust policy"), &merged, args.dry_run, out)?;
    Ok(false)
}

/// The destination bucket's policy, merged. True when a Deny refused the change.
async fn apply_bucket_policy(
    args: &ApplyArgs,
    rule: &ReplicationRule,
    generated: &GeneratedPolicies,
    s3: &aws_sdk_s3::Client,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    let bucket = &rule.destination.name;
    if !generated.bucket_policy_needed {
        writeln!(
            out,
            "bucket policy of {bucket}: not needed: the role is in the destination account {}, its permission policy is enough",
            rule.role.account
        )?;
        return Ok(false);
    }
    let owner_hint = || {
        format!(
            "apply with credentials of the bucket owner's account {} allowed s3:GetBucketPolicy and s3:PutBucketPolicy \
             on {bucket} (--only bucket-policy), and check --dest-endpoint",
            rule.destination.account.as_deref().unwrap_or("?")
        )
    };
    let existing = match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(answer) => answer.policy().unwrap_or_default().to_owned(),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => String::new(),
        Err(e) => bail!("reading the bucket policy of {bucket}: {}; {}", source_text(&e), owner_hint()),
    };
    let merged = merge(&existing, &generated.bucket_policy)
        .with_context(|| format!("merging into the bucket policy of {bucket}"))?;
    report_blocking(&merged.blocking, err)?;
    if merged.blocks_replication() {
        writeln!(out, "bucket policy of {bucket}: not changed: a Deny in it blocks replication (above)")?;
        return Ok(true);
    }
    if merged.changed() && !args.dry_run {
        s3.put_bucket_policy().bucket(bucket).policy(merged.policy.to_pretty_json()).send().await.map_err(|e| {
            anyhow!("putting the merged bucket policy of {bucket}: {}; {}", source_text(&e), owner_hint())
        })?;
    }
    describe_merge(&format!("bucket policy of {bucket}"), &merged, args.dry_run, out)?;
    Ok(false)
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
