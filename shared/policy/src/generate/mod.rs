//! Least-privilege policies for one replication rule: what the replication role may do
//! (permission policy), who may assume it (trust policy), what the destination bucket
//! and KMS key must grant it when it lives in another account. Pure: a rule in,
//! documents and notes out. The rule itself, and what makes one valid, is `rule`.

use serde_json::{json, Value};

use crate::model::{Policy, Statement};

mod rule;

pub use rule::{Bucket, Kms, Provider, ReplicationAction, ReplicationRule, Role, RuleError, Trustee, MAX_PREFIXES};

use rule::validate;

/// Everything to set up for a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedPolicies {
    /// Attach to the replication role.
    pub permission: Policy,
    /// The role's trust policy (who may assume it).
    pub trust: Policy,
    /// What the destination bucket policy must grant the role. Merge it into the
    /// existing policy (`merge`), never put it alone.
    pub bucket_policy: Policy,
    /// False when the role is in the destination account: its permission policy is enough.
    pub bucket_policy_needed: bool,
    /// Statements for the destination KMS key's policy, when KMS objects replicate.
    pub kms_key_policy: Option<Policy>,
    /// What the operator should know: why a bucket policy is (not) needed, and so on.
    pub notes: Vec<String>,
}

/// The reserved key prefix of the destination: checkpoints, leases, doctor probes.
pub const STATE_PREFIX: &str = ".crr/";

struct Actions {
    source_bucket: &'static [&'static str],
    source_objects: &'static [&'static str],
    destination_bucket: &'static [&'static str],
    destination_objects: &'static [&'static str],
    destination_deletes: &'static [&'static str],
    state_objects: &'static [&'static str],
}

const OSS_ACTIONS: Actions = Actions {
    source_bucket: &["oss:ListObjects", "oss:ListObjectVersions", "oss:GetBucketVersioning", "oss:GetBucketInfo"],
    source_objects: &["oss:GetObject", "oss:GetObjectVersion", "oss:GetObjectTagging"],
    destination_bucket: &["oss:ListObjects"],
    destination_objects: &[
        "oss:PutObject",
        "oss:PutObjectTagging",
        "oss:GetObject",
        "oss:GetObjectTagging",
        "oss:AbortMultipartUpload",
        "oss:ListParts",
    ],
    destination_deletes: &["oss:DeleteObject"],
    state_objects: &["oss:PutObject", "oss:GetObject", "oss:DeleteObject"],
};

