//! Replication configuration, parsed once per instance.
//!
//! One rule comes from `CRR_*` environment variables; many rules come from the file
//! named by `CRR_CONFIG`, in the OSS `ReplicationConfiguration` XML form or as JSON
//! (see [`file`]); [`env`] reads the variables, [`validate`] checks values and
//! rules, [`variables`] lists every variable. Every problem is reported with the setting (variable or file
//! element), the value it had and the form that was expected.

mod api;
mod env;
pub mod file;
#[cfg(test)]
mod tests;
mod validate;
mod variables;

use std::fmt;
use std::time::Duration;

pub(crate) use self::api::parse_api;
pub use self::api::{choose_api, Api};
pub(crate) use self::env::{source_from_env, Defaults, Reader};
pub use self::env::{ProcessEnv, Settings};
pub(crate) use self::validate::{
    accelerate, check_bucket, check_prefixes, parse_action, parse_bool, parse_endpoint, parse_lag_objective,
    parse_role, parse_size, parse_storage_class,
};
pub use self::validate::{
    default_path_style, normalize_endpoint, valid_bucket_name, MAX_PREFIXES, OSS_STORAGE_CLASSES, S3_STORAGE_CLASSES,
};
pub use self::variables::{markdown_table, variable, Variable, VARIABLES};
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

    /// The endpoint of an OSS region (`oss-cn-beijing` or `cn-beijing`), as a rule
    /// file's `Location` names it: the native one, `https://oss-cn-beijing.aliyuncs.com`,
    /// which speaks OSS's own API (tags, symlinks, CRC-64, bucket policies). Its
    /// S3-compatible twin `s3.oss-…` is still used where it is configured by URL.
    pub fn oss(location: &str) -> Endpoint {
        let region = location.strip_prefix("oss-").unwrap_or(location);
        Endpoint {
            url: Some(format!("https://oss-{region}.aliyuncs.com")),
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
    /// The API spoken to it (chosen by endpoint unless configured).
    pub api: Api,
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
    /// The lag objective: `crr status` flags the rule, and `crr status --check` fails,
    /// when the p99 lag of the last 10 minutes exceeds this many seconds.
    pub lag_objective_seconds: u64,
    /// The destination also replicates into the source (A→B and B→A): a write at
    /// the destination that came after the source's is kept, not overwritten
    /// (last writer wins, see `decide::order`). Off: the source always wins.
    pub two_way: bool,
}

/// The lag objective of a rule that sets none: 10 minutes, as OSS Replication Time Control promises.
pub const DEFAULT_LAG_OBJECTIVE_SECONDS: u64 = 600;

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
    /// Incomplete multipart uploads in the destination (under a pass's scope) that
    /// started longer ago than this are abandoned: a function killed mid-copy could
    /// not abort its own. Longer than any invocation runs.
    pub abandoned_uploads: Duration,
}

impl Default for BackfillSettings {
    fn default() -> Self {
        BackfillSettings {
            page_size: 1000,
            concurrency: 32,
            lease: Duration::from_secs(60),
            since: None,
            abandoned_uploads: Duration::from_secs(24 * 3600),
        }
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
