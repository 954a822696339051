//! What `evaluate` answers for requests a replication operator would ask about: explicit
//! deny precedence, wildcards, Not* clauses, principals and conditions.

use crr_policy::{evaluate, Outcome, Policy, Request};

fn policy(text: &str) -> Policy {
    Policy::parse(text).unwrap_or_else(|e| panic!("test policy does not parse: {e}\n{text}"))
}

const BUCKET_POLICY: &str = r#"{
  "Version": "1",
  "Statement": [
    {"Sid": "Replicate", "Effect": "Allow",
     "Principal": ["arn:sts::1111:assumed-role/crr-replicator/*"],
     "Action": ["oss:PutObject", "oss:Get*", "oss:ListObjects"],
     "Resource": ["acs:oss:*:2222:dst", "acs:oss:*:2222:dst/*"]},
    {"Sid": "NoSecrets", "Effect": "Deny",
     "Principal": "*",
     "Action": "oss:*",
     "Resource": "acs:oss:*:2222:dst/secret/*"},
    {"Sid": "ReadOnlyAudit", "Effect": "Allow",
     "Principal": {"RAM": ["acs:ram::3333:root"]},
     "Action": "oss:GetObjec?",
     "Resource": "acs:oss:*:2222:dst/audit/*"}
  ]
}"#;

const REPLICATOR: &str = "arn:sts::1111:assumed-role/crr-replicator/session-1";

/// action, resource, principal, expected outcome, Sid of the deciding statement.
type Case = (&'static str, &'static str, Option<&'static str>, Outcome, Option<&'static str>);

#[test]
fn table() {
    let bucket = policy(BUCKET_POLICY);
    let cases: &[Case] = &[
        ("oss:PutObject", "acs:oss:cn-hangzhou:2222:dst/a.txt", Some(REPLICATOR), Outcome::Allow, Some("Replicate")),
        // Actions compare case-insensitively.
        ("OSS:putobject", "acs:oss:cn-hangzhou:2222:dst/a.txt", Some(REPLICATOR), Outcome::Allow, Some("Replicate")),
        // `*` in an action.
        (
            "oss:GetObjectTagging",
            "acs:oss:cn-hangzhou:2222:dst/a.txt",
            Some(REPLICATOR),
            Outcome::Allow,
            Some("Replicate"),
        ),
        // Explicit deny wins over the allow for the same request.
        (
            "oss:PutObject",
            "acs:oss:cn-hangzhou:2222:dst/secret/k",
            Some(REPLICATOR),
            Outcome::ExplicitDeny,
            Some("NoSecrets"),
        ),
        // Not granted anywhere: implicit deny, no deciding statement.
        ("oss:DeleteObject", "acs:oss:cn-hangzhou:2222:dst/a.txt", Some(REPLICATOR), Outcome::ImplicitDeny, None),
        ("oss:DeleteBucket", "acs:oss:cn-hangzhou:2222:dst", Some(REPLICATOR), Outcome::ImplicitDeny, None),
        // Another bucket.
        ("oss:PutObject", "acs:oss:cn-hangzhou:2222:other/a.txt", Some(REPLICATOR), Outcome::ImplicitDeny, None),
        // Resources are case-sensitive.
        ("oss:PutObject", "acs:oss:cn-hangzhou:2222:DST/a.txt", Some(REPLICATOR), Outcome::ImplicitDeny, None),
        // Principal wildcard `*` at the session; a capitalised role name is another principal.
        (
            "oss:PutObject",
            "acs:oss:cn-hangzhou:2222:dst/a.txt",
            Some("arn:sts::1111:assumed-role/Crr-Replicator/s"),
            Outcome::ImplicitDeny,
            None,
        ),
        (
            "oss:PutObject",
            "acs:oss:cn-hangzhou:2222:dst/a.txt",
            Some("arn:sts::9999:assumed-role/crr-replicator/s"),
            Outcome::ImplicitDeny,
            None,
        ),
        // `?` in an action; an account principal covers its users and roles.
        (
            "oss:GetObject",
            "acs:oss:cn-hangzhou:2222:dst/audit/x",
            Some("acs:ram::3333:user/alice"),
            Outcome::Allow,
            Some("ReadOnlyAudit"),
        ),
        (
            "oss:GetObjectAcl",
            "acs:oss:cn-hangzhou:2222:dst/audit/x",
            Some("acs:ram::3333:user/alice"),
            Outcome::ImplicitDeny,
            None,
        ),
        // The deny names everyone, so it applies even without a principal.
        ("oss:GetObject", "acs:oss:cn-hangzhou:2222:dst/secret/x", None, Outcome::ExplicitDeny, Some("NoSecrets")),
        // Without a principal the named-principal allow cannot be settled.
        ("oss:GetObject", "acs:oss:cn-hangzhou:2222:dst/a", None, Outcome::Undetermined, None),
    ];
    for (action, resource, principal, outcome, sid) in cases {
        let mut request = Request::new(*action, *resource);
        if let Some(p) = principal {
            request = request.with_principal(*p);
        }
        let decision = evaluate([&bucket], &request);
        assert_eq!(decision.outcome, *outcome, "{action} {resource} {principal:?}: {decision:?}");
        assert_eq!(
            decision.decided_by.as_ref().and_then(|d| d.statement.sid.as_deref()),
            *sid,
            "{action} {resource}: {decision:?}"
        );
    }
}

