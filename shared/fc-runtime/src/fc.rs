//! Function Compute custom runtime: an HTTP server the platform calls.
//!
//! Contract (Function Compute custom runtime specification):
//! * `POST /invoke` carries the event as body and the context in `x-fc-*` headers;
//!   `POST /initialize` runs the initialiser; `x-fc-control-path` names the same
//!   paths when the platform routes everything to `/`.
//! * Every response has a status code and an `x-fc-status` header: 200 on success,
//!   404 when the function failed.
//! * Every invocation writes `FC Invoke Start RequestId: <id>` and
//!   `FC Invoke End RequestId: <id>` to stdout (and the `FC Initialize ...` pair for
//!   the initialiser); a failed one ends with `, Error: Unhandled function error`.
//!
//! Requests are served concurrently. On SIGTERM or Ctrl-C the server stops
//! accepting, lets in-flight invocations finish, then returns.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::invoke::{invoke, Init};
use crate::{Context, Diagnostic, Error, Handler};

/// Largest event body accepted.
const MAX_BODY: usize = crate::MAX_EVENT;

pub(crate) struct ServerConfig {
    pub addr: SocketAddr,
}

impl ServerConfig {
    /// `FC_SERVER_PORT` (default 9000) on `FC_SERVER_HOST` (default `0.0.0.0`).
    pub(crate) fn from_env() -> Result<Self, Error> {
        let port = match std::env::var("FC_SERVER_PORT") {
            Ok(p) if !p.trim().is_empty() => p
                .trim()
                .parse::<u16>()
                .map_err(|_| format!("FC_SERVER_PORT={p:?} is not a port number; expected an integer 1-65535"))?,
            _ => 9000,
        };
        let host = std::env::var("FC_SERVER_HOST").unwrap_or_else(|_| "0.0.0.0".to_owned());
        let addr =
            format!("{host}:{port}").parse().map_err(|_| format!("FC_SERVER_HOST={host:?} is not an IP address"))?;
        Ok(ServerConfig { addr })
    }
}

pub(crate) async fn serve<T, H>(init: Arc<Init<H>>, config: ServerConfig) -> Result<(), Error>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    let listener =
        TcpListener::bind(config.addr).await.map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    tracing::info!(addr = %config.addr, "Function Compute custom runtime listening");
    serve_listener::<T, H>(init, listener, shutdown_signal()).await
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight requests.
pub(crate) async fn serve_listener<T, H>(
    init: Arc<Init<H>>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let init = init.clone();
                let service = hyper::service::service_fn(move |req| {
                    let init = init.clone();
                    async move { Ok::<_, Infallible>(route::<T, H>(&init, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => {
                tracing::info!("shutdown requested: no new connections, finishing in-flight invocations");
                break;
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
    tracing::info!("all in-flight invocations finished");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Which platform call a request is.
#[derive(Debug, PartialEq)]
enum Call {
    Invoke,
    Initialize,
    Lifecycle,
    Unknown,
}

fn classify(method: &Method, path: &str, control_path: Option<&str>) -> Call {
    let path = match (path, control_path) {
        ("/", Some(cp)) => cp,
        (p, _) => p,
    };
    match (method, path) {
        (&Method::POST, "/invoke") => Call::Invoke,
        (&Method::POST, "/initialize") => Call::Initialize,
        (_, "/pre-stop" | "/pre-freeze") => Call::Lifecycle,
        _ => Call::Unknown,
    }
}

async fn route<T, H>(init: &Init<H>, req: Request<Incoming>) -> Response<Full<Bytes>>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    let received = Instant::now();
    let control_path = req.headers().get("x-fc-control-path").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let call = classify(req.method(), req.uri().path(), control_path.as_deref());
    let context = Context::from_fc_headers(req.headers(), received);
    let rid = context.request_id.clone();

    match call {
        Call::Lifecycle => respond(Ok(Vec::new())),
        Call::Unknown => respond(Err(Diagnostic::new(
            "UnknownPath",
            format!(
                "{} {} is not a Function Compute call; expected POST /invoke or POST /initialize",
                req.method(),
                req.uri().path()
            ),
        ))),
        Call::Initialize => {
            stdout_line(&format!("FC Initialize Start RequestId: {rid}"));
            let outcome = init.handler().await.map(|_| Vec::new());
            end_line("FC Initialize End", &rid, &outcome);
            respond(outcome)
        }
        Call::Invoke => {
            stdout_line(&format!("FC Invoke Start RequestId: {rid}"));
            let outcome = match read_body(req.into_body()).await {
                Ok(body) => {
                    let outcome = invoke::<T, H>(init, &body, context).await;
                    if let Err(d) = &outcome {
                        tracing::error!(request_id = %rid, error_type = %d.error_type, "{}", d.error_message);
                    }
                    outcome
                }
                Err(d) => Err(d),
            };
            end_line("FC Invoke End", &rid, &outcome);
            respond(outcome)
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, Diagnostic> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            Err(Diagnostic::new("InvalidEvent", format!("could not read the event body (limit {MAX_BODY} bytes): {e}")))
        }
    }
}

fn respond(outcome: Result<Vec<u8>, Diagnostic>) -> Response<Full<Bytes>> {
    let (status, body) = match outcome {
        Ok(body) => (StatusCode::OK, body),
        Err(d) => (StatusCode::NOT_FOUND, d.to_json()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-fc-status", status.as_str())
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn end_line(prefix: &str, rid: &str, outcome: &Result<Vec<u8>, Diagnostic>) {
    match outcome {
        Ok(_) => stdout_line(&format!("{prefix} RequestId: {rid}")),
        Err(_) => stdout_line(&format!("{prefix} RequestId: {rid}, Error: Unhandled function error")),
    }
}

/// One whole line on stdout, flushed, so the platform's log collector sees it at once.
fn stdout_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_classified_by_path_or_control_path() {
        assert_eq!(classify(&Method::POST, "/invoke", None), Call::Invoke);
        assert_eq!(classify(&Method::POST, "/initialize", None), Call::Initialize);
        assert_eq!(classify(&Method::POST, "/", Some("/invoke")), Call::Invoke);
        assert_eq!(classify(&Method::GET, "/invoke", None), Call::Unknown);
        assert_eq!(classify(&Method::GET, "/pre-stop", None), Call::Lifecycle);
        assert_eq!(classify(&Method::POST, "/other", None), Call::Unknown);
    }
}
