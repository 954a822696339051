//! Bucket-level operations of the S3 dialect, what `crr doctor` and `crr policy
//! apply` need: versioning, the bucket policy, and whether the bucket is reachable.

use aws_sdk_s3::types::BucketVersioningStatus;

use super::S3Store;
use crate::error::Failure;
use crate::store::{BucketInfo, Versioning};

impl S3Store {
    pub async fn versioning(&self, bucket: &str) -> Result<Versioning, Failure> {
        let out =
            self.client().get_bucket_versioning().bucket(bucket).send().await.map_err(|e| Failure::from_sdk(&e))?;
        Ok(match out.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::Off,
        })
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
