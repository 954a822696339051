//! Calling a function the way Function Compute does: `POST /invoke` or `/initialize`
//! with the `x-fc-*` headers (the function's identity among them), within the
//! function's timeout. `crr dev up` and `crr invoke` both call through here.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::dev::PlatformIdentity;

/// Calls functions the way Function Compute does: `POST /invoke` or `/initialize`
/// with the `x-fc-*` headers, the function's identity among them.
#[derive(Clone)]
pub struct Caller {
    http: Client<HttpConnector, Full<Bytes>>,
    identity: Option<PlatformIdentity>,
}

/// A function's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub millis: u128,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// `errorType: errorMessage` of a failed invocation, or the body as it came.
    pub fn error_text(&self) -> String {
        match serde_json::from_str::<serde_json::Value>(&self.body) {
            Ok(v) if v.get("errorType").is_some() || v.get("errorMessage").is_some() => format!(
                "{}: {}",
                v["errorType"].as_str().unwrap_or("Error"),
                v["errorMessage"].as_str().unwrap_or_default()
            ),
            _ => format!("status {}: {}", self.status, self.body.trim()),
        }
    }
}

/// Where and what a function is, for a call.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub service: String,
    pub url: String,
    pub memory_mb: u64,
    pub timeout: Duration,
}

impl Caller {
    pub fn new(identity: Option<PlatformIdentity>) -> Caller {
        Caller { http: Client::builder(TokioExecutor::new()).build_http(), identity }
    }

    pub async fn call(&self, target: &Target, path: &str, body: Bytes) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut req = http::Request::post(format!("{}{path}", target.url))
            .header("content-type", "application/octet-stream")
            .header("x-fc-request-id", uuid::Uuid::new_v4().to_string())
            .header("x-fc-function-name", &target.name)
            .header("x-fc-service-name", &target.service)
            .header("x-fc-function-handler", "bootstrap")
            .header("x-fc-function-initializer", "bootstrap")
            .header("x-fc-function-memory", target.memory_mb.to_string())
            .header("x-fc-function-timeout", target.timeout.as_secs().to_string())
            .header("x-fc-control-path", path);
        if let Some(id) = &self.identity {
            req = id.headers(req);
        }
        let resp = tokio::time::timeout(target.timeout, self.http.request(req.body(Full::new(body))?))
            .await
            .map_err(|_| anyhow!("{} did not answer within its timeout of {:?}", target.name, target.timeout))?
            .map_err(|e| anyhow!("{} at {}: {e}", target.name, target.url))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned(), millis: started.elapsed().as_millis() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_read_as_type_and_message() {
        let a = Answer { status: 404, body: r#"{"errorType":"AccessDenied","errorMessage":"no"}"#.into(), millis: 1 };
        assert_eq!(a.error_text(), "AccessDenied: no");
        let a = Answer { status: 502, body: "bad gateway\n".into(), millis: 1 };
        assert_eq!(a.error_text(), "status 502: bad gateway");
    }
}
