//! Bucket-level operations of the OSS dialect, what `crr doctor` and `crr policy
//! apply` need and OSS's S3-compatible API lacks: GetBucketVersioning,
//! GetBucketPolicy, PutBucketPolicy, GetBucketInfo.

use bytes::Bytes;
use http::Method;

use super::client::{Call, Payload};
use super::{xml, OssStore};
use crate::error::Failure;
use crate::store::{BucketInfo, Versioning};

impl OssStore {
    pub async fn versioning(&self, bucket: &str) -> Result<Versioning, Failure> {
        let (_, body) =
            self.client.send_for_bytes(Call::new(Method::GET, bucket, None).query("versioning", "")).await?;
        xml::parse_versioning(&body)
    }

    /// The policy document, `None` when the bucket has none (`NoSuchBucketPolicy`).
    pub async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, Failure> {
        match self.client.send_for_bytes(Call::new(Method::GET, bucket, None).query("policy", "")).await {
            Ok((_, body)) => Ok(Some(String::from_utf8_lossy(&body).into_owned())),
            Err(f) if f.code.as_deref() == Some("NoSuchBucketPolicy") => Ok(None),
            Err(f) => Err(f),
        }
    }

    pub async fn put_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), Failure> {
        let call = Call::new(Method::PUT, bucket, None)
            .query("policy", "")
            .header("content-type", "application/json")
            .payload(Payload::Bytes(Bytes::from(policy.to_owned())));
        self.client.send_for_bytes(call).await.map(drop)
    }

    pub async fn bucket_info(&self, bucket: &str) -> Result<BucketInfo, Failure> {
        let (_, body) =
            self.client.send_for_bytes(Call::new(Method::GET, bucket, None).query("bucketInfo", "")).await?;
        xml::parse_bucket_info(&body)
    }
}
