//! The checks of one rule, in order, as the functions' assumed role: the role can be
//! assumed, the destination exists, versioning, the probe, KMS, the destination bucket
//! policy and server-side copies. When an earlier check makes the later ones
//! meaningless (no role, no bucket), they are reported as skipped with the reason.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::SharedHttpClient;
use crr::arn::RoleArn;
use crr::config::{Config, CopyMode, KmsPolicy, Rule, RuleAction, StsSettings};
use crr::credentials::FunctionIdentity;
use crr::decide::copy::{server_side, ServerSide, ServerSideKnown, StreamReason};
use crr::error::Failure;
use crr::store;
use crr::sts::AssumedRole;

use super::bucket_policy::{policy_checks, read_bucket_policy};
use super::check::{skipped, Check};
use super::grants::Grants;
use super::probe::{delete_replicas_check, kms_check, probe_checks, run_probe, PROBE_PREFIX};
use super::requests::{describe, head_object, is_missing_bucket, list_bucket, versioning, Versioning};
use super::source::Origin;

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

/// What one rule's checks need: the configuration, the rule, what generate would grant
/// for it, and what was observed of the source before any rule.
pub(super) struct RuleRun<'a> {
    pub(super) config: &'a Config,
    pub(super) rule: &'a Rule,
    pub(super) grants: Grants,
    pub(super) origin: &'a Origin,
    pub(super) http: SharedHttpClient,
    pub(super) identity: Arc<FunctionIdentity>,
    pub(super) sample: Option<&'a str>,
    pub(super) source_versioning: &'a Versioning,
}

impl RuleRun<'_> {
    /// Every check of the rule, in order.
    pub(super) async fn checks(&self) -> Vec<Check> {
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
        let listed = list_bucket(&dest, bucket, PROBE_PREFIX).await;
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

        let policy = read_bucket_policy(&dest, bucket).await;
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

pub fn server_side_check(
    config: &Config,
    rule: &Rule,
    sample: Option<&str>,
    role_reads: Option<&Result<(), Failure>>,
    grants: &Grants,
) -> Check {
    let source = &config.source.name;
    let mode = config.copy.mode;
    // The engine's own decision, before it has learned anything about the role.
    let same_service = config.source.endpoint.same_service(&rule.destination.endpoint);
    match server_side(mode, same_service, ServerSideKnown::Untried, false, false) {
        ServerSide::Stream(StreamReason::Configured) => {
            return Check::skip(
                "server-side-copy",
                Some(rule),
                "CRR_COPY_MODE=stream: copies always stream through the function",
            )
        }
        ServerSide::Stream(_) => {
            return Check::skip(
                "server-side-copy",
                Some(rule),
                "source and destination endpoints differ: copies stream through the function",
            )
        }
        ServerSide::Try | ServerSide::Required => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::doctor::fixtures::{config, failure, grants};
    use crr::config::Endpoint;
    use crr::error::Fault;

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
}
