//! Merging replication statements into a destination bucket policy: nothing existing is
//! lost or changed, nothing is added twice, Denies in the way are reported.

use crr_policy::{
    generate, merge, same_grant, Bucket, MergeError, Policy, Provider, ReplicationAction, ReplicationRule, Role,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const SRC: &str = "1111222233334444";
const DST: &str = "5555666677778888";

fn oss_rule(action: ReplicationAction, prefixes: &[&str]) -> ReplicationRule {
    ReplicationRule {
        provider: Provider::Oss,
        source: Bucket { name: "src".into(), account: Some(SRC.into()) },
        destination: Bucket { name: "dst".into(), account: Some(DST.into()) },
        role: Role::alibaba(SRC, "AliyunOssDrsRole"),
        action,
        prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        kms: None,
        trustee: None,
    }
}

fn generated_bucket_policy(action: ReplicationAction, prefixes: &[&str]) -> Policy {
    generate(&oss_rule(action, prefixes)).unwrap().bucket_policy
}

/// The destination bucket policy of the seed guide, plus a statement of the bucket owner's
/// own, with an unknown field and keys in the author's order.
fn seed_shaped_existing() -> String {
    format!(
        r#"{{
    "Version":"1",
    "Statement":[
        {{
            "Effect":"Allow",
            "Action":["oss:ReplicateList","oss:ReplicateGet","oss:ReplicatePut","oss:ReplicateDelete"],
            "Principal": ["arn:sts::{SRC}:assumed-role/aliyunossdrsrole/*"],
            "Resource":["acs:oss:*:{DST}:dst","acs:oss:*:{DST}:dst/*"]
        }},
        {{
            "Resource": "acs:oss:*:{DST}:dst/public/*",
            "Action": "oss:GetObject",
            "Principal": ["{DST}"],
            "Effect": "Allow",
            "X-Owner-Note": {{"z": 1, "a": [3, 2, 1]}}
        }}
    ]
}}"#
    )
}

fn statements_of(text: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(text).unwrap();
    value["Statement"].as_array().unwrap().iter().map(|s| serde_json::to_string(s).unwrap()).collect()
}

#[test]
fn seed_policy_keeps_its_statements_and_gains_the_replication_grants() {
    let existing = seed_shaped_existing();
    let generated = generated_bucket_policy(ReplicationAction::Put, &[]);
    let merged = merge(&existing, &generated).unwrap();
    let printed = merged.policy.to_pretty_json();
    let after = statements_of(&printed);
    let before = statements_of(&existing);
    assert_eq!(&after[..2], &before[..], "existing statements must come back unchanged, in order");
    assert_eq!(after.len(), 2 + generated.statements().len());
    assert_eq!(merged.added, (2..after.len()).collect::<Vec<_>>());
    let diff = merged.diff();
    assert!(diff.contains("@@ appended Statement[2] (Sid \"CrrListDestinationBucket\")"), "{diff}");
    assert!(diff.contains("+       \"Sid\": \"CrrWriteReplicas\","), "{diff}");
    assert!(diff.lines().all(|l| l.starts_with("@@") || l.starts_with('+')), "{diff}");
    assert!(merged.blocking.is_empty());
    // The principal OSS needs: lower case.
    assert!(printed.contains(&format!("arn:sts::{SRC}:assumed-role/aliyunossdrsrole/*")));
    assert!(!printed.contains("AliyunOssDrsRole"));
}

#[test]
fn merging_twice_changes_nothing_the_second_time() {
    let generated = generated_bucket_policy(ReplicationAction::All, &["logs/"]);
    let once = merge(&seed_shaped_existing(), &generated).unwrap();
    let twice = merge(&once.policy.to_pretty_json(), &generated).unwrap();
    assert!(!twice.changed());
    assert_eq!(twice.diff(), "");
    assert_eq!(twice.policy.to_pretty_json(), once.policy.to_pretty_json());
    assert_eq!(twice.already_present.len(), generated.statements().len());
}

#[test]
fn a_grant_written_differently_is_not_added_again() {
    // The generated CrrListDestinationBucket statement written by hand: no Sid, strings for
    // one-element lists, other key order, actions in another case.
    let existing = format!(
        r#"{{"Version":"1","Statement":[{{"Resource":"acs:oss:*:{DST}:dst","Principal":"arn:sts::{SRC}:assumed-role/aliyunossdrsrole/*","Action":"OSS:LISTOBJECTS","Effect":"Allow"}}]}}"#
    );
    let generated = generated_bucket_policy(ReplicationAction::Put, &[]);
    let merged = merge(&existing, &generated).unwrap();
    assert_eq!(merged.already_present, vec![(0, 0)]);
    assert_eq!(merged.added.len(), generated.statements().len() - 1);
    assert!(!merged.diff().contains("CrrListDestinationBucket"));
}

