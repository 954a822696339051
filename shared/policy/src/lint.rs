//! The policy mistakes that break or endanger replication without any error from the
//! cloud: a capitalised role name in an OSS assumed-role principal (never matches),
//! object actions on a bucket resource alone (never apply), grants to everyone, and
//! actions replication has no use for. Each finding says where and how to fix it.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Effect, Policy, Statement, StatementRef};
use crate::pattern;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Replication breaks, or the policy is dangerous or rejected.
    Error,
    /// Works, but wider or more fragile than it should be.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// A stable name for the kind of finding, e.g. `assumed-role-case`.
    pub rule: &'static str,
    /// Where; `None` for the policy as a whole.
    pub statement: Option<StatementRef>,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.severity, self.rule)?;
        if let Some(statement) = &self.statement {
            write!(f, " {statement}")?;
        }
        write!(f, ": {} Fix: {}", self.message, self.fix)
    }
}

/// Everything worth fixing in `policy`, statement by statement.
pub fn lint(policy: &Policy) -> Vec<Finding> {
    let mut findings = duplicate_sids(policy);
    for (index, statement) in policy.statements().iter().enumerate() {
        let at = policy.statement_ref(index);
        findings.extend(assumed_role_case(statement, &at));
        findings.extend(missing_twins(statement, &at));
        findings.extend(wildcard_principal(statement, &at));
        findings.extend(unneeded_actions(statement, &at));
        findings.extend(negated_allows(statement, &at));
    }
    findings
}

fn finding(severity: Severity, rule: &'static str, at: &StatementRef, message: String, fix: String) -> Finding {
    Finding { severity, rule, statement: Some(at.clone()), message, fix }
}

/// OSS bucket policies name STS sessions as `arn:sts::<uid>:assumed-role/<role>/<session>`
/// and compare the role name in lower case: a capital letter makes the principal match
/// nobody, and the replication role is denied.
fn assumed_role_case(statement: &Statement, at: &StatementRef) -> Vec<Finding> {
    let Some(clause) = statement.principal() else {
        return Vec::new();
    };
    clause
        .principal
        .values()
        .into_iter()
        .filter_map(|principal| {
            let corrected = lower_case_role(principal)?;
            Some(finding(
                Severity::Error,
                "assumed-role-case",
                at,
                format!(
                    "principal {principal:?} has capital letters in the role name; OSS matches assumed-role principals in lower case, so it matches no one and the role is denied. Write it as {corrected:?}."
                ),
                format!("replace it with {corrected:?}"),
            ))
        })
        .collect()
}

/// The principal with its role name in lower case, if it is an OSS assumed-role
/// principal whose role name has capitals.
fn lower_case_role(principal: &str) -> Option<String> {
    let rest = principal.strip_prefix("arn:sts::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("assumed-role/")?;
    let (role, session) = path.split_once('/').unwrap_or((path, ""));
    if role == role.to_lowercase() {
        return None;
    }
    let session = if path.contains('/') { format!("/{session}") } else { String::new() };
    Some(format!("arn:sts::{account}:assumed-role/{}{session}", role.to_lowercase()))
}

/// A resource split into its bucket ARN and, for objects, the key pattern.
struct BucketResource<'a> {
    bucket: &'a str,
    key: Option<&'a str>,
}

fn bucket_resource(resource: &str) -> Option<BucketResource<'_>> {
    let fields = if resource.starts_with("acs:oss:") {
        5
    } else if resource.starts_with("arn:") && resource.split(':').nth(2) == Some("s3") {
        6
    } else {
        return None;
    };
    let name_start = resource.match_indices(':').nth(fields - 2)?.0 + 1;
    let name = &resource[name_start..];
    if name.is_empty() || name == "*" {
        return None;
    }
    Some(match name.find('/') {
        Some(slash) => BucketResource { bucket: &resource[..name_start + slash], key: Some(&name[slash + 1..]) },
        None => BucketResource { bucket: resource, key: None },
    })
}

/// Object actions need `bucket/*` resources, bucket actions the bare bucket: a statement
/// with only one of them grants (or denies) less than it looks.
fn missing_twins(statement: &Statement, at: &StatementRef) -> Vec<Finding> {
    let Some(resources) = statement.resource().filter(|r| !r.negated) else {
        return Vec::new();
    };
    if statement.action().negated {
        return Vec::new();
    }
    let actions = &statement.action().patterns;
    let object_actions: Vec<&str> = matching(actions, OBJECT_ACTIONS, true);
    let bucket_actions: Vec<&str> = matching(actions, BUCKET_ACTIONS, false);
    let parsed: Vec<BucketResource> = resources.patterns.iter().filter_map(|r| bucket_resource(r)).collect();
    let has_objects_of = |bucket: &str| parsed.iter().any(|r| r.bucket == bucket && r.key.is_some());
    let has_bucket = |bucket: &str| parsed.iter().any(|r| r.bucket == bucket && r.key.is_none());
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    for resource in &parsed {
        if seen.contains(&(resource.bucket, resource.key.is_some())) {
            continue;
        }
        seen.push((resource.bucket, resource.key.is_some()));
        if resource.key.is_none() && !object_actions.is_empty() && !has_objects_of(resource.bucket) {
            findings.push(finding(
                Severity::Warning,
                "missing-object-resource",
                at,
                format!(
                    "object actions ({}) are on the bucket resource {:?} only, which names the bucket, not its objects, so they never apply to an object.",
                    object_actions.join(", "),
                    resource.bucket
                ),
                format!("add \"{}/*\" to Resource", resource.bucket),
            ));
        }
        if resource.key.is_some() && !bucket_actions.is_empty() && !has_bucket(resource.bucket) {
            findings.push(finding(
                Severity::Warning,
                "missing-bucket-resource",
                at,
                format!(
                    "bucket actions ({}) are on object resources of {:?} only, so they never apply to the bucket itself (listing is a bucket action).",
                    bucket_actions.join(", "),
                    resource.bucket
                ),
                format!("add \"{}\" to Resource", resource.bucket),
            ));
        }
    }
    findings
}

