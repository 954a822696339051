//! The read-only requests doctor makes besides the probe (a sample source key, a
//! listing, HEAD, bucket versioning), through crr's store interface so that S3 and
//! OSS buckets are checked alike, and how a failed request reads in a check.

use crr::config::Config;
use crr::error::Failure;
use crr::object::RESERVED_PREFIX;
use crr::store::{self, List, Read, Store};

/// Keys listed in the source to find one a rule replicates.
pub(super) const SAMPLE_KEYS: i32 = 100;

/// `code: message (HTTP status)` of a failed request.
pub(super) fn describe(f: &Failure) -> String {
    let status = f.status.filter(|s| !f.message.contains(&format!("HTTP {s}"))).map(|s| format!(" (HTTP {s})"));
    let status = status.unwrap_or_default();
    match &f.code {
        Some(code) if !f.message.contains(code.as_str()) => format!("{code}: {}{status}", f.message),
        _ => format!("{}{status}", f.message),
    }
}

/// Whether a request failed because the bucket does not exist.
pub(super) fn is_missing_bucket(f: &Failure) -> bool {
    f.code.as_deref() == Some("NoSuchBucket")
}

/// A bucket's versioning state, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    Suspended,
    /// Never enabled.
    Off,
    Unknown(String),
}

impl Versioning {
    pub(super) fn describe(&self) -> &str {
        match self {
            Versioning::Enabled => "versioned",
            Versioning::Suspended => "versioning suspended",
            Versioning::Off => "not versioned",
            Versioning::Unknown(_) => "versioning unknown",
        }
    }
}

/// A key a rule replicates, from the first keys of the source (`None`: none there).
pub(super) async fn sample_source_key(source: &Store, config: &Config) -> Result<Option<String>, Failure> {
    let page = source.list(&config.source.name, List { max_keys: Some(SAMPLE_KEYS), ..List::default() }).await?;
    Ok(page
        .objects
        .into_iter()
        .map(|o| o.key)
        .find(|key| !key.starts_with(RESERVED_PREFIX) && config.rules_for(key).next().is_some()))
}

/// Lists at most one key under `prefix`: whether the bucket exists and may be listed.
pub(super) async fn list_bucket(store: &Store, bucket: &str, prefix: &str) -> Result<(), Failure> {
    store.list(bucket, List { prefix, max_keys: Some(1), ..List::default() }).await.map(drop)
}

/// HEAD of one object: whether it may be read.
pub(super) async fn head_object(store: &Store, bucket: &str, key: &str) -> Result<(), Failure> {
    store.head(bucket, key, Read::default()).await.map(drop)
}

pub(super) async fn versioning(store: &Store, bucket: &str) -> Versioning {
    match store.versioning(bucket).await {
        Ok(store::Versioning::Enabled) => Versioning::Enabled,
        Ok(store::Versioning::Suspended) => Versioning::Suspended,
        Ok(store::Versioning::Off) => Versioning::Off,
        Err(f) => Versioning::Unknown(describe(&f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_as_code_message_and_status_once() {
        let http =
            Failure { fault: crr::error::Fault::Permanent, status: Some(200), code: None, message: "HTTP 200".into() };
        assert_eq!(describe(&http), "HTTP 200");
        let denied = Failure {
            fault: crr::error::Fault::Permanent,
            status: Some(403),
            code: Some("AccessDenied".into()),
            message: "You have no right to access this object.".into(),
        };
        assert_eq!(describe(&denied), "AccessDenied: You have no right to access this object. (HTTP 403)");
    }
}
