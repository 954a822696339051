//! Alibaba Cloud RPC-style (POP) API signatures, the scheme STS `AssumeRole` uses.
//!
//! Every parameter, the common ones included, is percent-encoded by RFC 3986
//! (unreserved `A-Z a-z 0-9 - _ . ~` kept, so a space is `%20`, `*` is `%2A` and
//! `~` stays), sorted by name and joined as `k=v&...`. The string to sign is
//! `METHOD&%2F&` followed by that query, percent-encoded once more; the signature
//! is the Base64 HMAC-SHA1 of it under the key `<secret>&`. This is what
//! aliyun-python-sdk-core's `rpc_signature_composer` computes; the tests compare
//! with it byte for byte.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::{clock, crypto, AccessKey};

pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
pub const SIGNATURE_VERSION: &str = "1.0";

/// Everything but the RFC 3986 unreserved characters is encoded.
const RPC_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// One RPC API call, before signing.
#[derive(Debug, Clone, Copy)]
pub struct RpcCall<'a> {
    /// The HTTP method the request is sent with (`GET` or `POST`): it is signed.
    pub method: &'a str,
    /// The API version, e.g. `2015-04-01` for STS.
    pub version: &'a str,
    /// The response format, `JSON` or `XML`.
    pub format: &'a str,
    /// The action and its parameters, e.g. `("Action", "AssumeRole")`. A common
    /// parameter given here is replaced by the value [`sign`] computes.
    pub params: &'a [(&'a str, &'a str)],
    /// Sent as `Timestamp` (`YYYY-MM-DDThh:mm:ssZ`); the service refuses stale ones.
    pub timestamp: SystemTime,
    /// Sent as `SignatureNonce`: unique per request, the service refuses a repeat.
    pub nonce: &'a str,
}

/// The parameters of a signed call, `Signature` included.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedQuery {
    /// Sorted by name, `Signature` last.
    pub params: Vec<(String, String)>,
    pub string_to_sign: String,
    pub signature: String,
}

impl SignedQuery {
    /// `k=v&...`, percent-encoded: the URL query of a GET or the form body of a POST.
    pub fn to_query_string(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The value of one parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for SignedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if k == "SecurityToken" { "** redacted **" } else { v.as_str() };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("SignedQuery").field("params", &params).field("signature", &self.signature).finish()
    }
}

/// Adds the common parameters (`Format`, `Version`, `AccessKeyId`,
/// `SignatureMethod`, `SignatureVersion`, `SignatureNonce`, `Timestamp` and, for
/// temporary credentials, `SecurityToken`) to the call's parameters and signs them.
pub fn sign(call: &RpcCall<'_>, key: &AccessKey) -> SignedQuery {
    let mut params: BTreeMap<String, String> =
        call.params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    params.remove("Signature");
    let timestamp = clock::iso8601(call.timestamp);
    let mut common = vec![
        ("Format", call.format),
        ("Version", call.version),
        ("AccessKeyId", key.id()),
        ("SignatureMethod", SIGNATURE_METHOD),
        ("SignatureVersion", SIGNATURE_VERSION),
        ("SignatureNonce", call.nonce),
        ("Timestamp", timestamp.as_str()),
    ];
    if let Some(token) = key.security_token() {
        common.push(("SecurityToken", token));
    }
    for (k, v) in common {
        params.insert(k.to_owned(), v.to_owned());
    }
    let mut params: Vec<(String, String)> = params.into_iter().collect();
    let string_to_sign = string_to_sign(call.method, &params);
    let signature = signature(&string_to_sign, key.secret());
    params.push(("Signature".to_owned(), signature.clone()));
    SignedQuery { params, string_to_sign, signature }
}

/// RPC percent-encoding: RFC 3986 unreserved characters kept, UTF-8 bytes of
/// everything else as `%XX` (so a space is `%20`, `*` is `%2A`, `~` stays).
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, RPC_ENCODE).to_string()
}

/// `METHOD&%2F&<percent-encoded canonical query>` over `params` (without `Signature`),
/// sorted by name.
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> =
        params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).filter(|(k, _)| *k != "Signature").collect();
    sorted.sort();
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}&{}&{}", method.to_ascii_uppercase(), percent_encode("/"), percent_encode(&canonical))
}

/// Base64 of HMAC-SHA1(`<secret>&`, string to sign).
pub fn signature(string_to_sign: &str, secret: &str) -> String {
    let key = format!("{secret}&");
    crypto::base64(&crypto::hmac_sha1(key.as_bytes(), string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn encoding_follows_the_rpc_rules() {
        assert_eq!(percent_encode("a b*c~d+e/f"), "a%20b%2Ac~d%2Be%2Ff");
        assert_eq!(percent_encode("-_.~AZaz09"), "-_.~AZaz09");
        assert_eq!(percent_encode("中"), "%E4%B8%AD");
        assert_eq!(percent_encode("="), "%3D");
    }

    fn call<'a>(params: &'a [(&'a str, &'a str)]) -> RpcCall<'a> {
        RpcCall {
            method: "POST",
            version: "2015-04-01",
            format: "JSON",
            params,
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160),
            nonce: "n-1",
        }
    }

    #[test]
    fn common_parameters_are_added_and_win() {
        let params = [("Action", "AssumeRole"), ("Format", "XML"), ("Signature", "old")];
        let signed = sign(&call(&params), &AccessKey::new("id", "secret").with_security_token("tok"));
        let names: Vec<&str> = signed.params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "AccessKeyId",
                "Action",
                "Format",
                "SecurityToken",
                "SignatureMethod",
                "SignatureNonce",
                "SignatureVersion",
                "Timestamp",
                "Version",
                "Signature"
            ]
        );
        assert_eq!(signed.get("Format"), Some("JSON"));
        assert_eq!(signed.get("Timestamp"), Some("2015-08-30T12:36:00Z"));
        assert!(signed.string_to_sign.starts_with("POST&%2F&AccessKeyId%3Did%26Action%3DAssumeRole%26"));
        assert_eq!(signed.get("Signature"), Some(signed.signature.as_str()));
        let debug = format!("{signed:?}");
        assert!(!debug.contains("tok\""), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn query_string_is_percent_encoded() {
        let params = [("Action", "AssumeRole"), ("RoleSessionName", "a b")];
        let signed = sign(&call(&params), &AccessKey::new("id", "secret"));
        let query = signed.to_query_string();
        assert!(query.contains("RoleSessionName=a%20b"), "{query}");
        assert!(query.contains("Timestamp=2015-08-30T12%3A36%3A00Z"), "{query}");
        assert!(query.ends_with(&format!("Signature={}", percent_encode(&signed.signature))));
    }

    #[test]
    fn signature_depends_on_the_secret() {
        let params = [("Action", "AssumeRole")];
        let a = sign(&call(&params), &AccessKey::new("id", "secret"));
        let b = sign(&call(&params), &AccessKey::new("id", "secret2"));
        assert_eq!(a.string_to_sign, b.string_to_sign);
        assert_ne!(a.signature, b.signature);
    }
}
