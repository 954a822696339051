//! The four pairs of dialects a rule can join: S3→S3, OSS→OSS, OSS→S3, S3→OSS, on
//! one provisioned setup (moto's buckets and AWS role, the local OSS server's buckets
//! and the seed's RAM role in the source account, its destination bucket policy put).
//! Each pair replicates its own key prefix (`CRR_PREFIXES`), so the four share the
//! setup's buckets without seeing each other's objects. Functions are real processes,
//! invoked with the payload each source really sends: an OSS trigger event for an OSS
//! source, an S3 notification for an S3 one.

use crr::object::{ObjectState, Tags};
use crr::store::{Condition, Found, ObjectWrite, Read, Store, Upload, UploadedPart};

use crate::{oss_event, s3_event_with, Function, Invoker, Reply, Setup};

/// Which API a bucket side speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// moto, through the S3 API.
    S3,
    /// The local OSS server, through OSS's own API.
    Oss,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::S3 => "s3",
            Side::Oss => "oss",
        }
    }
}

/// A source side and a destination side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub src: Side,
    pub dst: Side,
}

/// Every pair, in the order tests report them.
pub const PAIRS: [Pair; 4] = [
    Pair { src: Side::S3, dst: Side::S3 },
    Pair { src: Side::Oss, dst: Side::Oss },
    Pair { src: Side::Oss, dst: Side::S3 },
    Pair { src: Side::S3, dst: Side::Oss },
];

impl Pair {
    /// `s3-oss`: the pair's name and its key prefix (without the slash).
    pub fn name(self) -> String {
        format!("{}-{}", self.src.name(), self.dst.name())
    }

    /// `<name>/<rest>`: a key this pair's rule replicates.
    pub fn key(self, rest: &str) -> String {
        format!("{}/{rest}", self.name())
    }
}

/// One setup serving the four pairs.
pub struct World {
    pub setup: Setup,
}

impl World {
    /// Provisions a setup and grants the OSS destination to the seed's role (step 2).
    pub async fn new(name: &str) -> World {
        let setup = Setup::provision(name);
        setup.grant_oss_destination().await;
        World { setup }
    }

    pub fn src_bucket(&self, pair: Pair) -> &str {
        match pair.src {
            Side::S3 => &self.setup.src_bucket,
            Side::Oss => &self.setup.oss().src_bucket,
        }
    }

    pub fn dst_bucket(&self, pair: Pair) -> &str {
        match pair.dst {
            Side::S3 => &self.setup.dst_bucket,
            Side::Oss => &self.setup.oss().dst_bucket,
        }
    }

    /// The source side as the source account's administrator.
    pub fn src_store(&self, pair: Pair) -> Store {
        match pair.src {
            Side::S3 => self.setup.s3_store(&self.setup.src_admin),
            Side::Oss => self.setup.oss_store(&self.setup.src_admin),
        }
    }

    /// The destination side as the destination account's administrator.
    pub fn dst_store(&self, pair: Pair) -> Store {
        match pair.dst {
            Side::S3 => self.setup.s3_store(&self.setup.dst_admin),
            Side::Oss => self.setup.oss_store(&self.setup.dst_admin),
        }
    }

    fn endpoint(&self, side: Side) -> (&str, &str) {
        match side {
            Side::S3 => (&self.setup.endpoint, &self.setup.region),
            Side::Oss => (&self.setup.oss().endpoint, &self.setup.oss().region),
        }
    }

