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

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use clap::Args;
use crr::arn::RoleArn;
use crr::config::{Bucket as ConfigBucket, Config, ConfigError, CopyMode, KmsPolicy, Rule, RuleAction, StsSettings};
use crr::credentials::FunctionIdentity;
use crr::error::{source_text, Failure};
use crr::store;
use crr::sts::AssumedRole;
use crr_policy::{
    blocking_denies, evaluate, generate, lint, Bucket, GeneratedPolicies, Kms, Outcome, Policy, Provider,
    ReplicationAction, ReplicationRule, Request, Role, Severity, Statement,
};
use serde::Serialize;

/// Where probe objects go: under the destination's reserved prefix `.crr/`, which
/// holds crr's own state and which replication ignores.
pub const PROBE_PREFIX: &str = ".crr/doctor/";
const PROBE_BODY: &[u8] = b"crr doctor probe: safe to delete\n";
/// Keys listed in the source to find one a rule replicates.
const SAMPLE_KEYS: i32 = 100;

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

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something can go wrong or is wider than it should be.
    Warn,
    /// Replication will fail (or is misconfigured) until fixed.
    Fail,
    /// Not checked: not applicable, or an earlier check failed.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check: what was checked, how it came out, and for failures and warnings what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `probe-put`.
    pub name: &'static str,
    /// The rule checked; `None` for checks of the configuration and source.
    pub rule: Option<String>,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, rule: Option<&Rule>, status: Status, detail: impl Into<String>) -> Check {
        Check { name, rule: rule.map(|r| r.id.clone()), status, detail: detail.into(), fix: None }
    }
    fn ok(name: &'static str, rule: Option<&Rule>, detail: impl Into<String>) -> Check {
        Check::new(name, rule, Status::Ok, detail)
    }
    fn skip(name: &'static str, rule: Option<&Rule>, detail: impl Into<String>) -> Check {
        Check::new(name, rule, Status::Skip, detail)
    }
    fn warn(name: &'static str, rule: Option<&Rule>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { fix: Some(fix.into()), ..Check::new(name, rule, Status::Warn, detail) }
    }
    fn fail(name: &'static str, rule: Option<&Rule>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { fix: Some(fix.into()), ..Check::new(name, rule, Status::Fail, detail) }
    }
}

/// One line: `FAIL  [rule] name: detail. Fix: fix`.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4}  ", self.status.label())?;
        if let Some(rule) = &self.rule {
            write!(f, "[{rule}] ")?;
        }
        write!(f, "{}: {}", self.name, self.detail.trim_end_matches('.'))?;
        match (&self.fix, self.status) {
            (Some(fix), Status::Warn | Status::Fail) => write!(f, ". Fix: {fix}"),
            _ => Ok(()),
        }
    }
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

/// The account ids fixes name policies with, when known.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub source: Option<String>,
    pub dest: Option<String>,
}

/// Where the configuration came from, to name the setting a fix should change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `CRR_*` variables.
    Env,
    /// A rule file, `CRR_CONFIG`.
    File(String),
}

impl Origin {
    fn from_env() -> Origin {
        match std::env::var("CRR_CONFIG").ok().filter(|p| !p.trim().is_empty()) {
            Some(path) => Origin::File(path),
            None => Origin::Env,
        }
    }

    /// The variable, or the rule's element in the rule file.
    fn setting(&self, rule: &Rule, var: &str, element: &str) -> String {
        match self {
            Origin::Env => var.to_owned(),
            Origin::File(path) => format!("rule {}'s {element} in {path}", rule.id),
        }
    }

    /// A source setting: a variable, which a JSON rule file's `source` may replace.
    fn source_setting(&self, var: &str) -> String {
        match self {
            Origin::Env => var.to_owned(),
            Origin::File(path) => format!("{var} (or \"source\" in {path})"),
        }
    }
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Which credentials the function identity resolves to, in [`FunctionIdentity`]'s order.
fn credential_source() -> &'static str {
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

// ---------------------------------------------------------------------------
// Configuration, credentials and the source: decided from what was observed.
// ---------------------------------------------------------------------------

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

/// `code: message (HTTP status)` of a failed request.
fn describe(f: &Failure) -> String {
    let status = f.status.filter(|s| !f.message.contains(&format!("HTTP {s}"))).map(|s| format!(" (HTTP {s})"));
    let status = status.unwrap_or_default();
    match &f.code {
        Some(code) if !f.message.contains(code.as_str()) => format!("{code}: {}{status}", f.message),
        _ => format!("{}{status}", f.message),
    }
}

fn is_missing_bucket(f: &Failure) -> bool {
    f.code.as_deref() == Some("NoSuchBucket")
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

// ---------------------------------------------------------------------------
// Per rule.
// ---------------------------------------------------------------------------

/// Checks that need the role; skipped when it cannot be assumed.
const ROLE_CHECKS: &[&str] = &[
    "dest-bucket",
    "versioning",
    "probe-put",
    "probe-head",
    "probe-delete",
    "delete-replicas",
    "kms-probe",
    "dest-policy-lint",
    "dest-policy-deny",
    "dest-policy-grant",
    "server-side-copy",
];

fn skipped(rule: &Rule, names: &[&'static str], why: &str) -> Vec<Check> {
    names.iter().map(|name| Check::skip(name, Some(rule), why)).collect()
}

struct RuleRun<'a> {
    config: &'a Config,
    rule: &'a Rule,
    grants: Grants,
    origin: &'a Origin,
    http: SharedHttpClient,
    identity: Arc<FunctionIdentity>,
    sample: Option<&'a str>,
    source_versioning: &'a Versioning,
}

impl RuleRun<'_> {
    async fn checks(&self) -> Vec<Check> {
        let rule = self.rule;
        let role = Arc::new(AssumedRole::new(
            rule.role.clone(),
            self.config.sts.clone(),
            self.identity.clone(),
            self.http.clone(),
        ));
        let assumed = role.credentials("crr-doctor").await.map(|_| ());
        let mut out = vec![assume_check(rule, &self.config.sts, self.origin, &assumed)];
        if assumed.is_err() {
            out.extend(skipped(rule, ROLE_CHECKS, "needs the role's credentials: fix assume-role first"));
            return out;
        }

        let bucket = &rule.destination.name;
        let dest = store::s3_client(&self.http, &rule.destination.endpoint, role);
        let listed = dest
            .list_objects_v2()
            .bucket(bucket)
            .prefix(PROBE_PREFIX)
            .max_keys(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Failure::from_sdk(&e));
        out.push(dest_bucket_check(rule, self.origin, &listed, &self.grants));
        if listed.as_ref().is_err_and(is_missing_bucket) {
            out.extend(skipped(rule, &ROLE_CHECKS[1..], "the destination bucket does not exist"));
            return out;
        }

        let dest_versioning = versioning(&dest, bucket).await;
        out.push(versioning_check(rule, self.origin, self.source_versioning, &dest_versioning));

        let probe = run_probe(&dest, bucket, None).await;
        out.extend(probe_checks(rule, &probe, &self.grants));
        out.push(delete_replicas_check(rule, &probe, &self.grants));

        let kms_probe = match (&rule.kms, &probe.put) {
            (KmsPolicy::Replicate { key_id }, Ok(())) => Some(run_probe(&dest, bucket, Some(key_id)).await),
            _ => None,
        };
        out.push(kms_check(rule, self.origin, kms_probe.as_ref(), &self.grants));

        let policy = match dest.get_bucket_policy().bucket(bucket).send().await {
            Ok(out) => BucketPolicy::Text(out.policy().unwrap_or_default().to_owned()),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.code.as_deref() == Some("NoSuchBucketPolicy") {
                    BucketPolicy::Missing
                } else {
                    BucketPolicy::Unreadable(f)
                }
            }
        };
        out.extend(policy_checks(rule, &policy, &self.grants));

        let role_reads = match self.sample {
            Some(key) if self.server_side_possible() => {
                Some(head_object(&dest, &self.config.source.name, key).await.map(|_| ()))
            }
            _ => None,
        };
        out.push(server_side_check(self.config, rule, self.sample, role_reads.as_ref(), &self.grants));
        out
    }

