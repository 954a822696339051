//! Bucket-level operations of the S3 dialect, what `crr doctor` and `crr policy
//! apply` need: versioning, the bucket policy, and whether the bucket is reachable.

use aws_sdk_s3::types::BucketVersioningStatus;

use super::S3Store;
use crate::error::Failure;
use crate::store::{BucketInfo, Versioning};

impl S3Store {
    pub async fn versioning(&self, bucket: &str) -> Result<Versioning, Failure> {
        match self.client().get_bucket_versioning().bucket(bucket).send().await {
            Ok(out) => Ok(match out.status() {
                Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
                Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
                _ => Versioning::Off,
            }),
            Err(e) => {
                // Some S3-compatible servers answer 200 with another root element than
                // VersioningConfiguration (moto: an empty GetBucketVersioningResponse for a
                // bucket that never had versioning), which the SDK refuses to read.
                let raw = e.raw_response().filter(|r| r.status().is_success()).and_then(|r| r.body().bytes());
                match raw.map(String::from_utf8_lossy) {
                    Some(body) => Ok(versioning_from_body(&body)),
                    None => Err(Failure::from_sdk(&e)),
                }
            }
        }
    }

    pub async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, Failure> {
        match self.client().get_bucket_policy().bucket(bucket).send().await {
            Ok(out) => Ok(out.policy().map(str::to_owned)),
            Err(e) => {
                let failure = Failure::from_sdk(&e);
                if failure.code.as_deref() == Some("NoSuchBucketPolicy") {
                    Ok(None)
                } else {
                    Err(failure)
                }
            }
        }
    }

    pub async fn put_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), Failure> {
        self.client()
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Failure::from_sdk(&e))
    }

    pub async fn bucket_info(&self, bucket: &str) -> Result<BucketInfo, Failure> {
        let out = self.client().head_bucket().bucket(bucket).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(BucketInfo { region: out.bucket_region().map(str::to_owned), ..BucketInfo::default() })
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
    }
}
