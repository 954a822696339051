//! OSS header signature V1: `Authorization: OSS <AccessKeyId>:<signature>`.
//!
//! The string to sign is
//! `VERB\nContent-MD5\nContent-Type\nDate\n<x-oss- headers><resource>`: the
//! `x-oss-` headers lowercase, sorted, one `name:value\n` each; the resource
//! `/bucket/key` (unencoded) followed by the signed sub-resources (`acl`,
//! `policy`, `replication`, `uploadId`, `partNumber`, ...) sorted as
//! `?name=value&name`. The signature is the Base64 HMAC-SHA1 of it under the
//! secret. The sub-resource list and every rule follow oss2's `Auth`, which the
//! tests run on the same requests.

use std::time::SystemTime;

use crate::oss::merged_headers;
pub use crate::oss::{OssRequest, SignedHeaders};
use crate::{clock, crypto, AccessKey};

pub const SECURITY_TOKEN_HEADER: &str = "x-oss-security-token";

/// Query parameters that are part of the signed resource (oss2's list).
pub const SUB_RESOURCES: &[&str] = &[
    "accessPoint",
    "accessPointPolicy",
    "acl",
    "append",
    "asyncFetch",
    "bucketArchiveDirectRead",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "httpsConfig",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "publicAccessBlock",
    "qos",
    "qosInfo",
    "qosRequester",
    "redundancyTransition",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "requesterQosInfo",
    "resourceGroup",
    "resourcePool",
    "resourcePoolBuckets",
    "resourcePoolInfo",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-access-point-name",
    "x-oss-async-process",
    "x-oss-process",
    "x-oss-redundancy-transition-taskid",
    "x-oss-request-payer",
    "x-oss-target-redundancy-type",
    "x-oss-traffic-limit",
    "x-oss-write-get-object-response",
];

/// Signs `request` at time `at`: returns the `Date`, the security token header
/// for temporary credentials, and `Authorization`.
pub fn sign(request: &OssRequest<'_>, key: &AccessKey, at: SystemTime) -> SignedHeaders {
    let mut added: Vec<(&'static str, String)> = Vec::new();
    if let Some(token) = key.security_token() {
        added.push((SECURITY_TOKEN_HEADER, token.to_owned()));
    }
    added.push(("date", clock::http_date(at)));
    let headers = merged_headers(request.headers, &added);
    let string_to_sign = string_to_sign(request, &headers);
    let signature = crypto::base64(&crypto::hmac_sha1(key.secret().as_bytes(), string_to_sign.as_bytes()));
    added.push(("authorization", format!("OSS {}:{signature}", key.id())));
    SignedHeaders { headers: added, string_to_sign, signature }
}

/// The V1 string to sign over the final headers (lowercase names).
fn string_to_sign(request: &OssRequest<'_>, headers: &[(String, String)]) -> String {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    // An x-oss-date header takes the place of Date.
    let date = match get("x-oss-date") {
        "" => get("date"),
        d => d,
    };
    let mut oss_headers: Vec<&(String, String)> = headers.iter().filter(|(k, _)| k.starts_with("x-oss-")).collect();
    oss_headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    for (k, v) in oss_headers {
        canonical_headers.push_str(k);
        canonical_headers.push(':');
        canonical_headers.push_str(v);
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        request.method,
        get("content-md5"),
        get("content-type"),
        date,
        canonical_headers,
        canonical_resource(request)
    )
}

/// `/bucket/key?sub=resource&...`, or `/` for service-level requests.
pub fn canonical_resource(request: &OssRequest<'_>) -> String {
    let mut resource = match request.bucket {
        Some(bucket) => format!("/{bucket}/{}", request.key.unwrap_or_default()),
        None => "/".to_owned(),
    };
    let mut subs: Vec<(&str, &str)> =
        request.query.iter().filter(|(k, _)| SUB_RESOURCES.contains(k)).copied().collect();
    subs.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (k, v)) in subs.iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(k);
        if !v.is_empty() {
            resource.push('=');
            resource.push_str(v);
        }
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sub_resources_are_sorted_and_other_parameters_ignored() {
        let req = OssRequest {
            method: "PUT",
            bucket: Some("b"),
            key: Some("dir/a b.txt"),
            query: &[("uploadId", "u1"), ("partNumber", "3"), ("max-keys", "10"), ("acl", "")],
            headers: &[],
        };
        assert_eq!(canonical_resource(&req), "/b/dir/a b.txt?acl&partNumber=3&uploadId=u1");
        let bucket_only = OssRequest { key: None, query: &[("replication", "")], ..req };
        assert_eq!(canonical_resource(&bucket_only), "/b/?replication");
    }

    #[test]
    fn string_to_sign_layout() {
        let req = OssRequest {
            method: "PUT",
            bucket: Some("b"),
            key: Some("k"),
            query: &[],
            headers: &[("Content-Type", "text/plain"), ("X-OSS-Meta-B", "2"), ("x-oss-meta-a", "1")],
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let signed = sign(&req, &AccessKey::new("id", "secret"), at);
        assert_eq!(
            signed.string_to_sign,
            "PUT\n\ntext/plain\nSun, 30 Aug 2015 12:36:00 GMT\nx-oss-meta-a:1\nx-oss-meta-b:2\n/b/k"
        );
        assert_eq!(signed.get("Date"), Some("Sun, 30 Aug 2015 12:36:00 GMT"));
        assert_eq!(signed.authorization(), format!("OSS id:{}", signed.signature));
    }
}
