//! `crr doctor` against the local cloud, run as an operator would: the built `crr`
//! binary with a setup's `CRR_*` configuration and the function's own keys. A good
//! setup passes; a permission taken from the role, a role the function may not
//! assume, a missing destination bucket and a Deny in the bucket policy each fail
//! the check that finds them, with the fix. Probes leave nothing behind.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use crr_e2e::*;

/// One doctor run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The lines of the check `name` (one per rule; several for lint findings).
    fn lines(&self, name: &str) -> Vec<&str> {
        let needle = format!(" {name}: ");
        self.stdout.lines().filter(|l| l.contains(&needle)).collect()
    }

    /// The single line of check `name`.
    fn line(&self, name: &str) -> &str {
        match self.lines(name).as_slice() {
            [one] => one,
            other => panic!("expected one {name} line, got {other:?}\n{}", self.stdout),
        }
    }

    fn assert_status(&self, name: &str, status: &str) {
        let line = self.line(name);
        assert!(line.starts_with(&format!("{status:<4}  ")), "{name} should be {status}: {line}\n{}", self.stdout);
    }
}

fn env_with(setup: &Setup, base: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base;
    for (k, v) in extra {
        env.retain(|(kk, _)| kk != k);
        env.push((k.to_string(), v.to_string()));
    }
    // The function's own identity, as the functions fall back to it.
    env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
    env
}

fn doctor(setup: &Setup, env: &[(String, String)], args: &[&str]) -> Run {
    let CliRun { code, stdout, stderr } = setup.crr(env, &[&["doctor"], args].concat());
    Run { code, stdout, stderr }
}

