//! The checks before any rule: the configuration loads, the function's own identity
//! has credentials, and that identity lists and reads the source bucket. Also where the
//! configuration came from ([`Origin`]), so that every fix names the setting to change.

use crr::config::{Bucket as ConfigBucket, Config, ConfigError, Rule};
use crr::error::Failure;

use super::check::Check;
use super::grants::{Grants, Side};
use super::requests::{describe, is_missing_bucket, SAMPLE_KEYS};

/// Where the configuration came from, to name the setting a fix should change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `CRR_*` variables.
    Env,
    /// A rule file, `CRR_CONFIG`.
    File(String),
}

impl Origin {
    pub(super) fn from_env() -> Origin {
        match std::env::var("CRR_CONFIG").ok().filter(|p| !p.trim().is_empty()) {
            Some(path) => Origin::File(path),
            None => Origin::Env,
        }
    }

    /// The variable, or the rule's element in the rule file.
    pub(super) fn setting(&self, rule: &Rule, var: &str, element: &str) -> String {
        match self {
            Origin::Env => var.to_owned(),
            Origin::File(path) => format!("rule {}'s {element} in {path}", rule.id),
        }
    }

    /// A source setting: a variable, which a JSON rule file's `source` may replace.
    pub(super) fn source_setting(&self, var: &str) -> String {
        match self {
            Origin::Env => var.to_owned(),
            Origin::File(path) => format!("{var} (or \"source\" in {path})"),
        }
    }
}

/// A variable's value, trimmed; `None` when unset or blank.
pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Which credentials the function identity resolves to, in [`FunctionIdentity`](crr::credentials::FunctionIdentity)'s order.
pub(super) fn credential_source() -> &'static str {
    if env("ALIBABA_CLOUD_ACCESS_KEY_ID").is_some() && env("ALIBABA_CLOUD_ACCESS_KEY_SECRET").is_some() {
        "ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET"
    } else if env("AWS_ACCESS_KEY_ID").is_some() {
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    } else {
        "the AWS default credential chain (profile, web identity, container or instance role)"
    }
}

/// An access key id with all but its last four characters hidden.
pub fn mask(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

pub fn config_failed(error: &ConfigError) -> Check {
    let fix = match &error.value {
        None => format!("set {} to {}", error.setting, error.expected),
        Some(_) => format!("change {} to {}", error.setting, error.expected),
    };
    Check::fail("config", None, format!("the configuration does not load: {error}"), fix)
}

pub fn config_ok(config: &Config, origin: &Origin) -> Check {
    let rules = match config.rules.len() {
        1 => "1 rule".to_owned(),
        n => format!("{n} rules"),
    };
    let from = match origin {
        Origin::Env => "from CRR_* variables".to_owned(),
        Origin::File(path) => format!("from CRR_CONFIG={path}"),
    };
    let at = config.source.endpoint.url.as_deref().unwrap_or("the AWS endpoint of its region");
    Check::ok("config", None, format!("{rules} {from}; source bucket {} at {at}", config.source.name))
}

pub fn credentials_check(source: &str, found: Result<&str, &String>) -> Check {
    match found {
        Ok(key_id) => Check::ok(
            "function-credentials",
            None,
            format!("the function's own identity from {source} (access key {})", mask(key_id)),
        ),
        Err(error) => Check::fail(
            "function-credentials",
            None,
            format!("no credentials for the function's own identity: {error}"),
            "run doctor with the credentials the functions run with (not an administrator's): \
             ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN), \
             or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)",
        ),
    }
}

pub fn source_bucket_check(
    source: &ConfigBucket,
    origin: &Origin,
    listed: &Result<Option<String>, Failure>,
    grants: &Grants,
) -> Check {
    let bucket = &source.name;
    let Err(f) = listed else {
        return Check::ok("source-bucket", None, format!("the function's identity lists {bucket}"));
    };
    let detail = format!("listing {bucket} with the function's identity: {}", describe(f));
    let fix = if f.is_access_denied() {
        grants.identity_fix(&["ListBucket"], Side::Source, None)
    } else if is_missing_bucket(f) {
        format!(
            "source bucket {bucket} does not exist at {}: check {} and {}",
            source.endpoint.url.as_deref().unwrap_or("the AWS endpoint"),
            origin.source_setting("CRR_SOURCE_BUCKET"),
            origin.source_setting("CRR_SOURCE_ENDPOINT"),
        )
    } else {
        format!(
            "check that CRR_SOURCE_ENDPOINT ({}) and CRR_SOURCE_REGION ({}) reach the source's service",
            source.endpoint.url.as_deref().unwrap_or("AWS default"),
            source.endpoint.region
        )
    };
    Check::fail("source-bucket", None, detail, fix)
}

pub fn source_object_check(
    source: &ConfigBucket,
    listed: bool,
    sample: Option<&str>,
    read: Option<&Result<(), Failure>>,
    grants: &Grants,
) -> Check {
    let bucket = &source.name;
    let (Some(key), Some(read)) = (sample, read) else {
        return Check::skip(
            "source-objects",
            None,
            if listed {
                format!("no object in {bucket} that a rule replicates (first {SAMPLE_KEYS} keys): reading objects not checked")
            } else {
                "the source bucket could not be listed".to_owned()
            },
        );
    };
    match read {
        Ok(()) => Check::ok("source-objects", None, format!("the function's identity reads {bucket}/{key} (HEAD)")),
        Err(f) if f.is_access_denied() => Check::fail(
            "source-objects",
            None,
            format!("reading {bucket}/{key} with the function's identity: {}", describe(f)),
            grants.identity_fix(&["GetObject", "GetObjectTagging"], Side::Source, Some(key)),
        ),
        Err(f) => Check::skip("source-objects", None, format!("reading {bucket}/{key}: {}", describe(f))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::doctor::fixtures::{config, failure, grants};
    use std::collections::HashMap;

    #[test]
    fn source_checks_tell_the_function_identity_what_to_grant() {
        let c = config(&[]);
        let g = grants(&c);
        let denied = source_bucket_check(&c.source, &Origin::Env, &Err(failure(403, "AccessDenied")), &g);
        let fix = denied.fix.unwrap();
        assert!(fix.contains("allow the function's own identity s3:ListBucket on arn:aws:s3:::crr-src"), "{fix}");
        assert!(fix.contains("CrrReadSourceBucket") && fix.contains("not the replication role"), "{fix}");
        let read = source_object_check(&c.source, true, Some("a.txt"), Some(&Err(failure(403, "AccessDenied"))), &g);
        assert!(read.fix.unwrap().contains("s3:GetObject, s3:GetObjectTagging on arn:aws:s3:::crr-src/*"));
        let empty = source_object_check(&c.source, true, None, None, &g);
        assert_eq!(empty.status, Status::Skip);
    }

    #[test]
    fn config_errors_name_the_variable_and_what_to_set() {
        let error = Config::from_settings(&HashMap::<String, String>::new()).unwrap_err();
        let check = config_failed(&error);
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().starts_with("set CRR_SOURCE_BUCKET to a bucket name"));
    }
}
