//! Replication configuration, parsed once per instance.
//!
//! One rule comes from `CRR_*` environment variables; many rules come from the file
//! named by `CRR_CONFIG`, in the OSS `ReplicationConfiguration` XML form or as JSON
//! (see [`file`]). Every problem is reported with the setting (variable or file
//! element), the value it had and the form that was expected.

pub mod file;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::arn::RoleArn;

/// Where a bucket is served from and how to address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `None`: the provider's default endpoint for `region` (AWS only).
    pub url: Option<String>,
    pub region: String,
    /// Path-style (`host/bucket/key`) instead of virtual-hosted (`bucket.host/key`).
    pub path_style: bool,
}

impl Endpoint {
    /// True when both endpoints reach the same service, so a server-side copy can work.
    pub fn same_service(&self, other: &Endpoint) -> bool {
        self.url == other.url && self.region == other.region
    }

    /// The S3-compatible endpoint of an OSS region (`oss-cn-beijing` or `cn-beijing`).
    pub fn oss(location: &str) -> Endpoint {
        let region = location.strip_prefix("oss-").unwrap_or(location);
        Endpoint {
            url: Some(format!("https://s3.oss-{region}.aliyuncs.com")),
            region: region.to_owned(),
            path_style: false,
        }
    }

    /// True for Alibaba Cloud OSS endpoints.
    pub fn is_oss(&self) -> bool {
        self.url.as_deref().is_some_and(|u| u.contains(".aliyuncs.com"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub endpoint: Endpoint,
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Whether deletes replicate (OSS `Action`): `PUT` copies creates only, `ALL` also deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Put,
    All,
}

/// What happens to objects encrypted with KMS in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsPolicy {
    /// Not replicated (OSS `SseKmsEncryptedObjects` disabled, the default).
    Skip,
    /// Replicated and encrypted in the destination with this key.
    Replicate { key_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// Key prefixes this rule replicates; empty means every object.
    pub prefixes: Vec<String>,
    pub action: RuleAction,
    pub destination: Bucket,
    pub role: RoleArn,
    /// Whether backfill copies objects that existed before the rule.
    pub historical: bool,
    pub kms: KmsPolicy,
    /// Storage class for replicas; `None` keeps the destination's default.
    pub storage_class: Option<String>,
    /// With action `ALL`: may deletes remove destination objects crr did not write
    /// (no replica mark, or one naming another source)? Off by default.
    pub delete_unmarked: bool,
}

impl Rule {
    pub fn matches(&self, key: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }
}

/// How the replication role is assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsSettings {
    /// `None`: the provider's public endpoint.
    pub endpoint: Option<String>,
    pub region: String,
    pub duration: Duration,
    pub external_id: Option<String>,
}

/// Whether copies may happen inside the storage service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// Server-side copy when both buckets share an endpoint and the role can read
    /// the source; streaming otherwise.
    Auto,
    /// Always stream through the function.
    Stream,
    /// Always server-side; fail if the role cannot read the source.
    ServerSide,
}

/// Tuning of the copy engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySettings {
    pub mode: CopyMode,
    /// Part size for multipart copies whose layout is not taken from the source.
    pub part_size: u64,
    /// Parts in flight per object. Memory stays small: parts are streamed, not buffered.
    pub part_concurrency: usize,
    /// Single-part sources above this size are copied in parallel parts.
    pub multipart_threshold: u64,
    /// Records of one invocation handled at the same time.
    pub record_concurrency: usize,
    /// The servers send `x-amz-tagging-count` for tagged objects (S3, OSS do), so
    /// tags are fetched only when there are some. Off: always fetched.
    pub tag_counts_reported: bool,
}

impl Default for CopySettings {
    fn default() -> Self {
        CopySettings {
            mode: CopyMode::Auto,
            part_size: 16 * MIB,
            part_concurrency: 4,
            multipart_threshold: 256 * MIB,
            record_concurrency: 16,
            tag_counts_reported: true,
        }
    }
}