#[test]
fn a_taken_sid_is_renamed_not_overwritten() {
    let existing = r#"{"Version":"1","Statement":[{"Sid":"CrrWriteReplicas","Effect":"Deny","Principal":"*","Action":"oss:PutObjectAcl","Resource":"*"}]}"#;
    let generated = generated_bucket_policy(ReplicationAction::Put, &[]);
    let merged = merge(existing, &generated).unwrap();
    assert_eq!(merged.renamed, vec![("CrrWriteReplicas".to_owned(), "CrrWriteReplicas2".to_owned())]);
    let sids: Vec<_> = merged.policy.statements().iter().filter_map(|s| s.sid()).collect();
    assert_eq!(sids.iter().filter(|s| **s == "CrrWriteReplicas").count(), 1);
    assert!(sids.contains(&"CrrWriteReplicas2"));
    assert!(merged.diff().contains("renamed from \"CrrWriteReplicas\""), "{}", merged.diff());
    // And merging again recognises the renamed grant.
    assert!(!merge(&merged.policy.to_pretty_json(), &generated).unwrap().changed());
}

#[test]
fn a_policy_of_the_other_cloud_is_refused() {
    let existing = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let err = merge(existing, &generated_bucket_policy(ReplicationAction::Put, &[])).unwrap_err();
    assert!(matches!(err, MergeError::VersionMismatch { .. }));
    let message = err.to_string();
    assert!(message.contains("\"2012-10-17\"") && message.contains("--provider aws"), "{message}");

    let err = merge("{\"Version\":\"1\",", &generated_bucket_policy(ReplicationAction::Put, &[])).unwrap_err();
    assert!(err.to_string().contains("existing bucket policy cannot be read"), "{err}");
}

#[test]
fn a_bucket_without_policy_gets_the_generated_one() {
    let generated = generated_bucket_policy(ReplicationAction::Put, &[]);
    let merged = merge("  \n", &generated).unwrap();
    assert_eq!(merged.policy.to_pretty_json(), generated.to_pretty_json());
    assert_eq!(merged.added.len(), generated.statements().len());
}

