//! Many rules from a file (`CRR_CONFIG`): the OSS `ReplicationConfiguration` XML
//! that `PutBucketReplication` takes, or the same as JSON.
//!
//! XML elements follow OSS: `ID`, `PrefixSet/Prefix`, `Action`, `Destination/Bucket`,
//! `Destination/Location`, `Destination/TransferType` (`oss_acc`),
//! `HistoricalObjectReplication`, `SyncRole`,
//! `SourceSelectionCriteria/SseKmsEncryptedObjects/Status`,
//! `EncryptionConfiguration/ReplicaKmsKeyID`, `RTC` (accepted, not needed). crr adds
//! `Destination/Endpoint` and `Destination/Region` for S3-compatible destinations and
//! `StorageClass` for replicas, `DeleteUnmarked` (deletes may remove objects crr did
//! not write), `LagObjectiveSeconds` (`crr status --check`) and `TwoWay` (the destination replicates back: the last writer wins). The source bucket comes from `CRR_SOURCE_*` (the XML
//! belongs to it); a JSON file may name it in `source`.

use serde::Deserialize;

use super::{
    accelerate, check_bucket, check_prefixes, choose_api, default_path_style, parse_action, parse_api, parse_bool,
    parse_endpoint, parse_lag_objective, parse_role, parse_storage_class, source_from_env, BackfillSettings, Bucket,
    Config, ConfigError, CopySettings, Defaults, Endpoint, KmsPolicy, Reader, Rule, StsSettings,
    DEFAULT_LAG_OBJECTIVE_SECONDS,
};

/// The largest rule file read: a `ReplicationConfiguration` of a thousand rules is
/// far smaller. A bigger file is refused by its length, before it is read.
pub const MAX_FILE: u64 = 1024 * 1024;

/// The rule file's text, refused unread when it is larger than [`MAX_FILE`].
pub(crate) fn read(path: &str) -> Result<String, ConfigError> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| ConfigError::invalid("CRR_CONFIG", path, format!("a readable configuration file ({e})"));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let too_big =
        || ConfigError::invalid("CRR_CONFIG", path, format!("a configuration file of at most {MAX_FILE} bytes"));
    if len > MAX_FILE {
        return Err(too_big());
    }
    let mut text = String::new();
    file.take(MAX_FILE + 1).read_to_string(&mut text).map_err(unreadable)?;
    if text.len() as u64 > MAX_FILE {
        return Err(too_big());
    }
    Ok(text)
}

pub(crate) fn parse(
    path: &str,
    text: &str,
    r: &Reader,
    d: &Defaults,
    sts: StsSettings,
    copy: CopySettings,
    backfill: BackfillSettings,
) -> Result<Config, ConfigError> {
    let at = |what: String| format!("CRR_CONFIG {path}: {what}");
    match text.trim_start().chars().next() {
        Some('<') => {
            let rules = parse_xml(text, &at, r, d)?;
            Ok(Config { source: source_from_env(r, d)?, rules, sts, copy, backfill })
        }
        Some('{') => {
            let (source, rules) = parse_json(text, &at, r, d)?;
            Ok(Config { source, rules, sts, copy, backfill })
        }
        _ => Err(ConfigError::invalid(
            "CRR_CONFIG",
            path,
            "an OSS ReplicationConfiguration XML document or a JSON object with \"rules\"",
        )),
    }
}

/// Builds a rule's role ARN from `SyncRole`: a full ARN, or a RAM role name in the
/// source account (`CRR_SOURCE_ACCOUNT_ID`, else the function's `FC_ACCOUNT_ID`).
fn sync_role(setting: &str, value: &str, r: &Reader) -> Result<crate::arn::RoleArn, ConfigError> {
    if value.contains(':') {
        return parse_role(setting, value);
    }
    let account = r.opt("CRR_SOURCE_ACCOUNT_ID").or_else(|| r.opt("FC_ACCOUNT_ID")).ok_or_else(|| {
        ConfigError::invalid(
            setting,
            value,
            "a full role ARN (acs:ram::<uid>:role/<name>), or set CRR_SOURCE_ACCOUNT_ID so a role name can be completed",
        )
    })?;
    parse_role(setting, &format!("acs:ram::{account}:role/{value}"))
}

