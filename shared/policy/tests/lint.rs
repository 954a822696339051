//! What `lint` reports on the seed guide's example and on the usual mistakes, and that
//! the policies `generate` writes are clean.

use crr_policy::{
    generate, lint, Bucket, Finding, Kms, Policy, Provider, ReplicationAction, ReplicationRule, Role, Severity,
};

fn findings(text: &str) -> Vec<Finding> {
    lint(&Policy::parse(text).unwrap())
}

fn rules(findings: &[Finding]) -> Vec<(&'static str, Severity, usize)> {
    findings.iter().map(|f| (f.rule, f.severity, f.statement.as_ref().map_or(usize::MAX, |s| s.index))).collect()
}

/// The destination bucket policy example of the OSS guide, with its role AliyunOssDrsRole.
const SEED_EXAMPLE: &str = r#"{
    "Version":"1",
    "Statement":[
        {
            "Effect":"Allow",
            "Action":["oss:ReplicateList","oss:ReplicateGet","oss:ReplicatePut","oss:ReplicateDelete"],
            "Principal": ["arn:sts::1234567890123456:assumed-role/AliyunOssDrsRole/*"],
            "Resource":["acs:oss:*:6543210987654321:dst-bucket","acs:oss:*:6543210987654321:dst-bucket/*"]
        }
    ]
}"#;

#[test]
fn the_seed_role_name_in_capitals_is_an_error_with_the_lower_case_fix() {
    let found = findings(SEED_EXAMPLE);
    assert_eq!(rules(&found), [("assumed-role-case", Severity::Error, 0)]);
    let finding = &found[0];
    assert!(finding.message.contains("aliyunossdrsrole"), "{finding}");
    assert!(finding.fix.contains("arn:sts::1234567890123456:assumed-role/aliyunossdrsrole/*"), "{finding}");
    let line = finding.to_string();
    assert!(line.starts_with("error [assumed-role-case] Statement[0]: "), "{line}");
    assert!(line.contains(" Fix: "), "{line}");

    let fixed = SEED_EXAMPLE.replace("AliyunOssDrsRole", "aliyunossdrsrole");
    assert!(findings(&fixed).is_empty(), "{:?}", findings(&fixed));
}

#[test]
fn generated_policies_are_clean() {
    for provider in [Provider::Oss, Provider::Aws] {
        for action in [ReplicationAction::Put, ReplicationAction::All] {
            let (account, other) = match provider {
                Provider::Oss => ("1234567890123456", "6543210987654321"),
                Provider::Aws => ("111122223333", "444455556666"),
            };
            let rule = ReplicationRule {
                provider,
                source: Bucket { name: "src".into(), account: Some(account.into()) },
                destination: Bucket { name: "dst".into(), account: Some(other.into()) },
                role: match provider {
                    Provider::Oss => Role::alibaba(account, "CrrReplicator"),
                    Provider::Aws => Role::aws("aws", account, "/", "CrrReplicator"),
                },
                action,
                prefixes: vec!["logs/".into()],
                kms: Some(Kms { destination_key: "k-1".into(), source_key: None }),
                trustee: None,
            };
            let generated = generate(&rule).unwrap();
            let mut documents = vec![generated.permission, generated.trust, generated.bucket_policy];
            documents.extend(generated.kms_key_policy);
            for document in documents {
                assert_eq!(lint(&document), [], "{}", document.to_pretty_json());
            }
        }
    }
}

#[test]
fn a_resource_without_its_twin_is_flagged_with_the_missing_resource() {
    let found = findings(
        r#"{"Version":"1","Statement":[
            {"Effect":"Allow","Action":["oss:GetObject","oss:PutObject"],"Resource":"acs:oss:*:1:dst"},
            {"Effect":"Allow","Action":"oss:ListObjects","Resource":["acs:oss:*:1:dst/*"]},
            {"Effect":"Allow","Action":["oss:GetObject","oss:ListObjects"],"Resource":["acs:oss:*:1:dst","acs:oss:*:1:dst/logs/*"]}]}"#,
    );
    assert_eq!(
        rules(&found),
        [("missing-object-resource", Severity::Warning, 0), ("missing-bucket-resource", Severity::Warning, 1)]
    );
    assert!(found[0].fix.contains("\"acs:oss:*:1:dst/*\""), "{}", found[0]);
    assert!(found[0].message.contains("oss:GetObject, oss:PutObject"), "{}", found[0]);
    assert!(found[1].fix.contains("\"acs:oss:*:1:dst\""), "{}", found[1]);

    let s3 = findings(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::dst"}]}"#,
    );
    assert!(s3.iter().any(|f| f.rule == "missing-object-resource" && f.fix.contains("arn:aws:s3:::dst/*")), "{s3:?}");
}

#[test]
fn wildcard_principals_are_flagged_writes_as_errors() {
    let found = findings(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::dst/public/*"},
            {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::dst/*"},
            {"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:PutObject","Resource":"arn:aws:s3:::dst/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}},
            {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::dst/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    assert_eq!(
        rules(&found),
        [
            ("wildcard-principal", Severity::Warning, 0),
            ("wildcard-principal", Severity::Error, 1),
            ("wildcard-principal", Severity::Warning, 2),
        ]
    );
    let oss = findings(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Principal":["*"],"Action":"oss:DeleteObject","Resource":"acs:oss:*:1:dst/*"}]}"#,
    );
    assert_eq!(rules(&oss), [("wildcard-principal", Severity::Error, 0)]);
}

#[test]
fn actions_replication_does_not_need_are_flagged() {
    let found = findings(
        r#"{"Version":"1","Statement":[
            {"Sid":"All","Effect":"Allow","Action":"oss:*","Resource":["acs:oss:*:1:dst","acs:oss:*:1:dst/*"]},
            {"Sid":"Admin","Effect":"Allow","Action":["oss:DeleteBucket","oss:PutBucketPolicy","oss:PutBucketAcl","oss:GetObject"],"Resource":["acs:oss:*:1:dst","acs:oss:*:1:dst/*"]},
            {"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"Fine","Effect":"Deny","Action":"oss:DeleteBucket","Resource":"*"}]}"#,
    );
    assert_eq!(
        rules(&found),
        [
            ("unneeded-action", Severity::Warning, 0),
            ("unneeded-action", Severity::Warning, 1),
            ("unneeded-action", Severity::Warning, 2),
            ("broad-resource", Severity::Warning, 2),
        ]
    );
    assert!(found[1].message.contains("oss:DeleteBucket, oss:PutBucketPolicy, oss:PutBucketAcl"), "{}", found[1]);
    assert!(!found[1].message.contains("oss:GetObject"), "{}", found[1]);
    let s3 = findings(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Put*","Resource":"arn:aws:s3:::dst/*"}]}"#,
    );
    assert!(s3.iter().any(|f| f.rule == "unneeded-action" && f.message.contains("s3:PutBucketPolicy")), "{s3:?}");
}

#[test]
fn repeated_sids_are_an_error() {
    let found = findings(
        r#"{"Version":"1","Statement":[
            {"Sid":"A","Effect":"Allow","Action":"oss:GetObject","Resource":"acs:oss:*:1:dst/*"},
            {"Sid":"A","Effect":"Allow","Action":"oss:PutObject","Resource":"acs:oss:*:1:dst/*"}]}"#,
    );
    assert_eq!(rules(&found), [("duplicate-sid", Severity::Error, 1)]);
}