    fn server_side_possible(&self) -> bool {
        match self.config.copy.mode {
            CopyMode::Stream => false,
            CopyMode::ServerSide => true,
            CopyMode::Auto => self.config.source.endpoint.same_service(&self.rule.destination.endpoint),
        }
    }
}

fn sts_name(role: &RoleArn) -> &'static str {
    if role.is_alibaba() {
        "Alibaba Cloud STS"
    } else {
        "AWS STS"
    }
}

pub fn assume_check(rule: &Rule, sts: &StsSettings, origin: &Origin, assumed: &Result<(), crr::Error>) -> Check {
    let role = &rule.role;
    let endpoint = sts.endpoint.clone().unwrap_or_else(|| match role {
        RoleArn::Alibaba { .. } => crr::sts::alibaba::DEFAULT_ENDPOINT.to_owned(),
        RoleArn::Aws { .. } => format!("the AWS STS endpoint of {}", sts.region),
    });
    let error = match assumed {
        Ok(()) => {
            return Check::ok(
                "assume-role",
                Some(rule),
                format!("assumed {role} through {} at {endpoint}", sts_name(role)),
            )
        }
        Err(error) => error,
    };
    let role_setting = origin.setting(rule, "CRR_ROLE_ARN", "SyncRole (role)");
    let code = error.error_type();
    let fix = match code.as_str() {
        c if c == "AccessDenied" || c.starts_with("NoPermission") || c.starts_with("Forbidden") => {
            let external_id = match &sts.external_id {
                Some(_) => "; CRR_STS_EXTERNAL_ID must equal the sts:ExternalId the trust policy requires".to_owned(),
                None => "; if the trust policy requires an external id, set CRR_STS_EXTERNAL_ID".to_owned(),
            };
            format!(
                "allow the function's own identity sts:AssumeRole on {role} (statement {{\"Effect\": \"Allow\", \"Action\": \"sts:AssumeRole\", \"Resource\": \"{role}\"}} in its policy), \
                 and let the role's trust policy trust the function's account or identity (statement CrrAssumeReplicationRole of `crr policy generate … --trust-principal <function account or ARN>`); \
                 check that {role_setting} names an existing role{external_id}"
            )
        }
        c if c.starts_with("EntityNotExist") || c == "NoSuchEntity" => {
            format!("create the role {role} in account {}, or correct {role_setting}", role.account())
        }
        c if c.starts_with("InvalidAccessKeyId")
            || c.starts_with("InvalidClientTokenId")
            || c.starts_with("SignatureDoesNotMatch")
            || c.starts_with("IncompleteSignature")
            || c.starts_with("InvalidAccessKeySecret") =>
        {
            "STS does not accept the function's own key: give doctor the function's credentials \
             (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and check them"
                .to_owned()
        }
        c if c.starts_with("InvalidTimeStamp") || c == "RequestExpired" => {
            "this machine's clock is off by more than 15 minutes: synchronise it (NTP)".to_owned()
        }
        "NetworkError" | "Timeout" | "BadResponse" | "InvalidEndpoint" | "TlsSetup" => {
            format!("check that CRR_STS_ENDPOINT ({endpoint}) is the STS endpoint for {role} and reachable from here")
        }
        _ => format!("check {role_setting}, CRR_STS_ENDPOINT and CRR_STS_EXTERNAL_ID against the error"),
    };
    let text = error.to_string();
    let detail = if text.contains(&code) { text } else { format!("{text} ({code})") };
    Check::fail("assume-role", Some(rule), detail, fix)
}

pub fn dest_bucket_check(rule: &Rule, origin: &Origin, listed: &Result<(), Failure>, grants: &Grants) -> Check {
    let bucket = &rule.destination.name;
    let at = rule.destination.endpoint.url.as_deref().unwrap_or("the AWS endpoint of its region");
    let Err(f) = listed else {
        return Check::ok("dest-bucket", Some(rule), format!("{bucket} exists at {at} and the role lists it"));
    };
    let bucket_setting = origin.setting(rule, "CRR_DEST_BUCKET", "Destination/Bucket");
    let endpoint_setting = origin.setting(rule, "CRR_DEST_ENDPOINT", "Destination/Location or Endpoint");
    let detail = format!("listing {bucket} at {at} with the role: {}", describe(f));
    let fix = if is_missing_bucket(f) || f.status == Some(404) {
        format!(
            "destination bucket {bucket} does not exist there: create it in the destination account, or correct {bucket_setting} / {endpoint_setting}"
        )
    } else if f.is_access_denied() {
        format!(
            "{}; if that is granted, check {bucket_setting} names the right bucket (servers may answer AccessDenied for buckets the caller may not see)",
            grants.role_fix(&["ListBucket"], None)
        )
    } else {
        format!(
            "check that {endpoint_setting} ({at}) and the destination region ({}) reach the destination's service",
            rule.destination.endpoint.region
        )
    };
    Check::fail("dest-bucket", Some(rule), detail, fix)
}

/// A bucket's versioning state, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    Suspended,
    /// Never enabled.
    Off,
    Unknown(String),
}

impl Versioning {
    fn describe(&self) -> &str {
        match self {
            Versioning::Enabled => "versioned",
            Versioning::Suspended => "versioning suspended",
            Versioning::Off => "not versioned",
            Versioning::Unknown(_) => "versioning unknown",
        }
    }
}

