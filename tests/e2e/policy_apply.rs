//! `crr policy apply` against the local cloud's IAM and S3, run as an operator would:
//! the built `crr` binary with an administrator's keys. A role missing a permission
//! (doctor fails) is fixed by apply (doctor passes); the trust policy and the
//! destination bucket policy are merged, every existing statement kept; a second run
//! changes nothing; a Deny in the way stops it before anything is written; wrong
//! credentials get errors that say what to do. For the seed's OSS rule: the RAM role's
//! documents and `aliyun ram` commands, and the destination bucket policy merged through
//! the local OSS server's own PutBucketPolicy.

use crr_e2e::*;

fn crr(setup: &Setup, keys: &Keys, args: &[&str]) -> CliRun {
    let env = vec![
        ("AWS_ACCESS_KEY_ID".to_owned(), keys.id.clone()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), keys.secret.clone()),
    ];
    setup.crr(&env, args)
}

/// `crr policy apply` for the setup's rule, with `role_arn` and extra flags.
fn apply(setup: &Setup, keys: &Keys, role_arn: &str, extra: &[&str]) -> CliRun {
    let mut args = vec![
        "policy",
        "apply",
        "--source-bucket",
        &setup.src_bucket,
        "--source-account",
        &setup.src_account,
        "--dest-bucket",
        &setup.dst_bucket,
        "--dest-account",
        &setup.dst_account,
        "--role-arn",
        role_arn,
        "--action",
        "ALL",
        "--iam-endpoint",
        &setup.endpoint,
        "--dest-endpoint",
        &setup.endpoint,
        "--dest-region",
        &setup.region,
    ];
    args.extend_from_slice(extra);
    crr(setup, keys, &args)
}

