//! Alibaba Cloud request signature V3 (`ACS3-HMAC-SHA256`), the scheme of the
//! OpenAPI gateway for RPC- and ROA-style APIs alike; Function Compute 3.0 ([`crate::fc`])
//! takes it.
//!
//! Canonical request:
//! `METHOD\n<path>\n<query>\n<headers>\n<signed header names>\n<payload hash>`, where
//! the path is the API's path as sent (each segment percent-encoded, `/` for RPC
//! APIs), the query is every parameter name and value percent-encoded by RFC 3986
//! (unreserved `A-Z a-z 0-9 - _ . ~` kept, so a space is `%20`), sorted by name and
//! joined as `k=v&...` (an empty value is `k=`), the headers are `name:value\n` with
//! lowercase names, trimmed values, sorted by name, and the payload hash is the
//! lowercase hex SHA-256 of the body (of the empty string without one), also sent as
//! `x-acs-content-sha256`. `host`, `content-type` and every `x-acs-*` header are
//! signed; other headers only when the caller names them. The string to sign is
//! `ACS3-HMAC-SHA256\n<hex SHA-256 of the canonical request>`; the signature is the
//! lowercase hex HMAC-SHA256 of it under the secret, sent as
//! `Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>`.
//!
//! This is what alibabacloud-tea-openapi's `Utils.get_authorization` computes on the
//! request its `do_request` builds (that SDK names every header it sends as signed, which
//! the gateway accepts: pass those names as additional headers to do the same); the
//! tests compare with it byte for byte, and with the fixed example of the published
//! specification.

use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::oss::merged_headers;
use crate::{clock, crypto, AccessKey, SignedHeaders};

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// Carries the hash of the body; signed.
pub const CONTENT_SHA256_HEADER: &str = "x-acs-content-sha256";
/// Carries the security token of temporary credentials.
pub const SECURITY_TOKEN_HEADER: &str = "x-acs-security-token";
/// Sent with the security token: the AccessKey id of the temporary credentials.
pub const ACCESS_KEY_ID_HEADER: &str = "x-acs-accesskey-id";

/// Everything but the RFC 3986 unreserved characters is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// What the payload hash is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The whole body, hashed here (empty for a request without one).
    Bytes(&'a [u8]),
    /// The SHA-256 of the body computed elsewhere, hex.
    Sha256(&'a str),
}

/// One OpenAPI request, before signing.
#[derive(Debug, Clone, Copy)]
pub struct Acs3Request<'a> {
    /// The HTTP method, uppercase.
    pub method: &'a str,
    /// The endpoint, e.g. `1234.cn-hangzhou.fc.aliyuncs.com`: sent and signed as `host`.
    pub host: &'a str,
    /// The path as sent, already percent-encoded (path parameters through
    /// [`percent_encode`]), e.g. `/2023-03-30/functions/my-function/invocations`;
    /// `/` for RPC-style APIs.
    pub path: &'a str,
    /// Query parameters, unencoded, names unique; an empty value is sent as `name=`.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers the caller sends besides those [`sign`] adds; names in any case.
    /// A header [`sign`] adds replaces one of the same name given here.
    pub headers: &'a [(&'a str, &'a str)],
    /// Sent as `x-acs-action`, e.g. `InvokeFunction`.
    pub action: &'a str,
    /// Sent as `x-acs-version`, the API version, e.g. `2023-03-30`.
    pub version: &'a str,
    pub payload: Payload<'a>,
}

/// Signs `request` at time `at` with `nonce` (sent as `x-acs-signature-nonce`; the
/// gateway refuses one it has seen). Headers named in `additional_headers` are signed
/// too when the request carries them. Returns `host`, `x-acs-action`, `x-acs-version`,
/// `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256`, for temporary
/// credentials `x-acs-accesskey-id` and `x-acs-security-token`, and `Authorization`.
pub fn sign(
    request: &Acs3Request<'_>,
    key: &AccessKey,
    at: SystemTime,
    nonce: &str,
    additional_headers: &[&str],
) -> SignedHeaders {
    let Prepared { mut added, canonical_request, signed_names } = prepare(request, key, at, nonce, additional_headers);
    let string_to_sign = string_to_sign(&canonical_request);
    let signature = signature(&string_to_sign, key.secret());
    added.push((
        "authorization",
        format!("{ALGORITHM} Credential={},SignedHeaders={signed_names},Signature={signature}", key.id()),
    ));
    SignedHeaders { headers: added, string_to_sign, signature }
}