/// What deletes do to replicas under this rule, given the destination's versioning.
fn deletes_note(rule: &Rule, dest: &Versioning) -> &'static str {
    match (rule.action, dest) {
        (RuleAction::Put, _) => "deletes are not replicated (action PUT), replicas stay",
        (RuleAction::All, Versioning::Enabled) => {
            "deletes replicate (action ALL): in the versioned destination a delete leaves a delete marker and the replica's versions stay recoverable"
        }
        (RuleAction::All, _) => {
            "deletes replicate (action ALL): without destination versioning a replicated delete removes the replica for good"
        }
    }
}

pub fn versioning_check(rule: &Rule, origin: &Origin, source: &Versioning, dest: &Versioning) -> Check {
    let bucket = &rule.destination.name;
    let states = format!("source {}, destination {bucket} {}", source.describe(), dest.describe());
    let source_note = match source {
        Versioning::Enabled => {
            "; a delete in the versioned source without a version id only adds a delete marker there"
        }
        _ => "",
    };
    let deletes = deletes_note(rule, dest);
    match dest {
        Versioning::Unknown(why) => Check::skip(
            "versioning",
            Some(rule),
            format!(
                "{states}: the role may not read the destination's versioning ({why}); {}{source_note}",
                if rule.historical {
                    "historical replication overwrites same-named objects there, so make sure it is versioned"
                } else {
                    deletes
                }
            ),
        ),
        Versioning::Off | Versioning::Suspended if rule.historical => Check::warn(
            "versioning",
            Some(rule),
            format!(
                "{states}, and historical replication ({}) overwrites same-named objects already in {bucket}: what they held is lost; {deletes}{source_note}",
                origin.setting(rule, "CRR_HISTORICAL=true", "HistoricalObjectReplication")
            ),
            format!(
                "enable versioning on {bucket} in the destination account (PutBucketVersioning Status=Enabled; OSS recommends both buckets), \
                 or turn historical replication off ({}) if {bucket}'s existing objects must stay as they are",
                origin.setting(rule, "CRR_HISTORICAL=false", "HistoricalObjectReplication disabled")
            ),
        ),
        _ => Check::ok("versioning", Some(rule), format!("{states}; {deletes}{source_note}")),
    }
}

/// What the probe of the destination observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub bucket: String,
    pub key: String,
    pub put: Result<(), Failure>,
    /// `None`: not tried (the put failed).
    pub head: Option<Result<Stored, Failure>>,
    pub delete: Option<Result<(), Failure>>,
    /// A versioned destination kept a version of the probe the role may not remove.
    pub leftover_version: bool,
}

/// What HEAD says about the stored probe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stored {
    pub size: Option<i64>,
    pub encryption: Option<String>,
    pub kms_key: Option<String>,
}

/// Puts, heads and deletes a probe object with the role (with SSE-KMS under `kms_key`),
/// and cleans up the versions a versioned destination keeps when it may.
async fn run_probe(dest: &aws_sdk_s3::Client, bucket: &str, kms_key: Option<&str>) -> ProbeOutcome {
    let suffix = if kms_key.is_some() { "-kms" } else { "" };
    let key = format!("{PROBE_PREFIX}{}{suffix}", uuid::Uuid::new_v4().simple());
    let mut put = dest
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("text/plain")
        .metadata("crr-doctor", "probe")
        .body(ByteStream::from_static(PROBE_BODY));
    if let Some(kms_key) = kms_key {
        put = put.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(kms_key);
    }
    let put = put.send().await.map_err(|e| Failure::from_sdk(&e));
    let version = match &put {
        Ok(out) => out.version_id().filter(|v| *v != "null").map(str::to_owned),
        Err(f) => {
            return ProbeOutcome {
                bucket: bucket.to_owned(),
                key,
                put: Err(f.clone()),
                head: None,
                delete: None,
                leftover_version: false,
            }
        }
    };
    let head =
        dest.head_object().bucket(bucket).key(&key).send().await.map_err(|e| Failure::from_sdk(&e)).map(|h| Stored {
            size: h.content_length(),
            encryption: h.server_side_encryption().map(|s| s.as_str().to_owned()),
            kms_key: h.ssekms_key_id().map(str::to_owned),
        });
    let deleted = dest.delete_object().bucket(bucket).key(&key).send().await.map_err(|e| Failure::from_sdk(&e));
    let mut leftover_version = false;
    if let (Some(version), Ok(marker)) = (&version, &deleted) {
        // Versioned: the delete left the probe as a noncurrent version behind a marker.
        for id in std::iter::once(version.as_str()).chain(marker.version_id()) {
            let removed = dest.delete_object().bucket(bucket).key(&key).version_id(id).send().await;
            leftover_version |= removed.is_err();
        }
    }
    ProbeOutcome {
        bucket: bucket.to_owned(),
        key,
        put: Ok(()),
        head: Some(head),
        delete: Some(deleted.map(|_| ())),
        leftover_version,
    }
}

pub fn probe_checks(rule: &Rule, probe: &ProbeOutcome, grants: &Grants) -> Vec<Check> {
    let (bucket, key) = (&probe.bucket, &probe.key);
    let object = format!("{bucket}/{key}");
    let put = match &probe.put {
        Ok(()) => Check::ok("probe-put", Some(rule), format!("the role wrote {object}")),
        Err(f) => Check::fail(
            "probe-put",
            Some(rule),
            format!("writing {object} with the role {}: {}", rule.role, describe(f)),
            if f.is_access_denied() {
                grants.role_fix(&["PutObject"], Some(key))
            } else {
                format!("the destination refused a plain PutObject: check {bucket}'s settings (object lock, required encryption headers) against the error")
            },
        ),
    };
    let head = match &probe.head {
        None => Check::skip("probe-head", Some(rule), "needs probe-put to pass"),
        Some(Ok(stored)) if stored.size.is_some_and(|s| s != PROBE_BODY.len() as i64) => Check::warn(
            "probe-head",
            Some(rule),
            format!(
                "{object} reads back with {} bytes, {} were written",
                stored.size.unwrap_or_default(),
                PROBE_BODY.len()
            ),
            format!("check what rewrites objects in {bucket} (a gateway or object processing)"),
        ),
        Some(Ok(_)) => Check::ok("probe-head", Some(rule), format!("the role reads {object} back (HEAD)")),
        Some(Err(f)) => Check::fail(
            "probe-head",
            Some(rule),
            format!("reading {object} back with the role: {}", describe(f)),
            if f.is_access_denied() {
                format!(
                    "{} (replication compares each replica with its source before writing)",
                    grants.role_fix(&["GetObject"], Some(key))
                )
            } else {
                "check the destination's consistency and the error".to_owned()
            },
        ),
    };
    let leftover = if probe.leftover_version {
        "; the destination is versioned and the role may not delete versions, so a noncurrent version of the probe stays under .crr/doctor/ (a lifecycle rule on .crr/doctor/ can expire it)"
    } else {
        ""
    };
    let delete = match &probe.delete {
        None => Check::skip("probe-delete", Some(rule), "needs probe-put to pass"),
        Some(Ok(())) => Check::ok("probe-delete", Some(rule), format!("the role deleted {object}{leftover}")),
        Some(Err(f)) => Check::fail(
            "probe-delete",
            Some(rule),
            format!(
                "deleting {object} with the role: {}; the probe stays there, delete it with the destination account's keys",
                describe(f)
            ),
            format!("{} (crr keeps its state under the reserved prefix .crr/)", grants.role_fix(&["DeleteObject"], Some(key))),
        ),
    };
    vec![put, head, delete]
}