const S3_ACTIONS: Actions = Actions {
    source_bucket: &["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetBucketLocation"],
    source_objects: &["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"],
    destination_bucket: &["s3:ListBucket"],
    destination_objects: &[
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ],
    destination_deletes: &["s3:DeleteObject"],
    state_objects: &["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
};

const KMS_SOURCE_ACTIONS: &[&str] = &["kms:Decrypt"];
const KMS_DESTINATION_ACTIONS: &[&str] = &["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"];

/// Generates the policies for `rule`, or says what is wrong with it.
pub fn generate(rule: &ReplicationRule) -> Result<GeneratedPolicies, RuleError> {
    validate(rule)?;
    let prefixes = effective_prefixes(&rule.prefixes);
    let names = Names::new(rule);
    let destination = destination_grants(rule, &names, &prefixes);
    let mut permission = source_grants(rule, &names, &prefixes);
    permission.extend(destination.iter().map(|grant| grant.statement(None)));
    if let Some(kms) = &rule.kms {
        permission.extend(kms_grants(rule, kms)?);
    }
    let principal = bucket_policy_principal(rule);
    let bucket_statements =
        destination.iter().map(|grant| grant.statement(Some(&principal))).collect::<Result<Vec<_>, _>>()?;
    let kms_key_policy = match &rule.kms {
        Some(_) => Some(kms_key_policy(rule)?),
        None => None,
    };
    Ok(GeneratedPolicies {
        permission: Policy::new(rule.provider.version(), permission.into_iter().collect::<Result<_, _>>()?),
        trust: trust_policy(rule)?,
        bucket_policy: Policy::new(rule.provider.version(), bucket_statements),
        bucket_policy_needed: bucket_policy_needed(rule),
        kms_key_policy,
        notes: notes(rule),
    })
}

/// Whether the destination bucket must grant the role: only across accounts.
pub fn bucket_policy_needed(rule: &ReplicationRule) -> bool {
    rule.destination.account.as_deref() != Some(rule.role.account.as_str())
}

/// One grant: Sid, actions, resources; becomes a statement with or without a principal.
struct Grant {
    sid: &'static str,
    actions: Vec<&'static str>,
    resources: Vec<String>,
}

impl Grant {
    fn statement(&self, principal: Option<&Value>) -> Result<Statement, RuleError> {
        let mut statement = serde_json::Map::new();
        statement.insert("Sid".to_owned(), json!(self.sid));
        statement.insert("Effect".to_owned(), json!("Allow"));
        if let Some(principal) = principal {
            statement.insert("Principal".to_owned(), principal.clone());
        }
        statement.insert("Action".to_owned(), json!(self.actions));
        statement.insert("Resource".to_owned(), json!(self.resources));
        built(Value::Object(statement))
    }
}

/// Statements built here are well-formed by construction; a failure is a bug, reported
/// rather than panicking.
fn built(value: Value) -> Result<Statement, RuleError> {
    Statement::from_value(value, 0).map_err(|e| RuleError(format!("internal error building a statement: {e}")))
}

/// Resource names of the rule's buckets in the provider's form.
struct Names {
    source_bucket: String,
    destination_bucket: String,
}

impl Names {
    fn new(rule: &ReplicationRule) -> Names {
        let bucket = |bucket: &Bucket| match rule.provider {
            Provider::Oss => format!("acs:oss:*:{}:{}", bucket.account.as_deref().unwrap_or("*"), bucket.name),
            Provider::Aws => format!("arn:{}:s3:::{}", rule.role.partition, bucket.name),
        };
        Names { source_bucket: bucket(&rule.source), destination_bucket: bucket(&rule.destination) }
    }
}

/// `bucket/*`, or `bucket/<prefix>*` for each prefix.
fn object_resources(bucket: &str, prefixes: &[String]) -> Vec<String> {
    if prefixes.is_empty() {
        return vec![format!("{bucket}/*")];
    }
    prefixes.iter().map(|p| format!("{bucket}/{p}*")).collect()
}

fn actions(rule: &ReplicationRule) -> &'static Actions {
    match rule.provider {
        Provider::Oss => &OSS_ACTIONS,
        Provider::Aws => &S3_ACTIONS,
    }
}

fn source_grants(rule: &ReplicationRule, names: &Names, prefixes: &[String]) -> Vec<Result<Statement, RuleError>> {
    let actions = actions(rule);
    [
        Grant {
            sid: "CrrReadSourceBucket",
            actions: actions.source_bucket.to_vec(),
            resources: vec![names.source_bucket.clone()],
        },
        Grant {
            sid: "CrrReadSourceObjects",
            actions: actions.source_objects.to_vec(),
            resources: object_resources(&names.source_bucket, prefixes),
        },
    ]
    .iter()
    .map(|grant| grant.statement(None))
    .collect()
}

/// What the role needs on the destination; the same grants go into the permission
/// policy and, with a principal, into the destination bucket policy.
fn destination_grants(rule: &ReplicationRule, names: &Names, prefixes: &[String]) -> Vec<Grant> {
    let actions = actions(rule);
    let replicas = object_resources(&names.destination_bucket, prefixes);
    let mut grants = vec![
        Grant {
            sid: "CrrListDestinationBucket",
            actions: actions.destination_bucket.to_vec(),
            resources: vec![names.destination_bucket.clone()],
        },
        Grant { sid: "CrrWriteReplicas", actions: actions.destination_objects.to_vec(), resources: replicas.clone() },
    ];
    if rule.action == ReplicationAction::All {
        grants.push(Grant {
            sid: "CrrDeleteReplicas",
            actions: actions.destination_deletes.to_vec(),
            resources: replicas,
        });
    }
    grants.push(Grant {
        sid: "CrrStateObjects",
        actions: actions.state_objects.to_vec(),
        resources: vec![format!("{}/{STATE_PREFIX}*", names.destination_bucket)],
    });
    grants
}

