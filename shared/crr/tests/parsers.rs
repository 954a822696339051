//! Property tests of every parser of untrusted input in crr: events (S3, OSS, and
//! both wrapped in SQS or MNS messages), S3 key decoding, role ARNs, the
//! configuration from variables and from a rule file, backfill requests. None may
//! panic whatever it is given; what must round-trip does; nesting and size are
//! bounded: a too deeply nested document is refused, a too large rule file is
//! refused by its length before it is read.

use std::collections::HashMap;
use std::io::Write;

use crr::arn::RoleArn;
use crr::backfill::BackfillEvent;
use crr::config::{Config, VARIABLES};
use crr::event::{decode_s3_key, Notification};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Any JSON document, with the field names the parsers look for among others.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    let field = "[a-zA-Z]{1,8}|events|Records|s3|oss|body|Message|data|type|bucket|object|key|name|eventName|size|eTag|mode|rule|shard|payload|triggerTime";
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Form-encodes a key as S3 notifications do.
fn form_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s3_notification(bucket: &str, key: &str, name: &str) -> Value {
    json!({"Records": [{"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": form_encode(key), "size": 3}}}]})
}

/// Wraps `event` in queue envelopes, one per entry: SQS bodies, or MNS messages
/// (plain or base64).
fn wrapped(event: Value, envelopes: &[u8]) -> Value {
    use base64::Engine;
    envelopes.iter().fold(event, |inner, kind| match kind % 3 {
        0 => json!({"Records": [{"body": inner.to_string()}]}),
        1 => json!({"Message": inner.to_string()}),
        _ => json!({"Message": base64::engine::general_purpose::STANDARD.encode(inner.to_string())}),
    })
}