pub fn delete_replicas_check(rule: &Rule, probe: &ProbeOutcome, grants: &Grants) -> Check {
    if rule.action == RuleAction::Put {
        return Check::skip(
            "delete-replicas",
            Some(rule),
            "the rule replicates creates only (action PUT): replicas are never deleted",
        );
    }
    let replicas = grants.resource(Side::Dest, Some(&replica_pattern(rule)));
    match &probe.delete {
        None => Check::skip("delete-replicas", Some(rule), "needs probe-put to pass"),
        Some(Ok(())) => Check::ok(
            "delete-replicas",
            Some(rule),
            format!(
                "the rule replicates deletes (action ALL) and the role may delete under .crr/doctor/; doctor deletes only under the reserved prefix .crr/, \
                 so delete on the replicas themselves ({} on {replicas}, statement CrrDeleteReplicas) was checked for .crr/ only",
                grants.action("DeleteObject")
            ),
        ),
        Some(Err(f)) => Check::fail(
            "delete-replicas",
            Some(rule),
            format!("the rule replicates deletes (action ALL) but the role may not even delete under .crr/: {}", describe(f)),
            grants.role_fix(&["DeleteObject"], Some(&replica_pattern(rule))),
        ),
    }
}

/// A key pattern standing for the rule's replicas: `*`, or the first prefix and `*`.
fn replica_pattern(rule: &Rule) -> String {
    match rule.prefixes.first() {
        Some(prefix) => format!("{prefix}*"),
        None => "*".to_owned(),
    }
}

pub fn kms_check(rule: &Rule, origin: &Origin, probe: Option<&ProbeOutcome>, grants: &Grants) -> Check {
    let KmsPolicy::Replicate { key_id } = &rule.kms else {
        return Check::skip(
            "kms-probe",
            Some(rule),
            format!(
                "KMS-encrypted source objects are not replicated ({})",
                origin.setting(rule, "CRR_KMS=skip", "SseKmsEncryptedObjects disabled")
            ),
        );
    };
    let Some(probe) = probe else {
        return Check::skip("kms-probe", Some(rule), "needs probe-put to pass");
    };
    let key_setting = origin.setting(rule, "CRR_REPLICA_KMS_KEY_ID", "ReplicaKmsKeyID");
    let object = format!("{}/{}", probe.bucket, probe.key);
    if let Err(f) = &probe.put {
        return Check::fail(
            "kms-probe",
            Some(rule),
            format!("writing {object} with SSE-KMS key {key_id} as the role: {}", describe(f)),
            format!("{}; check that {key_setting} names a key in the destination's region", grants.kms_fix(key_id)),
        );
    }
    match &probe.head {
        Some(Ok(stored)) if stored.encryption.as_deref() == Some("aws:kms") => {
            let used = stored.kms_key.as_deref().unwrap_or("");
            if used.is_empty() || used == key_id || used.ends_with(&format!("/{key_id}")) || key_id.ends_with(used) {
                Check::ok(
                    "kms-probe",
                    Some(rule),
                    format!("the role wrote {object} encrypted with SSE-KMS key {key_id}"),
                )
            } else {
                Check::warn(
                    "kms-probe",
                    Some(rule),
                    format!("{object} was written with SSE-KMS but the destination reports key {used}, not {key_id}"),
                    format!("check {key_setting} and the destination bucket's default encryption"),
                )
            }
        }
        Some(Ok(stored)) => Check::fail(
            "kms-probe",
            Some(rule),
            format!(
                "{object} was written with SSE-KMS key {key_id} but the destination reports encryption {}",
                stored.encryption.as_deref().unwrap_or("none")
            ),
            "the destination ignores SSE-KMS requests: check that it supports KMS and that the key is enabled"
                .to_owned(),
        ),
        Some(Err(f)) => Check::warn(
            "kms-probe",
            Some(rule),
            format!("{object} was written with SSE-KMS but could not be read back: {}", describe(f)),
            grants.kms_fix(key_id),
        ),
        None => Check::skip("kms-probe", Some(rule), "the SSE-KMS probe was not read back"),
    }
}

/// The destination bucket policy as the role sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketPolicy {
    /// The role may not read it (or reading failed).
    Unreadable(Failure),
    /// The bucket has none.
    Missing,
    Text(String),
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
    let Some(dest_account) = grants.dest.1.as_deref() else {
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

pub fn server_side_check(
    config: &Config,
    rule: &Rule,
    sample: Option<&str>,
    role_reads: Option<&Result<(), Failure>>,
    grants: &Grants,
) -> Check {
    let source = &config.source.name;
    let mode = config.copy.mode;
    if mode == CopyMode::Stream {
        return Check::skip(
            "server-side-copy",
            Some(rule),
            "CRR_COPY_MODE=stream: copies always stream through the function",
        );
    }
    if mode == CopyMode::Auto && !config.source.endpoint.same_service(&rule.destination.endpoint) {
        return Check::skip(
            "server-side-copy",
            Some(rule),
            "source and destination endpoints differ: copies stream through the function",
        );
    }
    let (Some(key), Some(result)) = (sample, role_reads) else {
        return Check::skip("server-side-copy", Some(rule), format!("no object in {source} to try: not checked"));
    };
    let grant = grants.role_source_fix(&["GetObject", "GetObjectTagging"], Some(key));
    match (result, mode) {
        (Ok(()), _) => Check::ok(
            "server-side-copy",
            Some(rule),
            format!("the role reads {source}/{key}: copies happen inside the storage service, no bytes through the function"),
        ),
        (Err(f), CopyMode::ServerSide) => Check::fail(
            "server-side-copy",
            Some(rule),
            format!("CRR_COPY_MODE=server-side but the role cannot read {source}/{key}: {}", describe(f)),
            format!("{grant}, or set CRR_COPY_MODE=auto to stream copies through the function"),
        ),
        (Err(f), _) if f.is_access_denied() => Check::ok(
            "server-side-copy",
            Some(rule),
            format!(
                "the role may not read {source}/{key}, so copies stream through the function (that works; to copy server-side instead, {grant})"
            ),
        ),
        (Err(f), _) => Check::skip("server-side-copy", Some(rule), format!("HEAD {source}/{key} with the role: {}", describe(f))),
    }
}

// ---------------------------------------------------------------------------
// What `crr policy generate` knows, for naming permissions in fixes.
// ---------------------------------------------------------------------------

/// Which bucket of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Dest,
}