/// The canonical request [`sign`] signs for the same arguments, for diagnostics.
pub fn canonical_request(
    request: &Acs3Request<'_>,
    key: &AccessKey,
    at: SystemTime,
    nonce: &str,
    additional_headers: &[&str],
) -> String {
    prepare(request, key, at, nonce, additional_headers).canonical_request
}

/// `ACS3-HMAC-SHA256\n<hex SHA-256 of the canonical request>`.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", crypto::sha256_hex(canonical_request.as_bytes()))
}

/// Lowercase hex of HMAC-SHA256(secret, string to sign).
pub fn signature(string_to_sign: &str, secret: &str) -> String {
    hex::encode(crypto::hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// RFC 3986 percent-encoding: unreserved characters kept, UTF-8 bytes of everything
/// else as `%XX` (so a space is `%20`, `*` is `%2A`, `/` is `%2F`, `~` stays). For
/// path parameters and for query names and values.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `k=v&...` with names and values percent-encoded, sorted by name: the canonical
/// query, and a query string to send.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (percent_encode(k), percent_encode(v))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// `host`, `content-type` and `x-acs-*` are always signed.
fn is_required(name: &str) -> bool {
    name.starts_with("x-acs-") || name == "host" || name == "content-type"
}

struct Prepared {
    added: Vec<(&'static str, String)>,
    canonical_request: String,
    /// `;`-separated, sorted.
    signed_names: String,
}

fn prepare(
    request: &Acs3Request<'_>,
    key: &AccessKey,
    at: SystemTime,
    nonce: &str,
    additional_headers: &[&str],
) -> Prepared {
    let payload_hash = match request.payload {
        Payload::Bytes(bytes) => crypto::sha256_hex(bytes),
        Payload::Sha256(hash) => hash.to_ascii_lowercase(),
    };
    let mut added: Vec<(&'static str, String)> = vec![
        ("host", request.host.to_owned()),
        ("x-acs-action", request.action.to_owned()),
        ("x-acs-version", request.version.to_owned()),
        ("x-acs-date", clock::iso8601(at)),
        ("x-acs-signature-nonce", nonce.to_owned()),
        (CONTENT_SHA256_HEADER, payload_hash.clone()),
    ];
    if let Some(token) = key.security_token() {
        added.push((ACCESS_KEY_ID_HEADER, key.id().to_owned()));
        added.push((SECURITY_TOKEN_HEADER, token.to_owned()));
    }
    let headers = merged_headers(request.headers, &added);

    let additional: Vec<String> = additional_headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    let mut signed: Vec<&(String, String)> =
        headers.iter().filter(|(k, _)| is_required(k) || additional.contains(k)).collect();
    signed.sort();
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let signed_names = signed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let path = if request.path.is_empty() { "/" } else { request.path };
    let canonical_request = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{signed_names}\n{payload_hash}",
        request.method,
        canonical_query(request.query)
    );
    Prepared { added, canonical_request, signed_names }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// The fixed example of the published specification ("V3 request structure and
    /// signature", also on Function Compute 3.0's "signature mechanism" page).
    #[test]
    fn the_specification_example() {
        let request = Acs3Request {
            method: "POST",
            host: "ecs.cn-shanghai.aliyuncs.com",
            path: "/",
            query: &[("RegionId", "cn-shanghai"), ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd")],
            headers: &[],
            action: "RunInstances",
            version: "2014-05-26",
            payload: Payload::Bytes(b""),
        };
        let key = AccessKey::new("YourAccessKeyId", "YourAccessKeySecret");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_698_315_752);
        let nonce = "3156853299f313e23d1673dc12e1703d";
        assert_eq!(
            canonical_request(&request, &key, at, nonce, &[]),
            "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n\
             host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
             x-acs-version:2014-05-26\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let signed = sign(&request, &key, at, nonce, &[]);
        assert_eq!(
            signed.string_to_sign,
            "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(signed.signature, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
        assert_eq!(
            signed.authorization(),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,\
             SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        let names: Vec<&str> = signed.headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "host",
                "x-acs-action",
                "x-acs-version",
                "x-acs-date",
                "x-acs-signature-nonce",
                "x-acs-content-sha256",
                "authorization"
            ]
        );
        assert_eq!(signed.get("x-acs-content-sha256"), Some(EMPTY_SHA256));
    }

    #[test]
    fn encoding_follows_rfc_3986() {
        assert_eq!(percent_encode("a b*c~d+e/f"), "a%20b%2Ac~d%2Be%2Ff");
        assert_eq!(percent_encode("-_.~AZaz09"), "-_.~AZaz09");
        assert_eq!(percent_encode("函数"), "%E5%87%BD%E6%95%B0");
        assert_eq!(percent_encode("=&%"), "%3D%26%25");
    }

    #[test]
    fn canonical_query_encodes_names_and_values_and_sorts() {
        assert_eq!(canonical_query(&[]), "");
        assert_eq!(canonical_query(&[("qualifier", "LATEST")]), "qualifier=LATEST");
        assert_eq!(
            canonical_query(&[("b", "x y*~/"), ("a", ""), ("C", "中"), ("a b", "1")]),
            "C=%E4%B8%AD&a=&a%20b=1&b=x%20y%2A~%2F"
        );
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn required_and_named_headers_are_signed_trimmed_and_lowercase() {
        let request = Acs3Request {
            method: "POST",
            host: "1.cn-hangzhou.fc.aliyuncs.com",
            path: "/2023-03-30/functions/f/invocations",
            query: &[],
            headers: &[
                ("Content-Type", " application/json "),
                ("X-Acs-Custom", "\tv "),
                ("X-Fc-Invocation-Type", "Async"),
                ("User-Agent", "crr"),
                ("x-acs-date", "replaced by the signer"),
                ("HOST", "replaced too"),
            ],
            action: "InvokeFunction",
            version: "2023-03-30",
            payload: Payload::Bytes(b"{}"),
        };
        let key = AccessKey::new("id", "secret");
        let canonical = canonical_request(&request, &key, at(), "n", &["x-fc-invocation-type", "absent"]);
        assert_eq!(
            canonical,
            "POST\n/2023-03-30/functions/f/invocations\n\n\
             content-type:application/json\nhost:1.cn-hangzhou.fc.aliyuncs.com\nx-acs-action:InvokeFunction\n\
             x-acs-content-sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n\
             x-acs-custom:v\nx-acs-date:2015-08-30T12:36:00Z\nx-acs-signature-nonce:n\nx-acs-version:2023-03-30\n\
             x-fc-invocation-type:Async\n\n\
             content-type;host;x-acs-action;x-acs-content-sha256;x-acs-custom;x-acs-date;x-acs-signature-nonce;\
             x-acs-version;x-fc-invocation-type\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let signed = sign(&request, &key, at(), "n", &["X-FC-Invocation-Type"]);
        assert!(signed.authorization().contains(";x-acs-version;x-fc-invocation-type,Signature="));
        assert_eq!(signed.string_to_sign, string_to_sign(&canonical));
        assert_eq!(signed.get("host"), Some("1.cn-hangzhou.fc.aliyuncs.com"));
    }

    #[test]
    fn a_precomputed_payload_hash_signs_like_the_body() {
        let body = b"{\"range\":3}";
        let hash = crypto::sha256_hex(body).to_ascii_uppercase();
        let request = |payload| Acs3Request {
            method: "POST",
            host: "h",
            path: "",
            query: &[],
            headers: &[],
            action: "A",
            version: "V",
            payload,
        };
        let key = AccessKey::new("id", "secret");
        let a = sign(&request(Payload::Bytes(body)), &key, at(), "n", &[]);
        let b = sign(&request(Payload::Sha256(&hash)), &key, at(), "n", &[]);
        assert_eq!(a, b);
        assert!(canonical_request(&request(Payload::Bytes(body)), &key, at(), "n", &[]).starts_with("POST\n/\n\n"));
    }

    #[test]
    fn temporary_credentials_send_the_token_signed_and_hidden_from_debug() {
        let request = Acs3Request {
            method: "GET",
            host: "h",
            path: "/",
            query: &[],
            headers: &[],
            action: "A",
            version: "V",
            payload: Payload::Bytes(b""),
        };
        let key = AccessKey::new("STS.id", "the-secret").with_security_token("CAIS-token");
        let signed = sign(&request, &key, at(), "n", &[]);
        assert_eq!(signed.get("x-acs-security-token"), Some("CAIS-token"));
        assert_eq!(signed.get("x-acs-accesskey-id"), Some("STS.id"));
        assert!(signed.authorization().starts_with(
            "ACS3-HMAC-SHA256 Credential=STS.id,SignedHeaders=host;x-acs-accesskey-id;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature="
        ));
        let debug = format!("{signed:?}");
        assert!(!debug.contains("CAIS-token"), "{debug}");
        assert!(!debug.contains("the-secret"), "{debug}");
        let other =
            sign(&request, &AccessKey::new("STS.id", "other").with_security_token("CAIS-token"), at(), "n", &[]);
        assert_eq!(other.string_to_sign, signed.string_to_sign);
        assert_ne!(other.signature, signed.signature);
    }
}
