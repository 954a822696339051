//! The configuration from variables: defaults, every setting, and errors that
//! name the variable, the value and the expected form.

use std::collections::HashMap;

use super::*;

pub(crate) fn settings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn minimal() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CRR_SOURCE_BUCKET", "crr-src"),
        ("CRR_DEST_BUCKET", "crr-dst"),
        ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
    ]
}

#[test]
fn minimal_config_has_safe_defaults() {
    let c = Config::from_settings(&settings(&minimal())).unwrap();
    assert_eq!(c.source.name, "crr-src");
    assert_eq!(c.rules.len(), 1);
    let rule = &c.rules[0];
    assert_eq!(rule.action, RuleAction::Put, "deletes are not replicated unless asked");
    assert_eq!(rule.kms, KmsPolicy::Skip);
    assert!(rule.historical);
    assert!(!rule.delete_unmarked, "deletes only ever remove crr's own replicas unless asked");
    assert_eq!(rule.lag_objective_seconds, 600, "10 minutes, as OSS RTC");
    assert!(!rule.two_way, "one-way: the source wins unless the rule says the destination replicates back");
    assert!(rule.prefixes.is_empty());
    assert!(rule.matches("anything/at/all"));
    assert_eq!(rule.destination.name, "crr-dst");
    assert!(!c.source.endpoint.path_style);
    assert_eq!(c.sts.duration, Duration::from_secs(3600));
    assert_eq!(c.copy, CopySettings::default());
}

#[test]
fn every_env_setting() {
    let mut s = minimal();
    s.extend([
        ("CRR_SOURCE_ENDPOINT", "http://127.0.0.1:4590"),
        ("CRR_DEST_ENDPOINT", "s3.oss-cn-beijing.aliyuncs.com"),
        ("CRR_DEST_REGION", "cn-beijing"),
        ("CRR_ACTION", "all"),
        ("CRR_KMS", "replicate"),
        ("CRR_REPLICA_KMS_KEY_ID", "key-1"),
        ("CRR_STORAGE_CLASS", "standard_ia"),
        ("CRR_HISTORICAL", "disabled"),
        ("CRR_PREFIXES", "a/, b/ ,c/"),
        ("CRR_STS_DURATION", "900"),
        ("CRR_STS_EXTERNAL_ID", "ext"),
        ("CRR_COPY_MODE", "stream"),
        ("CRR_PART_SIZE", "8MiB"),
        ("CRR_PART_CONCURRENCY", "2"),
        ("CRR_MULTIPART_THRESHOLD", "64M"),
        ("CRR_RECORD_CONCURRENCY", "4"),
        ("CRR_TAG_COUNTS", "unreported"),
        ("CRR_DELETE_UNMARKED", "true"),
        ("CRR_LAG_OBJECTIVE_SECONDS", "90"),
        ("CRR_TWO_WAY", "true"),
        ("CRR_BACKFILL_PAGE_SIZE", "200"),
        ("CRR_BACKFILL_CONCURRENCY", "8"),
        ("CRR_BACKFILL_LEASE_SECONDS", "30"),
        ("CRR_ABANDONED_UPLOAD_SECONDS", "0"),
        ("CRR_REPLICATE_SINCE", "2026-01-31T00:00:00Z"),
    ]);
    let c = Config::from_settings(&settings(&s)).unwrap();
    let rule = &c.rules[0];
    assert!(c.source.endpoint.path_style);
    assert_eq!(rule.destination.endpoint.url.as_deref(), Some("https://s3.oss-cn-beijing.aliyuncs.com"));
    assert!(!rule.destination.endpoint.path_style);
    assert_eq!(rule.destination.endpoint.region, "cn-beijing");
    assert_eq!(rule.action, RuleAction::All);
    assert_eq!(rule.kms, KmsPolicy::Replicate { key_id: "key-1".into() });
    assert_eq!(rule.storage_class.as_deref(), Some("STANDARD_IA"));
    assert!(!rule.historical);
    assert!(rule.delete_unmarked);
    assert_eq!(rule.lag_objective_seconds, 90);
    assert!(rule.two_way);
    assert_eq!(
        c.backfill,
        BackfillSettings {
            page_size: 200,
            concurrency: 8,
            lease: Duration::from_secs(30),
            since: Some(1_769_817_600),
            abandoned_uploads: Duration::ZERO,
        }
    );
    assert_eq!(rule.prefixes, vec!["a/", "b/", "c/"]);
    assert!(rule.matches("b/x") && !rule.matches("d/x"));
    assert_eq!(c.sts.duration, Duration::from_secs(900));
    assert_eq!(c.sts.external_id.as_deref(), Some("ext"));
    assert_eq!(
        c.copy,
        CopySettings {
            mode: CopyMode::Stream,
            part_size: 8 * MIB,
            part_concurrency: 2,
            multipart_threshold: 64 * MIB,
            record_concurrency: 4,
            tag_counts_reported: false
        }
    );
}

