//! Reading whole templates: the repository's template.yaml, and small ones that use
//! each construct, resolved through [`parse`].

use std::collections::BTreeMap;

use super::*;

fn repo_template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap()
}

fn options(params: &[(&str, &str)]) -> ResolveOptions {
    let mut all: BTreeMap<String, String> = [
        ("SourceBucket", "src-bucket"),
        ("DestBucket", "dst-bucket"),
        ("ReplicationRoleArn", "arn:aws:iam::222222222222:role/crr-replicator"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in params {
        all.insert(k.to_string(), v.to_string());
    }
    ResolveOptions {
        params: all,
        region: "cn-hangzhou".into(),
        account_id: "1234567890123456".into(),
        stack_name: "local".into(),
    }
}

#[test]
fn the_repository_template_resolves() {
    let stack = parse(&repo_template(), &options(&[("TriggerSuffix", ".jpg")])).unwrap();
    let names: Vec<&str> = stack.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["object-created", "object-deleted", "backfill"]);

    let created = stack.function("object-created").unwrap();
    assert_eq!(created.service, "crr");
    assert_eq!(created.binary, "object-created");
    assert_eq!((created.memory_mb, created.timeout_secs, created.instance_concurrency), (512, 600, 20));
    assert_eq!(
        created.triggers,
        [Trigger::Oss(OssTrigger {
            name: "object-created".into(),
            bucket: "src-bucket".into(),
            events: vec!["oss:ObjectCreated:*".into()],
            prefix: String::new(),
            suffix: ".jpg".into(),
        })]
    );
    // No SourceEndpoint given: Fn::If takes the region's internal endpoint through Fn::Sub.
    assert_eq!(created.env["CRR_SOURCE_ENDPOINT"], "https://s3.oss-cn-hangzhou-internal.aliyuncs.com");
    assert_eq!(created.env["CRR_SOURCE_BUCKET"], "src-bucket");
    assert_eq!(created.env["CRR_ACTION"], "PUT");
    assert_eq!(created.env["CRR_STS_DURATION"], "3600");
    assert_eq!(created.env["CRR_SOURCE_REGION"], "");

    // The alias *crr-environment gives the other functions the same environment.
    let deleted = stack.function("object-deleted").unwrap();
    let backfill = stack.function("backfill").unwrap();
    assert_eq!(deleted.env, created.env);
    assert_eq!(backfill.env, created.env);
    let keys: Vec<&str> = created.env.keys().map(String::as_str).collect();
    for key in ["CRR_SOURCE_BUCKET", "CRR_DEST_BUCKET", "CRR_ROLE_ARN", "CRR_STS_ENDPOINT", "CRR_DELETE_UNMARKED"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert_eq!(deleted.binary, "object-deleted");
    assert_eq!((deleted.memory_mb, deleted.timeout_secs, deleted.instance_concurrency), (256, 60, 20));
    match &deleted.triggers[..] {
        [Trigger::Oss(t)] => assert_eq!(t.events, ["oss:ObjectRemoved:*"]),
        other => panic!("{other:?}"),
    }
    assert_eq!((backfill.memory_mb, backfill.timeout_secs, backfill.instance_concurrency), (1024, 7200, 1));
    assert_eq!(
        backfill.triggers,
        [Trigger::Timer(TimerTrigger {
            name: "backfill-schedule".into(),
            cron: "0 30 2 * * *".into(),
            payload: r#"{"mode":"missing"}"#.into(),
            enabled: true,
        })]
    );
}

#[test]
fn parameters_override_defaults_and_conditions() {
    let stack = parse(
        &repo_template(),
        &options(&[
            ("SourceEndpoint", "http://127.0.0.1:4590"),
            ("Action", "ALL"),
            ("BackfillSchedule", "@every 6h"),
            ("TriggerPrefix", "logs/"),
        ]),
    )
    .unwrap();
    let created = stack.function("object-created").unwrap();
    assert_eq!(created.env["CRR_SOURCE_ENDPOINT"], "http://127.0.0.1:4590");
    assert_eq!(created.env["CRR_ACTION"], "ALL");
    assert_eq!(stack.values["Action"], "ALL");
    match &created.triggers[0] {
        Trigger::Oss(t) => assert_eq!((t.prefix.as_str(), t.suffix.as_str()), ("logs/", "")),
        other => panic!("{other:?}"),
    }
    match &stack.function("backfill").unwrap().triggers[0] {
        Trigger::Timer(t) => assert_eq!(t.cron, "@every 6h"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_input_names_what_to_fix() {
    let mut o = options(&[]);
    o.params.remove("DestBucket");
    let e = parse(&repo_template(), &o).unwrap_err().to_string();
    assert!(e.contains("CRR_DEST_BUCKET") && e.contains("--param DestBucket=VALUE"), "{e}");

    let e = parse(&repo_template(), &options(&[("Nope", "1")])).unwrap_err().to_string();
    assert!(e.contains("--param Nope") && e.contains("SourceBucket"), "{e}");

    let e = parse(&repo_template(), &options(&[("Action", "SOME")])).unwrap_err().to_string();
    assert!(e.contains("AllowedValues PUT, ALL"), "{e}");

    let e = parse(&repo_template(), &options(&[("BackfillSchedule", "every day")])).unwrap_err().to_string();
    assert!(e.contains("Resources.crr.backfill.Events.backfill-schedule.Properties.CronExpression"), "{e}");
}

const SMALL: &str = r#"
Parameters:
  Bucket: {Type: String, Default: b1}
  Mode: {Type: String, Default: a}
Conditions:
  IsA: !Equals [!Ref Mode, a]
  NotA: {Fn::Not: [{Condition: IsA}]}
  Both: {Fn::And: [{Condition: IsA}, {Fn::Or: [{Condition: NotA}, true]}]}
Resources:
  Role: {Type: 'ALIYUN::RAM::Role'}
  svc:
    Type: 'Aliyun::Serverless::Service'
    Properties: {Role: {Fn::GetAtt: [Role, Arn]}}
    f1:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        CodeUri: ./dist/object-created.zip
        EnvironmentVariables: &env
          SHORT: !Sub '${Bucket}-${ALIYUN::Region}'
          LIST: {Fn::Sub: ['${X}/${!Literal}', {X: {Ref: Bucket}}]}
          JOINED: {Fn::Join: ['-', [a, {Ref: Mode}, 3]]}
          IF: {Fn::If: [Both, yes, no]}
          NUM: 42
      Events:
        t:
          Type: OSS
          Properties: {BucketName: !Ref Bucket, Events: ['oss:ObjectRemoved:DeleteObject']}
    f2:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        CodeUri: ./build/backfill/
        EnvironmentVariables:
          <<: *env
          EXTRA: x
"#;

#[test]
fn intrinsics_short_tags_anchors_and_merge_keys() {
    let stack = parse(SMALL, &options(&[])).unwrap_err();
    // The helper sets parameters SMALL does not declare.
    assert!(stack.to_string().contains("declares no parameter"), "{stack}");

    let o = ResolveOptions { region: "r1".into(), ..Default::default() };
    let stack = parse(SMALL, &o).unwrap();
    let f1 = stack.function("f1").unwrap();
    assert_eq!(f1.env["SHORT"], "b1-r1");
    assert_eq!(f1.env["LIST"], "b1/${Literal}");
    assert_eq!(f1.env["JOINED"], "a-a-3");
    assert_eq!(f1.env["IF"], "yes");
    assert_eq!(f1.env["NUM"], "42");
    assert_eq!((f1.memory_mb, f1.timeout_secs, f1.instance_concurrency), (128, 3, 1));
    let f2 = stack.function("f2").unwrap();
    assert_eq!(f2.binary, "backfill");
    assert_eq!(f2.env["SHORT"], "b1-r1");
    assert_eq!(f2.env["EXTRA"], "x");

    let o = ResolveOptions { params: [("Mode".to_owned(), "b".to_owned())].into(), ..o };
    assert_eq!(parse(SMALL, &o).unwrap().function("f1").unwrap().env["IF"], "no");
}

#[test]
fn unsupported_constructs_are_errors_with_their_path() {
    let o = ResolveOptions::default();
    let with = |extra: &str| SMALL.replace("          NUM: 42", &format!("          NUM: 42\n          {extra}"));
    let e = parse(&with("BAD: {Fn::GetAtt: [Role, Arn]}"), &o).unwrap_err().to_string();
    assert!(e.contains("Resources.svc.f1.Properties.EnvironmentVariables.BAD.Fn::GetAtt"), "{e}");
    let e = parse(&with("BAD: {Ref: Role}"), &o).unwrap_err().to_string();
    assert!(e.contains("BAD.Ref: Role is a resource"), "{e}");
    let e = parse(&with("BAD: {Fn::Select: [0, [a]]}"), &o).unwrap_err().to_string();
    assert!(e.contains("BAD.Fn::Select: Fn::Select is not resolved"), "{e}");
    let e = parse(&with("BAD: !Sub '${Role.Arn}'"), &o).unwrap_err().to_string();
    assert!(e.contains("resource attribute"), "{e}");
    let e = parse(&with("BAD: [1, 2]"), &o).unwrap_err().to_string();
    assert!(e.contains("BAD: expected a single value"), "{e}");

    let http = SMALL.replace("Type: OSS", "Type: HTTP");
    let e = parse(&http, &o).unwrap_err().to_string();
    assert!(e.contains("Resources.svc.f1.Events.t.Type: trigger type HTTP is not emulated"), "{e}");
    let e = parse("Resources: {}", &o).unwrap_err().to_string();
    assert!(e.contains("no Aliyun::Serverless::Service"), "{e}");
    let e = parse("a: [", &o).unwrap_err().to_string();
    assert!(e.contains("not a valid YAML template"), "{e}");
}