/// The policies `crr policy generate` would write for a rule, to name the
/// permission, resource and statement a fix needs, and the command that prints them.
#[derive(Debug, Clone)]
pub struct Grants {
    provider: Provider,
    partition: String,
    role: String,
    role_model: Role,
    role_account: String,
    source: (String, Option<String>),
    dest: (String, Option<String>),
    generated: Option<GeneratedPolicies>,
    command: String,
}

impl Grants {
    pub fn new(config: &Config, rule: &Rule, accounts: &Accounts) -> Grants {
        let provider = if rule.role.is_alibaba() { Provider::Oss } else { Provider::Aws };
        let (role, partition) = match &rule.role {
            RoleArn::Alibaba { uid, name } => (Role::alibaba(uid, name), "aws".to_owned()),
            RoleArn::Aws { partition, account, name, path } => {
                (Role::aws(partition, account, path, name), partition.clone())
            }
        };
        let role_account = rule.role.account().to_owned();
        // OSS resource names carry the bucket owner's UID; an unknown one is generated
        // with a placeholder and written `*` afterwards.
        let placeholder = |known: &Option<String>| match (known, provider) {
            (Some(account), _) => Some(account.clone()),
            (None, Provider::Oss) => Some(role_account.clone()),
            (None, Provider::Aws) => None,
        };
        let replication = |kms: bool| ReplicationRule {
            provider,
            source: Bucket { name: config.source.name.clone(), account: placeholder(&accounts.source) },
            destination: Bucket {
                name: rule.destination.name.clone(),
                account: accounts.dest.clone().or_else(|| Some(role_account.clone())),
            },
            role: role.clone(),
            action: match rule.action {
                RuleAction::Put => ReplicationAction::Put,
                RuleAction::All => ReplicationAction::All,
            },
            prefixes: rule.prefixes.clone(),
            kms: match &rule.kms {
                KmsPolicy::Replicate { key_id } if kms => {
                    Some(Kms { destination_key: key_id.clone(), source_key: None })
                }
                _ => None,
            },
            trustee: None,
        };
        // A KMS key generate cannot name (an alias) should not cost every other hint.
        let generated = generate(&replication(true)).or_else(|_| generate(&replication(false))).ok().map(|mut g| {
            if provider == Provider::Oss {
                let unknown: Vec<&str> = [
                    (accounts.source.is_none(), config.source.name.as_str()),
                    (accounts.dest.is_none(), rule.destination.name.as_str()),
                ]
                .into_iter()
                .filter_map(|(unknown, name)| unknown.then_some(name))
                .collect();
                g.permission = any_account(&g.permission, &role_account, &unknown);
                g.bucket_policy = any_account(&g.bucket_policy, &role_account, &unknown);
            }
            g
        });
        Grants {
            provider,
            partition,
            role: rule.role.to_string(),
            role_model: role,
            role_account,
            source: (config.source.name.clone(), accounts.source.clone()),
            dest: (rule.destination.name.clone(), accounts.dest.clone()),
            generated,
            command: generate_command(config, rule, accounts, provider),
        }
    }

    /// Doctor's session of the role as the destination sees it in a bucket policy.
    pub fn session_principal(&self) -> String {
        self.role_model.session(self.provider, "crr-doctor")
    }

    /// The provider's name of an S3 action: `s3:PutObject`, `oss:PutObject`.
    pub fn action(&self, s3_name: &str) -> String {
        match self.provider {
            Provider::Aws => format!("s3:{s3_name}"),
            Provider::Oss => match s3_name {
                "ListBucket" => "oss:ListObjects".to_owned(),
                other => format!("oss:{other}"),
            },
        }
    }

    /// A bucket (`key` None) or object resource in the provider's form.
    pub fn resource(&self, side: Side, key: Option<&str>) -> String {
        let (name, account) = match side {
            Side::Source => &self.source,
            Side::Dest => &self.dest,
        };
        let bucket = match self.provider {
            Provider::Aws => format!("arn:{}:s3:::{name}", self.partition),
            Provider::Oss => format!("acs:oss:*:{}:{name}", account.as_deref().unwrap_or("*")),
        };
        match key {
            Some(key) => format!("{bucket}/{key}"),
            None => bucket,
        }
    }

    /// The generated permission statement that allows `action` on `resource`.
    fn granting(&self, action: &str, resource: &str) -> Option<&Statement> {
        let policy = &self.generated.as_ref()?.permission;
        let decision = evaluate([policy], &Request::new(action, resource));
        let at = decision.decided_by.filter(|_| decision.outcome == Outcome::Allow)?;
        policy.statements().get(at.statement.index)
    }

    fn grant(&self, who: &str, actions: &[&str], side: Side, key: Option<&str>) -> (String, Option<String>) {
        let actions: Vec<String> = actions.iter().map(|a| self.action(a)).collect();
        let asked = self.resource(side, key);
        let statement = actions.first().and_then(|a| self.granting(a, &asked));
        let on = statement
            .and_then(|s| s.resource())
            .map(|r| r.patterns.join(", "))
            .unwrap_or_else(|| self.resource(side, key.map(|_| "*")));
        let sid = statement.and_then(|s| s.sid()).map(str::to_owned);
        let source = match &sid {
            Some(sid) => format!("statement {sid} of the permission policy `{}` prints", self.command),
            None => format!("`{}` prints the policies", self.command),
        };
        (format!("allow {who} {} on {on} ({source})", actions.join(", ")), sid)
    }

    /// What to grant the replication role on the destination, and the bucket policy
    /// when the role is in another account.
    pub fn role_fix(&self, actions: &[&str], key: Option<&str>) -> String {
        let (text, sid) = self.grant(&format!("the role {}", self.role), actions, Side::Dest, key);
        let bucket = &self.dest.0;
        let statement = sid.map(|s| format!(" (statement {s})")).unwrap_or_default();
        let bucket_policy = match self.dest.1.as_deref() {
            Some(account) if account == self.role_account => String::new(),
            Some(account) => format!(
                "; the role is in account {} and {bucket} in account {account}, so {bucket}'s bucket policy must grant it too{statement}: merge it with `crr policy merge`",
                self.role_account
            ),
            None => format!(
                "; if {bucket} belongs to another account than the role, its bucket policy must grant it too{statement}: merge it with `crr policy merge`"
            ),
        };
        format!("{text}{bucket_policy}")
    }