fn kms_grants(rule: &ReplicationRule, kms: &Kms) -> Result<Vec<Result<Statement, RuleError>>, RuleError> {
    let source_key = match &kms.source_key {
        Some(key) => key_arn(rule, key, rule.source.account.as_deref())?,
        None => key_arn(rule, "*", rule.source.account.as_deref())?,
    };
    let destination_key = key_arn(rule, &kms.destination_key, rule.destination.account.as_deref())?;
    Ok(vec![
        Grant { sid: "CrrDecryptSourceObjects", actions: KMS_SOURCE_ACTIONS.to_vec(), resources: vec![source_key] }
            .statement(None),
        Grant {
            sid: "CrrEncryptReplicas",
            actions: KMS_DESTINATION_ACTIONS.to_vec(),
            resources: vec![destination_key],
        }
        .statement(None),
    ])
}

/// A key id (or `*`) as a key ARN of `account`; ARNs are kept as given.
fn key_arn(rule: &ReplicationRule, key: &str, account: Option<&str>) -> Result<String, RuleError> {
    let account = account.unwrap_or("*");
    match rule.provider {
        Provider::Oss if key.starts_with("acs:kms:") => Ok(key.to_owned()),
        Provider::Aws if key.starts_with("arn:") => Ok(key.to_owned()),
        _ if key.starts_with("alias/") => Err(RuleError(format!(
            "KMS key {key:?} is an alias: give the key id or key ARN, since key permissions are granted on keys, not aliases"
        ))),
        _ if key.is_empty() || key.contains([':', '/']) => Err(RuleError(format!(
            "KMS key {key:?} is neither a key id nor a key ARN (acs:kms:<region>:<uid>:key/<id> or arn:aws:kms:<region>:<account>:key/<id>)"
        ))),
        Provider::Oss => Ok(format!("acs:kms:*:{account}:key/{key}")),
        Provider::Aws => Ok(format!(
            "arn:{}:kms:*:{account}:key/{key}",
            rule.role.partition
        )),
    }
}

fn bucket_policy_principal(rule: &ReplicationRule) -> Value {
    match rule.provider {
        Provider::Oss => json!([rule.role.oss_session_principal()]),
        Provider::Aws => json!({ "AWS": rule.role.arn(Provider::Aws) }),
    }
}

fn trust_policy(rule: &ReplicationRule) -> Result<Policy, RuleError> {
    let default = Trustee::Service(rule.provider.function_service().to_owned());
    let principal = match (rule.trustee.as_ref().unwrap_or(&default), rule.provider) {
        (Trustee::Service(service), Provider::Oss) => json!({ "Service": [service] }),
        (Trustee::Service(service), Provider::Aws) => json!({ "Service": service }),
        (Trustee::Principal(who), Provider::Oss) => {
            json!({ "RAM": [trusted_principal(rule, who)?] })
        }
        (Trustee::Principal(who), Provider::Aws) => json!({ "AWS": trusted_principal(rule, who)? }),
    };
    let statement = built(json!({
        "Sid": "CrrAssumeReplicationRole",
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }))?;
    Ok(Policy::new(rule.provider.version(), vec![statement]))
}

