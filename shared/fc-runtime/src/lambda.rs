//! AWS Lambda Runtime API client loop (custom runtime, e.g. `provided.al2023`).
//!
//! Protocol: `GET /2018-06-01/runtime/invocation/next` blocks until an event
//! arrives; the handler's result goes to `POST .../invocation/{id}/response`, a
//! failure to `POST .../invocation/{id}/error`; an initialiser failure to
//! `POST .../runtime/init/error`. Errors carry `Lambda-Runtime-Function-Error-Type`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use crate::invoke::{invoke, Init};
use crate::{Context, Error, Handler};

struct RuntimeApi {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl RuntimeApi {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> Result<(HeaderMap, Bytes), Error> {
        let mut req = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(t) = error_type {
            req = req.header("Lambda-Runtime-Function-Error-Type", t);
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        let resp = self.client.request(req).await.map_err(|e| format!("Runtime API {path}: {e}"))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = http_body_util::Limited::new(resp.into_body(), crate::MAX_EVENT)
            .collect()
            .await
            .map_err(|e| {
                format!("Runtime API {path}: the answer is not read whole (limit {} bytes): {e}", crate::MAX_EVENT)
            })?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("Runtime API {path} answered {status}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok((headers, body))
    }
}

pub(crate) async fn run<T, H>(init: Arc<Init<H>>, api: String) -> Result<(), Error>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    let api = RuntimeApi {
        base: format!("http://{api}/2018-06-01/runtime"),
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    if let Err(d) = init.handler().await {
        tracing::error!(error_type = %d.error_type, "{}", d.error_message);
        api.send(Method::POST, "/init/error", d.to_json(), Some(&d.error_type)).await?;
        return Err(d.to_string().into());
    }
    let mut failures = 0u32;
    loop {
        let (headers, body) = match api.send(Method::GET, "/invocation/next", Vec::new(), None).await {
            Ok(next) => {
                failures = 0;
                next
            }
            Err(e) if failures < 5 => {
                failures += 1;
                tracing::warn!(error = %e, "waiting for the next invocation failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 << failures)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let context = context_from_headers(&headers);
        let rid = context.request_id.clone();
        match invoke::<T, H>(&init, &body, context).await {
            Ok(result) => {
                api.send(Method::POST, &format!("/invocation/{rid}/response"), result, None).await?;
            }
            Err(d) => {
                tracing::error!(request_id = %rid, error_type = %d.error_type, "{}", d.error_message);
                api.send(Method::POST, &format!("/invocation/{rid}/error"), d.to_json(), Some(&d.error_type)).await?;
            }
        }
    }
}

fn context_from_headers(headers: &HeaderMap) -> Context {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut ctx =
        Context::new(get("lambda-runtime-aws-request-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()));
    ctx.platform = crate::Platform::Lambda;
    ctx.deadline =
        get("lambda-runtime-deadline-ms").and_then(|ms| ms.parse::<u64>().ok()).and_then(deadline_from_epoch_ms);
    let arn = get("lambda-runtime-invoked-function-arn");
    ctx.account_id = arn.as_deref().and_then(|a| a.split(':').nth(4)).map(str::to_owned);
    ctx.function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    ctx.qualifier = std::env::var("AWS_LAMBDA_FUNCTION_VERSION").ok();
    ctx.region = std::env::var("AWS_REGION").ok();
    ctx.memory_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().and_then(|m| m.parse().ok());
    ctx
}

fn deadline_from_epoch_ms(ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(Instant::now() + Duration::from_millis(ms.saturating_sub(now_ms)))
}