pub const MIB: u64 = 1024 * 1024;
/// S3 and OSS: parts are at least 5 MiB (except the last) and at most 5 GiB.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;

/// Tuning of backfill passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSettings {
    /// Keys per listing page, and per checkpoint (1-1000).
    pub page_size: i32,
    /// Copies in flight during a pass.
    pub concurrency: usize,
    /// How long a runner's lease lasts without renewal.
    pub lease: Duration,
    /// For rules without historical replication: only objects modified at or after
    /// this time (seconds since the epoch) are backfilled.
    pub since: Option<i64>,
}

impl Default for BackfillSettings {
    fn default() -> Self {
        BackfillSettings { page_size: 1000, concurrency: 32, lease: Duration::from_secs(60), since: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub source: Bucket,
    pub rules: Vec<Rule>,
    pub sts: StsSettings,
    pub copy: CopySettings,
    pub backfill: BackfillSettings,
}

/// A configuration problem: which setting, what it held, what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub setting: String,
    pub value: Option<String>,
    pub expected: String,
}

impl ConfigError {
    pub fn missing(setting: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError { setting: setting.into(), value: None, expected: expected.into() }
    }

    pub fn invalid(setting: impl Into<String>, value: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError { setting: setting.into(), value: Some(value.into()), expected: expected.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            None => write!(f, "{} is not set; expected {}", self.setting, self.expected),
            Some(v) => write!(f, "{}={v:?} is not valid; expected {}", self.setting, self.expected),
        }
    }
}

/// Reads settings by name; the process environment in production, a map in tests.
pub trait Settings {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Settings for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Settings for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// Typed access to settings, with errors that name the setting.
pub(crate) struct Reader<'a>(pub(crate) &'a dyn Settings);

const BUCKET_FORM: &str = "a bucket name: 3-63 lowercase letters, digits, '-', '.' or '_'";
const ENDPOINT_FORM: &str = "an endpoint URL such as https://s3.oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:4590";
const ROLE_FORM: &str = "the replication role ARN, arn:aws:iam::<account>:role/<name> or acs:ram::<uid>:role/<name>";

impl Reader<'_> {
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str, expected: &str) -> Result<String, ConfigError> {
        self.opt(name).ok_or_else(|| ConfigError::missing(name, expected))
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.opt(name).map(|v| parse_bool(name, &v)).transpose()
    }

    fn number<T: std::str::FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, ConfigError> {
        self.opt(name).map(|v| v.parse::<T>().map_err(|_| ConfigError::invalid(name, &v, expected))).transpose()
    }

    fn size(&self, name: &str) -> Result<Option<u64>, ConfigError> {
        self.opt(name).map(|v| parse_size(name, &v)).transpose()
    }

    fn bucket(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.required(name, BUCKET_FORM)?;
        check_bucket(name, &value)?;
        Ok(value)
    }

    fn endpoint_url(&self, name: &str) -> Result<Option<String>, ConfigError> {
        self.opt(name).map(|v| parse_endpoint(name, &v)).transpose()
    }

    fn region(&self, name: &str, fallback: Option<&str>) -> String {
        self.opt(name)
            .or_else(|| fallback.map(str::to_owned))
            .or_else(|| self.opt("FC_REGION"))
            .or_else(|| self.opt("AWS_REGION"))
            .or_else(|| self.opt("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned())
    }
}

pub(crate) fn parse_bool(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "enabled" => Ok(true),
        "0" | "false" | "no" | "off" | "disabled" => Ok(false),
        _ => Err(ConfigError::invalid(setting, value, "true or false (or enabled / disabled)")),
    }
}

/// `16777216`, `16MiB`, `16M`, `1GiB`.
pub(crate) fn parse_size(setting: &str, value: &str) -> Result<u64, ConfigError> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let unit_bytes = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if unit_bytes > 0 => Ok(n * unit_bytes),
        _ => Err(ConfigError::invalid(setting, value, "a size in bytes, or with a unit: 16MiB, 1GiB")),
    }
}