    /// What to grant the replication role on the source, for server-side copies.
    pub fn role_source_fix(&self, actions: &[&str], key: Option<&str>) -> String {
        let (text, _) = self.grant(&format!("the role {}", self.role), actions, Side::Source, key);
        let bucket = &self.source.0;
        let bucket_policy = match self.source.1.as_deref() {
            Some(account) if account == self.role_account => String::new(),
            Some(account) => format!(
                "; the role is in account {} and {bucket} in account {account}, so {bucket}'s bucket policy must let it read too",
                self.role_account
            ),
            None => format!("; if {bucket} belongs to another account than the role, its bucket policy must let it read too"),
        };
        format!("{text}{bucket_policy}")
    }

    /// What to grant the function's own identity on the source.
    pub fn identity_fix(&self, actions: &[&str], side: Side, key: Option<&str>) -> String {
        let (text, _) = self.grant("the function's own identity", actions, side, key);
        format!("{text}; attach it to the function's own role or user, not the replication role")
    }

    /// What the role and the key need for SSE-KMS replicas.
    pub fn kms_fix(&self, key_id: &str) -> String {
        let kms = self.generated.as_ref().and_then(|g| {
            let statement = g.permission.statements().iter().find(|s| s.sid() == Some("CrrEncryptReplicas"))?;
            Some(statement.resource()?.patterns.join(", "))
        });
        let on = kms.unwrap_or_else(|| format!("key {key_id}"));
        format!(
            "allow the role {} kms:GenerateDataKey, kms:Encrypt, kms:Decrypt on {on} (statement CrrEncryptReplicas of the permission policy) \
             and let the key's policy allow the role (statement CrrReplicationRoleUsesKey); `{}` prints both",
            self.role, self.command
        )
    }
}

/// `policy` with the placeholder account of `buckets` written as `*`.
fn any_account(policy: &Policy, placeholder: &str, buckets: &[&str]) -> Policy {
    let mut text = policy.to_pretty_json();
    for name in buckets {
        for end in ["\"", "/"] {
            text = text.replace(&format!("acs:oss:*:{placeholder}:{name}{end}"), &format!("acs:oss:*:*:{name}{end}"));
        }
    }
    Policy::parse(&text).unwrap_or_else(|_| policy.clone())
}

/// The `crr policy generate` command for a rule, with placeholders for what is unknown.
pub fn generate_command(config: &Config, rule: &Rule, accounts: &Accounts, provider: Provider) -> String {
    let mut command = format!("crr policy generate --source-bucket {}", config.source.name);
    match (&accounts.source, provider) {
        (Some(account), _) => command.push_str(&format!(" --source-account {account}")),
        (None, Provider::Oss) => command.push_str(" --source-account <SOURCE_UID>"),
        (None, Provider::Aws) => {}
    }
    command.push_str(&format!(
        " --dest-bucket {} --dest-account {} --role-arn {}",
        rule.destination.name,
        accounts.dest.as_deref().unwrap_or("<DEST_ACCOUNT>"),
        rule.role
    ));
    if rule.action == RuleAction::All {
        command.push_str(" --action ALL");
    }
    for prefix in &rule.prefixes {
        command.push_str(&format!(" --prefix {}", shell_word(prefix)));
    }
    if let KmsPolicy::Replicate { key_id } = &rule.kms {
        command.push_str(&format!(" --kms-key {}", shell_word(key_id)));
    }
    command
}

fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=@".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

// ---------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------

/// A key a rule replicates, from the first keys of the source (`None`: none there).
async fn sample_source_key(source: &aws_sdk_s3::Client, config: &Config) -> Result<Option<String>, Failure> {
    let out = source
        .list_objects_v2()
        .bucket(&config.source.name)
        .max_keys(SAMPLE_KEYS)
        .send()
        .await
        .map_err(|e| Failure::from_sdk(&e))?;
    Ok(out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|key| !key.starts_with(".crr/") && config.rules_for(key).next().is_some())
        .map(str::to_owned))
}

async fn head_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput, Failure> {
    client.head_object().bucket(bucket).key(key).send().await.map_err(|e| Failure::from_sdk(&e))
}

async fn versioning(client: &aws_sdk_s3::Client, bucket: &str) -> Versioning {
    match client.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => match out.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::Off,
        },
        Err(e) => {
            // Some S3-compatible servers answer 200 with another root element than
            // VersioningConfiguration (moto: an empty GetBucketVersioningResponse for a
            // bucket that never had versioning), which the SDK refuses to read.
            let raw = e.raw_response().filter(|r| r.status().is_success()).and_then(|r| r.body().bytes());
            match raw.map(String::from_utf8_lossy) {
                Some(body) => versioning_from_body(&body),
                None => Versioning::Unknown(describe(&Failure::from_sdk(&e))),
            }
        }
    }
}

