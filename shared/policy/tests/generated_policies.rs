//! Generated policies, run through the evaluator, allow exactly what replication needs:
//! every (action, resource) pair below is allowed, every other pair of a wide universe of
//! actions and resources is not. The expected lists are written out here on purpose, as
//! the specification, independent of the generator's own tables.

use std::collections::BTreeSet;

use crr_policy::{
    evaluate, generate, Bucket, Kms, Outcome, Policy, Principal, Provider, ReplicationAction, ReplicationRule, Request,
    Role, Trustee,
};

const SRC_ACCOUNT: &str = "111122223333";
const DST_ACCOUNT: &str = "444455556666";

fn rule(provider: Provider, action: ReplicationAction, prefixes: &[&str]) -> ReplicationRule {
    let role = match provider {
        Provider::Oss => Role::alibaba(SRC_ACCOUNT, "crr-replicator"),
        Provider::Aws => Role::aws("aws", SRC_ACCOUNT, "/", "crr-replicator"),
    };
    ReplicationRule {
        provider,
        source: Bucket { name: "src".into(), account: Some(SRC_ACCOUNT.into()) },
        destination: Bucket { name: "dst".into(), account: Some(DST_ACCOUNT.into()) },
        role,
        action,
        prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        kms: None,
        trustee: None,
    }
}

/// Concrete resource names as a request carries them.
struct Resources {
    provider: Provider,
}

impl Resources {
    fn bucket(&self, account: &str, bucket: &str) -> String {
        match self.provider {
            Provider::Oss => format!("acs:oss:cn-hangzhou:{account}:{bucket}"),
            Provider::Aws => format!("arn:aws:s3:::{bucket}"),
        }
    }
    fn object(&self, account: &str, bucket: &str, key: &str) -> String {
        format!("{}/{key}", self.bucket(account, bucket))
    }
    fn key(&self, account: &str, id: &str) -> String {
        match self.provider {
            Provider::Oss => format!("acs:kms:cn-hangzhou:{account}:key/{id}"),
            Provider::Aws => format!("arn:aws:kms:us-east-1:{account}:key/{id}"),
        }
    }
}

fn universe(provider: Provider) -> Vec<&'static str> {
    match provider {
        Provider::Oss => vec![
            "oss:GetObject",
            "oss:PutObject",
            "oss:DeleteObject",
            "oss:ListObjects",
            "oss:ListObjectVersions",
            "oss:GetObjectVersion",
            "oss:DeleteObjectVersion",
            "oss:GetObjectTagging",
            "oss:PutObjectTagging",
            "oss:DeleteObjectTagging",
            "oss:GetObjectAcl",
            "oss:PutObjectAcl",
            "oss:AbortMultipartUpload",
            "oss:ListParts",
            "oss:ListMultipartUploads",
            "oss:GetBucketVersioning",
            "oss:PutBucketVersioning",
            "oss:GetBucketInfo",
            "oss:GetBucketLocation",
            "oss:DeleteBucket",
            "oss:PutBucket",
            "oss:PutBucketPolicy",
            "oss:GetBucketPolicy",
            "oss:DeleteBucketPolicy",
            "oss:PutBucketAcl",
            "oss:PutBucketReplication",
            "oss:PutBucketLifecycle",
            "oss:PutBucketEncryption",
            "oss:RestoreObject",
            "oss:PutSymlink",
            "oss:ReplicateGet",
            "oss:ReplicatePut",
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:CreateKey",
            "ram:PassRole",
            "sts:AssumeRole",
        ],
        Provider::Aws => vec![
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:GetObjectVersion",
            "s3:DeleteObjectVersion",
            "s3:GetObjectTagging",
            "s3:PutObjectTagging",
            "s3:DeleteObjectTagging",
            "s3:GetObjectVersionTagging",
            "s3:GetObjectAcl",
            "s3:PutObjectAcl",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
            "s3:ListBucketMultipartUploads",
            "s3:GetBucketVersioning",
            "s3:PutBucketVersioning",
            "s3:GetBucketLocation",
            "s3:DeleteBucket",
            "s3:CreateBucket",
            "s3:PutBucketPolicy",
            "s3:GetBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutBucketAcl",
            "s3:PutReplicationConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:PutEncryptionConfiguration",
            "s3:RestoreObject",
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:CreateKey",
            "iam:PassRole",
            "sts:AssumeRole",
        ],
    }
}

