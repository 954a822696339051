//! The invocation context a handler sees, built from the platform's request
//! headers (Function Compute), the Runtime API (Lambda) or the command line.

use std::fmt;
use std::time::{Duration, Instant};

use http::HeaderMap;

/// A string that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for signing only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Temporary credentials handed to the function by the platform.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field("security_token", &self.security_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Which platform delivered an invocation: the run mode fc-runtime chose at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Platform {
    /// A Function Compute custom runtime (`POST /invoke` with `x-fc-*` headers).
    FunctionCompute,
    /// The AWS Lambda Runtime API loop.
    Lambda,
    /// One shot from the command line (`--event FILE`), or a test.
    #[default]
    Local,
}

/// Facts about one invocation.
#[derive(Debug, Clone)]
pub struct Context {
    pub request_id: String,
    pub platform: Platform,
    pub function_name: Option<String>,
    pub service_name: Option<String>,
    pub qualifier: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub memory_mb: Option<u64>,
    /// When the platform will stop waiting for this invocation.
    pub deadline: Option<Instant>,
    /// How many times the platform has retried this (asynchronous) invocation.
    pub retry_count: Option<u32>,
    /// The platform's temporary credentials for the function's own role, if any.
    pub credentials: Option<Credentials>,
}

impl Context {
    /// A context with only a request id, for local runs and tests.
    pub fn new(request_id: impl Into<String>) -> Self {
        Context {
            request_id: request_id.into(),
            platform: Platform::Local,
            function_name: None,
            service_name: None,
            qualifier: None,
            region: None,
            account_id: None,
            memory_mb: None,
            deadline: None,
            retry_count: None,
            credentials: None,
        }
    }

    /// Time left before the deadline; `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Reads the `x-fc-*` headers of a Function Compute request.
    pub(crate) fn from_fc_headers(headers: &HeaderMap, received: Instant) -> Self {
        let get = |name: &str| -> Option<String> {
            headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let request_id = get("x-fc-request-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let credentials = match (get("x-fc-access-key-id"), get("x-fc-access-key-secret")) {
            (Some(id), Some(secret)) => Some(Credentials {
                access_key_id: id,
                access_key_secret: Secret::new(secret),
                security_token: get("x-fc-security-token").map(Secret::new),
            }),
            _ => None,
        };
        let timeout = get("x-fc-function-timeout").and_then(|t| t.parse::<u64>().ok());
        Context {
            request_id,
            platform: Platform::FunctionCompute,
            function_name: get("x-fc-function-name"),
            service_name: get("x-fc-service-name"),
            qualifier: get("x-fc-qualifier"),
            region: get("x-fc-region"),
            account_id: get("x-fc-account-id"),
            memory_mb: get("x-fc-function-memory").and_then(|m| m.parse().ok()),
            deadline: timeout.map(|secs| received + Duration::from_secs(secs)),
            retry_count: get("x-fc-retry-count").and_then(|r| r.parse().ok()),
            credentials,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let creds = Credentials {
            access_key_id: "AKID".into(),
            access_key_secret: Secret::new("very-secret-value"),
            security_token: Some(Secret::new("token-value")),
        };
        let text = format!("{creds:?} {}", creds.access_key_secret);
        assert!(text.contains("AKID"));
        assert!(!text.contains("very-secret-value"), "{text}");
        assert!(!text.contains("token-value"), "{text}");
    }

    #[test]
    fn fc_headers_become_context() {
        let mut h = HeaderMap::new();
        h.insert("x-fc-request-id", "req-1".parse().unwrap());
        h.insert("x-fc-function-name", "object-created".parse().unwrap());
        h.insert("x-fc-function-timeout", "30".parse().unwrap());
        h.insert("x-fc-function-memory", "512".parse().unwrap());
        h.insert("x-fc-access-key-id", "STS.abc".parse().unwrap());
        h.insert("x-fc-access-key-secret", "s3cr3t".parse().unwrap());
        h.insert("x-fc-security-token", "".parse().unwrap());
        let now = Instant::now();
        let ctx = Context::from_fc_headers(&h, now);
        assert_eq!(ctx.request_id, "req-1");
        assert_eq!(ctx.platform, Platform::FunctionCompute);
        assert_eq!(ctx.function_name.as_deref(), Some("object-created"));
        assert_eq!(ctx.memory_mb, Some(512));
        assert_eq!(ctx.deadline, Some(now + Duration::from_secs(30)));
        let creds = ctx.credentials.unwrap();
        assert_eq!(creds.access_key_id, "STS.abc");
        assert_eq!(creds.access_key_secret.expose(), "s3cr3t");
        assert!(creds.security_token.is_none(), "an empty token header means no token");
    }
}