pub(crate) fn check_bucket(setting: &str, value: &str) -> Result<(), ConfigError> {
    if valid_bucket_name(value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(setting, value, BUCKET_FORM))
    }
}

pub(crate) fn parse_endpoint(setting: &str, value: &str) -> Result<String, ConfigError> {
    normalize_endpoint(value).ok_or_else(|| ConfigError::invalid(setting, value, ENDPOINT_FORM))
}

pub(crate) fn parse_role(setting: &str, value: &str) -> Result<RoleArn, ConfigError> {
    value.parse().map_err(|e: crate::arn::RoleArnError| ConfigError::invalid(setting, value, e.to_string()))
}

/// Storage classes of Amazon S3 (`x-amz-storage-class`).
pub const S3_STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
    "OUTPOSTS",
    "SNOW",
];
/// Storage classes of Alibaba Cloud OSS, spelled as OSS spells them.
pub const OSS_STORAGE_CLASSES: &[&str] = &["Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"];

/// A replica storage class as its service spells it. Any case is accepted; a name
/// both services know (`standard`) takes the S3 spelling unless written the OSS way.
pub(crate) fn parse_storage_class(setting: &str, value: &str) -> Result<String, ConfigError> {
    let known = || S3_STORAGE_CLASSES.iter().chain(OSS_STORAGE_CLASSES);
    known()
        .find(|c| **c == value)
        .or_else(|| known().find(|c| c.eq_ignore_ascii_case(value)))
        .map(|c| (*c).to_owned())
        .ok_or_else(|| {
            ConfigError::invalid(
                setting,
                value,
                format!(
                    "an S3 storage class ({}) or an OSS one ({}), in any case",
                    S3_STORAGE_CLASSES.join(", "),
                    OSS_STORAGE_CLASSES.join(", ")
                ),
            )
        })
}

pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Adds `https://` when no scheme is given and drops a trailing `/`; `None` if it is no URL.
pub fn normalize_endpoint(value: &str) -> Option<String> {
    let with_scheme = if value.contains("://") { value.to_owned() } else { format!("https://{value}") };
    let rest = with_scheme.strip_prefix("https://").or_else(|| with_scheme.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    if host.is_empty() || host.contains(char::is_whitespace) || rest.trim_end_matches('/') != host {
        return None;
    }
    Some(with_scheme.trim_end_matches('/').to_owned())
}

/// Path-style addressing is the only one that works for IP addresses and localhost.
pub fn default_path_style(url: Option<&str>) -> bool {
    let Some(url) = url else { return false };
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
}

/// At most this many prefixes per rule, as in OSS.
pub const MAX_PREFIXES: usize = 10;

/// Settings every configuration form shares: from the environment.
pub(crate) struct Defaults {
    pub source_region: String,
    pub path_style: Option<bool>,
}

impl Config {
    /// The configuration the environment describes: the file named by `CRR_CONFIG`,
    /// or a single rule from `CRR_*` variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&ProcessEnv)
    }

    pub fn from_settings(settings: &dyn Settings) -> Result<Self, ConfigError> {
        let r = Reader(settings);
        let defaults = Defaults {
            source_region: r.region("CRR_SOURCE_REGION", None),
            path_style: r.bool("CRR_FORCE_PATH_STYLE")?,
        };
        let sts = StsSettings {
            endpoint: r.endpoint_url("CRR_STS_ENDPOINT")?,
            region: r.region("CRR_STS_REGION", Some(&defaults.source_region)),
            duration: Duration::from_secs(sts_duration(&r)?),
            external_id: r.opt("CRR_STS_EXTERNAL_ID"),
        };
        let copy = copy_settings(&r)?;
        let backfill = backfill_settings(&r)?;

        let config = match r.opt("CRR_CONFIG") {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::invalid("CRR_CONFIG", &path, format!("a readable configuration file ({e})"))
                })?;
                file::parse(&path, &text, &r, &defaults, sts, copy, backfill)?
            }
            None => {
                let source = source_from_env(&r, &defaults)?;
                let rule = rule_from_env(&r, &defaults)?;
                Config { source, rules: vec![rule], sts, copy, backfill }
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// The rules that apply to `key` in the source bucket.
    pub fn rules_for<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches(key))
    }

    /// Checks what no single setting can: rule ids are unique, two rules never
    /// replicate the same key to the same bucket, and the source is not a destination.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rules.is_empty() {
            return Err(ConfigError::missing("rules", "at least one replication rule"));
        }
        for (i, a) in self.rules.iter().enumerate() {
            if a.destination.name == self.source.name && a.destination.endpoint.same_service(&self.source.endpoint) {
                return Err(ConfigError::invalid(
                    format!("rule {}: destination bucket", a.id),
                    &a.destination.name,
                    "a bucket other than the source bucket",
                ));
            }
            for b in &self.rules[i + 1..] {
                if a.id == b.id {
                    return Err(ConfigError::invalid("rule ID", &a.id, "a unique ID per rule"));
                }
                if a.destination.name == b.destination.name && prefixes_overlap(&a.prefixes, &b.prefixes) {
                    return Err(ConfigError::invalid(
                        format!("rules {} and {}", a.id, b.id),
                        &a.destination.name,
                        "rules with the same destination bucket to have prefixes that do not overlap",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn prefixes_overlap(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return true;
    }
    a.iter().any(|x| b.iter().any(|y| x.starts_with(y.as_str()) || y.starts_with(x.as_str())))
}

fn sts_duration(r: &Reader) -> Result<u64, ConfigError> {
    let expected = "a number of seconds between 900 and 43200";
    match r.number::<u64>("CRR_STS_DURATION", expected)? {
        None => Ok(3600),
        Some(d) if (900..=43200).contains(&d) => Ok(d),
        Some(d) => Err(ConfigError::invalid("CRR_STS_DURATION", d.to_string(), expected)),
    }
}

fn copy_settings(r: &Reader) -> Result<CopySettings, ConfigError> {
    let mut s = CopySettings::default();
    if let Some(mode) = r.opt("CRR_COPY_MODE") {
        s.mode = match mode.to_ascii_lowercase().as_str() {
            "auto" => CopyMode::Auto,
            "stream" => CopyMode::Stream,
            "server-side" | "server_side" | "serverside" => CopyMode::ServerSide,
            _ => return Err(ConfigError::invalid("CRR_COPY_MODE", mode, "auto, stream or server-side")),
        };
    }
    if let Some(size) = r.size("CRR_PART_SIZE")? {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) {
            return Err(ConfigError::invalid("CRR_PART_SIZE", size.to_string(), "between 5MiB and 5GiB"));
        }
        s.part_size = size;
    }
    if let Some(n) = r.number::<usize>("CRR_PART_CONCURRENCY", "a number of parts in flight, 1-64")? {
        if !(1..=64).contains(&n) {
            return Err(ConfigError::invalid(
                "CRR_PART_CONCURRENCY",
                n.to_string(),
                "a number of parts in flight, 1-64",
            ));
        }
        s.part_concurrency = n;
    }
    if let Some(t) = r.size("CRR_MULTIPART_THRESHOLD")? {
        s.multipart_threshold = t.max(MIN_PART_SIZE);
    }
    if let Some(n) = r.number::<usize>("CRR_RECORD_CONCURRENCY", "a number of records in flight, 1-256")? {
        if !(1..=256).contains(&n) {
            return Err(ConfigError::invalid(
                "CRR_RECORD_CONCURRENCY",
                n.to_string(),
                "a number of records in flight, 1-256",
            ));
        }
        s.record_concurrency = n;
    }
    if let Some(v) = r.opt("CRR_TAG_COUNTS") {
        s.tag_counts_reported =
            match v.to_ascii_lowercase().as_str() {
                "reported" => true,
                "unreported" => false,
                _ => return Err(ConfigError::invalid(
                    "CRR_TAG_COUNTS",
                    v,
                    "reported (the servers send x-amz-tagging-count, the default) or unreported (always fetch tags)",
                )),
            };
    }
    Ok(s)
}

fn backfill_settings(r: &Reader) -> Result<BackfillSettings, ConfigError> {
    let mut b = BackfillSettings::default();
    let range = |name: &str, lo: u64, hi: u64, what: &str| -> Result<Option<u64>, ConfigError> {
        let expected = format!("{what}, {lo}-{hi}");
        match r.number::<u64>(name, &expected)? {
            Some(v) if !(lo..=hi).contains(&v) => Err(ConfigError::invalid(name, v.to_string(), expected)),
            other => Ok(other),
        }
    };
    if let Some(v) = range("CRR_BACKFILL_PAGE_SIZE", 1, 1000, "keys per listing page")? {
        b.page_size = v as i32;
    }
    if let Some(v) = range("CRR_BACKFILL_CONCURRENCY", 1, 256, "copies in flight")? {
        b.concurrency = v as usize;
    }
    if let Some(v) = range("CRR_BACKFILL_LEASE_SECONDS", 5, 3600, "seconds")? {
        b.lease = Duration::from_secs(v);
    }
    if let Some(v) = r.opt("CRR_REPLICATE_SINCE") {
        let t =
            aws_smithy_types::DateTime::from_str(&v, aws_smithy_types::date_time::Format::DateTime).map_err(|_| {
                ConfigError::invalid("CRR_REPLICATE_SINCE", &v, "an RFC 3339 time such as 2026-01-31T00:00:00Z")
            })?;
        b.since = Some(t.secs());
    }
    Ok(b)
}

pub(crate) fn source_from_env(r: &Reader, d: &Defaults) -> Result<Bucket, ConfigError> {
    let url = r.endpoint_url("CRR_SOURCE_ENDPOINT")?;
    Ok(Bucket {
        name: r.bucket("CRR_SOURCE_BUCKET")?,
        endpoint: Endpoint {
            path_style: d.path_style.unwrap_or_else(|| default_path_style(url.as_deref())),
            url,
            region: d.source_region.clone(),
        },
    })
}

fn rule_from_env(r: &Reader, d: &Defaults) -> Result<Rule, ConfigError> {
    let dest_url = r.endpoint_url("CRR_DEST_ENDPOINT")?;
    let mut endpoint = Endpoint {
        path_style: d.path_style.unwrap_or_else(|| default_path_style(dest_url.as_deref())),
        url: dest_url,
        region: r.region("CRR_DEST_REGION", Some(&d.source_region)),
    };
    if r.bool("CRR_DEST_ACCELERATE")?.unwrap_or(false) {
        endpoint = accelerate(endpoint, "CRR_DEST_ACCELERATE")?;
    }
    let destination = Bucket { name: r.bucket("CRR_DEST_BUCKET")?, endpoint };
    let role_text = r.required("CRR_ROLE_ARN", ROLE_FORM)?;
    let role = parse_role("CRR_ROLE_ARN", &role_text)?;
    let action = match r.opt("CRR_ACTION") {
        None => RuleAction::Put,
        Some(a) => parse_action("CRR_ACTION", &a)?,
    };
    let kms = match r.opt("CRR_KMS").map(|k| k.to_ascii_lowercase()) {
        None => KmsPolicy::Skip,
        Some(k) if k == "skip" => KmsPolicy::Skip,
        Some(k) if k == "replicate" => KmsPolicy::Replicate {
            key_id: r.required("CRR_REPLICA_KMS_KEY_ID", "the destination KMS key id when CRR_KMS=replicate")?,
        },
        Some(k) => {
            return Err(ConfigError::invalid(
                "CRR_KMS",
                k,
                "skip (do not replicate KMS-encrypted objects) or replicate",
            ))
        }
    };
    let prefixes = match r.opt("CRR_PREFIXES") {
        None => Vec::new(),
        Some(raw) => {
            let list: Vec<String> = raw.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
            check_prefixes("CRR_PREFIXES", &raw, &list)?;
            list
        }
    };
    Ok(Rule {
        id: r.opt("CRR_RULE_ID").unwrap_or_else(|| "default".into()),
        prefixes,
        action,
        destination,
        role,
        historical: r.bool("CRR_HISTORICAL")?.unwrap_or(true),
        kms,
        storage_class: r.opt("CRR_STORAGE_CLASS").map(|s| parse_storage_class("CRR_STORAGE_CLASS", &s)).transpose()?,
        delete_unmarked: r.bool("CRR_DELETE_UNMARKED")?.unwrap_or(false),
    })
}

pub(crate) fn parse_action(setting: &str, value: &str) -> Result<RuleAction, ConfigError> {
    match value.to_ascii_uppercase().as_str() {
        "PUT" => Ok(RuleAction::Put),
        "ALL" => Ok(RuleAction::All),
        _ => Err(ConfigError::invalid(
            setting,
            value,
            "PUT (replicate creates only, the default) or ALL (creates and deletes)",
        )),
    }
}

pub(crate) fn check_prefixes(setting: &str, raw: &str, list: &[String]) -> Result<(), ConfigError> {
    if list.len() > MAX_PREFIXES {
        return Err(ConfigError::invalid(setting, raw, "at most 10 key prefixes per rule"));
    }
    Ok(())
}

/// The transfer-acceleration endpoint for a destination.
pub(crate) fn accelerate(endpoint: Endpoint, setting: &str) -> Result<Endpoint, ConfigError> {
    if endpoint.url.is_none() {
        // AWS: the SDK's accelerate flag picks s3-accelerate; we keep the regional
        // endpoint explicit instead, which works everywhere.
        return Ok(Endpoint { url: Some("https://s3-accelerate.amazonaws.com".into()), path_style: false, ..endpoint });
    }
    if endpoint.is_oss() {
        return Ok(Endpoint {
            url: Some("https://s3.oss-accelerate.aliyuncs.com".into()),
            path_style: false,
            ..endpoint
        });
    }
    Err(ConfigError::invalid(setting, "true", "transfer acceleration only with an OSS or AWS destination endpoint"))
}

#[cfg(test)]
mod tests {
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
            ("CRR_BACKFILL_PAGE_SIZE", "200"),
            ("CRR_BACKFILL_CONCURRENCY", "8"),
            ("CRR_BACKFILL_LEASE_SECONDS", "30"),
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
        assert_eq!(
            c.backfill,
            BackfillSettings {
                page_size: 200,
                concurrency: 8,
                lease: Duration::from_secs(30),
                since: Some(1_769_817_600)
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
            (
                with(&[("CRR_PART_SIZE", "1MiB")]),
                "CRR_PART_SIZE=\"1048576\" is not valid; expected between 5MiB and 5GiB",
            ),
            (with(&[("CRR_PART_SIZE", "lots")]), "CRR_PART_SIZE=\"lots\" is not valid; expected a size"),
            (
                with(&[("CRR_COPY_MODE", "magic")]),
                "CRR_COPY_MODE=\"magic\" is not valid; expected auto, stream or server-side",
            ),
            (with(&[("CRR_PREFIXES", "1,2,3,4,5,6,7,8,9,10,11")]), "at most 10 key prefixes"),
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
            assert!(err.starts_with(&format!("CRR_STORAGE_CLASS={typo:?} is not valid; expected an S3 storage class (STANDARD, REDUCED_REDUNDANCY,")), "{err}");
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
    }

    #[test]
    fn oss_locations_become_s3_compatible_endpoints() {
        let e = Endpoint::oss("oss-cn-beijing");
        assert_eq!(e.url.as_deref(), Some("https://s3.oss-cn-beijing.aliyuncs.com"));
        assert_eq!(e.region, "cn-beijing");
        assert!(e.is_oss());
        assert_eq!(Endpoint::oss("cn-hangzhou").region, "cn-hangzhou");
    }
}

/// One `CRR_*` environment variable the configuration reads. Deployment templates
/// and `crr doctor` check their environments against [`VARIABLES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// Must be set when the rule comes from variables (no `CRR_CONFIG`).
    /// `CRR_REPLICA_KMS_KEY_ID` is required only with `CRR_KMS=replicate`, so it is not.
    pub required: bool,
}

const fn required(name: &'static str) -> Variable {
    Variable { name, required: true }
}

const fn optional(name: &'static str) -> Variable {
    Variable { name, required: false }
}

/// Every `CRR_*` variable [`Config::from_settings`] reads (see the README's
/// configuration table); a unit test fails when the two disagree.
pub const VARIABLES: &[Variable] = &[
    required("CRR_SOURCE_BUCKET"),
    optional("CRR_SOURCE_ENDPOINT"),
    optional("CRR_SOURCE_REGION"),
    required("CRR_DEST_BUCKET"),
    optional("CRR_DEST_ENDPOINT"),
    optional("CRR_DEST_REGION"),
    optional("CRR_DEST_ACCELERATE"),
    required("CRR_ROLE_ARN"),
    optional("CRR_STS_ENDPOINT"),
    optional("CRR_STS_REGION"),
    optional("CRR_STS_DURATION"),
    optional("CRR_STS_EXTERNAL_ID"),
    optional("CRR_RULE_ID"),
    optional("CRR_PREFIXES"),
    optional("CRR_ACTION"),
    optional("CRR_HISTORICAL"),
    optional("CRR_KMS"),
    optional("CRR_REPLICA_KMS_KEY_ID"),
    optional("CRR_STORAGE_CLASS"),
    optional("CRR_FORCE_PATH_STYLE"),
    optional("CRR_COPY_MODE"),
    optional("CRR_PART_SIZE"),
    optional("CRR_PART_CONCURRENCY"),
    optional("CRR_MULTIPART_THRESHOLD"),
    optional("CRR_RECORD_CONCURRENCY"),
    optional("CRR_TAG_COUNTS"),
    optional("CRR_DELETE_UNMARKED"),
    optional("CRR_BACKFILL_PAGE_SIZE"),
    optional("CRR_BACKFILL_CONCURRENCY"),
    optional("CRR_BACKFILL_LEASE_SECONDS"),
    optional("CRR_REPLICATE_SINCE"),
    optional("CRR_CONFIG"),
    optional("CRR_SOURCE_ACCOUNT_ID"),
];

/// The entry of [`VARIABLES`] named `name`.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod variables_tests {
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    /// Settings that remember every name they were asked for.
    struct Recorder {
        values: HashMap<String, String>,
        asked: RefCell<BTreeSet<String>>,
    }

    impl Recorder {
        fn new(pairs: &[(&str, &str)]) -> Self {
            let values = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Recorder { values, asked: RefCell::new(BTreeSet::new()) }
        }
    }

    impl Settings for Recorder {
        fn get(&self, name: &str) -> Option<String> {
            self.asked.borrow_mut().insert(name.to_owned());
            self.values.get(name).cloned()
        }
    }

    /// A valid single-rule configuration that sets every variable, so every read happens.
    fn every_variable() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CRR_SOURCE_BUCKET", "crr-src"),
            ("CRR_SOURCE_ENDPOINT", "https://s3.oss-cn-hangzhou.aliyuncs.com"),
            ("CRR_SOURCE_REGION", "cn-hangzhou"),
            ("CRR_DEST_BUCKET", "crr-dst"),
            ("CRR_DEST_ENDPOINT", "https://s3.oss-cn-beijing.aliyuncs.com"),
            ("CRR_DEST_REGION", "cn-beijing"),
            ("CRR_DEST_ACCELERATE", "true"),
            ("CRR_ROLE_ARN", "acs:ram::1234567890123456:role/crr-replicator"),
            ("CRR_STS_ENDPOINT", "https://sts.cn-hangzhou.aliyuncs.com"),
            ("CRR_STS_REGION", "cn-hangzhou"),
            ("CRR_STS_DURATION", "900"),
            ("CRR_STS_EXTERNAL_ID", "ext"),
            ("CRR_RULE_ID", "r1"),
            ("CRR_PREFIXES", "a/,b/"),
            ("CRR_ACTION", "ALL"),
            ("CRR_HISTORICAL", "false"),
            ("CRR_KMS", "replicate"),
            ("CRR_REPLICA_KMS_KEY_ID", "key-1"),
            ("CRR_STORAGE_CLASS", "IA"),
            ("CRR_FORCE_PATH_STYLE", "false"),
            ("CRR_COPY_MODE", "stream"),
            ("CRR_PART_SIZE", "8MiB"),
            ("CRR_PART_CONCURRENCY", "2"),
            ("CRR_MULTIPART_THRESHOLD", "64MiB"),
            ("CRR_RECORD_CONCURRENCY", "4"),
            ("CRR_TAG_COUNTS", "unreported"),
            ("CRR_DELETE_UNMARKED", "true"),
            ("CRR_BACKFILL_PAGE_SIZE", "500"),
            ("CRR_BACKFILL_CONCURRENCY", "16"),
            ("CRR_BACKFILL_LEASE_SECONDS", "60"),
            ("CRR_REPLICATE_SINCE", "2026-01-01T00:00:00Z"),
            ("CRR_SOURCE_ACCOUNT_ID", "1234567890123456"),
        ]
    }

    /// The names a configuration read, across single-rule and rule-file mode.
    fn names_read() -> BTreeSet<String> {
        let single = Recorder::new(&every_variable());
        Config::from_settings(&single).expect("the full single-rule configuration is valid");

        // A rule file whose SyncRole is a bare name, completed from CRR_SOURCE_ACCOUNT_ID.
        let dir = std::env::temp_dir().join(format!("crr-variables-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("crr.xml");
        std::fs::write(
            &path,
            "<ReplicationConfiguration><Rule><ID>r</ID><Destination><Bucket>crr-dst</Bucket>\
             <Location>oss-cn-beijing</Location></Destination><SyncRole>crr-replicator</SyncRole>\
             </Rule></ReplicationConfiguration>",
        )
        .unwrap();
        let mut file_mode = every_variable();
        file_mode.push(("CRR_CONFIG", path.to_str().unwrap()));
        let file = Recorder::new(&file_mode);
        let config = Config::from_settings(&file);
        std::fs::remove_dir_all(&dir).ok();
        config.expect("the rule-file configuration is valid");

        let mut names = single.asked.into_inner();
        names.extend(file.asked.into_inner());
        names
    }

    #[test]
    fn every_crr_variable_the_config_reads_is_listed() {
        let unlisted: Vec<String> =
            names_read().into_iter().filter(|n| n.starts_with("CRR_") && variable(n).is_none()).collect();
        assert!(unlisted.is_empty(), "Config::from_settings reads {unlisted:?}, missing from config::VARIABLES");
    }

    #[test]
    fn every_listed_variable_is_read() {
        let read = names_read();
        let stale: Vec<&str> = VARIABLES.iter().map(|v| v.name).filter(|n| !read.contains(*n)).collect();
        assert!(stale.is_empty(), "config::VARIABLES lists {stale:?}, which the configuration never reads");
    }

    #[test]
    fn listed_names_are_unique() {
        let unique: BTreeSet<&str> = VARIABLES.iter().map(|v| v.name).collect();
        assert_eq!(unique.len(), VARIABLES.len(), "config::VARIABLES names a variable twice");
    }

    #[test]
    fn required_flags_match_the_single_rule_configuration() {
        let required: Vec<(&str, &str)> =
            every_variable().into_iter().filter(|(k, _)| variable(k).is_some_and(|v| v.required)).collect();
        assert!(!required.is_empty());
        Config::from_settings(&Recorder::new(&required)).expect("the required variables alone are a configuration");
        for (name, _) in &required {
            let without: Vec<(&str, &str)> = required.iter().copied().filter(|(k, _)| k != name).collect();
            let err = Config::from_settings(&Recorder::new(&without)).expect_err(name).to_string();
            assert!(err.starts_with(&format!("{name} is not set")), "without {name}: {err}");
        }
    }
}