/// Every version and delete marker left under the probe prefix.
async fn probe_leftovers(setup: &Setup) -> usize {
    let dst = setup.s3(&setup.dst_admin);
    let out = dst
        .list_object_versions()
        .bucket(&setup.dst_bucket)
        .prefix(".crr/doctor/")
        .send()
        .await
        .expect("list the probe prefix");
    out.versions().len() + out.delete_markers().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_setup_and_leaves_nothing_behind() {
    let setup = Setup::provision("doc-good");
    put_bytes(&setup.s3(&setup.src_admin), &setup.src_bucket, "hello.txt", b"hello".to_vec()).await;
    let env = env_with(&setup, setup.function_env(), &[]);

    let run = doctor(&setup, &env, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.lines().any(|l| l.starts_with("FAIL")), "{}", run.stdout);
    for name in [
        "config",
        "function-credentials",
        "source-bucket",
        "source-objects",
        "assume-role",
        "dest-bucket",
        "probe-put",
        "probe-head",
        "probe-delete",
        "server-side-copy",
    ] {
        run.assert_status(name, "ok");
    }
    assert!(run.line("source-objects").contains(&format!("{}/hello.txt", setup.src_bucket)));
    assert!(run.line("function-credentials").contains("AWS_ACCESS_KEY_ID"));
    assert!(!run.stdout.contains(&setup.function.id), "the access key id is masked: {}", run.stdout);
    // The buckets of the local cloud are unversioned and historical replication is on.
    run.assert_status("versioning", "warn");
    assert!(run.line("versioning").contains(&format!("Fix: enable versioning on {}", setup.dst_bucket)));
    // moto's role may not read the bucket policy nor the source: noted, not failed.
    run.assert_status("dest-policy-deny", "skip");
    assert!(run.line("server-side-copy").contains("copies stream through the function"));
    run.assert_status("delete-replicas", "skip");
    run.assert_status("kms-probe", "skip");
    assert!(run.stdout.lines().last().unwrap_or_default().starts_with("doctor: "), "{}", run.stdout);
    assert_eq!(probe_leftovers(&setup).await, 0, "the probe was deleted");

    // The same as JSON: one object per check, the same checks.
    let json = doctor(&setup, &env, &["--json"]);
    assert_eq!(json.code, 0);
    let checks: Vec<serde_json::Value> =
        json.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(checks.len(), run.stdout.lines().count() - 1, "{}", json.stdout);
    let probe = checks.iter().find(|c| c["name"] == "probe-put").expect("probe-put");
    assert_eq!((probe["status"].as_str(), probe["rule"].as_str()), (Some("ok"), Some("default")));
    assert!(checks.iter().all(|c| c["detail"].is_string() && c.get("fix").is_some()));

    // Versioned destination, deletes replicated, KMS replicas: still all good, and the
    // probes' versions are cleaned up too.
    let dst = setup.s3(&setup.dst_admin);
    dst.put_bucket_versioning()
        .bucket(&setup.dst_bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .expect("enable versioning");
    let key = "arn:aws:kms:us-east-1:222222222222:key/11111111-2222-3333-4444-555555555555";
    let env = env_with(
        &setup,
        setup.function_env(),
        &[("CRR_ACTION", "ALL"), ("CRR_KMS", "replicate"), ("CRR_REPLICA_KMS_KEY_ID", key)],
    );
    let run = doctor(&setup, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.assert_status("versioning", "ok");
    assert!(run.line("versioning").contains("delete marker"), "{}", run.line("versioning"));
    run.assert_status("delete-replicas", "ok");
    assert!(run.line("delete-replicas").contains("checked for .crr/ only"));
    run.assert_status("kms-probe", "ok");
    assert!(run.line("kms-probe").contains(key));
    assert_eq!(probe_leftovers(&setup).await, 0, "versions of the probes were removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_a_permission_taken_from_the_role_with_its_fix() {
    let setup = Setup::provision("doc-noput");
    setup.set_role_policy(&["--without", "s3:PutObject"]);
    let run = doctor(&setup, &env_with(&setup, setup.function_env(), &[]), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.assert_status("assume-role", "ok");
    run.assert_status("dest-bucket", "ok");
    run.assert_status("probe-put", "FAIL");
    let line = run.line("probe-put");
    assert!(line.contains("AccessDenied"), "{line}");
    let fix = line.split_once(". Fix: ").map(|(_, fix)| fix).unwrap_or_else(|| panic!("no fix: {line}"));
    assert!(
        fix.contains(&format!("allow the role {} s3:PutObject on arn:aws:s3:::{}/*", setup.role_arn, setup.dst_bucket)),
        "{fix}"
    );
    assert!(fix.contains("statement CrrWriteReplicas") && fix.contains("crr policy generate"), "{fix}");
    run.assert_status("probe-head", "skip");
    run.assert_status("probe-delete", "skip");
    assert_eq!(probe_leftovers(&setup).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_the_assume_check_for_a_role_the_function_may_not_assume() {
    let setup = Setup::provision("doc-norole");
    let missing = format!("arn:aws:iam::{}:role/no-such-role", setup.dst_account);
    let run = doctor(&setup, &env_with(&setup, setup.function_env(), &[("CRR_ROLE_ARN", &missing)]), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.assert_status("source-bucket", "ok");
    run.assert_status("assume-role", "FAIL");
    let line = run.line("assume-role");
    assert!(line.contains(&format!("assuming role {missing}")) && line.contains("(AccessDenied)"), "{line}");
    assert!(line.contains(&format!("Fix: allow the function's own identity sts:AssumeRole on {missing}")), "{line}");
    assert!(line.contains("trust policy") && line.contains("CRR_ROLE_ARN"), "{line}");
    for name in ["dest-bucket", "probe-put", "dest-policy-deny"] {
        run.assert_status(name, "skip");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_the_bucket_check_for_a_missing_destination_bucket() {
    let setup = Setup::provision("doc-nobucket");
    let dst = setup.s3(&setup.dst_admin);
    dst.delete_bucket().bucket(&setup.dst_bucket).send().await.expect("delete the destination bucket");
    let run = doctor(&setup, &env_with(&setup, setup.function_env(), &[]), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.assert_status("assume-role", "ok");
    run.assert_status("dest-bucket", "FAIL");
    let line = run.line("dest-bucket");
    assert!(line.contains("NoSuchBucket"), "{line}");
    assert!(line.contains(&format!("destination bucket {} does not exist", setup.dst_bucket)), "{line}");
    assert!(line.contains("correct CRR_DEST_BUCKET"), "{line}");
    run.assert_status("probe-put", "skip");
}

async fn put_bucket_policy(setup: &Setup, sid: &str, action: &str, resource: &str) {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": sid, "Effect": "Deny", "Principal": {"AWS": setup.role_arn}, "Action": action, "Resource": resource}]
    });
    setup.put_dest_bucket_policy(&policy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_lints_a_readable_bucket_policy_and_finds_its_deny() {
    let setup = Setup::provision("doc-policy");
    setup.set_role_policy(&["--with", "s3:GetBucketPolicy"]);
    let env = env_with(&setup, setup.function_env(), &[("CRR_ACTION", "ALL")]);

    // A Deny of something replication never does is not in the way.
    put_bucket_policy(&setup, "KeepTheBucket", "s3:DeleteBucket", &format!("arn:aws:s3:::{}", setup.dst_bucket)).await;
    let run = doctor(&setup, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.assert_status("dest-policy-lint", "ok");
    run.assert_status("dest-policy-deny", "ok");

    // A Deny of deletes blocks replicated deletes and crr's own state under .crr/.
    put_bucket_policy(&setup, "NoDeletes", "s3:DeleteObject", &format!("arn:aws:s3:::{}/*", setup.dst_bucket)).await;
    let run = doctor(&setup, &env, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.assert_status("dest-policy-deny", "FAIL");
    let line = run.line("dest-policy-deny");
    assert!(line.contains("Statement[0] (Sid \"NoDeletes\") denies s3:DeleteObject on arn:aws:s3:::"), "{line}");
    assert!(line.contains("Fix: narrow that Deny"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_assumes_an_alibaba_role_through_alibaba_sts() {
    let setup = Setup::provision("doc-ali");
    let run = doctor(&setup, &env_with(&setup, setup.alibaba_function_env(), &[]), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_status("assume-role", "ok");
    assert!(run.line("assume-role").contains("through Alibaba Cloud STS"), "{}", run.stdout);
    run.assert_status("probe-put", "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_a_broken_configuration_first_and_stops() {
    let setup = Setup::default_setup();
    let mut env = setup.function_env();
    env.retain(|(k, _)| k != "CRR_DEST_BUCKET");
    let run = doctor(&setup, &env_with(&setup, env, &[]), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with("FAIL  config: the configuration does not load: CRR_DEST_BUCKET is not set"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("Fix: set CRR_DEST_BUCKET to a bucket name"), "{}", lines[0]);
}
