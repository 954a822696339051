//! The destination bucket policy as the role reads it: lint findings, a Deny that
//! blocks what replication needs, and whether it grants a role from another account
//! every access. Decided by `crr_policy`, the code `crr policy` runs.

use crr::config::Rule;
use crr::error::Failure;
use crr_policy::{blocking_denies, evaluate, lint, Outcome, Policy, Provider, Request, Severity};

use super::check::{skipped, Check, Status};
use super::grants::Grants;
use super::requests::describe;

/// The destination bucket policy as the role sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketPolicy {
    /// The role may not read it (or reading failed).
    Unreadable(Failure),
    /// The bucket has none.
    Missing,
    Text(String),
}

/// Reads the destination bucket policy with the role.
pub(super) async fn read_bucket_policy(dest: &aws_sdk_s3::Client, bucket: &str) -> BucketPolicy {
    match dest.get_bucket_policy().bucket(bucket).send().await {
        Ok(out) => BucketPolicy::Text(out.policy().unwrap_or_default().to_owned()),
        Err(e) => {
            let f = Failure::from_sdk(&e);
            if f.code.as_deref() == Some("NoSuchBucketPolicy") {
                BucketPolicy::Missing
            } else {
                BucketPolicy::Unreadable(f)
            }
        }
    }
}

pub fn policy_checks(rule: &Rule, policy: &BucketPolicy, grants: &Grants) -> Vec<Check> {
    let bucket = &rule.destination.name;
    let text = match policy {
        BucketPolicy::Unreadable(f) => {
            let why = if f.is_access_denied() {
                format!(
                    "the role may not read {bucket}'s bucket policy ({}; replication does not need it), so it was not checked; \
                     in the destination account, save it and run `crr policy lint FILE` and `crr policy merge --existing FILE <generate flags>`",
                    grants.action("GetBucketPolicy")
                )
            } else {
                format!("reading {bucket}'s bucket policy with the role: {}", describe(f))
            };
            return skipped(rule, &["dest-policy-lint", "dest-policy-deny", "dest-policy-grant"], &why);
        }
        BucketPolicy::Missing => {
            return vec![
                Check::skip("dest-policy-lint", Some(rule), format!("{bucket} has no bucket policy")),
                Check::ok(
                    "dest-policy-deny",
                    Some(rule),
                    format!("{bucket} has no bucket policy, so none denies the role; the probes show what its permission policy allows"),
                ),
                grant_check(rule, None, grants),
            ];
        }
        BucketPolicy::Text(text) => text,
    };
    let policy = match Policy::parse(text) {
        Ok(policy) => policy,
        Err(e) => {
            return vec![
                Check::warn(
                    "dest-policy-lint",
                    Some(rule),
                    format!("{bucket}'s bucket policy cannot be read as a policy: {e}"),
                    "fix the policy's JSON in the destination account",
                ),
                Check::skip("dest-policy-deny", Some(rule), "the bucket policy could not be parsed"),
                Check::skip("dest-policy-grant", Some(rule), "the bucket policy could not be parsed"),
            ];
        }
    };
    let mut checks = lint_checks(rule, &policy);
    checks.push(deny_check(rule, &policy, grants));
    checks.push(grant_check(rule, Some(&policy), grants));
    checks
}

/// The first item, and how many follow: one line however many there are.
fn first_and_more(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        [] => String::new(),
    }
}