/// The known actions some pattern of `patterns` grants; with `count_service_wildcards`
/// false, `*` and `oss:*`-style patterns do not count.
fn matching(patterns: &[String], known: &[&'static str], count_service_wildcards: bool) -> Vec<&'static str> {
    known
        .iter()
        .copied()
        .filter(|action| {
            patterns.iter().any(|p| {
                (count_service_wildcards || !is_service_wildcard(p)) && pattern::matches_ignore_case(p, action)
            })
        })
        .collect()
}

fn is_service_wildcard(action: &str) -> bool {
    action == "*" || action.ends_with(":*")
}

/// Anyone, anonymous users included.
fn wildcard_principal(statement: &Statement, at: &StatementRef) -> Vec<Finding> {
    let Some(clause) = statement.principal() else {
        return Vec::new();
    };
    if statement.effect() != Effect::Allow || clause.negated || !clause.principal.includes_anyone() {
        return Vec::new();
    }
    let writes = matching(&statement.action().patterns, WRITE_ACTIONS, true);
    let conditional = !statement.conditions().is_empty();
    let (severity, what) = if !writes.is_empty() && !conditional {
        (Severity::Error, format!("lets anyone, anonymous users included, write or delete ({})", writes.join(", ")))
    } else if conditional {
        (Severity::Warning, "grants to every principal, limited only by its conditions".to_owned())
    } else {
        (Severity::Warning, "grants to anyone, anonymous users included".to_owned())
    };
    vec![finding(
        severity,
        "wildcard-principal",
        at,
        format!("Principal \"*\" {what}."),
        "name the principals that need access, e.g. the replication role's assumed-role principal".to_owned(),
    )]
}

/// Actions replication never needs, which a leaked replication credential could abuse.
fn unneeded_actions(statement: &Statement, at: &StatementRef) -> Vec<Finding> {
    if statement.effect() != Effect::Allow || statement.action().negated {
        return Vec::new();
    }
    let patterns = &statement.action().patterns;
    let mut findings = Vec::new();
    let everything: Vec<&str> = patterns
        .iter()
        .map(String::as_str)
        .filter(|p| is_service_wildcard(p) && (*p == "*" || p.starts_with("oss:") || p.starts_with("s3:")))
        .collect();
    if !everything.is_empty() {
        findings.push(finding(
            Severity::Warning,
            "unneeded-action",
            at,
            format!(
                "{} grants every storage action, bucket deletion and policy changes included; replication needs a dozen.",
                everything.join(", ")
            ),
            "list the actions replication needs instead (crr policy generate prints them)".to_owned(),
        ));
    }
    let explicit: Vec<String> = patterns.iter().filter(|p| !is_service_wildcard(p)).cloned().collect();
    let dangerous = matching(&explicit, DANGEROUS_ACTIONS, true);
    if !dangerous.is_empty() {
        findings.push(finding(
            Severity::Warning,
            "unneeded-action",
            at,
            format!(
                "grants {}, which replication never needs and which can delete data or change who has access.",
                dangerous.join(", ")
            ),
            "remove these actions".to_owned(),
        ));
    }
    let on_everything = statement.resource().is_some_and(|r| !r.negated && r.patterns.iter().any(|p| p == "*"));
    let storage = patterns.iter().any(|p| p.starts_with("oss:") || p.starts_with("s3:") || p == "*");
    if on_everything && storage {
        findings.push(finding(
            Severity::Warning,
            "broad-resource",
            at,
            "Resource \"*\" covers every bucket and object of the account.".to_owned(),
            "name the buckets: \"<bucket>\" and \"<bucket>/*\"".to_owned(),
        ));
    }
    findings
}

/// `NotAction` or `NotPrincipal` in an Allow grants everything not listed.
fn negated_allows(statement: &Statement, at: &StatementRef) -> Vec<Finding> {
    if statement.effect() != Effect::Allow {
        return Vec::new();
    }
    let mut findings = Vec::new();
    if statement.action().negated {
        findings.push(finding(
            Severity::Warning,
            "negated-allow",
            at,
            "Allow with NotAction grants every action not listed, including ones added to the cloud later.".to_owned(),
            "use Action with the actions needed".to_owned(),
        ));
    }
    if statement.principal().is_some_and(|p| p.negated) {
        findings.push(finding(
            Severity::Warning,
            "negated-allow",
            at,
            "Allow with NotPrincipal grants everyone not listed, anonymous users included.".to_owned(),
            "use Principal with the principals that need access".to_owned(),
        ));
    }
    findings
}

/// Both clouds refuse a policy whose statements share a Sid.
fn duplicate_sids(policy: &Policy) -> Vec<Finding> {
    let mut by_sid: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, statement) in policy.statements().iter().enumerate() {
        if let Some(sid) = statement.sid() {
            by_sid.entry(sid).or_default().push(index);
        }
    }
    by_sid
        .into_iter()
        .filter(|(_, indexes)| indexes.len() > 1)
        .map(|(sid, indexes)| {
            let at = policy.statement_ref(indexes[1]);
            finding(
                Severity::Error,
                "duplicate-sid",
                &at,
                format!("Sid {sid:?} is used by statements {indexes:?}; the cloud rejects a policy whose Sids repeat."),
                format!("give each statement its own Sid, e.g. {sid}{}", indexes.len()),
            )
        })
        .collect()
}

/// Actions on objects: they apply to `bucket/key` resources only.
const OBJECT_ACTIONS: &[&str] = &[
    "oss:GetObject",
    "oss:PutObject",
    "oss:DeleteObject",
    "oss:GetObjectVersion",
    "oss:DeleteObjectVersion",
    "oss:GetObjectTagging",
    "oss:PutObjectTagging",
    "oss:DeleteObjectTagging",
    "oss:GetObjectAcl",
    "oss:PutObjectAcl",
    "oss:AbortMultipartUpload",
    "oss:ListParts",
    "oss:RestoreObject",
    "oss:PutSymlink",
    "oss:GetSymlink",
    "oss:ReplicateGet",
    "oss:ReplicatePut",
    "oss:ReplicateDelete",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:GetObjectVersion",
    "s3:DeleteObjectVersion",
    "s3:GetObjectTagging",
    "s3:PutObjectTagging",
    "s3:DeleteObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectAcl",
    "s3:PutObjectAcl",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:RestoreObject",
];

/// Actions on the bucket itself: they apply to the bare bucket resource only.
const BUCKET_ACTIONS: &[&str] = &[
    "oss:ListObjects",
    "oss:ListObjectVersions",
    "oss:ListMultipartUploads",
    "oss:GetBucketInfo",
    "oss:GetBucketLocation",
    "oss:GetBucketVersioning",
    "oss:ReplicateList",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
];

/// Writes and deletes, for grants to anyone.
const WRITE_ACTIONS: &[&str] = &[
    "oss:PutObject",
    "oss:DeleteObject",
    "oss:PutObjectAcl",
    "oss:PutBucketPolicy",
    "oss:DeleteBucket",
    "oss:ReplicatePut",
    "oss:ReplicateDelete",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutObjectAcl",
    "s3:PutBucketPolicy",
    "s3:DeleteBucket",
];

/// Bucket deletion, access control and configuration writes, permanent version deletes.
const DANGEROUS_ACTIONS: &[&str] = &[
    "oss:DeleteBucket",
    "oss:PutBucket",
    "oss:PutBucketPolicy",
    "oss:DeleteBucketPolicy",
    "oss:PutBucketAcl",
    "oss:PutObjectAcl",
    "oss:PutBucketReplication",
    "oss:DeleteBucketReplication",
    "oss:PutBucketLifecycle",
    "oss:DeleteBucketLifecycle",
    "oss:PutBucketVersioning",
    "oss:PutBucketEncryption",
    "oss:DeleteBucketEncryption",
    "oss:PutBucketWorm",
    "oss:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:CreateBucket",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
    "s3:PutReplicationConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:DeleteObjectVersion",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_only_the_role_name() {
        assert_eq!(
            lower_case_role("arn:sts::1234:assumed-role/AliyunOssDrsRole/*").as_deref(),
            Some("arn:sts::1234:assumed-role/aliyunossdrsrole/*")
        );
        assert_eq!(
            lower_case_role("arn:sts::1234:assumed-role/MyRole/Session-A").as_deref(),
            Some("arn:sts::1234:assumed-role/myrole/Session-A")
        );
        assert_eq!(lower_case_role("arn:sts::1234:assumed-role/myrole/*"), None);
        // AWS keeps role names as they are.
        assert_eq!(lower_case_role("arn:aws:sts::111122223333:assumed-role/MyRole/s"), None);
    }

    #[test]
    fn splits_bucket_and_key() {
        let r = bucket_resource("acs:oss:*:1234:dst/logs/*").unwrap();
        assert_eq!((r.bucket, r.key), ("acs:oss:*:1234:dst", Some("logs/*")));
        let r = bucket_resource("arn:aws:s3:::dst").unwrap();
        assert_eq!((r.bucket, r.key), ("arn:aws:s3:::dst", None));
        assert!(bucket_resource("*").is_none());
        assert!(bucket_resource("acs:kms:*:1:key/x").is_none());
    }
}
