//! Function Compute 3.0 OpenAPI requests, signed with [`acs3`](crate::acs3).
//!
//! [`invoke_function`] builds the `InvokeFunction` request
//! (`POST /2023-03-30/functions/{functionName}/invocations`, `qualifier` in the
//! query, `x-fc-invocation-type: Async` for an asynchronous invocation) with the
//! headers alibabacloud-fc20230330's `invoke_function_with_options` sends, and signs
//! it. Sending it is the caller's: this crate has no HTTP client.

use std::time::SystemTime;

use crate::acs3::{self, Acs3Request, Payload};
use crate::{AccessKey, SignedHeaders};

/// The FC 3.0 OpenAPI version, sent as `x-acs-version` and first in every path.
pub const API_VERSION: &str = "2023-03-30";
pub const INVOCATION_TYPE_HEADER: &str = "x-fc-invocation-type";
pub const LOG_TYPE_HEADER: &str = "x-fc-log-type";
pub const ASYNC_TASK_ID_HEADER: &str = "x-fc-async-task-id";

/// The FC 3.0 endpoint of an account in a region:
/// `<account id>.<region>.fc.aliyuncs.com`.
pub fn endpoint(account_id: &str, region: &str) -> String {
    format!("{account_id}.{region}.fc.aliyuncs.com")
}

/// The endpoint on Alibaba Cloud's internal network, for calls from inside the
/// region: `<account id>.<region>-internal.fc.aliyuncs.com`.
pub fn internal_endpoint(account_id: &str, region: &str) -> String {
    format!("{account_id}.{region}-internal.fc.aliyuncs.com")
}

/// How the platform runs an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// The call returns the function's result.
    Sync,
    /// The platform queues the event and answers 202 at once; it retries and
    /// routes failures as the function's async invocation settings say.
    Async,
}

impl InvocationType {
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::Sync => "Sync",
            InvocationType::Async => "Async",
        }
    }
}

/// Whether a synchronous invocation returns the tail of the function's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    None,
    Tail,
}

impl LogType {
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::None => "None",
            LogType::Tail => "Tail",
        }
    }
}

/// One `InvokeFunction` call, before signing.
#[derive(Debug, Clone, Copy)]
pub struct InvokeFunction<'a> {
    /// The endpoint, e.g. from [`endpoint`].
    pub host: &'a str,
    /// Unencoded; it is percent-encoded into the path.
    pub function_name: &'a str,
    /// A version or alias, sent as `qualifier`; `None` invokes `LATEST`.
    pub qualifier: Option<&'a str>,
    pub invocation_type: InvocationType,
    pub log_type: LogType,
    /// `x-fc-async-task-id`: names an asynchronous task, for functions with async
    /// tasks enabled (the platform refuses a second task of the same id).
    pub async_task_id: Option<&'a str>,
    /// The event. Empty for none; otherwise sent as `application/octet-stream`.
    pub body: &'a [u8],
    /// Sent as `user-agent` (not signed).
    pub user_agent: Option<&'a str>,
}

impl<'a> InvokeFunction<'a> {
    /// An asynchronous invocation of `function_name`'s `LATEST` version with `body`.
    pub fn asynchronous(host: &'a str, function_name: &'a str, body: &'a [u8]) -> Self {
        InvokeFunction {
            host,
            function_name,
            qualifier: None,
            invocation_type: InvocationType::Async,
            log_type: LogType::None,
            async_task_id: None,
            body,
            user_agent: None,
        }
    }
}

/// A signed FC request: everything to send but the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcRequest {
    pub method: &'static str,
    /// Percent-encoded, e.g. `/2023-03-30/functions/my-function/invocations`.
    pub path: String,
    /// Percent-encoded, without `?`; empty for none.
    pub query: String,
    /// Every header to send, `host` included and `Authorization` last, with the
    /// string to sign and the signature.
    pub headers: SignedHeaders,
}

impl FcRequest {
    /// The path, then `?` and the query when there is one.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// `https://<host><path and query>`.
    pub fn url(&self) -> String {
        format!("https://{}{}", self.headers.get("host").unwrap_or_default(), self.path_and_query())
    }

    /// The request as an `http::Request` carrying `body`, which must be the bytes
    /// that were signed. Fails only on a header value that is not valid in HTTP.
    pub fn to_http<B>(&self, body: B) -> Result<http::Request<B>, http::Error> {
        let mut builder = http::Request::builder().method(self.method).uri(self.url());
        for (name, value) in &self.headers.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder.body(body)
    }
}