/// Whether the destination bucket policy (`None`: the bucket has none) allows the
/// role's sessions everything replication needs there, when the role lives in another
/// account than the bucket and so needs the bucket's grant as well as its own. Each
/// required grant is evaluated as a request of a session of the role, named as the
/// cloud names it (OSS: the role name in lower case), so a mis-cased or missing
/// principal, a missing `/*` resource or a missing action fails here.
pub fn grant_check(rule: &Rule, policy: Option<&Policy>, grants: &Grants) -> Check {
    let bucket = &rule.destination.name;
    let Some(generated) = grants.generated.as_ref() else {
        return Check::skip(
            "dest-policy-grant",
            Some(rule),
            "the grants replication needs could not be derived from the rule",
        );
    };
    let Some(dest_account) = grants.dest.account.as_deref() else {
        return Check::skip(
            "dest-policy-grant",
            Some(rule),
            format!("the account owning {bucket} is unknown: give --dest-account to check that its bucket policy grants the role"),
        );
    };
    if !generated.bucket_policy_needed {
        return Check::ok(
            "dest-policy-grant",
            Some(rule),
            format!("not needed: the role and {bucket} are both in account {dest_account}"),
        );
    }
    let fix = format!(
        "merge the grants into the bucket policy in account {dest_account}: crr policy apply --only bucket-policy \
         (S3) or crr policy merge --existing FILE ({}){}",
        grants.command,
        if grants.provider == Provider::Oss {
            "; OSS names the role's sessions arn:sts::<uid>:assumed-role/<role name in lower case>/*"
        } else {
            ""
        }
    );
    let Some(policy) = policy else {
        return Check::fail(
            "dest-policy-grant",
            Some(rule),
            format!(
                "{bucket} has no bucket policy, but the role is in account {}, not {dest_account}: without the bucket's grant \
                 its writes are denied",
                grants.role_account
            ),
            fix,
        );
    };
    let session = grants.session_principal();
    let mut missing = Vec::new();
    let mut undetermined = Vec::new();
    let mut checked = 0;
    for statement in generated.bucket_policy.statements() {
        let resources = statement.resource().map(|r| r.patterns.clone()).unwrap_or_default();
        for action in &statement.action().patterns {
            for resource in &resources {
                let sample = match resource.strip_suffix('*') {
                    Some(prefix) => format!("{prefix}crr-doctor-sample"),
                    None => resource.clone(),
                };
                checked += 1;
                let request = Request::new(action.as_str(), sample.as_str()).with_principal(session.as_str());
                match evaluate([policy], &request).outcome {
                    Outcome::Allow | Outcome::ExplicitDeny => {} // a Deny is dest-policy-deny's
                    Outcome::ImplicitDeny => missing.push(format!("{action} on {resource}")),
                    Outcome::Undetermined => undetermined.push(format!("{action} on {resource}")),
                }
            }
        }
    }
    if !missing.is_empty() {
        Check::fail(
            "dest-policy-grant",
            Some(rule),
            format!(
                "{bucket}'s bucket policy does not allow the role's sessions ({session}) {}",
                first_and_more(&missing)
            ),
            fix,
        )
    } else if !undetermined.is_empty() {
        Check::warn(
            "dest-policy-grant",
            Some(rule),
            format!(
                "{bucket}'s bucket policy allows the role {} only under conditions doctor cannot evaluate",
                first_and_more(&undetermined)
            ),
            "make sure the conditions hold for the functions' requests, or grant without them".to_owned(),
        )
    } else {
        Check::ok(
            "dest-policy-grant",
            Some(rule),
            format!("{bucket}'s bucket policy allows the role's sessions ({session}) all {checked} accesses replication needs"),
        )
    }
}

/// One line per lint finding: a failure for an error (such as a capitalised role name in
/// an OSS principal, which never matches), a warning for what is fragile or too wide;
/// or one ok line.
pub fn lint_checks(rule: &Rule, policy: &Policy) -> Vec<Check> {
    let bucket = &rule.destination.name;
    let findings = lint(policy);
    if findings.is_empty() {
        return vec![Check::ok(
            "dest-policy-lint",
            Some(rule),
            format!(
                "{bucket}'s bucket policy ({} statement{}) has no lint findings",
                policy.statements().len(),
                if policy.statements().len() == 1 { "" } else { "s" }
            ),
        )];
    }
    findings
        .iter()
        .map(|finding| {
            let at = finding.statement.as_ref().map(|s| format!(" {s}")).unwrap_or_default();
            let (severity, status) = match finding.severity {
                Severity::Error => ("error", Status::Fail),
                Severity::Warning => ("warning", Status::Warn),
            };
            let detail = format!("{bucket}'s bucket policy, {severity} [{}]{at}: {}", finding.rule, finding.message);
            Check { fix: Some(finding.fix.clone()), ..Check::new("dest-policy-lint", Some(rule), status, detail) }
        })
        .collect()
}

