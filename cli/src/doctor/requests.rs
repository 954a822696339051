//! The read-only requests doctor makes besides the probe (a sample source key, HEAD,
//! bucket versioning), and how a failed request reads in a check.

use aws_sdk_s3::types::BucketVersioningStatus;
use crr::config::Config;
use crr::error::Failure;

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
pub(super) async fn sample_source_key(source: &aws_sdk_s3::Client, config: &Config) -> Result<Option<String>, Failure> {
    let out = source
        .list_objects_v2()
        .bucket(&config.source.name)
        .max_keys(SAMPLE_KEYS)
        .send()
        .await
        .map_err(|e| Failure::from_sdk(&e))?;
    Ok(out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|key| !key.starts_with(".crr/") && config.rules_for(key).next().is_some())
        .map(str::to_owned))
}

/// Lists at most one key under `prefix`: whether the bucket exists and may be listed.
pub(super) async fn list_bucket(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<(), Failure> {
    client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failure::from_sdk(&e))
}

/// HEAD of one object.
pub(super) async fn head_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput, Failure> {
    client.head_object().bucket(bucket).key(key).send().await.map_err(|e| Failure::from_sdk(&e))
}

pub(super) async fn versioning(client: &aws_sdk_s3::Client, bucket: &str) -> Versioning {
    match client.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => match out.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::Off,
        },
        Err(e) => {
            // Some S3-compatible servers answer 200 with another root element than
            // VersioningConfiguration (moto: an empty GetBucketVersioningResponse for a
            // bucket that never had versioning), which the SDK refuses to read.
            let raw = e.raw_response().filter(|r| r.status().is_success()).and_then(|r| r.body().bytes());
            match raw.map(String::from_utf8_lossy) {
                Some(body) => versioning_from_body(&body),
                None => Versioning::Unknown(describe(&Failure::from_sdk(&e))),
            }
        }
    }
}

/// The versioning state a GetBucketVersioning answer's body states.
fn versioning_from_body(body: &str) -> Versioning {
    if body.contains("<Status>Enabled</Status>") {
        Versioning::Enabled
    } else if body.contains("<Status>Suspended</Status>") {
        Versioning::Suspended
    } else {
        Versioning::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_answers_of_lenient_servers_are_read_from_the_body() {
        let moto = r#"<?xml version="1.0" encoding="utf-8"?><GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert_eq!(versioning_from_body(moto), Versioning::Off);
        assert_eq!(versioning_from_body("<X><Status>Enabled</Status></X>"), Versioning::Enabled);
        assert_eq!(versioning_from_body("<X><Status>Suspended</Status></X>"), Versioning::Suspended);
        let http =
            Failure { fault: crr::error::Fault::Permanent, status: Some(200), code: None, message: "HTTP 200".into() };
        assert_eq!(describe(&http), "HTTP 200");
    }
}