#[test]
fn acceleration_endpoints() {
    let mut s = minimal();
    s.extend([("CRR_DEST_ENDPOINT", "https://s3.oss-cn-beijing.aliyuncs.com"), ("CRR_DEST_ACCELERATE", "true")]);
    let c = Config::from_settings(&settings(&s)).unwrap();
    assert_eq!(c.rules[0].destination.endpoint.url.as_deref(), Some("https://s3.oss-accelerate.aliyuncs.com"));
    let mut s = minimal();
    s.extend([("CRR_DEST_ENDPOINT", "http://127.0.0.1:9"), ("CRR_DEST_ACCELERATE", "true")]);
    let err = Config::from_settings(&settings(&s)).unwrap_err().to_string();
    assert!(err.contains("only with an OSS or AWS"), "{err}");
}

#[test]
fn errors_name_the_variable_the_value_and_the_expected_form() {
    let base = minimal();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut s: Vec<(&str, &str)> = base.clone();
        for (k, v) in extra {
            s.retain(|(kk, _)| kk != k);
            s.push((k, v));
        }
        Config::from_settings(&settings(&s)).unwrap_err().to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            Config::from_settings(&settings(&[])).unwrap_err().to_string(),
            "CRR_SOURCE_BUCKET is not set; expected a bucket name",
        ),
        (
            with(&[("CRR_SOURCE_BUCKET", "Bad_Bucket!")]),
            "CRR_SOURCE_BUCKET=\"Bad_Bucket!\" is not valid; expected a bucket name",
        ),
        (with(&[("CRR_ROLE_ARN", "role/x")]), "CRR_ROLE_ARN=\"role/x\" is not valid"),
        (with(&[("CRR_ACTION", "delete")]), "CRR_ACTION=\"delete\" is not valid; expected PUT"),
        (
            with(&[("CRR_SOURCE_ENDPOINT", "http://host/with/path")]),
            "CRR_SOURCE_ENDPOINT=\"http://host/with/path\" is not valid; expected an endpoint URL",
        ),
        (
            with(&[("CRR_FORCE_PATH_STYLE", "maybe")]),
            "CRR_FORCE_PATH_STYLE=\"maybe\" is not valid; expected true or false",
        ),
        (with(&[("CRR_KMS", "replicate")]), "CRR_REPLICA_KMS_KEY_ID is not set"),
        (with(&[("CRR_KMS", "encrypt")]), "CRR_KMS=\"encrypt\" is not valid; expected skip"),
        (
            with(&[("CRR_STS_DURATION", "60")]),
            "CRR_STS_DURATION=\"60\" is not valid; expected a number of seconds between 900 and 43200",
        ),
        (with(&[("CRR_PART_SIZE", "1MiB")]), "CRR_PART_SIZE=\"1048576\" is not valid; expected between 5MiB and 5GiB"),
        (with(&[("CRR_PART_SIZE", "lots")]), "CRR_PART_SIZE=\"lots\" is not valid; expected a size"),
        (
            with(&[("CRR_COPY_MODE", "magic")]),
            "CRR_COPY_MODE=\"magic\" is not valid; expected auto, stream or server-side",
        ),
        (with(&[("CRR_PREFIXES", "1,2,3,4,5,6,7,8,9,10,11")]), "at most 10 key prefixes"),
        (
            with(&[("CRR_LAG_OBJECTIVE_SECONDS", "10min")]),
            "CRR_LAG_OBJECTIVE_SECONDS=\"10min\" is not valid; expected a number of seconds, 1-86400",
        ),
        (
            with(&[("CRR_LAG_OBJECTIVE_SECONDS", "0")]),
            "CRR_LAG_OBJECTIVE_SECONDS=\"0\" is not valid; expected a number of seconds, 1-86400",
        ),
        (
            with(&[("CRR_STORAGE_CLASS", "STANDRD_IA")]),
            "CRR_STORAGE_CLASS=\"STANDRD_IA\" is not valid; expected an S3 storage class (STANDARD, ",
        ),
        (
            with(&[("CRR_DEST_BUCKET", "crr-src")]),
            "destination bucket=\"crr-src\" is not valid; expected a bucket other than the source",
        ),
        (
            with(&[("CRR_CONFIG", "/nonexistent/crr.xml")]),
            "CRR_CONFIG=\"/nonexistent/crr.xml\" is not valid; expected a readable configuration file",
        ),
    ];
    for (err, want) in cases {
        assert!(err.contains(want), "got {err:?}, want {want:?}");
    }
}

