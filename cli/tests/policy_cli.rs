//! `crr policy` as an operator runs it: the built binary, real files, exit codes and the
//! lines printed, on good and bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SRC: &str = "1234567890123456";
const DST: &str = "6543210987654321";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn crr(args: &[&str]) -> Run {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_crr"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("the crr binary runs");
    Run {
        code: status.code().expect("crr exits with a code"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy-cli").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A bad-input failure: exit 3 and one line on stderr that starts with `error:`.
fn assert_one_line_error(run: &Run, expected: &str) {
    assert_eq!(run.code, 3, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stderr.trim_end().lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{}", run.stderr);
    assert!(lines[0].contains(expected), "expected {expected:?} in {}", run.stderr);
}

fn oss_rule_flags() -> Vec<String> {
    [
        "--provider",
        "oss",
        "--source-bucket",
        "src",
        "--source-account",
        SRC,
        "--dest-bucket",
        "dst",
        "--dest-account",
        DST,
        "--role-arn",
        &format!("acs:ram::{SRC}:role/AliyunOssDrsRole"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn with(base: Vec<String>, more: &[&str]) -> Vec<String> {
    base.into_iter().chain(more.iter().map(|s| s.to_string())).collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

const SEED_EXAMPLE: &str = r#"{
    "Version":"1",
    "Statement":[
        {
            "Effect":"Allow",
            "Action":["oss:ReplicateList","oss:ReplicateGet","oss:ReplicatePut","oss:ReplicateDelete"],
            "Principal": ["arn:sts::1234567890123456:assumed-role/AliyunOssDrsRole/*"],
            "Resource":["acs:oss:*:6543210987654321:dst","acs:oss:*:6543210987654321:dst/*"]
        }
    ]
}"#;

#[test]
fn generate_prints_every_document_and_writes_them() {
    let dir = scratch("generate");
    let out = dir.join("out");
    let args = with(
        with(vec!["policy".into(), "generate".into()], &refs(&oss_rule_flags())),
        &["--action", "ALL", "--prefix", "logs/", "--kms-key", "key-1", "--out", out.to_str().unwrap()],
    );
    let run = crr(&refs(&args));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for heading in [
        format!("== Permission policy: attach it to the role acs:ram::{SRC}:role/AliyunOssDrsRole =="),
        "== Trust policy of AliyunOssDrsRole: who may assume it ==".to_owned(),
        format!("== Destination bucket policy statements for dst: needed, the role is in account {SRC} and the bucket in account {DST}; merge them with crr policy merge =="),
        "== KMS key policy statement: add it to the policy of the destination key key-1 ==".to_owned(),
        "== Notes ==".to_owned(),
    ] {
        assert!(run.stdout.contains(&heading), "missing {heading:?} in\n{}", run.stdout);
    }
    assert!(run.stdout.contains(&format!("\"arn:sts::{SRC}:assumed-role/aliyunossdrsrole/*\"")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("\"acs:oss:*:{DST}:dst/logs/*\"")), "{}", run.stdout);
    assert!(run.stdout.contains("\"oss:DeleteObject\""), "ALL replicates deletes");
    assert!(run.stdout.contains("\"fc.aliyuncs.com\""), "{}", run.stdout);
    for file in ["permission-policy.json", "trust-policy.json", "dest-bucket-policy.json", "kms-key-policy.json"] {
        let text = fs::read_to_string(out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["Version"], "1", "{file}");
        assert!(run.stderr.contains(file), "{}", run.stderr);
    }
    // The written bucket policy is lint-clean.
    let lint = crr(&["policy", "lint", out.join("dest-bucket-policy.json").to_str().unwrap()]);
    assert_eq!(lint.code, 0, "{}", lint.stdout);
}

#[test]
fn generate_for_aws_in_the_destination_account_needs_no_bucket_policy() {
    let dir = scratch("generate-aws");
    let run = crr(&[
        "policy",
        "generate",
        "--source-bucket",
        "crr-src",
        "--dest-bucket",
        "crr-dst",
        "--dest-account",
        "222222222222",
        "--role-arn",
        "arn:aws:iam::222222222222:role/crr-replicator",
        "--trust-principal",
        "111111111111",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("== Destination bucket policy for crr-dst: not needed, the role is in the destination account 222222222222 =="), "{}", run.stdout);
    assert!(run.stdout.contains("\"arn:aws:s3:::crr-dst/.crr/*\""), "{}", run.stdout);
    assert!(run.stdout.contains("\"arn:aws:iam::111111111111:root\""), "{}", run.stdout);
    assert!(!run.stdout.contains("s3:DeleteObject\",\n        \"s3:"), "PUT is the default");
    assert!(!dir.join("dest-bucket-policy.json").exists());
    assert!(dir.join("permission-policy.json").exists());
}

#[test]
fn generate_refuses_bad_input_in_one_line() {
    let rule = oss_rule_flags;
    let other_role = format!("acs:ram::{SRC}:role/r");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            rule().into_iter().map(|a| if a == "oss" { "gcs".to_owned() } else { a }).collect(),
            "unknown provider \"gcs\": use oss",
        ),
        (with(vec![], &["--provider", "gcs"]), "unknown provider \"gcs\""),
        (with(vec![], &["--source-bucket", "src"]), "missing --dest-bucket, --dest-account, --role-arn"),
        (
            with(
                vec![],
                &["--source-bucket", "s", "--dest-bucket", "d", "--dest-account", DST, "--role-arn", "crr-replicator"],
            ),
            "role ARN \"crr-replicator\" is not valid",
        ),
        (with(rule(), &["--action", "COPY"]), "use PUT"),
        (with(rule(), &["--prefix", "logs/*"]), "literal key prefix"),
        (
            with(
                vec![],
                &[
                    "--provider",
                    "aws",
                    "--source-bucket",
                    "s",
                    "--dest-bucket",
                    "d",
                    "--dest-account",
                    DST,
                    "--role-arn",
                    &other_role,
                ],
            ),
            "same cloud",
        ),
        (with(rule(), &["--trust-service", "fc.aliyuncs.com", "--trust-principal", SRC]), "not both"),
    ];
    for (flags, expected) in cases {
        let args = with(vec!["policy".into(), "generate".into()], &refs(&flags));
        assert_one_line_error(&crr(&refs(&args)), expected);
    }
}

#[test]
fn merge_appends_the_grants_and_prints_what_it_added() {
    let dir = scratch("merge");
    let existing_text = SEED_EXAMPLE.replace("AliyunOssDrsRole", "aliyunossdrsrole");
    let existing = write(&dir, "existing.json", &existing_text);
    let args =
        with(vec!["policy".into(), "merge".into(), "--existing".into(), existing.clone()], &refs(&oss_rule_flags()));
    let run = crr(&refs(&args));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let merged: Value = serde_json::from_str(&run.stdout).expect("stdout is the merged policy alone");
    let original: Value = serde_json::from_str(&existing_text).unwrap();
    assert_eq!(merged["Statement"][0], original["Statement"][0]);
    assert!(merged["Statement"].as_array().unwrap().len() > 1);
    assert!(run.stderr.contains("@@ appended Statement[1] (Sid \"CrrListDestinationBucket\")"), "{}", run.stderr);
    assert!(run.stderr.lines().any(|l| l.starts_with("+ ") && l.contains("\"oss:PutObject\"")), "{}", run.stderr);

    // Merging the result again changes nothing.
    let merged_file = write(&dir, "merged.json", &run.stdout);
    let args = with(vec!["policy".into(), "merge".into(), "--existing".into(), merged_file], &refs(&oss_rule_flags()));
    let again = crr(&refs(&args));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, run.stdout);
    assert!(again.stderr.contains("no changes"), "{}", again.stderr);

    // The same with --generated, from generate --out.
    let out = dir.join("out");
    let args = with(
        with(vec!["policy".into(), "generate".into()], &refs(&oss_rule_flags())),
        &["--out", out.to_str().unwrap()],
    );
    assert_eq!(crr(&refs(&args)).code, 0);
    let generated = crr(&[
        "policy",
        "merge",
        "--existing",
        &existing,
        "--generated",
        out.join("dest-bucket-policy.json").to_str().unwrap(),
    ]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    assert_eq!(generated.stdout, run.stdout);
}

#[test]
fn merge_fails_when_an_existing_deny_blocks_replication() {
    let dir = scratch("merge-deny");
    let existing = write(
        &dir,
        "existing.json",
        &format!(
            r#"{{"Version":"1","Statement":[{{"Sid":"NoWrites","Effect":"Deny","Principal":"*","Action":"oss:Put*","Resource":"acs:oss:*:{DST}:dst/*"}},
                     {{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"oss:*","Resource":"acs:oss:*:{DST}:dst/*","Condition":{{"Bool":{{"acs:SecureTransport":"false"}}}}}}]}}"#
        ),
    );
    let args = with(vec!["policy".into(), "merge".into(), "--existing".into(), existing], &refs(&oss_rule_flags()));
    let run = crr(&refs(&args));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: existing Statement[0] (Sid \"NoWrites\") denies what replication needs"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("  oss:PutObject on acs:oss:*:{DST}:dst/*")), "{}", run.stderr);
    assert!(run.stderr.contains("warning: existing Statement[1] (Sid \"TlsOnly\")"), "{}", run.stderr);
    // The merged document is still printed, for review.
    assert!(serde_json::from_str::<Value>(&run.stdout).is_ok());
}

#[test]
fn merge_refuses_bad_input_in_one_line() {
    let dir = scratch("merge-bad");
    let missing = dir.join("missing.json").display().to_string();
    let broken = write(&dir, "broken.json", "{\"Version\": \"1\", \"Statement\": [");
    let aws = write(&dir, "aws.json", r#"{"Version":"2012-10-17","Statement":[]}"#);
    let generated = write(&dir, "generated.json", r#"{"Version":"1","Statement":[]}"#);
    let merge = |existing: &str, more: &[&str]| {
        let args = with(vec!["policy".into(), "merge".into(), "--existing".into(), existing.into()], more);
        crr(&refs(&args))
    };
    assert_one_line_error(&merge(&missing, &refs(&oss_rule_flags())), "cannot read --existing file");
    assert_one_line_error(&merge(&broken, &refs(&oss_rule_flags())), "not valid JSON");
    assert_one_line_error(&merge(&aws, &refs(&oss_rule_flags())), "--provider aws");
    assert_one_line_error(&merge(&aws, &[]), "nothing to merge");
    let both = with(vec!["--generated".into(), generated], &refs(&oss_rule_flags()));
    assert_one_line_error(&merge(&aws, &refs(&both)), "not both");
    let action_too = ["--generated", "generated.json", "--action", "ALL"];
    assert_one_line_error(&merge(&aws, &action_too), "not both");
}

#[test]
fn lint_reports_one_line_per_finding_and_fails_on_errors() {
    let dir = scratch("lint");
    let seed = write(&dir, "seed.json", SEED_EXAMPLE);
    let run = crr(&["policy", "lint", &seed]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(lines[0].starts_with("error [assumed-role-case] Statement[0]: "), "{}", lines[0]);
    assert!(
        lines[0].contains("Fix: replace it with \"arn:sts::1234567890123456:assumed-role/aliyunossdrsrole/*\""),
        "{}",
        lines[0]
    );

    let warnings_only = write(
        &dir,
        "wide.json",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":["acs:oss:*:1:b","acs:oss:*:1:b/*"]}]}"#,
    );
    let run = crr(&["policy", "lint", &warnings_only]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.starts_with("warning [unneeded-action] Statement[0]: "), "{}", run.stdout);

    let clean = write(&dir, "clean.json", &SEED_EXAMPLE.replace("AliyunOssDrsRole", "aliyunossdrsrole"));
    let run = crr(&["policy", "lint", &clean]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("no findings"), "{}", run.stdout);

    let broken =
        write(&dir, "broken.json", r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"oss:GetObject"}]}"#);
    assert_one_line_error(
        &crr(&["policy", "lint", &broken]),
        "Statement[0].Effect: expected \"Allow\" or \"Deny\", found \"allow\"",
    );
    assert_one_line_error(
        &crr(&["policy", "lint", &dir.join("nope.json").display().to_string()]),
        "cannot read the policy file",
    );
}

#[test]
fn check_exits_by_decision_and_names_the_statement() {
    let dir = scratch("check");
    let policy = write(
        &dir,
        "bucket.json",
        &format!(
            r#"{{"Version":"1","Statement":[
            {{"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"oss:*","Resource":"acs:oss:*:{DST}:dst/secret/*"}},
            {{"Sid":"Replicate","Effect":"Allow","Principal":["arn:sts::{SRC}:assumed-role/crr/*"],"Action":"oss:PutObject","Resource":"acs:oss:*:{DST}:dst/*"}},
            {{"Sid":"FromVpc","Effect":"Allow","Principal":"*","Action":"oss:GetObject","Resource":"acs:oss:*:{DST}:dst/*","Condition":{{"StringEquals":{{"acs:SourceVpc":"vpc-1"}}}}}}]}}"#
        ),
    );
    let session = format!("arn:sts::{SRC}:assumed-role/crr/s1");
    let check = |action: &str, key: &str, more: &[&str]| {
        let resource = format!("acs:oss:cn-hangzhou:{DST}:dst/{key}");
        let mut args = vec![
            "policy",
            "check",
            policy.as_str(),
            "--action",
            action,
            "--resource",
            resource.as_str(),
            "--principal",
            session.as_str(),
        ];
        args.extend_from_slice(more);
        crr(&args)
    };
    let run = check("oss:PutObject", "a.txt", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("allow: Statement[1] (Sid \"Replicate\") of {policy} allows oss:PutObject on ")),
        "{}",
        run.stdout
    );

    let run = check("oss:PutObject", "secret/a.txt", &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("deny: Statement[0] (Sid \"NoSecrets\")"), "{}", run.stdout);
    assert!(run.stdout.contains("explicitly denies"), "{}", run.stdout);

    let run = check("oss:DeleteObject", "a.txt", &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("implicit deny"), "{}", run.stdout);

    let run = check("oss:GetObject", "a.txt", &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.starts_with("undetermined:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Statement[2] (Sid \"FromVpc\")") && run.stdout.contains("acs:SourceVpc"),
        "{}",
        run.stdout
    );

    assert_eq!(check("oss:GetObject", "a.txt", &["--context", "acs:SourceVpc=vpc-1"]).code, 0);
    assert_eq!(check("oss:GetObject", "a.txt", &["--context", "acs:SourceVpc=vpc-2"]).code, 1);

    assert_one_line_error(&check("oss:GetObject", "a.txt", &["--context", "vpc-1"]), "is not KEY=VALUE");
    assert_one_line_error(&crr(&["policy", "check", &policy, "--action", "oss:GetObject"]), "--resource");
    assert_one_line_error(
        &crr(&["policy", "check", "/nonexistent/p.json", "--action", "a", "--resource", "r"]),
        "cannot read the policy file /nonexistent/p.json",
    );
}
