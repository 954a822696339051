//! A replication rule as far as permissions go: which cloud, the buckets and their
//! owners, the role, what replicates, KMS and who may assume the role; parsed from
//! text with errors that say what to use, and checked before any policy is generated.

use std::fmt;
use std::str::FromStr;

use crate::model::Version;

/// Which cloud's policy language and resource names to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Alibaba Cloud OSS with RAM roles: `"Version": "1"`, `oss:` actions, `acs:oss:` resources.
    Oss,
    /// AWS S3 (and S3-compatible stores) with IAM roles: `"Version": "2012-10-17"`, `s3:` actions.
    Aws,
}

impl Provider {
    pub fn version(self) -> Version {
        match self {
            Provider::Oss => Version::Ram,
            Provider::Aws => Version::Iam2012,
        }
    }

    /// The service that runs the functions, trusted by default to assume the role.
    pub fn function_service(self) -> &'static str {
        match self {
            Provider::Oss => "fc.aliyuncs.com",
            Provider::Aws => "lambda.amazonaws.com",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Oss => "oss",
            Provider::Aws => "aws",
        })
    }
}

impl FromStr for Provider {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Provider, RuleError> {
        match text.to_ascii_lowercase().as_str() {
            "oss" => Ok(Provider::Oss),
            "aws" | "s3" => Ok(Provider::Aws),
            _ => Err(RuleError(format!(
                "unknown provider {text:?}: use oss (Alibaba Cloud OSS, RAM policies) or aws (AWS S3 and S3-compatible stores, IAM policies)"
            ))),
        }
    }
}

/// What a rule replicates, as in OSS ReplicationConfiguration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplicationAction {
    /// Creates and overwrites only: deletes in the source never reach the replicas.
    Put,
    /// Creates, overwrites and deletes.
    All,
}

impl FromStr for ReplicationAction {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<ReplicationAction, RuleError> {
        match text.to_ascii_uppercase().as_str() {
            "PUT" => Ok(ReplicationAction::Put),
            "ALL" => Ok(ReplicationAction::All),
            _ => Err(RuleError(format!(
                "unknown replication action {text:?}: use PUT (replicate creates only) or ALL (creates and deletes)"
            ))),
        }
    }
}

/// A bucket and the account that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// Account id (AWS) or UID (Alibaba). OSS resource names need it; S3 ARNs do not.
    pub account: Option<String>,
}

/// The replication role the functions assume to write replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub account: String,
    pub name: String,
    /// IAM path, `/` when none; RAM roles have none.
    pub path: String,
    /// AWS partition (`aws`, `aws-cn`, `aws-us-gov`), also used for S3 and KMS ARNs.
    pub partition: String,
}

impl Role {
    /// A RAM role, `acs:ram::<uid>:role/<name>`.
    pub fn alibaba(uid: impl Into<String>, name: impl Into<String>) -> Role {
        Role { account: uid.into(), name: name.into(), path: "/".to_owned(), partition: "aws".to_owned() }
    }

    /// An IAM role, `arn:<partition>:iam::<account>:role<path><name>`.
    pub fn aws(
        partition: impl Into<String>,
        account: impl Into<String>,
        path: impl Into<String>,
        name: impl Into<String>,
    ) -> Role {
        Role { account: account.into(), name: name.into(), path: path.into(), partition: partition.into() }
    }

    pub fn arn(&self, provider: Provider) -> String {
        match provider {
            Provider::Oss => format!("acs:ram::{}:role/{}", self.account, self.name),
            Provider::Aws => format!("arn:{}:iam::{}:role{}{}", self.partition, self.account, self.path, self.name),
        }
    }

    /// How an OSS bucket policy names the role's sessions. OSS compares the role name in
    /// lower case, so a capitalised name here would never match.
    pub fn oss_session_principal(&self) -> String {
        self.session(Provider::Oss, "*")
    }

    /// The ARN of the role's session `session` as the cloud names it (OSS: the role name
    /// in lower case).
    pub fn session(&self, provider: Provider, session: &str) -> String {
        match provider {
            Provider::Oss => format!("arn:sts::{}:assumed-role/{}/{session}", self.account, self.name.to_lowercase()),
            Provider::Aws => {
                format!("arn:{}:sts::{}:assumed-role/{}/{session}", self.partition, self.account, self.name)
            }
        }
    }
}

/// Who may assume the replication role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trustee {
    /// A cloud service, e.g. `fc.aliyuncs.com` when the role is the function's own role.
    Service(String),
    /// An account id, or the ARN of the role or user that assumes it (the functions'
    /// identity in the source account).
    Principal(String),
}