#[test]
fn storage_classes_are_checked_and_spelled_as_their_service_does() {
    let class = |value: &str| {
        let mut s = minimal();
        s.push(("CRR_STORAGE_CLASS", value));
        Config::from_settings(&settings(&s)).map(|c| c.rules[0].storage_class.clone()).map_err(|e| e.to_string())
    };
    for (value, want) in [
        ("", None),
        ("STANDARD_IA", Some("STANDARD_IA")),
        ("standard_ia", Some("STANDARD_IA")),
        (" glacier_ir ", Some("GLACIER_IR")),
        ("Intelligent_Tiering", Some("INTELLIGENT_TIERING")),
        ("express_onezone", Some("EXPRESS_ONEZONE")),
        ("snow", Some("SNOW")),
        // Both services know "standard": as written when it is an exact name, else S3's.
        ("STANDARD", Some("STANDARD")),
        ("Standard", Some("Standard")),
        ("standard", Some("STANDARD")),
        ("IA", Some("IA")),
        ("ia", Some("IA")),
        ("archive", Some("Archive")),
        ("coldarchive", Some("ColdArchive")),
        ("DEEPCOLDARCHIVE", Some("DeepColdArchive")),
    ] {
        assert_eq!(class(value), Ok(want.map(str::to_owned)), "{value:?}");
    }
    for typo in ["STANDRD_IA", "STANDARD-IA", "Infrequent Access", "Cold Archive", "GLACIER_DEEP"] {
        let err = class(typo).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "CRR_STORAGE_CLASS={typo:?} is not valid; expected an S3 storage class (STANDARD, REDUCED_REDUNDANCY,"
            )),
            "{err}"
        );
        assert!(
            err.ends_with("or an OSS one (Standard, IA, Archive, ColdArchive, DeepColdArchive), in any case"),
            "{err}"
        );
    }
}

#[test]
fn sizes() {
    assert_eq!(parse_size("x", "5242880").unwrap(), 5 * MIB);
    assert_eq!(parse_size("x", "16MiB").unwrap(), 16 * MIB);
    assert_eq!(parse_size("x", "1g").unwrap(), 1024 * MIB);
    assert!(parse_size("x", "-1").is_err());
    assert!(parse_size("x", "12 parsecs").is_err());
    assert!(parse_size("x", "18446744073709551615GiB").is_err(), "a size beyond u64 is refused, not wrapped");
}

#[test]
fn oss_locations_become_native_oss_endpoints() {
    let e = Endpoint::oss("oss-cn-beijing");
    assert_eq!(e.url.as_deref(), Some("https://oss-cn-beijing.aliyuncs.com"));
    assert_eq!(e.region, "cn-beijing");
    assert!(e.is_oss() && e.is_native_oss());
    assert_eq!(Endpoint::oss("cn-hangzhou").region, "cn-hangzhou");
}

#[test]
fn each_side_speaks_the_api_of_its_endpoint_unless_told() {
    let mut s = minimal();
    s.extend([
        ("CRR_SOURCE_ENDPOINT", "https://oss-cn-hangzhou.aliyuncs.com"),
        ("CRR_DEST_ENDPOINT", "https://s3.oss-cn-beijing.aliyuncs.com"),
    ]);
    let c = Config::from_settings(&settings(&s)).unwrap();
    assert_eq!((c.source.api, c.rules[0].destination.api), (Api::Oss, Api::S3), "chosen by endpoint");
    s.extend([("CRR_SOURCE_API", "s3"), ("CRR_DEST_API", "OSS")]);
    let c = Config::from_settings(&settings(&s)).unwrap();
    assert_eq!((c.source.api, c.rules[0].destination.api), (Api::S3, Api::Oss), "chosen by the variables");
    let default = Config::from_settings(&settings(&minimal())).unwrap();
    assert_eq!((default.source.api, default.rules[0].destination.api), (Api::S3, Api::S3), "AWS by default");
    s.push(("CRR_DEST_API", "native"));
    let err = Config::from_settings(&settings(&s)).unwrap_err().to_string();
    assert!(err.starts_with("CRR_DEST_API=\"native\" is not valid; expected auto"), "{err}");
}

#[test]
fn acceleration_keeps_the_api_of_the_endpoint() {
    let mut s = minimal();
    s.extend([("CRR_DEST_ENDPOINT", "https://oss-cn-beijing.aliyuncs.com"), ("CRR_DEST_ACCELERATE", "true")]);
    let c = Config::from_settings(&settings(&s)).unwrap();
    assert_eq!(c.rules[0].destination.endpoint.url.as_deref(), Some("https://oss-accelerate.aliyuncs.com"));
    assert_eq!(c.rules[0].destination.api, Api::Oss);
}