fn doctor_code(setup: &Setup) -> (i32, String) {
    let mut env = setup.function_env();
    env.push(("AWS_ACCESS_KEY_ID".into(), setup.function.id.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), setup.function.secret.clone()));
    let out = clean_command("crr", &env).arg("doctor").output().expect("run crr doctor");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn bucket_policy(setup: &Setup) -> serde_json::Value {
    let s3 = setup.s3(&setup.dst_admin);
    let text = s3.get_bucket_policy().bucket(&setup.dst_bucket).send().await.expect("get the bucket policy");
    serde_json::from_str(text.policy().unwrap_or_default()).expect("the bucket policy is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_fixes_a_role_doctor_fails_merges_its_trust_and_changes_nothing_twice() {
    let setup = Setup::provision("apply-role");
    put_bytes(&setup.s3(&setup.src_admin), &setup.src_bucket, "hello.txt", b"hello".to_vec()).await;
    setup.set_role_policy(&["--without", "s3:PutObject"]);
    let (code, report) = doctor_code(&setup);
    assert_eq!(code, 1, "doctor should fail without s3:PutObject:\n{report}");

    // Trusting a second principal shows the merge: the account trusted before stays.
    let extra_trust = ["--trust-principal", "arn:aws:iam::111111111111:role/crr-functions"];
    let dry = apply(&setup, &setup.dst_admin, &setup.role_arn, &[&extra_trust[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("permission policy crr-replication: would create"), "{}", dry.stdout);
    assert!(dry.stdout.contains("trust policy: would add 1 statement(s), kept the 1 already there"), "{}", dry.stdout);
    assert_eq!(doctor_code(&setup).0, 1, "a dry run changed the role");

    let run = apply(&setup, &setup.dst_admin, &setup.role_arn, &extra_trust);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("permission policy crr-replication: created"), "{}", run.stdout);
    assert!(run.stdout.contains("trust policy: added 1 statement(s), kept the 1 already there"), "{}", run.stdout);
    assert!(run.stdout.contains("arn:aws:iam::111111111111:role/crr-functions"), "the diff shows what was added");
    assert!(run.stdout.contains(&format!("bucket policy of {}: not needed", setup.dst_bucket)), "{}", run.stdout);
    let (code, report) = doctor_code(&setup);
    assert_eq!(code, 0, "the applied policy should give the role what replication needs:\n{report}");

    let again = apply(&setup, &setup.dst_admin, &setup.role_arn, &extra_trust);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("permission policy crr-replication: unchanged"), "{}", again.stdout);
    assert!(again.stdout.contains("trust policy: unchanged"), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_merges_the_destination_bucket_policy_keeps_what_was_there_and_stops_at_a_deny() {
    let setup = Setup::provision("apply-bucket");
    // A role in the source account: the destination bucket must grant it.
    let source_role = format!("arn:aws:iam::{}:role/Crr-Replicator", setup.src_account);
    let existing = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PartnerReads",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{}/shared/*", setup.dst_bucket)
        }]
    });
    setup.put_dest_bucket_policy(&existing).await;

    let run = apply(&setup, &setup.dst_admin, &source_role, &["--only", "bucket-policy"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("permission policy"), "--only bucket-policy left the role alone: {}", run.stdout);
    let line = run.stdout.lines().find(|l| l.starts_with("bucket policy of")).expect("a bucket policy line");
    assert!(line.contains("added") && line.contains("kept the 1 already there"), "{line}");
    let policy = bucket_policy(&setup).await;
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(statements[0], existing["Statement"][0], "the existing statement is back exactly as it was");
    assert!(statements.len() > 1, "{policy}");
    let grants_source_role = statements[1..].iter().all(|s| s["Principal"].to_string().contains(&source_role));
    assert!(grants_source_role, "every added statement grants the source account's role: {policy}");

    let again = apply(&setup, &setup.dst_admin, &source_role, &["--only", "bucket-policy"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert_eq!(bucket_policy(&setup).await, policy, "a second apply changes nothing");

    // A Deny of writes for everyone: no Allow can override it, so nothing is put.
    let mut denied = existing.clone();
    denied["Statement"].as_array_mut().unwrap().push(serde_json::json!({
        "Sid": "NoWrites",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": format!("arn:aws:s3:::{}/*", setup.dst_bucket)
    }));
    setup.put_dest_bucket_policy(&denied).await;
    let refused = apply(&setup, &setup.dst_admin, &source_role, &["--only", "bucket-policy"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("NoWrites") && refused.stderr.contains("no Allow overrides a Deny"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.contains("not changed"), "{}", refused.stdout);
    assert_eq!(bucket_policy(&setup).await, denied, "nothing was put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_wrong_credentials_with_what_to_do() {
    let setup = Setup::provision("apply-bad");
    // The source account's administrator cannot see the destination account's role.
    let run = apply(&setup, &setup.src_admin, &setup.role_arn, &["--only", "role"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("the role {} does not exist in the account of these credentials", setup.role_name()))
            && run.stderr.contains(&format!("credentials of account {}", setup.dst_account)),
        "{}",
        run.stderr
    );
    // The function's own identity may not touch IAM at all.
    let run = apply(&setup, &setup.function, &setup.role_arn, &["--only", "role"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("AccessDenied") && run.stderr.contains("administrator's credentials"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_for_a_ram_role_prints_its_commands_and_merges_the_oss_bucket_policy() {
    let setup = Setup::provision("apply-oss");
    let oss = setup.oss().clone();
    let dst = setup.oss_store(&setup.dst_admin);
    // A statement of the destination's own, which the merge must keep.
    let readers = serde_json::json!({"Version": "1", "Statement": [{
        "Sid": "PublicReaders", "Effect": "Allow", "Action": ["oss:GetObject"], "Principal": ["*"],
        "Resource": [format!("acs:oss:*:{}:{}/public/*", setup.dst_account, oss.dst_bucket)],
        "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}
    }]});
    dst.put_bucket_policy(&oss.dst_bucket, &readers.to_string()).await.unwrap();
    let out = std::env::temp_dir().join(format!("crr-apply-oss-{}", uuid::Uuid::new_v4().simple()));
    let env = vec![
        ("ALIBABA_CLOUD_ACCESS_KEY_ID".to_owned(), setup.dst_admin.id.clone()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET".to_owned(), setup.dst_admin.secret.clone()),
    ];
    let out_arg = out.display().to_string();
    #[rustfmt::skip]
    let args = [
        "policy", "apply",
        "--source-bucket", &oss.src_bucket, "--source-account", &setup.src_account,
        "--dest-bucket", &oss.dst_bucket, "--dest-account", &setup.dst_account,
        "--role-arn", &oss.role_arn, "--action", "ALL",
        "--dest-endpoint", &oss.endpoint, "--dest-region", &oss.region, "--out", &out_arg,
    ];
    let run = setup.crr(&env, &args);
    // crr has no RAM client: the role's part is written and its commands printed, and
    // the exit code says that not everything was applied.
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let role = oss.role_name();
    assert!(run.stdout.contains(&format!("role {}: NOT applied", oss.role_arn)), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "aliyun ram AttachPolicyToRole --PolicyType Custom --PolicyName crr-replication --RoleName {role}"
        )),
        "{}",
        run.stdout
    );
    // The documents are what the local cloud gives the role (scripts/local_cloud.py's
    // oss_role_policy mirrors `crr policy generate`), so the two cannot drift apart.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("permission-policy.json")).unwrap()).unwrap();
    let local_dir =
        std::env::var("CRR_LOCAL_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| repo_root().join(".local"));
    let ram: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local_dir.join("oss-ram.json")).unwrap()).unwrap();
    assert_eq!(
        ram["accounts"][&setup.src_account]["roles"][role]["policies"]["crr-replication"], written,
        "the local cloud's RAM policy for the role and crr policy generate's differ"
    );

    // The bucket policy: merged over OSS's own API, the destination's statement kept.
    assert!(run.stdout.contains(&format!("bucket policy of {}: added", oss.dst_bucket)), "{}", run.stdout);
    assert!(run.stdout.contains("kept the 1 already there"), "{}", run.stdout);
    let policy = dst.bucket_policy(&oss.dst_bucket).await.unwrap().expect("a bucket policy");
    let principal = format!("arn:sts::{}:assumed-role/{}/*", setup.src_account, role.to_lowercase());
    assert!(policy.contains("PublicReaders") && policy.contains(&principal), "{policy}");
    let _ = std::fs::remove_dir_all(&out);
}