#[test]
fn decision_names_statement_index_and_policy() {
    let identity =
        policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#);
    let bucket = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"NoDelete","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    let decision = evaluate([&identity, &bucket], &Request::new("s3:DeleteObject", "arn:aws:s3:::b/k"));
    assert_eq!(decision.outcome, Outcome::ExplicitDeny);
    let by = decision.decided_by.unwrap();
    assert_eq!((by.policy, by.statement.index, by.statement.sid.as_deref()), (1, 1, Some("NoDelete")));
    assert_eq!(by.statement.to_string(), "Statement[1] (Sid \"NoDelete\")");

    let decision = evaluate([&identity, &bucket], &Request::new("s3:PutObject", "arn:aws:s3:::b/k"));
    assert_eq!(decision.outcome, Outcome::Allow);
    let by = decision.decided_by.unwrap();
    assert_eq!((by.policy, by.statement.index, by.statement.sid), (0, 0, None));
}

#[test]
fn not_action_and_not_resource() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllButDeletes","Effect":"Allow","NotAction":["s3:Delete*"],"NotResource":"arn:aws:s3:::b/private/*"}]}"#,
    );
    for (action, resource, outcome) in [
        ("s3:PutObject", "arn:aws:s3:::b/k", Outcome::Allow),
        ("s3:DeleteObject", "arn:aws:s3:::b/k", Outcome::ImplicitDeny),
        ("s3:deleteobject", "arn:aws:s3:::b/k", Outcome::ImplicitDeny),
        ("s3:PutObject", "arn:aws:s3:::b/private/k", Outcome::ImplicitDeny),
        ("s3:PutObject", "arn:aws:s3:::other/k", Outcome::Allow),
    ] {
        assert_eq!(evaluate([&p], &Request::new(action, resource)).outcome, outcome, "{action} {resource}");
    }
}

#[test]
fn not_principal_deny_spares_only_the_named_principal() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"OnlyReplicator","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/crr"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    let put = |who: &str| evaluate([&p], &Request::new("s3:PutObject", "arn:aws:s3:::b/k").with_principal(who)).outcome;
    // An AWS role principal covers the role's sessions.
    assert_eq!(put("arn:aws:sts::111122223333:assumed-role/crr/s1"), Outcome::Allow);
    assert_eq!(put("arn:aws:iam::111122223333:role/crr"), Outcome::Allow);
    assert_eq!(put("arn:aws:iam::111122223333:user/bob"), Outcome::ExplicitDeny);
}

#[test]
fn conditions_decide_when_the_context_has_their_keys() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"FromOffice","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
             "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8"]},"StringLike":{"s3:prefix":"logs/*"}}},
            {"Sid":"TlsOnly","Effect":"Deny","Action":"s3:*","Resource":"*",
             "Condition":{"Bool":{"aws:SecureTransport":"false"}}},
            {"Sid":"SmallLists","Effect":"Allow","Action":"s3:ListBucket","Resource":"*",
             "Condition":{"NumericLessThanEquals":{"s3:max-keys":"100"},"StringEqualsIgnoreCase":{"aws:username":"Alice"}}},
            {"Sid":"FromRole","Effect":"Allow","Action":"s3:PutObject","Resource":"*",
             "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:*:111122223333:function:crr-*"},
                          "StringNotEqualsIfExists":{"aws:SourceVpc":"vpc-bad"}}}]}"#,
    );
    let get = Request::new("s3:GetObject", "arn:aws:s3:::b/logs/x").with_context("aws:SecureTransport", "true");
    assert_eq!(
        evaluate([&p], &get.clone().with_context("aws:SourceIp", "10.1.2.3").with_context("s3:prefix", "logs/2024"))
            .outcome,
        Outcome::Allow
    );
    assert_eq!(
        evaluate([&p], &get.clone().with_context("aws:SourceIp", "192.168.1.1").with_context("s3:prefix", "logs/2024"))
            .outcome,
        Outcome::ImplicitDeny
    );
    // Condition keys are case-insensitive.
    assert_eq!(
        evaluate([&p], &get.clone().with_context("AWS:SOURCEIP", "10.1.2.3").with_context("s3:prefix", "logs/"))
            .outcome,
        Outcome::Allow
    );
    let insecure = Request::new("s3:GetObject", "arn:aws:s3:::b/x").with_context("aws:SecureTransport", "FALSE");
    let decision = evaluate([&p], &insecure);
    assert_eq!(decision.outcome, Outcome::ExplicitDeny);
    assert_eq!(decision.decided_by.unwrap().statement.sid.as_deref(), Some("TlsOnly"));

    let list = Request::new("s3:ListBucket", "arn:aws:s3:::b").with_context("aws:SecureTransport", "true");
    assert_eq!(
        evaluate([&p], &list.clone().with_context("s3:max-keys", "50").with_context("aws:username", "ALICE")).outcome,
        Outcome::Allow
    );
    assert_eq!(
        evaluate([&p], &list.clone().with_context("s3:max-keys", "500").with_context("aws:username", "alice")).outcome,
        Outcome::ImplicitDeny
    );

    let put = Request::new("s3:PutObject", "arn:aws:s3:::b/x").with_context("aws:SecureTransport", "true");
    let from_crr =
        put.clone().with_context("aws:SourceArn", "arn:aws:lambda:us-east-1:111122223333:function:crr-object-created");
    let decision = evaluate([&p], &from_crr);
    assert_eq!(decision.outcome, Outcome::Allow);
    // IfExists with the key absent holds, and says so.
    assert!(decision.assumptions.iter().any(|a| a.contains("aws:SourceVpc")), "{decision:?}");
    assert_eq!(
        evaluate([&p], &from_crr.clone().with_context("aws:SourceVpc", "vpc-bad")).outcome,
        Outcome::ImplicitDeny
    );
    // ArnLike matches part by part: a `*` does not run across the `:`.
    let other = put.clone().with_context("aws:SourceArn", "arn:aws:lambda:us-east-1:111122223333:layer:crr-x");
    assert_eq!(evaluate([&p], &other).outcome, Outcome::ImplicitDeny);
}

#[test]
fn missing_keys_and_unknown_operators_are_undetermined_and_listed() {
    let p = policy(
        r#"{"Version":"1","Statement":[
            {"Sid":"Vpc","Effect":"Allow","Action":"oss:GetObject","Resource":"*","Condition":{"StringEquals":{"acs:SourceVpc":"vpc-1"}}},
            {"Sid":"Dates","Effect":"Deny","Action":"oss:PutObject","Resource":"*","Condition":{"DateGreaterThan":{"acs:CurrentTime":"2030-01-01T00:00:00Z"}}},
            {"Sid":"Plain","Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#,
    );
    let decision = evaluate([&p], &Request::new("oss:GetObject", "acs:oss:*:1:b/k"));
    assert_eq!(decision.outcome, Outcome::Undetermined);
    assert_eq!(decision.decided_by, None);
    let unresolved = &decision.unresolved[0];
    assert_eq!(unresolved.at.statement.sid.as_deref(), Some("Vpc"));
    assert!(unresolved.reasons[0].contains("acs:SourceVpc"), "{unresolved:?}");

    // Given the key it is decided.
    let decided =
        evaluate([&p], &Request::new("oss:GetObject", "acs:oss:*:1:b/k").with_context("acs:SourceVpc", "vpc-2"));
    assert_eq!(decided.outcome, Outcome::ImplicitDeny);

    // An operator not implemented on a Deny is never silently skipped: the Allow
    // next to it does not win.
    let decision = evaluate(
        [&p],
        &Request::new("oss:PutObject", "acs:oss:*:1:b/k").with_context("acs:CurrentTime", "2031-01-01T00:00:00Z"),
    );
    assert_eq!(decision.outcome, Outcome::Undetermined);
    assert_eq!(decision.unresolved[0].at.statement.sid.as_deref(), Some("Dates"));
    assert!(decision.unresolved[0].reasons[0].contains("DateGreaterThan"), "{decision:?}");

    // A set operator is not guessed either.
    let set = policy(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"k":"v"}}}]}"#,
    );
    let decision = evaluate([&set], &Request::new("oss:GetObject", "r").with_context("k", "v"));
    assert_eq!(decision.outcome, Outcome::Undetermined);
}

#[test]
fn trust_policies_apply_to_the_role_itself() {
    let trust = policy(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":["fc.aliyuncs.com"]}}]}"#,
    );
    let assume = |who: &str| {
        evaluate([&trust], &Request::new("sts:AssumeRole", "acs:ram::1:role/crr").with_principal(who)).outcome
    };
    assert_eq!(assume("fc.aliyuncs.com"), Outcome::Allow);
    assert_eq!(assume("ecs.aliyuncs.com"), Outcome::ImplicitDeny);
}