    /// The `CRR_*` configuration of `pair`'s rule, then `extra` (which replaces).
    pub fn env(&self, pair: Pair, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let (src_url, src_region) = self.endpoint(pair.src);
        let (dst_url, dst_region) = self.endpoint(pair.dst);
        // An OSS destination is written by the seed's RAM role in the source account,
        // assumed through Alibaba STS; an S3 one by the AWS role in the destination account.
        let (role, sts) = match pair.dst {
            Side::S3 => (self.setup.role_arn.as_str(), self.setup.endpoint.as_str()),
            Side::Oss => (self.setup.oss().role_arn.as_str(), self.setup.alibaba_sts_endpoint()),
        };
        let prefix = format!("{}/", pair.name());
        let mut env: Vec<(String, String)> = [
            ("CRR_SOURCE_BUCKET", self.src_bucket(pair)),
            ("CRR_SOURCE_ENDPOINT", src_url),
            ("CRR_SOURCE_REGION", src_region),
            ("CRR_DEST_BUCKET", self.dst_bucket(pair)),
            ("CRR_DEST_ENDPOINT", dst_url),
            ("CRR_DEST_REGION", dst_region),
            ("CRR_ROLE_ARN", role),
            ("CRR_STS_ENDPOINT", sts),
            ("CRR_STS_REGION", &self.setup.region),
            ("CRR_PREFIXES", &prefix),
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

    /// The event the source side sends for `key` (OSS event names are OSS's:
    /// `ObjectCreated:PutObject`; S3's are `ObjectCreated:Put`).
    pub fn event(&self, pair: Pair, oss_name: &str, s3_name: &str, key: &str, state: Option<&ObjectState>) -> String {
        let (size, etag) = state.map_or((0, String::new()), |s| (s.size, s.server_etag.clone()));
        let bucket = self.src_bucket(pair);
        match pair.src {
            Side::Oss => oss_event(oss_name, bucket, key, size, &etag),
            Side::S3 => s3_event_with(s3_name, bucket, key, size, &etag),
        }
        .to_string()
    }

    /// Invokes `function` the way Function Compute does, with the function's own keys.
    pub async fn invoke(&self, function: &Function, event: String) -> Reply {
        let headers = [
            ("x-fc-access-key-id", self.setup.function.id.as_str()),
            ("x-fc-access-key-secret", self.setup.function.secret.as_str()),
            ("x-fc-function-name", "crr-e2e"),
            ("x-fc-function-timeout", "600"),
        ];
        Invoker::new().post(&format!("{}/invoke", function.base), event, &headers).await
    }

    /// Writes `data` at `key` in the source (as its administrator); returns its state.
    pub async fn put_src(&self, pair: Pair, key: &str, data: Vec<u8>, write: &ObjectWrite<'_>) -> ObjectState {
        let store = self.src_store(pair);
        let bucket = self.src_bucket(pair);
        store
            .put(bucket, key, Upload::bytes(data), write, Condition::Always)
            .await
            .unwrap_or_else(|f| panic!("{}: putting {bucket}/{key}: {f:?}", pair.name()));
        store.head(bucket, key, Read::default()).await.unwrap()
    }

    /// Uploads `parts` as one multipart object in the source; returns its state.
    pub async fn put_src_multipart(&self, pair: Pair, key: &str, parts: &[Vec<u8>]) -> ObjectState {
        let store = self.src_store(pair);
        let bucket = self.src_bucket(pair);
        let none = ObjectWrite::default();
        let id = store.start_upload(bucket, key, &none).await.unwrap();
        let mut done = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let w = store.upload_part(bucket, key, &id, n, Upload::bytes(part.clone())).await.unwrap();
            done.push(UploadedPart { number: n, etag: w.etag });
        }
        store.complete_upload(bucket, key, &id, &done, crr::store::Condition::Always).await.unwrap();
        store.head(bucket, key, Read::default()).await.unwrap()
    }

    /// The replica's state, if there is one.
    pub async fn replica(&self, pair: Pair, key: &str) -> Option<ObjectState> {
        self.dst_store(pair).head(self.dst_bucket(pair), key, Read::default()).await.found().unwrap()
    }

    /// The replica's bytes, if there is one.
    pub async fn replica_bytes(&self, pair: Pair, key: &str) -> Option<Vec<u8>> {
        let got = self.dst_store(pair).get(self.dst_bucket(pair), key, Read::default()).await.found().unwrap();
        match got {
            Some((_, body)) => Some(body.collect().await.unwrap().to_vec()),
            None => None,
        }
    }

    pub async fn replica_tags(&self, pair: Pair, key: &str) -> Tags {
        self.dst_store(pair).tags(self.dst_bucket(pair), key).await.unwrap()
    }
}