/// Whether a Deny in the destination bucket policy applies to what replication needs
/// the role to do there (list, write, delete with action ALL, `.crr/` state).
pub fn deny_check(rule: &Rule, policy: &Policy, grants: &Grants) -> Check {
    let Some(required) = grants.generated.as_ref().map(|g| &g.bucket_policy) else {
        return Check::skip(
            "dest-policy-deny",
            Some(rule),
            "the grants replication needs could not be derived from the rule",
        );
    };
    let bucket = &rule.destination.name;
    let denies = blocking_denies(policy, required);
    if denies.is_empty() {
        return Check::ok(
            "dest-policy-deny",
            Some(rule),
            format!("no Deny in {bucket}'s bucket policy applies to what replication needs the role to do"),
        );
    }
    let certain = denies.iter().any(|d| d.certain);
    let lines: Vec<String> = denies
        .iter()
        .map(|d| {
            let blocked = first_and_more(&d.blocked);
            if d.certain {
                format!("{} denies {blocked}", d.statement)
            } else {
                format!("{} denies {blocked} when {}", d.statement, d.conditions.join(" and "))
            }
        })
        .collect();
    let detail = format!("{bucket}'s bucket policy: {}; no Allow overrides a Deny", lines.join("; "));
    let fix = "narrow that Deny's Action/Resource, or exempt the replication role from it (crr policy merge reports the same)";
    if certain {
        Check::fail("dest-policy-deny", Some(rule), detail, fix)
    } else {
        Check::warn("dest-policy-deny", Some(rule), detail, fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixtures::{config, failure, grants};
    use crate::doctor::grants::Accounts;

    const DENY_PUT: &str = r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadOnlyForEveryone", "Effect": "Deny", "Principal": "*", "Action": ["s3:PutObject", "s3:DeleteObject"],
         "Resource": "arn:aws:s3:::crr-dst/*"}]}"#;

    #[test]
    fn an_explicit_deny_on_what_replication_needs_fails() {
        let c = config(&[]);
        let checks = policy_checks(&c.rules[0], &BucketPolicy::Text(DENY_PUT.into()), &grants(&c));
        let deny = checks.iter().find(|c| c.name == "dest-policy-deny").unwrap();
        assert_eq!(deny.status, Status::Fail, "{deny:?}");
        assert!(
            deny.detail.contains("Statement[0] (Sid \"ReadOnlyForEveryone\") denies s3:PutObject"),
            "{}",
            deny.detail
        );
        assert!(deny.fix.as_deref().unwrap().contains("exempt the replication role"));
    }

    #[test]
    fn a_conditional_deny_warns_and_an_unrelated_one_passes() {
        let c = config(&[]);
        let g = grants(&c);
        let conditional = r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::crr-dst/*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}"#;
        let deny = deny_check(&c.rules[0], &Policy::parse(conditional).unwrap(), &g);
        assert_eq!(deny.status, Status::Warn, "{deny:?}");
        assert!(deny.detail.contains("when Bool aws:SecureTransport"), "{}", deny.detail);
        let unrelated = r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::crr-dst"}]}"#;
        assert_eq!(deny_check(&c.rules[0], &Policy::parse(unrelated).unwrap(), &g).status, Status::Ok);
    }

    #[test]
    fn policy_lint_errors_fail_and_unreadable_policies_are_skipped() {
        let c = config(&[("CRR_ROLE_ARN", "acs:ram::1234567890123456:role/CrrReplicator")]);
        let g = grants(&c);
        let capitalised = r#"{"Version": "1", "Statement": [
            {"Effect": "Allow", "Principal": ["arn:sts::1234567890123456:assumed-role/CrrReplicator/*"],
             "Action": ["oss:PutObject"], "Resource": ["acs:oss:*:*:crr-dst/*"]}]}"#;
        let checks = policy_checks(&c.rules[0], &BucketPolicy::Text(capitalised.into()), &g);
        let lint = checks.iter().find(|c| c.name == "dest-policy-lint" && c.detail.contains("assumed-role-case"));
        let lint = lint.unwrap_or_else(|| panic!("{checks:#?}"));
        assert_eq!(lint.status, Status::Fail);
        assert!(lint.fix.as_deref().unwrap().contains("crrreplicator"), "{lint:?}");

        let denied = policy_checks(&c.rules[0], &BucketPolicy::Unreadable(failure(403, "AccessDenied")), &g);
        assert_eq!(denied.len(), 3);
        assert!(denied.iter().all(|c| c.status == Status::Skip));
        assert!(denied[0].detail.contains("oss:GetBucketPolicy") && denied[0].detail.contains("crr policy lint"));
        let none = policy_checks(&c.rules[0], &BucketPolicy::Missing, &g);
        assert_eq!(none[1].status, Status::Ok);
    }

    #[test]
    fn the_bucket_policy_must_grant_a_role_from_another_account_every_access() {
        let across = Accounts { source: Some("1234567890123456".into()), dest: Some("6543210987654321".into()) };
        let c = config(&[("CRR_ROLE_ARN", "acs:ram::1234567890123456:role/CrrReplicator"), ("CRR_ACTION", "ALL")]);
        let rule = &c.rules[0];
        let g = Grants::new(&c, rule, &across);
        assert_eq!(g.session_principal(), "arn:sts::1234567890123456:assumed-role/crrreplicator/crr-doctor");
        let generated = g.generated.as_ref().unwrap().bucket_policy.clone();
        let text = generated.to_pretty_json();

        // What crr policy generate prints, as it is: every access allowed.
        let good = grant_check(rule, Some(&generated), &g);
        assert_eq!(good.status, Status::Ok, "{good:?}");
        assert!(good.detail.contains("accesses replication needs"), "{good:?}");
        // The seed's trap: the role name as written in RAM, capitalised. Nothing matches.
        let capitalised = Policy::parse(&text.replace("/crrreplicator/", "/CrrReplicator/")).unwrap();
        let bad = grant_check(rule, Some(&capitalised), &g);
        assert_eq!(bad.status, Status::Fail, "{bad:?}");
        assert!(bad.detail.contains("does not allow") && bad.detail.contains("oss:ListObjects"), "{bad:?}");
        assert!(bad.fix.as_deref().unwrap().contains("lower case"), "{bad:?}");
        // The bucket granted, its objects not: writes are denied.
        let bucket_only = Policy::parse(&text.replace("crr-dst/*", "crr-dst")).unwrap();
        let objects = grant_check(rule, Some(&bucket_only), &g);
        assert_eq!(objects.status, Status::Fail, "{objects:?}");
        assert!(objects.detail.contains("oss:PutObject on acs:oss:*:6543210987654321:crr-dst/*"), "{objects:?}");
        // No policy at all.
        let none = grant_check(rule, None, &g);
        assert_eq!(none.status, Status::Fail, "{none:?}");
        assert!(none.detail.contains("has no bucket policy") && none.detail.contains("1234567890123456"), "{none:?}");
        assert!(none.fix.as_deref().unwrap().contains("crr policy apply --only bucket-policy"), "{none:?}");

        // Same account: the role's own policy is enough. Unknown account: not checked.
        let same = Accounts { source: None, dest: Some("1234567890123456".into()) };
        let not_needed = grant_check(rule, None, &Grants::new(&c, rule, &same));
        assert_eq!(not_needed.status, Status::Ok, "{not_needed:?}");
        let unknown = grant_check(rule, None, &grants(&c));
        assert_eq!(unknown.status, Status::Skip, "{unknown:?}");
        assert!(unknown.detail.contains("--dest-account"), "{unknown:?}");
    }

    #[test]
    fn an_aws_bucket_policy_naming_the_role_grants_its_sessions() {
        let across = Accounts { source: None, dest: Some("222222222222".into()) };
        let c = config(&[("CRR_ROLE_ARN", "arn:aws:iam::111111111111:role/Crr-Replicator")]);
        let rule = &c.rules[0];
        let g = Grants::new(&c, rule, &across);
        let generated = g.generated.as_ref().unwrap().bucket_policy.clone();
        assert!(generated.to_pretty_json().contains("arn:aws:iam::111111111111:role/Crr-Replicator"));
        assert_eq!(grant_check(rule, Some(&generated), &g).status, Status::Ok);
        let other_role =
            Policy::parse(&generated.to_pretty_json().replace("role/Crr-Replicator", "role/other")).unwrap();
        assert_eq!(grant_check(rule, Some(&other_role), &g).status, Status::Fail);
    }
}
