//! Reading the configuration from `CRR_*` variables: the typed reader whose
//! errors name the variable, the settings every form shares, and a single rule
//! when no configuration file is named.

use std::collections::HashMap;
use std::time::Duration;

use super::validate::{BUCKET_FORM, ROLE_FORM};
use super::*;

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

    fn api(&self, name: &str) -> Result<Option<Api>, ConfigError> {
        Ok(self.opt(name).map(|v| parse_api(name, &v)).transpose()?.flatten())
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

/// Settings every configuration form shares: from the environment.
pub(crate) struct Defaults {
    pub source_region: String,
    pub path_style: Option<bool>,
    /// `CRR_SOURCE_API`: `None` chooses by endpoint.
    pub source_api: Option<Api>,
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
            source_api: r.api("CRR_SOURCE_API")?,
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
                let text = file::read(&path)?;
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
    if let Some(v) = range("CRR_ABANDONED_UPLOAD_SECONDS", 0, 30 * 24 * 3600, "seconds")? {
        b.abandoned_uploads = Duration::from_secs(v);
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
    let endpoint = Endpoint {
        path_style: d.path_style.unwrap_or_else(|| default_path_style(url.as_deref())),
        url,
        region: d.source_region.clone(),
    };
    Ok(Bucket { name: r.bucket("CRR_SOURCE_BUCKET")?, api: choose_api(d.source_api, &endpoint), endpoint })
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
    let api = choose_api(r.api("CRR_DEST_API")?, &endpoint);
    let destination = Bucket { name: r.bucket("CRR_DEST_BUCKET")?, endpoint, api };
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
        lag_objective_seconds: match r.opt("CRR_LAG_OBJECTIVE_SECONDS") {
            Some(v) => parse_lag_objective("CRR_LAG_OBJECTIVE_SECONDS", &v)?,
            None => DEFAULT_LAG_OBJECTIVE_SECONDS,
        },
        two_way: r.bool("CRR_TWO_WAY")?.unwrap_or(false),
    })
}