/// The specification: what the role must be able to do, per kind of resource.
struct Needs {
    source_bucket: Vec<&'static str>,
    source_objects: Vec<&'static str>,
    destination_bucket: Vec<&'static str>,
    replicas: Vec<&'static str>,
    state_objects: Vec<&'static str>,
}

fn needs(provider: Provider, action: ReplicationAction) -> Needs {
    let mut needs = match provider {
        Provider::Oss => Needs {
            source_bucket: vec![
                "oss:ListObjects",
                "oss:ListObjectVersions",
                "oss:GetBucketVersioning",
                "oss:GetBucketInfo",
            ],
            source_objects: vec!["oss:GetObject", "oss:GetObjectVersion", "oss:GetObjectTagging"],
            destination_bucket: vec!["oss:ListObjects"],
            replicas: vec![
                "oss:PutObject",
                "oss:PutObjectTagging",
                "oss:GetObject",
                "oss:GetObjectTagging",
                "oss:AbortMultipartUpload",
                "oss:ListParts",
            ],
            state_objects: vec!["oss:PutObject", "oss:GetObject", "oss:DeleteObject"],
        },
        Provider::Aws => Needs {
            source_bucket: vec![
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetBucketVersioning",
                "s3:GetBucketLocation",
            ],
            source_objects: vec!["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"],
            destination_bucket: vec!["s3:ListBucket"],
            replicas: vec![
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:GetObject",
                "s3:GetObjectTagging",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            state_objects: vec!["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
        },
    };
    if action == ReplicationAction::All {
        needs.replicas.push(match provider {
            Provider::Oss => "oss:DeleteObject",
            Provider::Aws => "s3:DeleteObject",
        });
    }
    needs
}

/// Every (action, resource) pair of the universe the permission policy allows.
fn allowed_pairs(policy: &Policy, actions: &[&str], resources: &[String]) -> BTreeSet<(String, String)> {
    let mut allowed = BTreeSet::new();
    for action in actions {
        for resource in resources {
            let decision = evaluate([policy], &Request::new(*action, resource.as_str()));
            assert_ne!(
                decision.outcome,
                Outcome::Undetermined,
                "{action} {resource}: generated policies have no open conditions"
            );
            if decision.outcome == Outcome::Allow {
                allowed.insert((action.to_string(), resource.clone()));
            }
        }
    }
    allowed
}

fn pairs(actions: &[&str], resource: &str) -> Vec<(String, String)> {
    actions.iter().map(|a| (a.to_string(), resource.to_owned())).collect()
}

#[test]
fn permission_policy_allows_exactly_what_replication_needs() {
    for provider in [Provider::Oss, Provider::Aws] {
        for action in [ReplicationAction::Put, ReplicationAction::All] {
            let generated = generate(&rule(provider, action, &[])).unwrap();
            assert_eq!(generated.permission.version(), provider.version());
            let r = Resources { provider };
            let source_bucket = r.bucket(SRC_ACCOUNT, "src");
            let source_object = r.object(SRC_ACCOUNT, "src", "data/a.txt");
            let destination_bucket = r.bucket(DST_ACCOUNT, "dst");
            let replica = r.object(DST_ACCOUNT, "dst", "data/a.txt");
            let state = r.object(DST_ACCOUNT, "dst", ".crr/leases/rule-1");
            let mut resources = vec![
                source_bucket.clone(),
                source_object.clone(),
                destination_bucket.clone(),
                replica.clone(),
                state.clone(),
                r.bucket(DST_ACCOUNT, "other"),
                r.object(DST_ACCOUNT, "other", "data/a.txt"),
                r.key(DST_ACCOUNT, "dst-key"),
                r.key(SRC_ACCOUNT, "src-key"),
            ];
            if provider == Provider::Oss {
                // The same bucket name owned by another account is another bucket.
                resources.push(r.object("999999", "dst", "data/a.txt"));
            }
            let needs = needs(provider, action);
            let expected: BTreeSet<_> = [
                pairs(&needs.source_bucket, &source_bucket),
                pairs(&needs.source_objects, &source_object),
                pairs(&needs.destination_bucket, &destination_bucket),
                pairs(&needs.replicas, &replica),
                pairs(&needs.state_objects, &state),
                // Without prefixes the state objects are replicas' neighbours under dst/*.
                pairs(&needs.replicas, &state),
            ]
            .into_iter()
            .flatten()
            .collect();
            let allowed = allowed_pairs(&generated.permission, &universe(provider), &resources);
            let missing: Vec<_> = expected.difference(&allowed).collect();
            let extra: Vec<_> = allowed.difference(&expected).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{provider} {action:?}: missing {missing:#?}\nextra {extra:#?}\n{}",
                generated.permission.to_pretty_json()
            );
        }
    }
}

#[test]
fn put_rules_never_delete_replicas_but_all_rules_do() {
    for provider in [Provider::Oss, Provider::Aws] {
        let r = Resources { provider };
        let delete = match provider {
            Provider::Oss => "oss:DeleteObject",
            Provider::Aws => "s3:DeleteObject",
        };
        let replica = Request::new(delete, r.object(DST_ACCOUNT, "dst", "photos/cat.jpg"));
        let state = Request::new(delete, r.object(DST_ACCOUNT, "dst", ".crr/checkpoints/rule-1"));
        let put = generate(&rule(provider, ReplicationAction::Put, &["photos/"])).unwrap();
        let all = generate(&rule(provider, ReplicationAction::All, &["photos/"])).unwrap();
        assert_eq!(evaluate([&put.permission], &replica).outcome, Outcome::ImplicitDeny, "{provider}");
        assert_eq!(evaluate([&all.permission], &replica).outcome, Outcome::Allow, "{provider}");
        // The reserved .crr/ prefix is always writable and deletable.
        assert_eq!(evaluate([&put.permission], &state).outcome, Outcome::Allow, "{provider}");
        // Never the source, whatever the rule.
        let source = Request::new(delete, r.object(SRC_ACCOUNT, "src", "photos/cat.jpg"));
        assert_eq!(evaluate([&all.permission], &source).outcome, Outcome::ImplicitDeny, "{provider}");
    }
}

#[test]
fn prefixes_scope_objects_but_not_the_bucket_listing() {
    for provider in [Provider::Oss, Provider::Aws] {
        let r = Resources { provider };
        let generated = generate(&rule(provider, ReplicationAction::All, &["logs/", "img/"])).unwrap();
        let (get, put, list) = match provider {
            Provider::Oss => ("oss:GetObject", "oss:PutObject", "oss:ListObjects"),
            Provider::Aws => ("s3:GetObject", "s3:PutObject", "s3:ListBucket"),
        };
        let check = |action: &str, resource: String, outcome: Outcome| {
            assert_eq!(
                evaluate([&generated.permission], &Request::new(action, resource.as_str())).outcome,
                outcome,
                "{provider} {action} {resource}"
            );
        };
        check(get, r.object(SRC_ACCOUNT, "src", "logs/2024/a.log"), Outcome::Allow);
        check(get, r.object(SRC_ACCOUNT, "src", "img/cat.png"), Outcome::Allow);
        check(get, r.object(SRC_ACCOUNT, "src", "data/a.txt"), Outcome::ImplicitDeny);
        check(get, r.object(SRC_ACCOUNT, "src", "xlogs/a.log"), Outcome::ImplicitDeny);
        check(put, r.object(DST_ACCOUNT, "dst", "logs/2024/a.log"), Outcome::Allow);
        check(put, r.object(DST_ACCOUNT, "dst", "data/a.txt"), Outcome::ImplicitDeny);
        check(put, r.object(DST_ACCOUNT, "dst", ".crr/probe"), Outcome::Allow);
        check(list, r.bucket(SRC_ACCOUNT, "src"), Outcome::Allow);
        check(list, r.bucket(DST_ACCOUNT, "dst"), Outcome::Allow);
    }
}

#[test]
fn oss_bucket_policy_names_the_lower_case_session_principal() {
    let mut oss = rule(Provider::Oss, ReplicationAction::Put, &[]);
    oss.role = Role::alibaba(SRC_ACCOUNT, "AliyunOssDrsRole");
    let generated = generate(&oss).unwrap();
    assert!(generated.bucket_policy_needed);
    assert!(generated.notes.iter().any(|n| n.contains("merge")), "{:?}", generated.notes);
    let statements = generated.bucket_policy.statements();
    let principal = &statements[0].principal().unwrap().principal;
    assert_eq!(principal, &Principal::List(vec![format!("arn:sts::{SRC_ACCOUNT}:assumed-role/aliyunossdrsrole/*")]));
    let resources: BTreeSet<&str> =
        statements.iter().flat_map(|s| s.resource().unwrap().patterns.iter().map(String::as_str)).collect();
    assert!(resources.contains(format!("acs:oss:*:{DST_ACCOUNT}:dst").as_str()), "{resources:?}");
    assert!(resources.contains(format!("acs:oss:*:{DST_ACCOUNT}:dst/*").as_str()), "{resources:?}");

    let session = format!("arn:sts::{SRC_ACCOUNT}:assumed-role/aliyunossdrsrole/fc-1");
    let put = |who: &str, key: &str| {
        let request =
            Request::new("oss:PutObject", format!("acs:oss:cn-beijing:{DST_ACCOUNT}:dst/{key}")).with_principal(who);
        evaluate([&generated.bucket_policy], &request).outcome
    };
    assert_eq!(put(&session, "a.txt"), Outcome::Allow);
    assert_eq!(put(&format!("arn:sts::{SRC_ACCOUNT}:assumed-role/other/fc-1"), "a.txt"), Outcome::ImplicitDeny);
    let delete = Request::new("oss:DeleteObject", format!("acs:oss:cn-beijing:{DST_ACCOUNT}:dst/a.txt"))
        .with_principal(session.as_str());
    assert_eq!(evaluate([&generated.bucket_policy], &delete).outcome, Outcome::ImplicitDeny);
    let json = generated.bucket_policy.to_pretty_json();
    assert!(json.contains("\"Version\": \"1\""), "{json}");
}

#[test]
fn aws_bucket_policy_names_the_role() {
    let generated = generate(&rule(Provider::Aws, ReplicationAction::All, &[])).unwrap();
    let principal = &generated.bucket_policy.statements()[0].principal().unwrap().principal;
    assert_eq!(
        principal,
        &Principal::ByKind(vec![("AWS".into(), vec![format!("arn:aws:iam::{SRC_ACCOUNT}:role/crr-replicator")])])
    );
    let request = |action: &str, who: &str| Request::new(action, "arn:aws:s3:::dst/k").with_principal(who);
    let session = format!("arn:aws:sts::{SRC_ACCOUNT}:assumed-role/crr-replicator/s");
    assert_eq!(evaluate([&generated.bucket_policy], &request("s3:DeleteObject", &session)).outcome, Outcome::Allow);
    assert_eq!(
        evaluate([&generated.bucket_policy], &request("s3:PutBucketPolicy", &session)).outcome,
        Outcome::ImplicitDeny
    );
    assert_eq!(
        evaluate([&generated.bucket_policy], &request("s3:PutObject", "arn:aws:iam::999988887777:root")).outcome,
        Outcome::ImplicitDeny
    );
}

#[test]
fn no_bucket_policy_needed_when_the_role_is_in_the_destination_account() {
    let mut same = rule(Provider::Aws, ReplicationAction::Put, &[]);
    same.role = Role::aws("aws", DST_ACCOUNT, "/", "crr-replicator");
    let generated = generate(&same).unwrap();
    assert!(!generated.bucket_policy_needed);
    assert!(generated.notes[0].contains("No destination bucket policy is needed"), "{:?}", generated.notes);
}

#[test]
fn trust_policy_trusts_the_function_service_or_the_given_principal() {
    let oss = generate(&rule(Provider::Oss, ReplicationAction::Put, &[])).unwrap();
    let assume = |policy: &Policy, who: &str| {
        evaluate([policy], &Request::new("sts:AssumeRole", "role").with_principal(who)).outcome
    };
    assert_eq!(assume(&oss.trust, "fc.aliyuncs.com"), Outcome::Allow);
    assert_eq!(assume(&oss.trust, "ecs.aliyuncs.com"), Outcome::ImplicitDeny);
    assert!(oss.trust.to_pretty_json().contains("\"Service\": [\n"), "{}", oss.trust.to_pretty_json());

    let aws = generate(&rule(Provider::Aws, ReplicationAction::Put, &[])).unwrap();
    assert_eq!(assume(&aws.trust, "lambda.amazonaws.com"), Outcome::Allow);

    let mut by_account = rule(Provider::Aws, ReplicationAction::Put, &[]);
    by_account.trustee = Some(Trustee::Principal(SRC_ACCOUNT.into()));
    let trust = generate(&by_account).unwrap().trust;
    assert_eq!(assume(&trust, &format!("arn:aws:iam::{SRC_ACCOUNT}:role/crr-function")), Outcome::Allow);
    assert_eq!(assume(&trust, "arn:aws:iam::999988887777:role/crr-function"), Outcome::ImplicitDeny);

    let mut by_role = rule(Provider::Oss, ReplicationAction::Put, &[]);
    by_role.trustee = Some(Trustee::Principal(format!("acs:ram::{SRC_ACCOUNT}:role/fc-crr")));
    let trust = generate(&by_role).unwrap().trust;
    assert_eq!(assume(&trust, &format!("acs:ram::{SRC_ACCOUNT}:role/fc-crr")), Outcome::Allow);
    assert_eq!(assume(&trust, &format!("acs:ram::{SRC_ACCOUNT}:role/other")), Outcome::ImplicitDeny);
}

#[test]
fn kms_permissions_only_when_kms_objects_replicate() {
    for provider in [Provider::Oss, Provider::Aws] {
        let r = Resources { provider };
        let plain = generate(&rule(provider, ReplicationAction::Put, &[])).unwrap();
        assert!(plain.kms_key_policy.is_none());
        let mut encrypted = rule(provider, ReplicationAction::Put, &[]);
        encrypted.kms = Some(Kms { destination_key: "dst-key".into(), source_key: Some("src-key".into()) });
        let generated = generate(&encrypted).unwrap();
        let kms = |policy: &Policy, action: &str, key: String| evaluate([policy], &Request::new(action, key)).outcome;
        for action in ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"] {
            assert_eq!(
                kms(&generated.permission, action, r.key(DST_ACCOUNT, "dst-key")),
                Outcome::Allow,
                "{provider} {action}"
            );
            assert_eq!(
                kms(&plain.permission, action, r.key(DST_ACCOUNT, "dst-key")),
                Outcome::ImplicitDeny,
                "{provider} {action}"
            );
        }
        assert_eq!(
            kms(&generated.permission, "kms:Decrypt", r.key(SRC_ACCOUNT, "src-key")),
            Outcome::Allow,
            "{provider}"
        );
        assert_eq!(
            kms(&generated.permission, "kms:Encrypt", r.key(SRC_ACCOUNT, "src-key")),
            Outcome::ImplicitDeny,
            "{provider}"
        );
        assert_eq!(
            kms(&generated.permission, "kms:Decrypt", r.key(SRC_ACCOUNT, "another-key")),
            Outcome::ImplicitDeny,
            "{provider}"
        );
        let key_policy = generated.kms_key_policy.unwrap();
        let role = match provider {
            Provider::Oss => format!("acs:ram::{SRC_ACCOUNT}:role/crr-replicator"),
            Provider::Aws => format!("arn:aws:iam::{SRC_ACCOUNT}:role/crr-replicator"),
        };
        let use_key = Request::new("kms:GenerateDataKey", r.key(DST_ACCOUNT, "dst-key")).with_principal(role);
        assert_eq!(evaluate([&key_policy], &use_key).outcome, Outcome::Allow, "{provider}");
    }
}

/// A change that makes a good rule bad.
type RuleChange = Box<dyn Fn(&mut ReplicationRule)>;

#[test]
fn bad_rules_say_what_to_change() {
    let cases: Vec<(RuleChange, &str)> = vec![
        (Box::new(|r| r.destination.name = "dst/x".into()), "not a bucket name"),
        (Box::new(|r| r.destination.account = None), "destination account"),
        (Box::new(|r| r.source.account = Some("12".into())), "12 digits"),
        (Box::new(|r| r.prefixes = vec!["logs/*".into()]), "literal key prefix"),
        (Box::new(|r| r.prefixes = vec!["".into()]), "give no prefix"),
        (Box::new(|r| r.prefixes = (0..11).map(|i| format!("p{i}/")).collect()), "at most 10"),
        (Box::new(|r| r.destination = r.source.clone()), "same bucket"),
        (Box::new(|r| r.kms = Some(Kms { destination_key: "alias/crr".into(), source_key: None })), "alias"),
        (Box::new(|r| r.trustee = Some(Trustee::Principal("bob".into()))), "12-digit AWS account id or IAM ARN"),
    ];
    for (change, expected) in cases {
        let mut bad = rule(Provider::Aws, ReplicationAction::Put, &[]);
        change(&mut bad);
        let err = generate(&bad).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let mut oss = rule(Provider::Oss, ReplicationAction::Put, &[]);
    oss.source.account = None;
    assert!(generate(&oss).unwrap_err().to_string().contains("source account"));
}
