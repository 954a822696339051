//! The local OSS server's side of a setup: its facts (the env file's `LOCAL_OSS_*`
//! lines), stores acting as an account's root key, the seed's step 2 (the destination
//! bucket policy granting the source account's replication role), OSS trigger events,
//! and signed requests for what crr itself never sends (AppendObject, RestoreObject,
//! PutObjectTagging on a source).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use crr::config::{Api, Endpoint};
use crr::store::{Connections, Store};
use http_body_util::{BodyExt, Full};

use crate::{Keys, Setup};

/// A setup's buckets and role on the local OSS server.
#[derive(Debug, Clone)]
pub struct OssFacts {
    /// `http://oss-cn-local.localhost:<port>`: buckets are `<bucket>.oss-cn-local.localhost`.
    pub endpoint: String,
    pub region: String,
    /// In the source account.
    pub src_bucket: String,
    /// In the destination account.
    pub dst_bucket: String,
    /// The replication RAM role, in the source account (the seed's topology).
    pub role_arn: String,
}

impl OssFacts {
    pub(crate) fn from_vars(vars: &HashMap<&str, &str>) -> Option<OssFacts> {
        let get = |k: &str| vars.get(k).map(|v| v.to_string());
        Some(OssFacts {
            endpoint: get("LOCAL_OSS_ENDPOINT")?,
            region: get("LOCAL_OSS_REGION")?,
            src_bucket: get("LOCAL_OSS_SRC_BUCKET")?,
            dst_bucket: get("LOCAL_OSS_DST_BUCKET")?,
            role_arn: get("LOCAL_OSS_ROLE_ARN")?,
        })
    }

    /// The role's name (its sessions are `arn:sts::<uid>:assumed-role/<name in lower case>/*`).
    pub fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn)
    }
}

impl Setup {
    /// This setup's OSS side.
    pub fn oss(&self) -> &OssFacts {
        self.oss.as_ref().unwrap_or_else(|| {
            panic!(
                "LOCAL_OSS_* lines are missing from the cloud env: the local cloud predates the local OSS \
                 server; run scripts/local-cloud up again"
            )
        })
    }

    fn oss_endpoint(&self) -> Endpoint {
        Endpoint { url: Some(self.oss().endpoint.clone()), region: self.oss().region.clone(), path_style: false }
    }

    /// A native OSS store acting with `keys` (each account's admin key is that account's root).
    pub fn oss_store(&self, keys: &Keys) -> Store {
        Store::new(&Connections::new(), &self.oss_endpoint(), Api::Oss, Arc::new(keys.credentials()))
    }

    /// An S3 store on moto acting with `keys`.
    pub fn s3_store(&self, keys: &Keys) -> Store {
        let endpoint = Endpoint { url: Some(self.endpoint.clone()), region: self.region.clone(), path_style: true };
        Store::new(&Connections::new(), &endpoint, Api::S3, Arc::new(keys.credentials()))
    }

    /// The seed's step 2: the destination account puts the policy `crr_policy` generates
    /// for the rule on its OSS bucket, granting the source account's replication role
    /// (`arn:sts::<source uid>:assumed-role/<role in lower case>/*`) what replication
    /// needs, deletes included. Returns the policy put.
    pub async fn grant_oss_destination(&self) -> String {
        use crr_policy::{generate, Bucket, Provider, ReplicationAction, ReplicationRule, Role};
        let oss = self.oss();
        let rule = ReplicationRule {
            provider: Provider::Oss,
            source: Bucket { name: oss.src_bucket.clone(), account: Some(self.src_account.clone()) },
            destination: Bucket { name: oss.dst_bucket.clone(), account: Some(self.dst_account.clone()) },
            role: Role::alibaba(self.src_account.clone(), oss.role_name()),
            action: ReplicationAction::All,
            prefixes: Vec::new(),
            kms: None,
            trustee: None,
        };
        let policy = generate(&rule).expect("the rule generates policies").bucket_policy.to_pretty_json();
        self.oss_store(&self.dst_admin)
            .put_bucket_policy(&oss.dst_bucket, &policy)
            .await
            .unwrap_or_else(|f| panic!("putting the destination bucket policy: {f:?}"));
        policy
    }

