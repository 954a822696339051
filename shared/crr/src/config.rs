//! Replication configuration, parsed once per instance.
//!
//! One rule comes from `CRR_*` environment variables. Every problem is reported
//! with the variable, the value it had and the form that was expected.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// Key prefixes this rule replicates; empty means every object.
    pub prefixes: Vec<String>,
    pub action: RuleAction,
    pub destination: Bucket,
    pub role: RoleArn,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub source: Bucket,
    pub rules: Vec<Rule>,
    pub sts: StsSettings,
}

/// A configuration problem: which setting, what it held, what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub setting: String,
    pub value: Option<String>,
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            None => write!(f, "{} is not set; expected {}", self.setting, self.expected),
            Some(v) => write!(
                f,
                "{}={v:?} is not valid; expected {}",
                self.setting, self.expected
            ),
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

struct Reader<'a>(&'a dyn Settings);

impl Reader<'_> {
    fn opt(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str, expected: &str) -> Result<String, ConfigError> {
        self.opt(name).ok_or_else(|| ConfigError {
            setting: name.into(),
            value: None,
            expected: expected.into(),
        })
    }

    fn invalid(&self, name: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError {
            setting: name.into(),
            value: Some(value.into()),
            expected: expected.into(),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(Some(true)),
                "0" | "false" | "no" | "off" => Ok(Some(false)),
                _ => Err(self.invalid(name, &v, "true or false")),
            },
        }
    }

    fn bucket(&self, name: &str) -> Result<String, ConfigError> {
        let expected = "a bucket name: 3-63 lowercase letters, digits, '-', '.' or '_'";
        let value = self.required(name, expected)?;
        if valid_bucket_name(&value) {
            Ok(value)
        } else {
            Err(self.invalid(name, &value, expected))
        }
    }

    fn endpoint_url(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.opt(name) else {
            return Ok(None);
        };
        normalize_endpoint(&value)
            .map(Some)
            .ok_or_else(|| self.invalid(name, &value, "an endpoint URL such as https://oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:4590"))
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

pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Adds `https://` when no scheme is given and drops a trailing `/`; `None` if it is no URL.
pub fn normalize_endpoint(value: &str) -> Option<String> {
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("https://{value}")
    };
    let rest = with_scheme
        .strip_prefix("https://")
        .or_else(|| with_scheme.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    if host.is_empty() || host.contains(char::is_whitespace) || rest.trim_end_matches('/') != host {
        return None;
    }
    Some(with_scheme.trim_end_matches('/').to_owned())
}

/// Path-style addressing is the only one that works for IP addresses and localhost.
fn default_path_style(url: Option<&str>) -> bool {
    let Some(url) = url else { return false };
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
}

impl Config {
    /// The single rule described by `CRR_*` environment variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&ProcessEnv)
    }

    pub fn from_settings(settings: &dyn Settings) -> Result<Self, ConfigError> {
        let r = Reader(settings);
        let path_style = r.bool("CRR_FORCE_PATH_STYLE")?;

        let source_url = r.endpoint_url("CRR_SOURCE_ENDPOINT")?;
        let source_region = r.region("CRR_SOURCE_REGION", None);
        let source = Bucket {
            name: r.bucket("CRR_SOURCE_BUCKET")?,
            endpoint: Endpoint {
                path_style: path_style.unwrap_or_else(|| default_path_style(source_url.as_deref())),
                url: source_url,
                region: source_region.clone(),
            },
        };

        let dest_url = r.endpoint_url("CRR_DEST_ENDPOINT")?;
        let destination = Bucket {
            name: r.bucket("CRR_DEST_BUCKET")?,
            endpoint: Endpoint {
                path_style: path_style.unwrap_or_else(|| default_path_style(dest_url.as_deref())),
                url: dest_url,
                region: r.region("CRR_DEST_REGION", Some(&source_region)),
            },
        };

        let role_text = r.required("CRR_ROLE_ARN", "the replication role ARN, arn:aws:iam::<account>:role/<name> or acs:ram::<uid>:role/<name>")?;
        let role: RoleArn = role_text.parse().map_err(|e: crate::arn::RoleArnError| {
            r.invalid("CRR_ROLE_ARN", &role_text, &e.to_string())
        })?;

        let action = match r.opt("CRR_ACTION").map(|a| a.to_ascii_uppercase()) {
            None => RuleAction::Put,
            Some(a) if a == "PUT" => RuleAction::Put,
            Some(a) if a == "ALL" => RuleAction::All,
            Some(a) => {
                return Err(r.invalid(
                    "CRR_ACTION",
                    &a,
                    "PUT (replicate creates only, the default) or ALL (creates and deletes)",
                ))
            }
        };

        let prefixes = parse_prefixes(&r)?;
        let sts = StsSettings {
            endpoint: r.endpoint_url("CRR_STS_ENDPOINT")?,
            region: r.region("CRR_STS_REGION", Some(&source_region)),
            duration: Duration::from_secs(3600),
        };
        let rule = Rule {
            id: r.opt("CRR_RULE_ID").unwrap_or_else(|| "default".into()),
            prefixes,
            action,
            destination,
            role,
        };
        Ok(Config {
            source,
            rules: vec![rule],
            sts,
        })
    }

    /// The rules that apply to `key` in the source bucket.
    pub fn rules_for<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches(key))
    }
}