fn parse_xml(text: &str, at: &dyn Fn(String) -> String, r: &Reader, d: &Defaults) -> Result<Vec<Rule>, ConfigError> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| ConfigError::invalid(at("XML".into()), e.to_string(), "well-formed XML"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "ReplicationConfiguration" {
        return Err(ConfigError::invalid(
            at("root element".into()),
            root.tag_name().name(),
            "<ReplicationConfiguration>",
        ));
    }
    let mut rules = Vec::new();
    for (n, node) in root.children().filter(|c| c.is_element()).enumerate() {
        if node.tag_name().name() != "Rule" {
            return Err(ConfigError::invalid(at(format!("element {}", n + 1)), node.tag_name().name(), "<Rule>"));
        }
        rules.push(xml_rule(node, n + 1, at, r, d)?);
    }
    Ok(rules)
}

fn child<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: roxmltree::Node, name: &str) -> Option<String> {
    child(node, name).and_then(|c| c.text()).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn xml_rule(
    node: roxmltree::Node,
    n: usize,
    at: &dyn Fn(String) -> String,
    r: &Reader,
    d: &Defaults,
) -> Result<Rule, ConfigError> {
    let id = text_of(node, "ID").unwrap_or_else(|| format!("rule-{n}"));
    let el = |name: &str| at(format!("Rule {n} ({id}) <{name}>"));
    const KNOWN: &[&str] = &[
        "ID",
        "PrefixSet",
        "Action",
        "Destination",
        "HistoricalObjectReplication",
        "SyncRole",
        "SourceSelectionCriteria",
        "EncryptionConfiguration",
        "RTC",
        "Status",
        "StorageClass",
        "DeleteUnmarked",
        "LagObjectiveSeconds",
        "TwoWay",
    ];
    for c in node.children().filter(|c| c.is_element()) {
        let name = c.tag_name().name();
        if !KNOWN.contains(&name) {
            return Err(ConfigError::invalid(el(name), name, format!("one of {}", KNOWN.join(", "))));
        }
    }

    let prefixes: Vec<String> = child(node, "PrefixSet")
        .map(|set| {
            set.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "Prefix")
                .filter_map(|c| c.text().map(str::to_owned))
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    check_prefixes(&el("PrefixSet"), &prefixes.join(","), &prefixes)?;

    let action = match text_of(node, "Action") {
        Some(a) => parse_action(&el("Action"), &a)?,
        None => super::RuleAction::Put,
    };

    let dest = child(node, "Destination")
        .ok_or_else(|| ConfigError::missing(el("Destination"), "<Destination> with <Bucket> and <Location>"))?;
    let bucket = text_of(dest, "Bucket")
        .ok_or_else(|| ConfigError::missing(el("Destination/Bucket"), "the destination bucket name"))?;
    check_bucket(&el("Destination/Bucket"), &bucket)?;
    let mut endpoint = match (text_of(dest, "Endpoint"), text_of(dest, "Location")) {
        (Some(url), location) => {
            let url = parse_endpoint(&el("Destination/Endpoint"), &url)?;
            let region = text_of(dest, "Region")
                .or_else(|| location.map(|l| l.trim_start_matches("oss-").to_owned()))
                .unwrap_or_else(|| d.source_region.clone());
            Endpoint {
                path_style: d.path_style.unwrap_or_else(|| default_path_style(Some(&url))),
                url: Some(url),
                region,
            }
        }
        (None, Some(location)) => Endpoint::oss(&location),
        (None, None) => {
            return Err(ConfigError::missing(
                el("Destination/Location"),
                "the destination region, e.g. oss-cn-beijing (or crr's <Endpoint> for S3-compatible stores)",
            ))
        }
    };
    match text_of(dest, "TransferType").as_deref() {
        None | Some("internal") => {}
        Some("oss_acc") => endpoint = accelerate(endpoint, &el("Destination/TransferType"))?,
        Some(other) => return Err(ConfigError::invalid(el("Destination/TransferType"), other, "internal or oss_acc")),
    }

    let api = text_of(dest, "Api").map(|a| parse_api(&el("Destination/Api"), &a)).transpose()?.flatten();
    let api = choose_api(api, &endpoint);

    let historical = match text_of(node, "HistoricalObjectReplication") {
        Some(h) => parse_bool(&el("HistoricalObjectReplication"), &h)?,
        None => true,
    };
    let role_text = text_of(node, "SyncRole")
        .ok_or_else(|| ConfigError::missing(el("SyncRole"), "the replication role (name or ARN)"))?;
    let role = sync_role(&el("SyncRole"), &role_text, r)?;

    let kms_enabled = child(node, "SourceSelectionCriteria")
        .and_then(|s| child(s, "SseKmsEncryptedObjects"))
        .and_then(|k| text_of(k, "Status"))
        .map(|s| parse_bool(&el("SourceSelectionCriteria/SseKmsEncryptedObjects/Status"), &s))
        .transpose()?
        .unwrap_or(false);
    let key_id = child(node, "EncryptionConfiguration").and_then(|e| text_of(e, "ReplicaKmsKeyID"));
    let kms = match (kms_enabled, key_id) {
        (false, _) => KmsPolicy::Skip,
        (true, Some(key_id)) => KmsPolicy::Replicate { key_id },
        (true, None) => {
            return Err(ConfigError::missing(
                el("EncryptionConfiguration/ReplicaKmsKeyID"),
                "the destination KMS key when SseKmsEncryptedObjects is Enabled",
            ))
        }
    };

    let delete_unmarked =
        text_of(node, "DeleteUnmarked").map(|v| parse_bool(&el("DeleteUnmarked"), &v)).transpose()?.unwrap_or(false);
    let two_way = text_of(node, "TwoWay").map(|v| parse_bool(&el("TwoWay"), &v)).transpose()?.unwrap_or(false);
    let storage_class =
        text_of(node, "StorageClass").map(|s| parse_storage_class(&el("StorageClass"), &s)).transpose()?;
    let lag_objective_seconds = text_of(node, "LagObjectiveSeconds")
        .map(|v| parse_lag_objective(&el("LagObjectiveSeconds"), &v))
        .transpose()?
        .unwrap_or(DEFAULT_LAG_OBJECTIVE_SECONDS);
    Ok(Rule {
        id,
        prefixes,
        action,
        destination: Bucket { name: bucket, endpoint, api },
        role,
        historical,
        kms,
        storage_class,
        delete_unmarked,
        lag_objective_seconds,
        two_way,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonConfig {
    source: Option<JsonBucket>,
    rules: Vec<JsonRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonBucket {
    bucket: String,
    endpoint: Option<String>,
    region: Option<String>,
    location: Option<String>,
    #[serde(default)]
    accelerate: bool,
    path_style: Option<bool>,
    /// `auto` (default), `s3` or `oss`.
    api: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonRule {
    id: Option<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    action: Option<String>,
    destination: JsonBucket,
    role: String,
    historical: Option<bool>,
    #[serde(default)]
    replicate_kms: bool,
    replica_kms_key_id: Option<String>,
    storage_class: Option<String>,
    #[serde(default)]
    delete_unmarked: bool,
    lag_objective_seconds: Option<u64>,
    #[serde(default)]
    two_way: bool,
}

fn parse_json(
    text: &str,
    at: &dyn Fn(String) -> String,
    r: &Reader,
    d: &Defaults,
) -> Result<(Bucket, Vec<Rule>), ConfigError> {
    let raw: JsonConfig = serde_json::from_str(text).map_err(|e| {
        ConfigError::invalid(
            at("JSON".into()),
            e.to_string(),
            "{\"rules\": [{\"destination\": {\"bucket\": ...}, \"role\": ...}]} with known fields only",
        )
    })?;
    let source = match raw.source {
        Some(b) => json_bucket(b, &at("source".into()), d)?,
        None => source_from_env(r, d)?,
    };
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, jr) in raw.rules.into_iter().enumerate() {
        let id = jr.id.unwrap_or_else(|| format!("rule-{}", i + 1));
        let el = |name: &str| at(format!("rules[{i}] ({id}) {name}"));
        check_prefixes(&el("prefixes"), &jr.prefixes.join(","), &jr.prefixes)?;
        let kms = match (jr.replicate_kms, jr.replica_kms_key_id) {
            (false, _) => KmsPolicy::Skip,
            (true, Some(key_id)) => KmsPolicy::Replicate { key_id },
            (true, None) => {
                return Err(ConfigError::missing(
                    el("replicaKmsKeyId"),
                    "the destination KMS key when replicateKms is true",
                ))
            }
        };
        rules.push(Rule {
            prefixes: jr.prefixes,
            action: match jr.action {
                Some(a) => parse_action(&el("action"), &a)?,
                None => super::RuleAction::Put,
            },
            destination: json_bucket(jr.destination, &el("destination"), d)?,
            role: parse_role(&el("role"), &jr.role)?,
            historical: jr.historical.unwrap_or(true),
            kms,
            storage_class: jr.storage_class.map(|s| parse_storage_class(&el("storageClass"), &s)).transpose()?,
            delete_unmarked: jr.delete_unmarked,
            lag_objective_seconds: match jr.lag_objective_seconds {
                Some(n) => parse_lag_objective(&el("lagObjectiveSeconds"), &n.to_string())?,
                None => DEFAULT_LAG_OBJECTIVE_SECONDS,
            },
            two_way: jr.two_way,
            id,
        });
    }
    Ok((source, rules))
}

fn json_bucket(b: JsonBucket, setting: &str, d: &Defaults) -> Result<Bucket, ConfigError> {
    check_bucket(&format!("{setting}.bucket"), &b.bucket)?;
    let mut endpoint = match (b.endpoint, b.location) {
        (Some(url), location) => {
            let url = parse_endpoint(&format!("{setting}.endpoint"), &url)?;
            Endpoint {
                path_style: b.path_style.or(d.path_style).unwrap_or_else(|| default_path_style(Some(&url))),
                region: b
                    .region
                    .or_else(|| location.map(|l| l.trim_start_matches("oss-").to_owned()))
                    .unwrap_or_else(|| d.source_region.clone()),
                url: Some(url),
            }
        }
        (None, Some(location)) => Endpoint::oss(&location),
        (None, None) => Endpoint {
            url: None,
            region: b.region.unwrap_or_else(|| d.source_region.clone()),
            path_style: b.path_style.or(d.path_style).unwrap_or(false),
        },
    };
    if b.accelerate {
        endpoint = accelerate(endpoint, &format!("{setting}.accelerate"))?;
    }
    let api = b.api.map(|a| parse_api(&format!("{setting}.api"), &a)).transpose()?.flatten();
    Ok(Bucket { name: b.bucket, api: choose_api(api, &endpoint), endpoint })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{Config, KmsPolicy, RuleAction};

    fn load(text: &str, ext: &str, extra: &[(&str, &str)]) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!("crr-config-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("crr.{ext}"));
        std::fs::write(&path, text).unwrap();
        let mut s: HashMap<String, String> = [
            ("CRR_CONFIG", path.to_str().unwrap()),
            ("CRR_SOURCE_BUCKET", "src-bucket"),
            ("CRR_SOURCE_REGION", "cn-hangzhou"),
            ("CRR_SOURCE_ENDPOINT", "https://s3.oss-cn-hangzhou.aliyuncs.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            s.insert(k.to_string(), v.to_string());
        }
        Config::from_settings(&s).map_err(|e| e.to_string())
    }

    const OSS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ReplicationConfiguration>
  <Rule>
    <ID>video</ID>
    <PrefixSet><Prefix>source1</Prefix><Prefix>video</Prefix></PrefixSet>
    <Action>ALL</Action>
    <Destination>
      <Bucket>destbucket</Bucket>
      <Location>oss-cn-beijing</Location>
      <TransferType>oss_acc</TransferType>
    </Destination>
    <HistoricalObjectReplication>disabled</HistoricalObjectReplication>
    <SyncRole>aliyunramrole</SyncRole>
    <SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>
    <EncryptionConfiguration><ReplicaKmsKeyID>c4d49f85-ee30-426b-a5ed-95e9139d0000</ReplicaKmsKeyID></EncryptionConfiguration>
    <RTC><Status>enabled</Status></RTC>
  </Rule>
  <Rule>
    <ID>logs</ID>
    <PrefixSet><Prefix>logs/</Prefix></PrefixSet>
    <Destination><Bucket>backup</Bucket><Endpoint>http://127.0.0.1:4590</Endpoint><Region>us-east-1</Region><Api>oss</Api></Destination>
    <SyncRole>acs:ram::1234567890123456:role/other</SyncRole>
    <StorageClass>IA</StorageClass>
    <LagObjectiveSeconds>120</LagObjectiveSeconds>
    <TwoWay>true</TwoWay>
  </Rule>
</ReplicationConfiguration>"#;

    #[test]
    fn oss_replication_configuration_xml() {
        let c = load(OSS_XML, "xml", &[("CRR_SOURCE_ACCOUNT_ID", "1111111111111111")]).unwrap();
        assert_eq!(c.source.name, "src-bucket");
        assert_eq!(c.rules.len(), 2);
        let video = &c.rules[0];
        assert_eq!(video.id, "video");
        assert_eq!(video.prefixes, vec!["source1", "video"]);
        assert_eq!(video.action, RuleAction::All);
        assert_eq!(video.destination.name, "destbucket");
        assert_eq!(video.destination.endpoint.url.as_deref(), Some("https://oss-accelerate.aliyuncs.com"));
        assert_eq!(video.destination.endpoint.region, "cn-beijing");
        assert_eq!(video.destination.api, crate::config::Api::Oss, "a Location speaks OSS's own API");
        assert!(!video.historical);
        assert_eq!(video.role.to_string(), "acs:ram::1111111111111111:role/aliyunramrole");
        assert_eq!(video.kms, KmsPolicy::Replicate { key_id: "c4d49f85-ee30-426b-a5ed-95e9139d0000".into() });
        let logs = &c.rules[1];
        assert_eq!(logs.action, RuleAction::Put);
        assert!(logs.historical);
        assert_eq!(logs.kms, KmsPolicy::Skip);
        assert!(logs.destination.endpoint.path_style);
        assert_eq!(logs.storage_class.as_deref(), Some("IA"));
        assert!(logs.two_way && !video.two_way);
        assert_eq!(logs.role.to_string(), "acs:ram::1234567890123456:role/other");
        assert_eq!(
            (video.lag_objective_seconds, logs.lag_objective_seconds),
            (600, 120),
            "RTC's 10 minutes by default"
        );
        assert_eq!(logs.destination.api, crate::config::Api::Oss, "<Api> overrides the endpoint's");
    }

    #[test]
    fn xml_errors_name_the_rule_and_element() {
        for (xml, want) in [
            ("<ReplicationConfiguration><Rule><ID>r</ID><Action>DELETE</Action></Rule></ReplicationConfiguration>", "Rule 1 (r) <Action>=\"DELETE\" is not valid; expected PUT"),
            ("<ReplicationConfiguration><Rule><ID>r</ID></Rule></ReplicationConfiguration>", "Rule 1 (r) <Destination> is not set"),
            ("<ReplicationConfiguration><Rule><Destination><Bucket>b-b</Bucket></Destination></Rule></ReplicationConfiguration>", "Rule 1 (rule-1) <Destination/Location> is not set"),
            ("<ReplicationConfiguration><Rule><Destination><Bucket>b-b</Bucket><Location>oss-cn-x</Location></Destination><SyncRole>name</SyncRole></Rule></ReplicationConfiguration>", "set CRR_SOURCE_ACCOUNT_ID"),
            ("<ReplicationConfiguration><Rule><Bogus/></Rule></ReplicationConfiguration>", "<Bogus>=\"Bogus\" is not valid; expected one of ID"),
            ("<Replication/>", "root element=\"Replication\" is not valid; expected <ReplicationConfiguration>"),
            ("<ReplicationConfiguration><Rule><ID>r</ID><Destination><Bucket>b-b</Bucket><Location>oss-cn-x</Location></Destination><SyncRole>acs:ram::1234567890123456:role/r</SyncRole><StorageClass>Archve</StorageClass></Rule></ReplicationConfiguration>", "Rule 1 (r) <StorageClass>=\"Archve\" is not valid; expected an S3 storage class (STANDARD"),
            ("<ReplicationConfiguration><Rule>", "XML="),
            ("<ReplicationConfiguration><Rule><ID>r</ID><Destination><Bucket>b-b</Bucket><Location>oss-cn-x</Location></Destination><SyncRole>acs:ram::1234567890123456:role/r</SyncRole><LagObjectiveSeconds>10m</LagObjectiveSeconds></Rule></ReplicationConfiguration>", "Rule 1 (r) <LagObjectiveSeconds>=\"10m\" is not valid; expected a number of seconds, 1-86400"),
            ("<ReplicationConfiguration><Rule><PrefixSet><Prefix>1</Prefix><Prefix>2</Prefix><Prefix>3</Prefix><Prefix>4</Prefix><Prefix>5</Prefix><Prefix>6</Prefix><Prefix>7</Prefix><Prefix>8</Prefix><Prefix>9</Prefix><Prefix>10</Prefix><Prefix>11</Prefix></PrefixSet></Rule></ReplicationConfiguration>", "at most 10 key prefixes"),
        ] {
            let err = load(xml, "xml", &[]).unwrap_err();
            assert!(err.contains(want), "{xml}\n got: {err}\nwant: {want}");
            assert!(err.starts_with("CRR_CONFIG "), "{err}");
        }
    }

    #[test]
    fn json_configuration() {
        let json = r#"{
          "source": {"bucket": "crr-src", "endpoint": "http://127.0.0.1:4590", "region": "us-east-1"},
          "rules": [
            {"id": "a", "prefixes": ["a/"], "action": "ALL", "role": "arn:aws:iam::222222222222:role/r", "twoWay": true,
             "destination": {"bucket": "dst-a", "endpoint": "http://127.0.0.1:4590"}},
            {"id": "b", "prefixes": ["b/"], "role": "arn:aws:iam::222222222222:role/r", "replicateKms": true,
             "replicaKmsKeyId": "k", "historical": false, "storageClass": "coldarchive", "lagObjectiveSeconds": 30,
             "destination": {"bucket": "dst-a", "location": "oss-cn-shanghai", "api": "s3"}}
          ]}"#;
        let c = load(json, "json", &[]).unwrap();
        assert_eq!(c.source.name, "crr-src");
        assert!(c.source.endpoint.path_style);
        assert_eq!(c.rules[0].action, RuleAction::All);
        assert!(c.rules[0].two_way && !c.rules[1].two_way);
        assert_eq!(c.rules[1].kms, KmsPolicy::Replicate { key_id: "k".into() });
        assert_eq!(c.rules[1].destination.endpoint.region, "cn-shanghai");
        assert_eq!(c.rules[1].destination.api, crate::config::Api::S3, "\"api\" overrides the endpoint's");
        assert_eq!(c.source.api, crate::config::Api::S3);
        assert!(!c.rules[1].historical);
        assert_eq!(c.rules[0].storage_class, None);
        assert_eq!((c.rules[0].lag_objective_seconds, c.rules[1].lag_objective_seconds), (600, 30));
        assert_eq!(c.rules[1].storage_class.as_deref(), Some("ColdArchive"), "spelled the way OSS spells it");
    }

    #[test]
    fn json_errors() {
        let role = "\"role\": \"arn:aws:iam::222222222222:role/r\"";
        for (json, want) in [
            (r#"{"rules": [{"destination": {"bucket": "d-d"}, "role": "x"}]}"#.to_string(), "rules[0] (rule-1) role=\"x\" is not valid"),
            (r#"{"rules": [{"destination": {"bucket": "d-d"}, "rolle": "x"}]}"#.to_string(), "unknown field `rolle`"),
            (format!(r#"{{"rules": [{{"destination": {{"bucket": "d-d"}}, {role}, "replicateKms": true}}]}}"#), "replicaKmsKeyId is not set"),
            (format!(r#"{{"rules": [{{"destination": {{"bucket": "D"}}, {role}}}]}}"#), "destination.bucket=\"D\" is not valid"),
            (format!(r#"{{"rules": [{{"id": "x", "destination": {{"bucket": "d-d"}}, {role}}}, {{"id": "y", "destination": {{"bucket": "d-d"}}, {role}}}]}}"#), "rules x and y=\"d-d\" is not valid; expected rules with the same destination bucket to have prefixes that do not overlap"),
            (r#"{"rules": []}"#.to_string(), "rules is not set; expected at least one replication rule"),
            (format!(r#"{{"rules": [{{"destination": {{"bucket": "d-d"}}, {role}, "lagObjectiveSeconds": 0}}]}}"#), "rules[0] (rule-1) lagObjectiveSeconds=\"0\" is not valid; expected a number of seconds, 1-86400"),
            (format!(r#"{{"rules": [{{"destination": {{"bucket": "d-d"}}, {role}, "storageClass": "GLACIER-IR"}}]}}"#), "rules[0] (rule-1) storageClass=\"GLACIER-IR\" is not valid; expected an S3 storage class (STANDARD"),
        ] {
            let err = load(&json, "json", &[]).unwrap_err();
            assert!(err.contains(want), "{json}\n got: {err}\nwant: {want}");
        }
        assert!(load("rules: []", "yaml", &[])
            .unwrap_err()
            .contains("an OSS ReplicationConfiguration XML document or a JSON object"));
    }
}
