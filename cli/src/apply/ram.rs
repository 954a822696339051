//! The RAM role's part of `crr policy apply` for an OSS rule (the seed's step 1). crr
//! has no RAM client, so it applies nothing here: it writes the role's permission and
//! trust policies to `--out` and prints the `aliyun ram` commands that apply them, and
//! says so, so that neither a person nor a script takes the role for done.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use crr::arn::RoleArn;
use crr_policy::{GeneratedPolicies, Policy};

use super::ApplyArgs;

/// Writes the documents and prints the commands that apply them.
pub(super) fn print_commands(
    args: &ApplyArgs,
    role_arn: &RoleArn,
    generated: &GeneratedPolicies,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let dir = &args.out;
    fs::create_dir_all(dir).with_context(|| {
        format!("cannot create the --out directory {}; check the path and permissions", dir.display())
    })?;
    let permission = write(dir, "permission-policy.json", &generated.permission, err)?;
    let trust = write(dir, "trust-policy.json", &generated.trust, err)?;
    let (role, policy) = (role_arn.name(), &args.policy_name);
    let merged = crate::shell::word(&dir.join("merged-trust-policy.json").display().to_string());
    let current = crate::shell::word(&dir.join("current-trust-policy.json").display().to_string());
    let lines = [
        format!(
            "role {role_arn}: NOT applied: crr has no RAM client. Apply the documents in {} with the aliyun CLI and the \
             credentials of an administrator of account {}:",
            dir.display(),
            role_arn.account()
        ),
        "  # a new role, trusting whom the trust policy names:".to_owned(),
        format!("  aliyun ram CreateRole --RoleName {role} --AssumeRolePolicyDocument \"$(cat {trust})\""),
        "  # or an existing role: UpdateRole replaces its trust policy whole, so merge into it first:".to_owned(),
        format!("  aliyun ram GetRole --RoleName {role} | jq -r .Role.AssumeRolePolicyDocument > {current}"),
        format!("  crr policy merge --existing {current} --generated {trust} > {merged}"),
        format!("  aliyun ram UpdateRole --RoleName {role} --NewAssumeRolePolicyDocument \"$(cat {merged})\""),
        format!("  # crr's permission policy ({} statements), created once and attached:", generated.permission.statements().len()),
        format!("  aliyun ram CreatePolicy --PolicyName {policy} --PolicyDocument \"$(cat {permission})\""),
        format!("  aliyun ram AttachPolicyToRole --PolicyType Custom --PolicyName {policy} --RoleName {role}"),
        "  # later changes to it: a new default version".to_owned(),
        format!(
            "  aliyun ram CreatePolicyVersion --PolicyName {policy} --PolicyDocument \"$(cat {permission})\" --SetAsDefault true"
        ),
    ];
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Writes one document; returns its path as a shell word.
fn write(dir: &Path, file: &str, policy: &Policy, err: &mut dyn Write) -> anyhow::Result<String> {
    let path = dir.join(file);
    fs::write(&path, policy.to_pretty_json() + "\n")
        .with_context(|| format!("cannot write {}; check the directory's permissions", path.display()))?;
    writeln!(err, "wrote {}", path.display())?;
    Ok(crate::shell::word(&path.display().to_string()))
}