/// The versioning state a GetBucketVersioning answer's body states.
fn versioning_from_body(body: &str) -> Versioning {
    if body.contains("<Status>Enabled</Status>") {
        Versioning::Enabled
    } else if body.contains("<Status>Suspended</Status>") {
        Versioning::Suspended
    } else {
        Versioning::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crr::config::Endpoint;
    use crr::error::Fault;
    use std::collections::HashMap;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut settings: HashMap<String, String> = [
            ("CRR_SOURCE_BUCKET", "crr-src"),
            ("CRR_SOURCE_ENDPOINT", "http://127.0.0.1:4590"),
            ("CRR_DEST_BUCKET", "crr-dst"),
            ("CRR_DEST_ENDPOINT", "http://127.0.0.1:4590"),
            ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            settings.insert(k.to_string(), v.to_string());
        }
        Config::from_settings(&settings).unwrap()
    }

    fn grants(config: &Config) -> Grants {
        Grants::new(config, &config.rules[0], &Accounts::default())
    }

    fn failure(status: u16, code: &str) -> Failure {
        Failure {
            fault: Fault::Permanent,
            status: Some(status),
            code: Some(code.to_owned()),
            message: format!("{code} message"),
        }
    }

    fn probe_ok() -> ProbeOutcome {
        ProbeOutcome {
            bucket: "crr-dst".into(),
            key: ".crr/doctor/abc".into(),
            put: Ok(()),
            head: Some(Ok(Stored { size: Some(PROBE_BODY.len() as i64), ..Stored::default() })),
            delete: Some(Ok(())),
            leftover_version: false,
        }
    }

    #[test]
    fn an_unversioned_destination_warns_when_historical_replication_can_overwrite() {
        let c = config(&[]);
        let rule = &c.rules[0];
        assert!(rule.historical, "historical replication is on by default");
        let check = versioning_check(rule, &Origin::Env, &Versioning::Off, &Versioning::Off);
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("overwrites same-named objects already in crr-dst"), "{}", check.detail);
        assert!(check.detail.contains("deletes are not replicated (action PUT)"), "{}", check.detail);
        let fix = check.fix.unwrap();
        assert!(fix.contains("enable versioning on crr-dst") && fix.contains("CRR_HISTORICAL=false"), "{fix}");

        // Suspended counts as unversioned; a versioned destination is fine.
        let suspended = versioning_check(rule, &Origin::Env, &Versioning::Enabled, &Versioning::Suspended);
        assert_eq!(suspended.status, Status::Warn);
        let versioned = versioning_check(rule, &Origin::Env, &Versioning::Off, &Versioning::Enabled);
        assert_eq!(versioned.status, Status::Ok, "{versioned:?}");
        assert_eq!(versioned.fix, None);

        // Without historical replication nothing is overwritten by backfill.
        let c = config(&[("CRR_HISTORICAL", "false"), ("CRR_ACTION", "ALL")]);
        let check = versioning_check(&c.rules[0], &Origin::Env, &Versioning::Enabled, &Versioning::Off);
        assert_eq!(check.status, Status::Ok);
        assert!(check.detail.contains("removes the replica for good"), "{}", check.detail);
        assert!(check.detail.contains("only adds a delete marker"), "{}", check.detail);
    }

    #[test]
    fn versioning_answers_of_lenient_servers_are_read_from_the_body() {
        let moto = r#"<?xml version="1.0" encoding="utf-8"?><GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert_eq!(versioning_from_body(moto), Versioning::Off);
        assert_eq!(versioning_from_body("<X><Status>Enabled</Status></X>"), Versioning::Enabled);
        assert_eq!(versioning_from_body("<X><Status>Suspended</Status></X>"), Versioning::Suspended);
        let http =
            Failure { fault: crr::error::Fault::Permanent, status: Some(200), code: None, message: "HTTP 200".into() };
        assert_eq!(describe(&http), "HTTP 200");
    }

    #[test]
    fn unreadable_destination_versioning_is_skipped_with_a_note() {
        let c = config(&[]);
        let check = versioning_check(
            &c.rules[0],
            &Origin::File("/etc/crr.xml".into()),
            &Versioning::Enabled,
            &Versioning::Unknown("AccessDenied".into()),
        );
        assert_eq!(check.status, Status::Skip);
        assert!(check.detail.contains("make sure it is versioned"), "{}", check.detail);
    }

    #[test]
    fn a_denied_probe_put_names_the_permission_resource_and_statement() {
        let c = config(&[]);
        let probe = ProbeOutcome { put: Err(failure(403, "AccessDenied")), head: None, delete: None, ..probe_ok() };
        let checks = probe_checks(&c.rules[0], &probe, &grants(&c));
        let put = &checks[0];
        assert_eq!((put.name, put.status), ("probe-put", Status::Fail));
        let fix = put.fix.as_deref().unwrap();
        assert!(fix.contains("allow the role arn:aws:iam::222222222222:role/crr-replicator s3:PutObject"), "{fix}");
        assert!(fix.contains("on arn:aws:s3:::crr-dst/*"), "{fix}");
        assert!(fix.contains("statement CrrWriteReplicas"), "{fix}");
        assert!(fix.contains("crr policy generate --source-bucket crr-src --dest-bucket crr-dst"), "{fix}");
        assert!(fix.contains("bucket policy must grant it too"), "{fix}");
        assert_eq!(checks[1].status, Status::Skip);
        assert_eq!(checks[2].status, Status::Skip);
        let line = put.to_string();
        assert!(line.starts_with("FAIL  [default] probe-put: writing crr-dst/.crr/doctor/abc"), "{line}");
        assert!(line.contains(". Fix: allow the role"), "{line}");
    }

    #[test]
    fn with_prefixes_the_probe_is_granted_by_the_state_statement() {
        let c = config(&[("CRR_PREFIXES", "logs/")]);
        let probe = ProbeOutcome { delete: Some(Err(failure(403, "AccessDenied"))), ..probe_ok() };
        let delete = &probe_checks(&c.rules[0], &probe, &grants(&c))[2];
        assert_eq!(delete.status, Status::Fail);
        let fix = delete.fix.as_deref().unwrap();
        assert!(fix.contains("s3:DeleteObject on arn:aws:s3:::crr-dst/.crr/*"), "{fix}");
        assert!(fix.contains("statement CrrStateObjects"), "{fix}");
        assert!(delete.detail.contains("the probe stays there"), "{}", delete.detail);
    }

    #[test]
    fn oss_roles_get_oss_actions_and_resources_with_known_or_any_account() {
        let c = config(&[("CRR_ROLE_ARN", "acs:ram::1234567890123456:role/crr-replicator")]);
        let unknown = grants(&c);
        let fix = unknown.role_fix(&["PutObject"], Some(".crr/doctor/x"));
        assert!(fix.contains("oss:PutObject on acs:oss:*:*:crr-dst/*"), "{fix}");
        assert!(fix.contains("--source-account <SOURCE_UID>"), "{fix}");
        let known = Grants::new(
            &c,
            &c.rules[0],
            &Accounts { source: Some("1234567890123456".into()), dest: Some("6543210987654321".into()) },
        );
        let fix = known.role_fix(&["ListBucket"], None);
        assert!(fix.contains("oss:ListObjects on acs:oss:*:6543210987654321:crr-dst ("), "{fix}");
        assert!(
            fix.contains("the role is in account 1234567890123456 and crr-dst in account 6543210987654321"),
            "{fix}"
        );
        // Same account: no bucket policy needed.
        let same = Grants::new(&c, &c.rules[0], &Accounts { source: None, dest: Some("1234567890123456".into()) });
        assert!(!same.role_fix(&["PutObject"], Some("k")).contains("bucket policy"));
    }

    #[test]
    fn delete_replicas_is_checked_for_the_reserved_prefix_only_and_says_so() {
        let c = config(&[("CRR_ACTION", "ALL")]);
        let g = grants(&c);
        let ok = delete_replicas_check(&c.rules[0], &probe_ok(), &g);
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.detail.contains("checked for .crr/ only"), "{}", ok.detail);
        assert!(ok.detail.contains("s3:DeleteObject on arn:aws:s3:::crr-dst/*"), "{}", ok.detail);
        let denied = ProbeOutcome { delete: Some(Err(failure(403, "AccessDenied"))), ..probe_ok() };
        let fail = delete_replicas_check(&c.rules[0], &denied, &g);
        assert_eq!(fail.status, Status::Fail);
        assert!(fail.fix.unwrap().contains("statement CrrDeleteReplicas"));
        let put_rule = config(&[]);
        assert_eq!(delete_replicas_check(&put_rule.rules[0], &probe_ok(), &g).status, Status::Skip);
    }

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

    #[test]
    fn assume_failures_get_fixes_by_cause() {
        let c = config(&[("CRR_STS_ENDPOINT", "http://127.0.0.1:4590")]);
        let rule = &c.rules[0];
        let err = |code: &str| crr::Error::AssumeRole {
            role: rule.role.to_string(),
            fault: Fault::Permanent,
            code: Some(code.into()),
            detail: "refused".into(),
        };
        let denied = assume_check(rule, &c.sts, &Origin::Env, &Err(err("AccessDenied")));
        assert_eq!(denied.status, Status::Fail);
        let fix = denied.fix.unwrap();
        assert!(fix.contains("sts:AssumeRole on arn:aws:iam::222222222222:role/crr-replicator"), "{fix}");
        assert!(fix.contains("CrrAssumeReplicationRole") && fix.contains("CRR_STS_EXTERNAL_ID"), "{fix}");
        assert!(denied.detail.starts_with("assuming role arn:aws:iam::222222222222:role/crr-replicator"));
        let unreachable = assume_check(rule, &c.sts, &Origin::Env, &Err(err("NetworkError")));
        assert!(unreachable.fix.unwrap().contains("CRR_STS_ENDPOINT (http://127.0.0.1:4590)"));
        let signature = assume_check(rule, &c.sts, &Origin::Env, &Err(err("SignatureDoesNotMatch")));
        assert!(signature.fix.unwrap().contains("function's credentials"));
        let ok = assume_check(rule, &c.sts, &Origin::Env, &Ok(()));
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.detail.contains("through AWS STS"), "{}", ok.detail);
    }

    #[test]
    fn a_missing_destination_bucket_names_the_setting() {
        let c = config(&[]);
        let check = dest_bucket_check(&c.rules[0], &Origin::Env, &Err(failure(404, "NoSuchBucket")), &grants(&c));
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().contains("create it in the destination account, or correct CRR_DEST_BUCKET"));
        let file = Origin::File("/etc/crr.json".into());
        let check = dest_bucket_check(&c.rules[0], &file, &Err(failure(404, "NoSuchBucket")), &grants(&c));
        assert!(check.fix.unwrap().contains("rule default's Destination/Bucket in /etc/crr.json"));
        let denied = dest_bucket_check(&c.rules[0], &Origin::Env, &Err(failure(403, "AccessDenied")), &grants(&c));
        let fix = denied.fix.unwrap();
        assert!(fix.contains("s3:ListBucket on arn:aws:s3:::crr-dst (statement CrrListDestinationBucket"), "{fix}");
    }

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
    fn kms_probe_results() {
        let key = "arn:aws:kms:us-east-1:222222222222:key/k1";
        let c = config(&[("CRR_KMS", "replicate"), ("CRR_REPLICA_KMS_KEY_ID", key)]);
        let g = grants(&c);
        let rule = &c.rules[0];
        let encrypted = Stored {
            size: Some(PROBE_BODY.len() as i64),
            encryption: Some("aws:kms".into()),
            kms_key: Some(key.into()),
        };
        let ok = ProbeOutcome { head: Some(Ok(encrypted.clone())), ..probe_ok() };
        assert_eq!(kms_check(rule, &Origin::Env, Some(&ok), &g).status, Status::Ok);
        let other =
            ProbeOutcome { head: Some(Ok(Stored { kms_key: Some("other".into()), ..encrypted })), ..probe_ok() };
        assert_eq!(kms_check(rule, &Origin::Env, Some(&other), &g).status, Status::Warn);
        let plain = kms_check(rule, &Origin::Env, Some(&probe_ok()), &g);
        assert_eq!(plain.status, Status::Fail, "the destination stored it unencrypted");
        let denied = ProbeOutcome { put: Err(failure(403, "AccessDenied")), head: None, delete: None, ..probe_ok() };
        let fail = kms_check(rule, &Origin::Env, Some(&denied), &g);
        let fix = fail.fix.unwrap();
        assert!(fix.contains("kms:GenerateDataKey") && fix.contains(&format!("on {key}")), "{fix}");
        assert!(fix.contains("CrrReplicationRoleUsesKey") && fix.contains("--kms-key"), "{fix}");
        assert!(fix.contains("CRR_REPLICA_KMS_KEY_ID"), "{fix}");
        let skip = config(&[]);
        assert_eq!(kms_check(&skip.rules[0], &Origin::Env, None, &g).status, Status::Skip);
    }

    #[test]
    fn server_side_copy_is_informational_unless_required() {
        let c = config(&[]);
        let g = grants(&c);
        let rule = &c.rules[0];
        let denied = Err(failure(403, "AccessDenied"));
        let auto = server_side_check(&c, rule, Some("a.txt"), Some(&denied), &g);
        assert_eq!(auto.status, Status::Ok);
        assert!(auto.detail.contains("copies stream through the function"), "{}", auto.detail);
        let required = config(&[("CRR_COPY_MODE", "server-side")]);
        let fail = server_side_check(&required, &required.rules[0], Some("a.txt"), Some(&denied), &g);
        assert_eq!(fail.status, Status::Fail);
        let fix = fail.fix.unwrap();
        assert!(fix.contains("s3:GetObject, s3:GetObjectTagging on arn:aws:s3:::crr-src/*"), "{fix}");
        assert!(fix.contains("statement CrrReadSourceObjects") && fix.contains("CRR_COPY_MODE=auto"), "{fix}");
        let mut apart = config(&[]);
        apart.rules[0].destination.endpoint =
            Endpoint { url: Some("http://127.0.0.1:9".into()), region: "us-east-1".into(), path_style: true };
        assert_eq!(server_side_check(&apart, &apart.rules[0], Some("a"), None, &g).status, Status::Skip);
        let works = server_side_check(&c, rule, Some("a.txt"), Some(&Ok(())), &g);
        assert!(works.detail.contains("no bytes through the function"));
    }

    #[test]
    fn config_errors_name_the_variable_and_what_to_set() {
        let error = Config::from_settings(&HashMap::<String, String>::new()).unwrap_err();
        let check = config_failed(&error);
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().starts_with("set CRR_SOURCE_BUCKET to a bucket name"));
    }

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

    #[test]
    fn generate_command_carries_the_rule() {
        let c = config(&[("CRR_ACTION", "ALL"), ("CRR_PREFIXES", "logs/,my docs/")]);
        let command = generate_command(
            &c,
            &c.rules[0],
            &Accounts { source: Some("111111111111".into()), dest: None },
            Provider::Aws,
        );
        assert_eq!(
            command,
            "crr policy generate --source-bucket crr-src --source-account 111111111111 --dest-bucket crr-dst \
             --dest-account <DEST_ACCOUNT> --role-arn arn:aws:iam::222222222222:role/crr-replicator --action ALL \
             --prefix logs/ --prefix 'my docs/'"
        );
    }
}
