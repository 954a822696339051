//! `crr doctor`: checks a deployment's configuration and permissions against the
//! real services, acting as the functions act, and says exactly what to fix.
//!
//! It loads the configuration as the functions do, takes the function's own identity
//! from the environment, and for each rule probes what replication relies on: the
//! source is readable, the role can be assumed, the destination exists and takes
//! writes and deletes, versioning, KMS, the destination bucket policy, and whether
//! copies can happen server-side. Each observation becomes a [`Check`] in a small
//! pure function, so the decisions and their fix texts are unit-tested without a
//! cloud; running the probes, printing and the exit code are separate. The only
//! writes are probe objects under the destination's reserved prefix `.crr/doctor/`,
//! deleted again. Secrets are never printed; an access key id appears masked.
//!
//! This module holds the entry points. The checks live by subject: `source` (the
//! configuration, the function's credentials and the source bucket), `rule` (each rule
//! in order, with its role), `probe` (writing into the destination) and
//! `bucket_policy`; `grants` names the permissions a fix asks for, `requests` makes the
//! read-only calls, and `check` is the outcome type they all return.

use std::io::{self, Write};
use std::sync::Arc;

use clap::Args;
use crr::config::Config;
use crr::credentials::FunctionIdentity;
use crr::error::source_text;
use crr::store;

mod bucket_policy;
mod check;
#[cfg(test)]
mod fixtures;
mod grants;
mod probe;
mod requests;
mod rule;
mod source;

pub use bucket_policy::{deny_check, grant_check, lint_checks, policy_checks, BucketPolicy};
pub use check::{Check, Status};
pub use grants::{generate_command, Accounts, Grants, Side};
pub use probe::{delete_replicas_check, kms_check, probe_checks, ProbeOutcome, Stored, PROBE_PREFIX};
pub use requests::Versioning;
pub use rule::{assume_check, dest_bucket_check, server_side_check, versioning_check};
pub use source::{config_failed, config_ok, credentials_check, mask, source_bucket_check, source_object_check, Origin};

use requests::{head_object, sample_source_key, versioning};
use rule::RuleRun;
use source::{credential_source, env};

#[derive(Debug, Default, Args)]
pub struct DoctorArgs {
    /// Print one JSON object per check (JSON Lines) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Account id / UID owning the source bucket, for the policies named in fixes
    /// (default: CRR_SOURCE_ACCOUNT_ID, else FC_ACCOUNT_ID).
    #[arg(long)]
    pub source_account: Option<String>,
    /// Account id / UID owning the destination bucket(s), for the policies named in
    /// fixes and the bucket policy evaluation.
    #[arg(long)]
    pub dest_account: Option<String>,
}

/// Runs every check, prints them and returns the exit code: 1 if any failed.
pub async fn run(args: DoctorArgs) -> i32 {
    let checks = diagnose(&args).await;
    let mut out = io::stdout().lock();
    if let Err(e) = print(&checks, args.json, &mut out) {
        eprintln!("error: writing the report: {e}");
        return 1;
    }
    exit_code(&checks)
}

pub fn exit_code(checks: &[Check]) -> i32 {
    i32::from(checks.iter().any(|c| c.status == Status::Fail))
}

/// Human lines with a summary, or one JSON object per line.
pub fn print(checks: &[Check], json: bool, out: &mut dyn Write) -> io::Result<()> {
    for check in checks {
        if json {
            writeln!(out, "{}", serde_json::to_string(check).map_err(io::Error::other)?)?;
        } else {
            writeln!(out, "{check}")?;
        }
    }
    if !json {
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        writeln!(
            out,
            "doctor: {} ok, {} warnings, {} failed, {} skipped",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip)
        )?;
    }
    Ok(())
}

/// Everything, in order; stops early when the configuration or the function's
/// credentials are missing, since every later check needs them.
pub async fn diagnose(args: &DoctorArgs) -> Vec<Check> {
    let origin = Origin::from_env();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return vec![config_failed(&error)],
    };
    let mut checks = vec![config_ok(&config, &origin)];

    let http = store::http_client();
    let identity = Arc::new(FunctionIdentity::new(http.clone(), &config.source.endpoint.region));
    let credentials = identity.credentials().await.map_err(|e| source_text(&e));
    checks.push(credentials_check(credential_source(), credentials.as_ref().map(|c| c.access_key_id())));
    if credentials.is_err() {
        return checks;
    }

    let accounts = Accounts {
        source: args.source_account.clone().or_else(|| env("CRR_SOURCE_ACCOUNT_ID")).or_else(|| env("FC_ACCOUNT_ID")),
        dest: args.dest_account.clone(),
    };
    let source = store::s3_client(&http, &config.source.endpoint, identity.clone());
    let Some(first) = config.rules.first() else {
        return checks;
    };
    let source_grants = Grants::new(&config, first, &accounts);
    let listing = sample_source_key(&source, &config).await;
    checks.push(source_bucket_check(&config.source, &origin, &listing, &source_grants));
    let sample = listing.as_ref().ok().and_then(Clone::clone);
    let read = match &sample {
        Some(key) => Some(head_object(&source, &config.source.name, key).await.map(|_| ())),
        None => None,
    };
    checks.push(source_object_check(&config.source, listing.is_ok(), sample.as_deref(), read.as_ref(), &source_grants));
    let source_versioning = versioning(&source, &config.source.name).await;

    for rule in &config.rules {
        let run = RuleRun {
            config: &config,
            rule,
            grants: Grants::new(&config, rule, &accounts),
            origin: &origin,
            http: http.clone(),
            identity: identity.clone(),
            sample: sample.as_deref(),
            source_versioning: &source_versioning,
        };
        checks.extend(run.checks().await);
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixtures::config;

    #[test]
    fn output_lines_json_and_exit_code() {
        let c = config(&[]);
        let checks = vec![
            config_ok(&c, &Origin::Env),
            credentials_check("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY", Ok("AKIAEXAMPLEKEYID1234")),
            Check::warn("versioning", Some(&c.rules[0]), "unversioned.", "enable it"),
        ];
        assert_eq!(exit_code(&checks), 0, "warnings do not fail");
        let mut text = Vec::new();
        print(&checks, false, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ok    config: 1 rule from CRR_* variables; source bucket crr-src"), "{text}");
        assert!(lines[1].contains("access key ****1234") && !text.contains("AKIAEXAMPLEKEYID"), "{text}");
        assert_eq!(lines[2], "warn  [default] versioning: unversioned. Fix: enable it");
        assert_eq!(lines[3], "doctor: 2 ok, 1 warnings, 0 failed, 0 skipped");

        let mut json = Vec::new();
        let failing = vec![Check::fail("probe-put", Some(&c.rules[0]), "denied", "grant it")];
        print(&failing, true, &mut json).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"name": "probe-put", "rule": "default", "status": "fail", "detail": "denied", "fix": "grant it"})
        );
        assert_eq!(exit_code(&failing), 1);
        assert_eq!(mask("abc"), "****");
    }
}