    /// A signed request to the local OSS server for what the store does not send.
    /// Returns the status, headers and body of the answer.
    pub async fn oss_request(&self, keys: &Keys, raw: RawRequest<'_>) -> (u16, http::HeaderMap, Bytes) {
        let RawRequest { method, bucket, key, query, headers, body } = raw;
        use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
        const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
        const PATH: &AsciiSet = &KEEP.remove(b'/');
        let oss = self.oss();
        let request = crr_sign::OssRequest { method, bucket: Some(bucket), key: Some(key), query, headers };
        let access = crr_sign::AccessKey::new(&keys.id, &keys.secret);
        let signed = crr_sign::oss_v4::sign(&request, &access, &oss.region, SystemTime::now(), &[]);
        let (scheme, host) = oss.endpoint.split_once("://").expect("an endpoint URL");
        let mut url = format!("{scheme}://{bucket}.{host}/{}", utf8_percent_encode(key, PATH));
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&utf8_percent_encode(k, KEEP).to_string());
            if !v.is_empty() {
                url.push_str(&format!("={}", utf8_percent_encode(v, KEEP)));
            }
        }
        let mut builder = http::Request::builder().method(method).uri(url);
        for (k, v) in headers.iter().map(|(k, v)| (*k, *v)).chain(signed.headers.iter().map(|(k, v)| (*k, v.as_str())))
        {
            builder = builder.header(k, v);
        }
        let body = Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed();
        let response = crr::store::oss::http_client()
            .request(builder.body(body).expect("a request"))
            .await
            .unwrap_or_else(|e| panic!("{method} {bucket}/{key} on the local OSS server: {e}"));
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        (status, parts.headers, body.collect().await.expect("the answer's body").to_bytes())
    }

    /// AppendObject at `position`; returns the object's ETag (not an MD5) as OSS sent it.
    pub async fn oss_append(&self, keys: &Keys, bucket: &str, key: &str, position: u64, data: &[u8]) -> String {
        let position = position.to_string();
        let query = [("append", ""), ("position", position.as_str())];
        let raw = RawRequest { method: "POST", bucket, key, query: &query, headers: &[], body: data.to_vec() };
        let (status, headers, body) = self.oss_request(keys, raw).await;
        assert_eq!(status, 200, "AppendObject {bucket}/{key}: {}", String::from_utf8_lossy(&body));
        headers["etag"].to_str().unwrap().trim_matches('"').to_owned()
    }

    /// PutObjectTagging with `tags`, replacing the object's tags.
    pub async fn oss_put_tags(&self, keys: &Keys, bucket: &str, key: &str, tags: &[(&str, &str)]) {
        let set: String = tags.iter().map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>")).collect();
        let body = format!("<Tagging><TagSet>{set}</TagSet></Tagging>").into_bytes();
        let raw = RawRequest { method: "PUT", bucket, key, query: &[("tagging", "")], headers: &[], body };
        let (status, _, answer) = self.oss_request(keys, raw).await;
        assert_eq!(status, 200, "PutObjectTagging {bucket}/{key}: {}", String::from_utf8_lossy(&answer));
    }
}

/// One request to the local OSS server, unsigned; names and values unencoded.
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Vec<u8>,
}

/// A Function Compute OSS trigger event for one object, as OSS sends it.
pub fn oss_event(event_name: &str, bucket: &str, key: &str, size: u64, etag: &str) -> serde_json::Value {
    serde_json::json!({"events": [{
        "eventName": event_name,
        "eventSource": "acs:oss",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"name": bucket, "arn": format!("acs:oss:cn-local:111111111111:{bucket}"), "ownerIdentity": "111111111111"},
            "object": {"key": key, "size": size, "eTag": etag, "deltaSize": size},
            "ossSchemaVersion": "1.0",
            "ruleId": "crr-e2e"
        },
        "region": "cn-local",
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"requestId": "E2E"},
        "userIdentity": {"principalId": "111111111111"}
    }]})
}