#[test]
fn denies_in_the_way_are_reported() {
    let generated = generated_bucket_policy(ReplicationAction::Put, &[]);
    let existing = format!(
        r#"{{"Version":"1","Statement":[
            {{"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"oss:Put*","Resource":"acs:oss:*:*:dst/secret/*"}},
            {{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"oss:*","Resource":"acs:oss:*:{DST}:dst/*","Condition":{{"Bool":{{"acs:SecureTransport":"false"}}}}}},
            {{"Sid":"NotOurs","Effect":"Deny","Principal":"*","Action":"oss:*","Resource":"acs:oss:*:{DST}:other/*"}},
            {{"Sid":"NoDeletes","Effect":"Deny","Principal":"*","Action":"oss:DeleteObject","Resource":"acs:oss:*:{DST}:dst/data/*"}},
            {{"Sid":"OnlyReplicator","Effect":"Deny","NotPrincipal":["arn:sts::{SRC}:assumed-role/aliyunossdrsrole/*"],"Action":"oss:PutObject","Resource":"acs:oss:*:{DST}:dst/*"}},
            {{"Sid":"OthersOnly","Effect":"Deny","Principal":["arn:sts::9999:assumed-role/x/*"],"Action":"oss:PutObject","Resource":"acs:oss:*:{DST}:dst/*"}}
        ]}}"#
    );
    let merged = merge(&existing, &generated).unwrap();
    let sids: Vec<_> = merged.blocking.iter().map(|b| b.statement.sid.as_deref().unwrap()).collect();
    assert_eq!(sids, ["NoSecrets", "TlsOnly"], "{:#?}", merged.blocking);
    let no_secrets = &merged.blocking[0];
    assert!(no_secrets.certain);
    assert!(no_secrets.blocked.iter().any(|b| b.starts_with("oss:PutObject on ")), "{no_secrets:?}");
    assert!(!no_secrets.blocked.iter().any(|b| b.starts_with("oss:GetObject ")), "{no_secrets:?}");
    assert!(!merged.blocking[1].certain);
    assert!(merged.blocking[1].conditions[0].contains("acs:SecureTransport"));
    assert!(merged.blocks_replication());

    // Under an ALL rule, the delete deny is in the way too.
    let all = merge(&existing, &generated_bucket_policy(ReplicationAction::All, &[])).unwrap();
    assert!(all.blocking.iter().any(|b| b.statement.sid.as_deref() == Some("NoDeletes")));
}

// ---- properties -------------------------------------------------------------------

const ACTIONS: &[&str] = &["oss:GetObject", "oss:PutObject", "oss:ListObjects", "oss:DeleteObject", "oss:*"];
const RESOURCES: &[&str] = &[
    "acs:oss:*:5555666677778888:dst",
    "acs:oss:*:5555666677778888:dst/*",
    "acs:oss:*:5555666677778888:dst/.crr/*",
    "*",
];
const PRINCIPALS: &[&str] = &["*", "arn:sts::1111222233334444:assumed-role/aliyunossdrsrole/*", "5555666677778888"];
const SIDS: &[&str] = &["CrrWriteReplicas", "CrrListDestinationBucket", "Owner", "Public"];

/// A list as JSON: a bare string for one element half of the time.
fn list_value(items: Vec<&'static str>, bare: bool) -> Value {
    if items.len() == 1 && bare {
        json!(items[0])
    } else {
        json!(items)
    }
}

fn statement() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(SIDS)),
        prop::bool::ANY,
        prop::sample::subsequence(ACTIONS, 1..=3),
        prop::sample::subsequence(RESOURCES, 1..=2),
        prop::option::of(prop::sample::subsequence(PRINCIPALS, 1..=2)),
        prop::bool::ANY,
        prop::option::of(0u32..5),
    )
        .prop_flat_map(|(sid, allow, actions, resources, principals, bare, extra)| {
            let mut fields: Vec<(String, Value)> = vec![
                ("Effect".into(), json!(if allow { "Allow" } else { "Deny" })),
                ("Action".into(), list_value(actions, bare)),
                ("Resource".into(), list_value(resources, !bare)),
            ];
            if let Some(sid) = sid {
                fields.push(("Sid".into(), json!(sid)));
            }
            if let Some(principals) = principals {
                fields.push(("Principal".into(), list_value(principals, bare)));
            }
            if let Some(extra) = extra {
                fields.push(("X-Extra".into(), json!({"n": extra, "b": [2, 1]})));
            }
            Just(fields).prop_shuffle().prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()))
        })
}

fn existing_policy() -> impl Strategy<Value = String> {
    (prop::collection::vec(statement(), 0..6), prop::bool::ANY).prop_map(|(statements, id_first)| {
        let mut document = Map::new();
        if id_first {
            document.insert("Id".into(), json!("owner-policy"));
        }
        document.insert("Version".into(), json!("1"));
        document.insert("Statement".into(), Value::Array(statements));
        serde_json::to_string_pretty(&Value::Object(document)).unwrap()
    })
}

fn generated_policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        (prop::bool::ANY, prop::sample::subsequence(&["logs/", "img/", ".crr/"][..], 0..=2)).prop_map(
            |(all, prefixes)| {
                let action = if all { ReplicationAction::All } else { ReplicationAction::Put };
                generated_bucket_policy(action, &prefixes)
            }
        ),
        prop::collection::vec(statement(), 1..4).prop_map(|statements| {
            Policy::parse(&json!({"Version": "1", "Statement": statements}).to_string()).unwrap()
        }),
    ]
}

proptest! {
    #[test]
    fn merge_keeps_everything_adds_everything_and_is_idempotent(existing in existing_policy(), generated in generated_policy()) {
        let merged = merge(&existing, &generated).unwrap();
        let printed = merged.policy.to_pretty_json();
        let before = statements_of(&existing);
        let after = statements_of(&printed);
        // Never loses or changes an existing statement, nor moves it.
        prop_assert!(after.len() >= before.len());
        prop_assert_eq!(&after[..before.len()], &before[..]);
        // Top-level keys in their order.
        let keys = |text: &str| serde_json::from_str::<Map<String, Value>>(text).unwrap().keys().cloned().collect::<Vec<_>>();
        prop_assert_eq!(keys(&printed), keys(&existing));
        // Contains every generated grant.
        for statement in generated.statements() {
            prop_assert!(merged.policy.statements().iter().any(|s| same_grant(s, statement)), "missing {:?}", statement.source());
        }
        // Appends only what was missing: one statement per distinct missing grant.
        prop_assert_eq!(merged.added.len(), after.len() - before.len());
        // Sids stay unique among appended statements and against existing ones.
        for &index in &merged.added {
            let sid = merged.policy.statements()[index].sid();
            if let Some(sid) = sid {
                prop_assert_eq!(merged.policy.statements().iter().filter(|s| s.sid() == Some(sid)).count(), 1);
            }
        }
        // Idempotent.
        let again = merge(&printed, &generated).unwrap();
        prop_assert!(!again.changed());
        prop_assert_eq!(again.policy.to_pretty_json(), printed);
    }
}