/// Builds and signs `InvokeFunction` at time `at` with `nonce`. The headers are the
/// ones the official SDK sends (`accept: application/json`, the `x-fc-*` headers,
/// `content-type` with a body, the ACS3 headers); the signed ones are those the
/// specification requires (`host`, `content-type`, `x-acs-*`).
pub fn invoke_function(call: &InvokeFunction<'_>, key: &AccessKey, at: SystemTime, nonce: &str) -> FcRequest {
    let path = format!("/{API_VERSION}/functions/{}/invocations", acs3::percent_encode(call.function_name));
    let query: Vec<(&str, &str)> = call.qualifier.map(|q| ("qualifier", q)).into_iter().collect();
    let mut headers: Vec<(&'static str, String)> = vec![("accept", "application/json".to_owned())];
    if let Some(user_agent) = call.user_agent {
        headers.push(("user-agent", user_agent.to_owned()));
    }
    headers.push((INVOCATION_TYPE_HEADER, call.invocation_type.as_str().to_owned()));
    headers.push((LOG_TYPE_HEADER, call.log_type.as_str().to_owned()));
    if let Some(id) = call.async_task_id {
        headers.push((ASYNC_TASK_ID_HEADER, id.to_owned()));
    }
    if !call.body.is_empty() {
        headers.push(("content-type", "application/octet-stream".to_owned()));
    }
    let own: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let request = Acs3Request {
        method: "POST",
        host: call.host,
        path: &path,
        query: &query,
        headers: &own,
        action: "InvokeFunction",
        version: API_VERSION,
        payload: Payload::Bytes(call.body),
    };
    let signed = acs3::sign(&request, key, at, nonce, &[]);
    headers.extend(signed.headers);
    FcRequest {
        method: "POST",
        path,
        query: acs3::canonical_query(&query),
        headers: SignedHeaders { headers, string_to_sign: signed.string_to_sign, signature: signed.signature },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("1234567890123456", "cn-hangzhou"), "1234567890123456.cn-hangzhou.fc.aliyuncs.com");
        assert_eq!(
            internal_endpoint("1234567890123456", "ap-southeast-1"),
            "1234567890123456.ap-southeast-1-internal.fc.aliyuncs.com"
        );
    }

    #[test]
    fn an_async_invocation() {
        let host = endpoint("1234567890123456", "cn-hangzhou");
        let call = InvokeFunction {
            qualifier: Some("prod 1"),
            ..InvokeFunction::asynchronous(&host, "crr backfill", br#"{"range":3}"#)
        };
        let key = AccessKey::new("LTAI-id", "secret").with_security_token("CAIS-token");
        let request = invoke_function(&call, &key, at(), "nonce-1");
        assert_eq!(request.path, "/2023-03-30/functions/crr%20backfill/invocations");
        assert_eq!(request.query, "qualifier=prod%201");
        assert_eq!(
            request.url(),
            "https://1234567890123456.cn-hangzhou.fc.aliyuncs.com/2023-03-30/functions/crr%20backfill/invocations?qualifier=prod%201"
        );
        let names: Vec<&str> = request.headers.headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "accept",
                "x-fc-invocation-type",
                "x-fc-log-type",
                "content-type",
                "host",
                "x-acs-action",
                "x-acs-version",
                "x-acs-date",
                "x-acs-signature-nonce",
                "x-acs-content-sha256",
                "x-acs-accesskey-id",
                "x-acs-security-token",
                "authorization"
            ]
        );
        assert_eq!(request.headers.get("x-fc-invocation-type"), Some("Async"));
        assert_eq!(request.headers.get("x-fc-log-type"), Some("None"));
        assert_eq!(request.headers.get("content-type"), Some("application/octet-stream"));
        assert!(request.headers.authorization().starts_with(
            "ACS3-HMAC-SHA256 Credential=LTAI-id,SignedHeaders=content-type;host;x-acs-accesskey-id;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature="
        ));
        assert!(!format!("{request:?}").contains("CAIS-token"));

        let http = request.to_http(call.body.to_vec()).expect("valid HTTP");
        assert_eq!(http.method(), "POST");
        assert_eq!(http.uri().to_string(), request.url());
        assert_eq!(http.headers().len(), request.headers.headers.len());
        assert_eq!(http.headers()["authorization"], request.headers.authorization());
    }

    #[test]
    fn a_sync_invocation_without_body_or_qualifier() {
        let call = InvokeFunction {
            invocation_type: InvocationType::Sync,
            log_type: LogType::Tail,
            user_agent: Some("crr/0.1"),
            ..InvokeFunction::asynchronous("1.cn-beijing.fc.aliyuncs.com", "f", b"")
        };
        let request = invoke_function(&call, &AccessKey::new("id", "secret"), at(), "n");
        assert_eq!(request.path_and_query(), "/2023-03-30/functions/f/invocations");
        assert_eq!(request.headers.get("content-type"), None);
        assert_eq!(request.headers.get("user-agent"), Some("crr/0.1"));
        assert_eq!(request.headers.get("x-fc-invocation-type"), Some("Sync"));
        assert_eq!(request.headers.get("x-fc-log-type"), Some("Tail"));
        assert_eq!(
            request.headers.get("x-acs-content-sha256"),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert!(request.headers.authorization().contains(
            "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        ));
    }
}