/// An account id becomes the account's root principal; ARNs of the provider are kept.
fn trusted_principal(rule: &ReplicationRule, who: &str) -> Result<String, RuleError> {
    let is_account = !who.is_empty() && who.bytes().all(|b| b.is_ascii_digit());
    match rule.provider {
        Provider::Oss if is_account => Ok(format!("acs:ram::{who}:root")),
        Provider::Oss if who.starts_with("acs:ram::") => Ok(who.to_owned()),
        Provider::Aws if is_account && who.len() == 12 => {
            Ok(format!("arn:{}:iam::{who}:root", rule.role.partition))
        }
        Provider::Aws if who.starts_with("arn:") && (who.contains(":iam::") || who.contains(":sts::")) => {
            Ok(who.to_owned())
        }
        Provider::Oss => Err(RuleError(format!(
            "trust principal {who:?} is not an Alibaba Cloud account UID or RAM ARN: use e.g. 1234567890123456 or acs:ram::1234567890123456:role/fc-crr"
        ))),
        Provider::Aws => Err(RuleError(format!(
            "trust principal {who:?} is not a 12-digit AWS account id or IAM ARN: use e.g. 111122223333 or arn:aws:iam::111122223333:role/crr-function"
        ))),
    }
}

fn kms_key_policy(rule: &ReplicationRule) -> Result<Policy, RuleError> {
    let principal = match rule.provider {
        Provider::Oss => json!({ "RAM": [rule.role.arn(Provider::Oss)] }),
        Provider::Aws => json!({ "AWS": rule.role.arn(Provider::Aws) }),
    };
    let statement = built(json!({
        "Sid": "CrrReplicationRoleUsesKey",
        "Effect": "Allow",
        "Principal": principal,
        "Action": KMS_DESTINATION_ACTIONS,
        "Resource": ["*"],
    }))?;
    Ok(Policy::new(rule.provider.version(), vec![statement]))
}

fn notes(rule: &ReplicationRule) -> Vec<String> {
    let role = &rule.role.account;
    let destination = rule.destination.account.as_deref().unwrap_or("?");
    let mut notes = vec![if bucket_policy_needed(rule) {
        format!(
            "The role is in account {role} and the destination bucket {} in account {destination}: the destination bucket policy must grant the role. A bucket policy PUT replaces the whole policy, so merge these statements into the existing one (crr policy merge), never put them alone.",
            rule.destination.name
        )
    } else {
        format!(
            "No destination bucket policy is needed: the role is in the destination account {destination}, and its permission policy is enough."
        )
    }];
    if let Some(source) = rule.source.account.as_deref().filter(|s| *s != role) {
        notes.push(format!(
            "The source bucket {} is in account {source}, the role in {role}: the source bucket policy must also let the role read, unless the functions read the source with their own identity.",
            rule.source.name
        ));
    }
    if rule.provider == Provider::Oss && rule.role.name.to_lowercase() != rule.role.name {
        notes.push(format!(
            "OSS bucket policies match assumed-role names in lower case: the role {} is written {} there.",
            rule.role.name,
            rule.role.name.to_lowercase()
        ));
    }
    if let Some(kms) = &rule.kms {
        notes.push(format!(
            "KMS-encrypted objects replicate re-encrypted with {}: put the KMS key policy statement into that key's policy.",
            kms.destination_key
        ));
        if kms.source_key.is_none() {
            notes.push(
                "No source key given: the role may decrypt with any key of the source account; name the key to narrow it."
                    .to_owned(),
            );
        }
    }
    if rule.trustee.is_none() {
        notes.push(format!(
            "The trust policy lets {} assume the role: make it the functions' own role, or trust the functions' role instead.",
            rule.provider.function_service()
        ));
    }
    notes
}

/// Prefixes without repeats and without those another prefix already covers.
fn effective_prefixes(prefixes: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for prefix in prefixes {
        let covered = prefixes.iter().any(|other| other != prefix && prefix.starts_with(other.as_str()));
        if !covered && !kept.contains(prefix) {
            kept.push(prefix.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_covered_by_others_are_dropped() {
        let prefixes: Vec<String> = ["logs/2024/", "logs/", "img/", "logs/"].iter().map(|s| s.to_string()).collect();
        assert_eq!(effective_prefixes(&prefixes), ["logs/", "img/"]);
    }
}
