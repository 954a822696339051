//! The probe: an object written, read back and deleted with the role under the
//! destination's reserved prefix, as replication writes and deletes replicas (again with
//! KMS encryption when the rule re-encrypts), through the store of the destination's
//! dialect (S3 or OSS), and the checks decided from what it observed.

use std::collections::HashMap;

use crr::config::{KmsPolicy, Rule, RuleAction};
use crr::error::Failure;
use crr::object::Encryption;
use crr::store::{Condition, ObjectWrite, Read, Store, Upload};

use super::check::Check;
use super::grants::{Grants, Side};
use super::requests::describe;
use super::source::Origin;

/// Where probe objects go: under the destination's reserved prefix `.crr/`, which
/// holds crr's own state and which replication ignores.
pub const PROBE_PREFIX: &str = ".crr/doctor/";
pub(super) const PROBE_BODY: &[u8] = b"crr doctor probe: safe to delete\n";

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
    pub size: u64,
    pub encryption: Encryption,
}

/// Puts, heads and deletes a probe object with the role (encrypted with the KMS key
/// `kms_key` when given), and cleans up the versions a versioned destination keeps
/// when it may.
pub(super) async fn run_probe(dest: &Store, bucket: &str, kms_key: Option<&str>) -> ProbeOutcome {
    let suffix = if kms_key.is_some() { "-kms" } else { "" };
    let key = format!("{PROBE_PREFIX}{}{suffix}", uuid::Uuid::new_v4().simple());
    let write = ObjectWrite {
        content_type: Some("text/plain"),
        metadata: HashMap::from([("crr-doctor".to_owned(), "probe".to_owned())]),
        encryption: match kms_key {
            Some(key_id) => Encryption::Kms { key_id: Some(key_id.to_owned()) },
            None => Encryption::None,
        },
        ..ObjectWrite::default()
    };
    let put = dest.put(bucket, &key, Upload::bytes(PROBE_BODY), &write, Condition::Always).await;
    let version = match put {
        Ok(written) => written.version_id,
        Err(f) => {
            return ProbeOutcome {
                bucket: bucket.to_owned(),
                key,
                put: Err(f),
                head: None,
                delete: None,
                leftover_version: false,
            }
        }
    };
    let head = dest
        .head(bucket, &key, Read::default())
        .await
        .map(|state| Stored { size: state.size, encryption: state.encryption });
    let deleted = dest.delete_version(bucket, &key, None).await;
    let mut leftover_version = false;
    if let (Some(version), Ok(marker)) = (&version, &deleted) {
        // Versioned: the delete left the probe as a noncurrent version behind a marker.
        for id in std::iter::once(version.as_str()).chain(marker.version_id.as_deref()) {
            leftover_version |= dest.delete_version(bucket, &key, Some(id)).await.is_err();
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
        Some(Ok(stored)) if stored.size != PROBE_BODY.len() as u64 => Check::warn(
            "probe-head",
            Some(rule),
            format!("{object} reads back with {} bytes, {} were written", stored.size, PROBE_BODY.len()),
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
        Some(Ok(Stored { encryption: Encryption::Kms { key_id: used }, .. })) => {
            let used = used.as_deref().unwrap_or("");
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
                match stored.encryption {
                    Encryption::Managed => "managed by the service (AES256)",
                    _ => "none",
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::doctor::fixtures::{config, failure, grants, probe_ok};

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

    #[test]
    fn kms_probe_results() {
        let key = "arn:aws:kms:us-east-1:222222222222:key/k1";
        let c = config(&[("CRR_KMS", "replicate"), ("CRR_REPLICA_KMS_KEY_ID", key)]);
        let g = grants(&c);
        let rule = &c.rules[0];
        let encrypted =
            Stored { size: PROBE_BODY.len() as u64, encryption: Encryption::Kms { key_id: Some(key.into()) } };
        let ok = ProbeOutcome { head: Some(Ok(encrypted.clone())), ..probe_ok() };
        assert_eq!(kms_check(rule, &Origin::Env, Some(&ok), &g).status, Status::Ok);
        let other = ProbeOutcome {
            head: Some(Ok(Stored { encryption: Encryption::Kms { key_id: Some("other".into()) }, ..encrypted })),
            ..probe_ok()
        };
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
}
