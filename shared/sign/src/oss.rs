//! What both OSS signature versions sign (an [`OssRequest`]) and what they, and the
//! ACS3 signer, give back (the [`SignedHeaders`] to set on the request).

use std::fmt;

/// An OSS request as it will be sent, before signing.
#[derive(Debug, Clone, Copy)]
pub struct OssRequest<'a> {
    pub method: &'a str,
    /// `None` for service-level requests such as ListBuckets.
    pub bucket: Option<&'a str>,
    /// The object key, unencoded; `None` for bucket-level requests.
    pub key: Option<&'a str>,
    /// Query parameters, unencoded; an empty value is a bare name such as `?acl`.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers that will be sent; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
}

/// The headers that carry a security token: never shown by `Debug`.
const SECRET_HEADERS: [&str; 2] = [crate::oss_v1::SECURITY_TOKEN_HEADER, crate::acs3::SECURITY_TOKEN_HEADER];

/// Headers to add to the request, `Authorization` last.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub headers: Vec<(&'static str, String)>,
    pub string_to_sign: String,
    pub signature: String,
}

impl SignedHeaders {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> &str {
        self.get("authorization").unwrap_or_default()
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if SECRET_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                    "** redacted **"
                } else {
                    v.as_str()
                };
                (*k, shown)
            })
            .collect();
        f.debug_struct("SignedHeaders").field("headers", &headers).field("signature", &self.signature).finish()
    }
}

/// Every request header with lowercase names, then `added` (which replaces a
/// header of the same name), in that order.
pub(crate) fn merged_headers(headers: &[(&str, &str)], added: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |name: String, value: String| {
        out.retain(|(k, _)| *k != name);
        out.push((name, value));
    };
    for (k, v) in headers {
        put(k.to_ascii_lowercase(), (*v).to_owned());
    }
    for (k, v) in added {
        put(k.to_ascii_lowercase(), v.clone());
    }
    out
}
