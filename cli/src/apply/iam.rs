//! The IAM role's part of `crr policy apply`: crr's inline permission policy put on the
//! role, and its trust policy merged with the statement crr needs (other principals it
//! trusts stay), through IAM with an administrator's credentials of the role's account.

use std::io::Write;

use anyhow::{anyhow, bail, Context as _};
use aws_credential_types::Credentials;
use crr::arn::RoleArn;
use crr::iam::Iam;
use crr_policy::{merge_policies, GeneratedPolicies, Policy};
use crr_sign::AccessKey;

use super::{describe_merge, ApplyArgs};
use crate::policy::report_blocking;

/// The role's permission and trust policies. True when a Deny in the trust policy
/// refused the change.
pub(super) async fn apply_role(
    args: &ApplyArgs,
    role_arn: &RoleArn,
    generated: &GeneratedPolicies,
    credentials: &Credentials,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    let mut key = AccessKey::new(credentials.access_key_id(), credentials.secret_access_key());
    if let Some(token) = credentials.session_token() {
        key = key.with_security_token(token);
    }
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
