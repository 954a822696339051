//! OSS signature V4 (`OSS4-HMAC-SHA256`).
//!
//! Canonical request:
//! `VERB\n<URI>\n<query>\n<headers>\n<additional header names>\n<payload hash>`,
//! where the URI is `/bucket/key` percent-encoded with `/` kept, the query is
//! every parameter percent-encoded (RFC 3986) and sorted, and the signed headers
//! are `x-oss-*`, `content-type`, `content-md5` and the additional headers the
//! caller names. The string to sign is
//! `OSS4-HMAC-SHA256\n<yyyymmddThhmmssZ>\n<date>/<region>/oss/aliyun_v4_request\n<sha256 hex of the canonical request>`;
//! the signing key chains HMAC-SHA256 from `aliyun_v4<secret>` over date, region,
//! product and `aliyun_v4_request`. Every rule follows the V4 signer of
//! alibabacloud-oss-v2, which the tests run on the same requests.

use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::oss::merged_headers;
pub use crate::oss::{OssRequest, SignedHeaders};
use crate::oss_v1::SECURITY_TOKEN_HEADER;
use crate::{clock, crypto, AccessKey};

pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The product in the scope of OSS requests.
pub const PRODUCT: &str = "oss";
/// The payload hash V4 requests carry: OSS does not require the body to be hashed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Signs `request` for `region` (e.g. `cn-hangzhou`) at time `at`. Headers named
/// in `additional_headers` are signed too when the request carries them with a
/// value. Returns `x-oss-date`, `Date`, `x-oss-content-sha256`, the security
/// token header for temporary credentials, and `Authorization`.
pub fn sign(
    request: &OssRequest<'_>,
    key: &AccessKey,
    region: &str,
    at: SystemTime,
    additional_headers: &[&str],
) -> SignedHeaders {
    let datetime = clock::iso8601_basic(at);
    let date = &datetime[..8];
    let mut added: Vec<(&'static str, String)> = vec![("x-oss-date", datetime.clone()), ("date", clock::http_date(at))];
    if let Some(token) = key.security_token() {
        added.push((SECURITY_TOKEN_HEADER, token.to_owned()));
    }
    added.push(("x-oss-content-sha256", UNSIGNED_PAYLOAD.to_owned()));
    let headers = merged_headers(request.headers, &added);

    let additional = additional_signed_headers(&headers, additional_headers);
    let scope = format!("{date}/{region}/{PRODUCT}/aliyun_v4_request");
    let canonical = canonical_request(request, &headers, &additional);
    let string_to_sign = format!("{ALGORITHM}\n{datetime}\n{scope}\n{}", crypto::sha256_hex(canonical.as_bytes()));
    let signature =
        hex::encode(crypto::hmac_sha256(&signing_key(key.secret(), date, region), string_to_sign.as_bytes()));
    let mut authorization = format!("{ALGORITHM} Credential={}/{scope}", key.id());
    if !additional.is_empty() {
        authorization.push_str(",AdditionalHeaders=");
        authorization.push_str(&additional.join(";"));
    }
    authorization.push_str(",Signature=");
    authorization.push_str(&signature);
    added.push(("authorization", authorization));
    SignedHeaders { headers: added, string_to_sign, signature }
}

/// `x-oss-*`, `content-type` and `content-md5` are always signed.
fn is_default_signed(name: &str) -> bool {
    name.starts_with("x-oss-") || name == "content-type" || name == "content-md5"
}

/// The additional headers that take part: lowercase, sorted, without duplicates,
/// only those the request carries with a value, never a default-signed one.
fn additional_signed_headers(headers: &[(String, String)], wanted: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = wanted
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| !is_default_signed(h))
        .filter(|h| headers.iter().any(|(k, v)| k == h && !v.is_empty()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn canonical_request(request: &OssRequest<'_>, headers: &[(String, String)], additional: &[String]) -> String {
    let mut uri = String::from("/");
    if let Some(bucket) = request.bucket {
        uri.push_str(bucket);
        uri.push('/');
    }
    if let Some(key) = request.key {
        uri.push_str(key);
    }
    let uri = utf8_percent_encode(&uri, UNRESERVED_AND_SLASH).to_string();

    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (utf8_percent_encode(k, UNRESERVED).to_string(), utf8_percent_encode(v, UNRESERVED).to_string()))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") })
        .collect::<Vec<_>>()
        .join("&");

    let mut signed: Vec<&(String, String)> =
        headers.iter().filter(|(k, _)| is_default_signed(k) || additional.contains(k)).collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();

    let payload =
        headers.iter().find(|(k, _)| k == "x-oss-content-sha256").map(|(_, v)| v.as_str()).unwrap_or(UNSIGNED_PAYLOAD);
    format!("{}\n{uri}\n{query}\n{canonical_headers}\n{}\n{payload}", request.method, additional.join(";"))
}

/// HMAC-SHA256 chain from `aliyun_v4<secret>` over date, region, product and
/// `aliyun_v4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str) -> Vec<u8> {
    let k_date = crypto::hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    let k_region = crypto::hmac_sha256(&k_date, region.as_bytes());
    let k_product = crypto::hmac_sha256(&k_region, PRODUCT.as_bytes());
    crypto::hmac_sha256(&k_product, b"aliyun_v4_request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn canonical_request_layout() {
        let req = OssRequest {
            method: "PUT",
            bucket: Some("bucket"),
            key: Some("a b/c+d.txt"),
            query: &[("uploadId", "x y"), ("partNumber", "1")],
            headers: &[
                ("Content-Type", "text/plain"),
                ("Host", "bucket.oss-cn-hangzhou.aliyuncs.com"),
                ("X-Oss-Meta-A", "1"),
            ],
        };
        let signed = sign(&req, &AccessKey::new("id", "secret"), "cn-hangzhou", at(), &["host"]);
        let headers = merged_headers(req.headers, &signed.headers[..3]);
        let additional = additional_signed_headers(&headers, &["Host", "x-oss-meta-a", "absent"]);
        assert_eq!(additional, ["host"]);
        assert_eq!(
            canonical_request(&req, &headers, &additional),
            "PUT\n/bucket/a%20b/c%2Bd.txt\npartNumber=1&uploadId=x%20y\n\
             content-type:text/plain\nhost:bucket.oss-cn-hangzhou.aliyuncs.com\n\
             x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20150830T123600Z\nx-oss-meta-a:1\n\
             \nhost\nUNSIGNED-PAYLOAD"
        );
        assert!(signed.authorization().starts_with(
            "OSS4-HMAC-SHA256 Credential=id/20150830/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host,Signature="
        ));
        assert!(signed
            .string_to_sign
            .starts_with("OSS4-HMAC-SHA256\n20150830T123600Z\n20150830/cn-hangzhou/oss/aliyun_v4_request\n"));
    }

    #[test]
    fn security_token_is_signed_and_hidden_from_debug() {
        let req = OssRequest { method: "GET", bucket: None, key: None, query: &[], headers: &[] };
        let key = AccessKey::new("id", "secret").with_security_token("tok-123");
        let signed = sign(&req, &key, "cn-beijing", at(), &[]);
        assert_eq!(signed.get("x-oss-security-token"), Some("tok-123"));
        assert!(!format!("{signed:?}").contains("tok-123"));
    }
}