/// KMS: replicate encrypted objects, re-encrypting replicas with the destination key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kms {
    /// Key id or ARN in the destination account.
    pub destination_key: String,
    /// Key id or ARN the source objects are encrypted with; `None`: any key of the source
    /// account.
    pub source_key: Option<String>,
}

/// One replication rule, as far as permissions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRule {
    pub provider: Provider,
    pub source: Bucket,
    pub destination: Bucket,
    pub role: Role,
    pub action: ReplicationAction,
    /// Key prefixes replicated; empty: every object.
    pub prefixes: Vec<String>,
    pub kms: Option<Kms>,
    /// `None`: the provider's function service.
    pub trustee: Option<Trustee>,
}

/// A rule that cannot be turned into policies, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

/// At most this many prefixes per rule, as OSS allows by default.
pub const MAX_PREFIXES: usize = 10;

/// Refuses a rule no policy can be generated for, saying what to change.
pub(super) fn validate(rule: &ReplicationRule) -> Result<(), RuleError> {
    validate_bucket("source", &rule.source)?;
    validate_bucket("destination", &rule.destination)?;
    let err = |message: String| Err(RuleError(message));
    if rule.destination.account.is_none() {
        return err(
            "the destination account is needed to tell whether its bucket policy must grant the role: give the account id (AWS) or UID (Alibaba) that owns the destination bucket".to_owned(),
        );
    }
    if rule.provider == Provider::Oss && rule.source.account.is_none() {
        return err("OSS resource names include the bucket owner's UID: give the source account".to_owned());
    }
    for (what, account) in [
        ("source account", rule.source.account.as_deref()),
        ("destination account", rule.destination.account.as_deref()),
        ("role account", Some(rule.role.account.as_str())),
    ] {
        if let Some(account) = account {
            validate_account(rule.provider, what, account)?;
        }
    }
    if rule.role.name.is_empty() {
        return err("the role name is empty: give the replication role's ARN".to_owned());
    }
    if rule.source.name == rule.destination.name && rule.source.account == rule.destination.account {
        return err(format!(
            "source and destination are the same bucket {:?}: replicate into another bucket",
            rule.source.name
        ));
    }
    if rule.prefixes.len() > MAX_PREFIXES {
        return err(format!(
            "{} prefixes given, at most {MAX_PREFIXES} per rule: split them into several rules",
            rule.prefixes.len()
        ));
    }
    for prefix in &rule.prefixes {
        if prefix.is_empty() {
            return err("an empty prefix: give no prefix at all to replicate every object".to_owned());
        }
        if prefix.contains(['*', '?', '$']) {
            return err(format!(
                "prefix {prefix:?} has '*', '?' or '$', which would act as a wildcard or variable in policies: give the literal key prefix"
            ));
        }
    }
    if let Some(kms) = &rule.kms {
        if kms.destination_key.is_empty() {
            return err("the destination KMS key is empty: give its key id or ARN".to_owned());
        }
    }
    Ok(())
}

fn validate_bucket(which: &str, bucket: &Bucket) -> Result<(), RuleError> {
    if bucket.name.is_empty() {
        return Err(RuleError(format!("the {which} bucket name is empty")));
    }
    if bucket.name.chars().any(|c| c.is_whitespace() || "/:*?$\"".contains(c)) {
        return Err(RuleError(format!(
            "{which} bucket {:?} is not a bucket name: give the name alone, without '/', ':', wildcards or spaces",
            bucket.name
        )));
    }
    Ok(())
}

fn validate_account(provider: Provider, what: &str, account: &str) -> Result<(), RuleError> {
    let digits = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    match provider {
        Provider::Aws if !(digits && account.len() == 12) => {
            Err(RuleError(format!("{what} {account:?} is not an AWS account id: give its 12 digits")))
        }
        Provider::Oss if !digits => {
            Err(RuleError(format!("{what} {account:?} is not an Alibaba Cloud account UID: give its digits")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_and_actions_parse_with_helpful_errors() {
        assert_eq!("OSS".parse::<Provider>(), Ok(Provider::Oss));
        assert_eq!("s3".parse::<Provider>(), Ok(Provider::Aws));
        let err = "gcs".parse::<Provider>().unwrap_err().to_string();
        assert!(err.contains("use oss") && err.contains("or aws"), "{err}");
        assert_eq!("all".parse::<ReplicationAction>(), Ok(ReplicationAction::All));
        let err = "COPY".parse::<ReplicationAction>().unwrap_err().to_string();
        assert!(err.contains("PUT") && err.contains("ALL"), "{err}");
    }
}
