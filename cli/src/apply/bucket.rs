//! The destination bucket's part of `crr policy apply` (the seed's step 2): the policy
//! read, merged with the statements replication needs and put back whole, through the
//! store of the bucket's dialect (S3 `GetBucketPolicy`/`PutBucketPolicy`, OSS the same
//! operations of its own API), with credentials of the bucket owner's account.

use std::io::Write;

use anyhow::{bail, Context as _};
use crr::error::Failure;
use crr::store::Store;
use crr_policy::{merge, GeneratedPolicies, Provider, ReplicationRule};

use super::{describe_merge, ApplyArgs};
use crate::policy::report_blocking;

/// The destination bucket's policy, merged. True when a Deny refused the change.
pub(super) async fn apply_bucket_policy(
    args: &ApplyArgs,
    rule: &ReplicationRule,
    generated: &GeneratedPolicies,
    store: &Store,
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
    let service = match rule.provider {
        Provider::Oss => "oss",
        Provider::Aws => "s3",
    };
    let owner_hint = || {
        format!(
            "apply with credentials of the bucket owner's account {} allowed {service}:GetBucketPolicy and \
             {service}:PutBucketPolicy on {bucket} (--only bucket-policy), and check --dest-endpoint ({} API)",
            rule.destination.account.as_deref().unwrap_or("?"),
            store.api().name()
        )
    };
    let existing = match store.bucket_policy(bucket).await {
        Ok(policy) => policy.unwrap_or_default(),
        Err(f) => bail!("reading the bucket policy of {bucket}: {}; {}", describe(&f), owner_hint()),
    };
    let merged = merge(&existing, &generated.bucket_policy)
        .with_context(|| format!("merging into the bucket policy of {bucket}"))?;
    report_blocking(&merged.blocking, err)?;
    if merged.blocks_replication() {
        writeln!(out, "bucket policy of {bucket}: not changed: a Deny in it blocks replication (above)")?;
        return Ok(true);
    }
    if merged.changed() && !args.dry_run {
        if let Err(f) = store.put_bucket_policy(bucket, &merged.policy.to_pretty_json()).await {
            bail!("putting the merged bucket policy of {bucket}: {}; {}", describe(&f), owner_hint());
        }
    }
    describe_merge(&format!("bucket policy of {bucket}"), &merged, args.dry_run, out)?;
    Ok(false)
}

/// `code: message (HTTP status)` of a failed request.
fn describe(f: &Failure) -> String {
    let status = f.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    match &f.code {
        Some(code) if !f.message.contains(code.as_str()) => format!("{code}: {}{status}", f.message),
        _ => format!("{}{status}", f.message),
    }
}