/// At most this many prefixes per rule, as in OSS.
pub const MAX_PREFIXES: usize = 10;

fn parse_prefixes(r: &Reader) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = r.opt("CRR_PREFIXES") else {
        return Ok(Vec::new());
    };
    let prefixes: Vec<String> = raw
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if prefixes.len() > MAX_PREFIXES {
        return Err(r.invalid(
            "CRR_PREFIXES",
            &raw,
            "at most 10 comma-separated key prefixes",
        ));
    }
    Ok(prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CRR_SOURCE_BUCKET", "crr-src"),
            ("CRR_DEST_BUCKET", "crr-dst"),
            (
                "CRR_ROLE_ARN",
                "arn:aws:iam::222222222222:role/crr-replicator",
            ),
        ]
    }

    #[test]
    fn minimal_config_has_safe_defaults() {
        let c = Config::from_settings(&settings(&minimal())).unwrap();
        assert_eq!(c.source.name, "crr-src");
        assert_eq!(c.rules.len(), 1);
        let rule = &c.rules[0];
        assert_eq!(
            rule.action,
            RuleAction::Put,
            "deletes are not replicated unless asked"
        );
        assert!(rule.prefixes.is_empty());
        assert!(rule.matches("anything/at/all"));
        assert_eq!(rule.destination.name, "crr-dst");
        assert!(!c.source.endpoint.path_style);
    }

    #[test]
    fn local_endpoints_use_path_style() {
        let mut s = minimal();
        s.push(("CRR_SOURCE_ENDPOINT", "http://127.0.0.1:4590"));
        s.push(("CRR_DEST_ENDPOINT", "oss-cn-beijing.aliyuncs.com"));
        let c = Config::from_settings(&settings(&s)).unwrap();
        assert!(c.source.endpoint.path_style);
        assert_eq!(
            c.rules[0].destination.endpoint.url.as_deref(),
            Some("https://oss-cn-beijing.aliyuncs.com")
        );
        assert!(!c.rules[0].destination.endpoint.path_style);
    }

    #[test]
    fn errors_name_the_variable_the_value_and_the_expected_form() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "CRR_SOURCE_BUCKET is not set; expected a bucket name"),
            (
                vec![("CRR_SOURCE_BUCKET", "Bad_Bucket!"), ("CRR_DEST_BUCKET", "d"), ("CRR_ROLE_ARN", "x")],
                "CRR_SOURCE_BUCKET=\"Bad_Bucket!\" is not valid; expected a bucket name",
            ),
            (
                vec![("CRR_SOURCE_BUCKET", "src"), ("CRR_DEST_BUCKET", "dst"), ("CRR_ROLE_ARN", "role/x")],
                "CRR_ROLE_ARN=\"role/x\" is not valid",
            ),
            (
                vec![
                    ("CRR_SOURCE_BUCKET", "src"),
                    ("CRR_DEST_BUCKET", "dst"),
                    ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/r"),
                    ("CRR_ACTION", "delete"),
                ],
                "CRR_ACTION=\"DELETE\" is not valid; expected PUT",
            ),
            (
                vec![
                    ("CRR_SOURCE_BUCKET", "src"),
                    ("CRR_DEST_BUCKET", "dst"),
                    ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/r"),
                    ("CRR_SOURCE_ENDPOINT", "http://host/with/path"),
                ],
                "CRR_SOURCE_ENDPOINT=\"http://host/with/path\" is not valid; expected an endpoint URL",
            ),
            (
                vec![
                    ("CRR_SOURCE_BUCKET", "src"),
                    ("CRR_DEST_BUCKET", "dst"),
                    ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/r"),
                    ("CRR_FORCE_PATH_STYLE", "maybe"),
                ],
                "CRR_FORCE_PATH_STYLE=\"maybe\" is not valid; expected true or false",
            ),
        ];
        for (pairs, want) in cases {
            let err = Config::from_settings(&settings(&pairs))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "got {err:?}, want prefix {want:?}");
        }
    }

    #[test]
    fn prefixes_are_limited_to_ten() {
        let mut s = minimal();
        s.push(("CRR_PREFIXES", "a/, b/ ,c/"));
        let c = Config::from_settings(&settings(&s)).unwrap();
        assert_eq!(c.rules[0].prefixes, vec!["a/", "b/", "c/"]);
        assert!(c.rules[0].matches("b/x") && !c.rules[0].matches("d/x"));
        let mut s = minimal();
        s.push(("CRR_PREFIXES", "1,2,3,4,5,6,7,8,9,10,11"));
        assert!(Config::from_settings(&settings(&s))
            .unwrap_err()
            .to_string()
            .contains("at most 10"));
    }
}
