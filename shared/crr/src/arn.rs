//! Role ARNs of both clouds, parsed once: which STS to call follows from the type.

use std::fmt;
use std::str::FromStr;

/// The replication role to assume for destination writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoleArn {
    /// `arn:aws:iam::123456789012:role/path/Name` (also `aws-cn`, `aws-us-gov`).
    Aws { partition: String, account: String, name: String, path: String },
    /// `acs:ram::1234567890123456:role/name` (Alibaba Cloud RAM).
    Alibaba { uid: String, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role ARN {value:?} is not valid: {reason}; expected arn:aws:iam::<12-digit account>:role/<name> or acs:ram::<account uid>:role/<name>")]
pub struct RoleArnError {
    pub value: String,
    pub reason: &'static str,
}

impl RoleArn {
    /// The account (AWS) or UID (Alibaba) that owns the role.
    pub fn account(&self) -> &str {
        match self {
            RoleArn::Aws { account, .. } => account,
            RoleArn::Alibaba { uid, .. } => uid,
        }
    }

    /// The role's name, without path.
    pub fn name(&self) -> &str {
        match self {
            RoleArn::Aws { name, .. } | RoleArn::Alibaba { name, .. } => name,
        }
    }

    pub fn is_alibaba(&self) -> bool {
        matches!(self, RoleArn::Alibaba { .. })
    }
}

impl FromStr for RoleArn {
    type Err = RoleArnError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |reason| RoleArnError { value: value.to_owned(), reason };
        // AWS: arn:partition:iam::account:role/path/name (six fields);
        // Alibaba Cloud: acs:ram::uid:role/name (five fields).
        let (fields, expected) = if value.starts_with("acs:") {
            (value.splitn(5, ':').collect::<Vec<_>>(), 5)
        } else if value.starts_with("arn:") {
            (value.splitn(6, ':').collect::<Vec<_>>(), 6)
        } else {
            return Err(err("it must start with arn: (AWS) or acs: (Alibaba Cloud)"));
        };
        if fields.len() != expected {
            return Err(err("it does not have the ':'-separated fields of a role ARN"));
        }
        let resource = fields[expected - 1];
        let account = fields[expected - 2];
        let Some(role_path) = resource.strip_prefix("role/") else {
            return Err(err("the resource part must start with role/"));
        };
        let (path, name) = match role_path.rfind('/') {
            Some(i) => (&role_path[..=i], &role_path[i + 1..]),
            None => ("", role_path),
        };
        if name.is_empty() {
            return Err(err("the role name is empty"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)) {
            return Err(err("the role name has characters a role name cannot have"));
        }
        if expected == 5 {
            if fields[1] != "ram" || !fields[2].is_empty() {
                return Err(err("an Alibaba Cloud role ARN has service ram and an empty region"));
            }
            if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("an Alibaba Cloud account UID is all digits"));
            }
            if !path.is_empty() {
                return Err(err("RAM role ARNs have no path"));
            }
            return Ok(RoleArn::Alibaba { uid: account.to_owned(), name: name.to_owned() });
        }
        if fields[2] != "iam" || !fields[3].is_empty() {
            return Err(err("an AWS role ARN has service iam and an empty region"));
        }
        if !fields[1].starts_with("aws") {
            return Err(err("the partition must be aws, aws-cn or aws-us-gov"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("an AWS account id is 12 digits"));
        }
        Ok(RoleArn::Aws {
            partition: fields[1].to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
            path: format!("/{path}"),
        })
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleArn::Aws { partition, account, name, path } => {
                write!(f, "arn:{partition}:iam::{account}:role{path}{name}")
            }
            RoleArn::Alibaba { uid, name } => write!(f, "acs:ram::{uid}:role/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_clouds_and_prints_them_back() {
        for text in [
            "arn:aws:iam::222222222222:role/crr-replicator",
            "arn:aws-cn:iam::222222222222:role/service/crr-replicator",
            "acs:ram::1234567890123456:role/AliyunOSSRole",
        ] {
            let arn: RoleArn = text.parse().unwrap();
            assert_eq!(arn.to_string(), text);
        }
        let aws: RoleArn = "arn:aws:iam::222222222222:role/a/b/Name".parse().unwrap();
        assert_eq!(aws.account(), "222222222222");
        assert_eq!(aws.name(), "Name");
        let ali: RoleArn = "acs:ram::1234567890123456:role/AliyunOSSRole".parse().unwrap();
        assert!(ali.is_alibaba());
        assert_eq!(ali.account(), "1234567890123456");
    }

    #[test]
    fn bad_arns_say_what_is_wrong() {
        for (text, reason) in [
            ("crr-replicator", "start with arn:"),
            ("arn:aws:iam::222222222222", "fields"),
            ("arn:aws:iam::2222:role/x", "12 digits"),
            ("arn:aws:iam::222222222222:user/x", "role/"),
            ("arn:aws:s3::222222222222:role/x", "service iam"),
            ("acs:ram::abc:role/x", "all digits"),
            ("acs:ram::123:role/", "empty"),
            ("gcp:iam::123:role/x", "start with arn:"),
        ] {
            let err = text.parse::<RoleArn>().unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
            assert!(err.contains("expected arn:aws:iam::"), "{err}");
        }
    }
}