proptest! {
    #[test]
    fn any_bytes_are_an_event_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = Notification::from_json(&bytes);
    }

    #[test]
    fn any_json_is_an_event_or_an_error(value in json_value()) {
        let _ = Notification::from_value(value);
    }

    #[test]
    fn s3_keys_and_buckets_arrive_as_they_were_written(
        key in "\\PC{1,80}",
        bucket in "[a-z0-9][a-z0-9.-]{2,40}",
        name in "ObjectCreated:(Put|Post|Copy|CompleteMultipartUpload)|ObjectRemoved:(Delete|DeleteMarkerCreated)|ObjectTagging:Put",
    ) {
        let n = Notification::from_value(s3_notification(&bucket, &key, &name)).unwrap();
        prop_assert_eq!(n.events.len(), 1);
        prop_assert_eq!(&n.events[0].key, &key);
        prop_assert_eq!(&n.events[0].bucket, &bucket);
        prop_assert_eq!(&n.events[0].name, &name);
    }

    #[test]
    fn oss_keys_arrive_as_stored(key in "\\PC{1,80}", size in any::<u64>(), etag in "[0-9A-F]{32}") {
        let event = json!({"events": [{"eventName": "ObjectCreated:PutObject",
            "oss": {"bucket": {"name": "src"}, "object": {"key": key, "size": size, "eTag": etag}}}]});
        let n = Notification::from_value(event).unwrap();
        prop_assert_eq!(&n.events[0].key, &key);
        prop_assert_eq!(n.events[0].size, Some(size));
    }

    #[test]
    fn queue_envelopes_unwrap_up_to_four_deep(key in "\\PC{1,40}", envelopes in prop::collection::vec(any::<u8>(), 0..9)) {
        let outcome = Notification::from_value(wrapped(s3_notification("src", &key, "ObjectCreated:Put"), &envelopes));
        if envelopes.len() <= 4 {
            let n = outcome.unwrap();
            prop_assert_eq!(&n.events[0].key, &key);
        } else {
            prop_assert!(outcome.unwrap_err().to_string().contains("more than four envelopes"));
        }
    }

    #[test]
    fn any_text_decodes_as_a_key_or_is_refused(text in "\\PC{0,120}|[%+0-9A-Fa-f]{0,60}") {
        let _ = decode_s3_key(&text);
    }

    #[test]
    fn form_encoded_keys_decode_to_themselves(key in "\\PC{0,120}") {
        prop_assert_eq!(decode_s3_key(&form_encode(&key)).unwrap(), key);
    }

    #[test]
    fn any_text_is_a_role_arn_or_an_error(text in "\\PC{0,120}|(arn|acs):[a-z-]{0,8}:[a-z]{0,4}::[0-9]{0,20}:role/\\PC{0,40}") {
        if let Ok(arn) = text.parse::<RoleArn>() {
            // What parses prints back to itself and parses the same.
            prop_assert_eq!(arn.to_string().parse::<RoleArn>().unwrap(), arn);
        }
    }

    #[test]
    fn role_arns_of_both_clouds_parse(account in "[0-9]{12}", uid in "[0-9]{16}", path in "(/[a-z]{1,8}){0,3}", name in "[A-Za-z0-9+=,.@_-]{1,64}") {
        let aws: RoleArn = format!("arn:aws:iam::{account}:role{path}/{name}").parse().unwrap();
        prop_assert_eq!(aws.account(), account.as_str());
        prop_assert_eq!(aws.name(), name.as_str());
        let alibaba: RoleArn = format!("acs:ram::{uid}:role/{name}").parse().unwrap();
        prop_assert!(alibaba.is_alibaba());
        prop_assert_eq!(alibaba.account(), uid.as_str());
    }

    #[test]
    fn any_variables_are_a_configuration_or_an_error(
        values in prop::collection::vec((0..VARIABLES.len(), "\\PC{0,40}|[0-9]{1,12}|true|false|ALL|PUT|[0-9]+[KMG]iB|https?://[a-z0-9.:-]{1,30}"), 0..12),
    ) {
        let mut settings: HashMap<String, String> = [
            ("CRR_SOURCE_BUCKET", "crr-src"),
            ("CRR_DEST_BUCKET", "crr-dst"),
            ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (i, value) in values {
            // A rule file is the next property's subject.
            if VARIABLES[i].name != "CRR_CONFIG" {
                settings.insert(VARIABLES[i].name.to_owned(), value);
            }
        }
        if let Err(e) = Config::from_settings(&settings) {
            prop_assert!(e.to_string().contains("CRR_"), "{}", e);
        }
    }

    #[test]
    fn any_rule_file_is_a_configuration_or_an_error(text in rule_file_text(), xml in any::<bool>()) {
        let path = temp_file(if xml { "xml" } else { "json" }, text.as_bytes());
        let _ = Config::from_settings(&file_settings(&path));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn any_json_is_a_backfill_request_or_an_error(value in json_value()) {
        let _ = BackfillEvent::from_value(value);
    }

    #[test]
    fn any_text_is_a_backfill_request_or_an_error(text in "\\PC{0,200}") {
        let _ = serde_json::from_str::<BackfillEvent>(&text);
    }
}

/// Text that is, or is close to, a rule file in either form.
fn rule_file_text() -> impl Strategy<Value = String> {
    let element = prop_oneof![
        Just("<Rule>".to_owned()),
        Just("</Rule>".to_owned()),
        Just("<ID>r</ID>".to_owned()),
        Just("<Action>ALL</Action>".to_owned()),
        Just("<PrefixSet><Prefix>a/</Prefix></PrefixSet>".to_owned()),
        Just("<Destination><Bucket>dst-b</Bucket><Location>oss-cn-beijing</Location></Destination>".to_owned()),
        Just("<SyncRole>acs:ram::1234567890123456:role/r</SyncRole>".to_owned()),
        Just("<TwoWay>true</TwoWay>".to_owned()),
        "\\PC{0,20}",
        "<[A-Za-z]{1,12}>",
    ];
    prop_oneof![
        prop::collection::vec(element, 0..20)
            .prop_map(|parts| format!("<ReplicationConfiguration>{}</ReplicationConfiguration>", parts.concat())),
        json_value().prop_map(|v| json!({"rules": [v]}).to_string()),
        "\\PC{0,300}",
    ]
}

fn temp_file(extension: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("crr-parsers-{}.{extension}", unique()));
    std::fs::File::create(&path).unwrap().write_all(contents).unwrap();
    path
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn file_settings(path: &std::path::Path) -> HashMap<String, String> {
    [
        ("CRR_CONFIG", path.to_str().unwrap()),
        ("CRR_SOURCE_BUCKET", "crr-src"),
        ("CRR_SOURCE_ACCOUNT_ID", "1234567890123456"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn deeply_nested_events_and_requests_are_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Notification::from_json(deep.as_bytes()).is_err());
    assert!(serde_json::from_str::<BackfillEvent>(&deep).is_err());
    let objects = format!("{}1{}", "{\"Records\":".repeat(50_000), "}".repeat(50_000));
    assert!(Notification::from_json(objects.as_bytes()).is_err());
}

#[test]
fn a_deeply_nested_rule_file_is_refused_not_overflowed() {
    let deep = format!(
        "<ReplicationConfiguration>{}{}</ReplicationConfiguration>",
        "<Rule>".repeat(20_000),
        "</Rule>".repeat(20_000)
    );
    let path = temp_file("xml", deep.as_bytes());
    let outcome = Config::from_settings(&file_settings(&path));
    std::fs::remove_file(&path).unwrap();
    assert!(outcome.is_err());
}

#[test]
fn an_oversized_rule_file_is_refused_by_its_length_before_it_is_read() {
    let path = std::env::temp_dir().join(format!("crr-parsers-big-{}.xml", unique()));
    // Sparse: its length says 64 GiB, none of it is on disk or read.
    std::fs::File::create(&path).unwrap().set_len(64 << 30).unwrap();
    let err = Config::from_settings(&file_settings(&path)).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains("CRR_CONFIG") && err.contains("at most 1048576 bytes"), "{err}");
}
