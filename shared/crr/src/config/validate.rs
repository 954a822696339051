//! Checking values and whole configurations: bucket names, endpoints, role ARNs,
//! sizes, storage classes, prefixes, and the rules against each other.

use super::*;

pub(super) const BUCKET_FORM: &str = "a bucket name: 3-63 lowercase letters, digits, '-', '.' or '_'";
pub(super) const ENDPOINT_FORM: &str =
    "an endpoint URL such as https://s3.oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:4590";
pub(super) const ROLE_FORM: &str =
    "the replication role ARN, arn:aws:iam::<account>:role/<name> or acs:ram::<uid>:role/<name>";

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
    // A size beyond u64 (16 EiB) is no size at all, not a wrap-around.
    match digits.parse::<u64>().ok().filter(|_| unit_bytes > 0).and_then(|n| n.checked_mul(unit_bytes)) {
        Some(bytes) => Ok(bytes),
        None => Err(ConfigError::invalid(setting, value, "a size in bytes, or with a unit: 16MiB, 1GiB")),
    }
}

/// A lag objective in whole seconds, 1 second to 1 day.
pub(crate) fn parse_lag_objective(setting: &str, value: &str) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(n),
        _ => {
            Err(ConfigError::invalid(setting, value, "a number of seconds, 1-86400 (the default, 600, is 10 minutes)"))
        }
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
        // The acceleration endpoint of the same API: native, or S3-compatible (`s3.oss-…`).
        let s3_compatible = endpoint.host().is_some_and(|h| h.starts_with("s3."));
        let url = if s3_compatible {
            "https://s3.oss-accelerate.aliyuncs.com"
        } else {
            "https://oss-accelerate.aliyuncs.com"
        };
        return Ok(Endpoint { url: Some(url.into()), path_style: false, ..endpoint });
    }
    Err(ConfigError::invalid(setting, "true", "transfer acceleration only with an OSS or AWS destination endpoint"))
}

impl Config {
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
