//! Buckets of a test's own on the local cloud's seaweedfs (fast S3, no
//! authentication), replicated by functions whose role comes from moto's STS: for
//! tests with many objects, many invocations, or more than two buckets.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::sync::Arc;

use aws_credential_types::Credentials;
use crr::config::Endpoint;
use futures::stream::{self, StreamExt};

use crate::{clean_command, Setup};

/// A bucket's listing: key -> (size, ETag).
pub type Listing = BTreeMap<String, (i64, String)>;

/// Buckets on seaweedfs and a client for them.
pub struct Fast {
    pub cloud: Setup,
    pub url: String,
    pub s3: aws_sdk_s3::Client,
}

impl Fast {
    pub fn new() -> Fast {
        let cloud = Setup::default_setup();
        let url = cloud.fast_s3_endpoint().to_owned();
        let endpoint = Endpoint { url: Some(url.clone()), region: cloud.region.clone(), path_style: true };
        let s3 = crr::store::s3_client(
            &crr::store::http_client(),
            &endpoint,
            Arc::new(Credentials::new("any", "any", None, None, "test")),
        );
        Fast { cloud, url, s3 }
    }

    /// A new empty bucket named after `name`.
    pub async fn bucket(&self, name: &str) -> String {
        let bucket = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        self.s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("create {bucket}: {e:?}"));
        bucket
    }

    /// The functions' configuration for a rule from `src` to `dst`, plus `extra`.
    pub fn env(&self, src: &str, dst: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("CRR_SOURCE_BUCKET", src),
            ("CRR_SOURCE_ENDPOINT", &self.url),
            ("CRR_SOURCE_REGION", &self.cloud.region),
            ("CRR_DEST_BUCKET", dst),
            ("CRR_DEST_ENDPOINT", &self.url),
            ("CRR_ROLE_ARN", &self.cloud.role_arn),
            ("CRR_STS_ENDPOINT", &self.cloud.endpoint),
            ("CRR_COPY_MODE", "stream"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            env.retain(|(kk, _)| kk != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// [`Fast::env`] with the function's own keys, as an operator runs `crr`.
    pub fn cli_env(&self, src: &str, dst: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env(src, dst, extra);
        env.push(("AWS_ACCESS_KEY_ID".into(), self.cloud.function.id.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), self.cloud.function.secret.clone()));
        env.push(("AWS_REGION".into(), self.cloud.region.clone()));
        env
    }

    /// Starts `crr backfill --json ARGS` for the rule `src` → `dst`.
    pub fn backfill_cli(&self, src: &str, dst: &str, args: &[&str], extra: &[(&str, &str)]) -> Child {
        let mut cmd = clean_command("crr", &self.cli_env(src, dst, extra));
        cmd.arg("backfill").arg("--json").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("start crr backfill")
    }

    /// Runs `crr backfill --json ARGS` to its end, off the test's runtime (which may
    /// be serving a fault proxy the run goes through): the exit code and the report.
    pub async fn backfill(
        &self,
        src: &str,
        dst: &str,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> (Option<i32>, serde_json::Value) {
        let child = self.backfill_cli(src, dst, args, extra);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), report)
    }

    pub async fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        let body: Vec<u8> = body.into();
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
    }

    /// An object as crr's replicas of `source` carry it (marked with it).
    pub async fn put_replica(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>, source: &str) {
        let body: Vec<u8> = body.into();
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .metadata("crr-replica-of", source)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
    }

    pub async fn put_all(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        stream::iter(objects)
            .for_each_concurrent(32, |(key, body)| async move { self.put(bucket, &key, body).await })
            .await;
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        crate::get_bytes(&self.s3, bucket, key).await
    }

    pub async fn delete(&self, bucket: &str, key: &str) {
        self.s3.delete_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
    }

    /// Every object of `bucket` but crr's own state under `.crr/`.
    pub async fn listing(&self, bucket: &str) -> Listing {
        let mut out = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
            for o in page.contents() {
                let key = o.key().unwrap_or_default().to_owned();
                if !key.starts_with(".crr/") {
                    out.insert(key, (o.size().unwrap_or(0), o.e_tag().unwrap_or_default().to_owned()));
                }
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return out;
            }
        }
    }

    /// The backfill checkpoint in `bucket` (the first one, for single-scope runs).
    pub async fn checkpoint(&self, bucket: &str) -> Option<serde_json::Value> {
        let page = self.s3.list_objects_v2().bucket(bucket).prefix(".crr/backfill/").send().await.ok()?;
        let key = page.contents().iter().filter_map(|o| o.key()).find(|k| k.ends_with("/checkpoint.json"))?.to_owned();
        let out = self.s3.get_object().bucket(bucket).key(key).send().await.ok()?;
        serde_json::from_slice(&out.body.collect().await.ok()?.into_bytes()).ok()
    }
}

impl Default for Fast {
    fn default() -> Self {
        Self::new()
    }
}
