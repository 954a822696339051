//! `crr status --serve [ADDR]`: the replication status as a page that updates
//! itself, like the CRR tab of the OSS console, served from the `crr` binary.
//!
//! The page (HTML, CSS, JS and its SVG chart, hand-written, embedded at build
//! time: no CDN, no build step) polls `/api/status`, which answers exactly what
//! `crr status --json` prints, read at most every [`REFRESH`] however many tabs
//! poll. Read-only: GET and HEAD only, nothing is ever written. It listens on
//! loopback unless told otherwise, and answers only requests addressed to the
//! address it listens on (a page on another site cannot read it by DNS rebinding).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// How long one reading of the status is served before the stores are read again.
pub const REFRESH: Duration = Duration::from_secs(2);

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");
const ICON: &str = include_str!("assets/icon.svg");

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `127.0.0.1:8088`, `[::1]:8088`, `localhost:8088`, `0.0.0.0:8088`, or a bare port (loopback).
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("{text:?} is not an address to listen on; expected IP:PORT such as 127.0.0.1:8088 (or a port alone, for loopback)")
    })
}

/// The `Host` values a request may carry for a server bound to `addr`; `None`: any.
fn allowed_hosts(addr: SocketAddr) -> Option<Vec<String>> {
    if addr.ip().is_unspecified() {
        return None;
    }
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.extend([format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}")]);
    }
    Some(hosts)
}

/// What the server shares between connections.
struct Page {
    replicator: crr::Replicator,
    hosts: Option<Vec<String>>,
    /// The last reading and when it was taken.
    latest: Mutex<Option<(Instant, Bytes)>>,
}

impl Page {
    /// The status JSON, read again when the last reading is older than [`REFRESH`].
    async fn status(&self) -> Bytes {
        let mut latest = self.latest.lock().await;
        if let Some((at, json)) = latest.as_ref().filter(|(at, _)| at.elapsed() < REFRESH) {
            let _ = at;
            return json.clone();
        }
        let json = Bytes::from(super::json(&super::read(&self.replicator).await));
        *latest = Some((Instant::now(), json.clone()));
        json
    }
}

/// Serves the page on `addr` until `shutdown` completes.
pub async fn serve(
    replicator: crr::Replicator,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let page = Arc::new(Page { replicator, hosts: allowed_hosts(bound), latest: Mutex::new(None) });
    if !bound.ip().is_loopback() {
        eprintln!(
            "crr status --serve: listening on {bound}, not loopback: whoever reaches it sees the replication status"
        );
    }
    println!("crr status: serving the replication status on http://{bound}/ (read-only; Ctrl-C stops)");
    let _ = std::io::Write::flush(&mut std::io::stdout());

    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let page = page.clone();
                let service = hyper::service::service_fn(move |req| {
                    let page = page.clone();
                    async move { Ok::<_, Infallible>(route(&page, req).await) }
                });
                let conn = graceful.watch(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn response(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_SECURITY_POLICY, POLICY)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", Bytes::from(format!("{message}\n")))
}

async fn route<B>(page: &Page, req: Request<B>) -> Response<Full<Bytes>> {
    if let Some(hosts) = &page.hosts {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return text(
                StatusCode::MISDIRECTED_REQUEST,
                &format!("this server answers only for {}", hosts.join(", ")),
            );
        }
    }
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "read-only: GET and HEAD only");
        r.headers_mut().insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut r = match req.uri().path() {
        "/" | "/index.html" => {
            response(StatusCode::OK, "text/html; charset=utf-8", Bytes::from_static(INDEX.as_bytes()))
        }
        "/app.js" => response(StatusCode::OK, "text/javascript; charset=utf-8", Bytes::from_static(SCRIPT.as_bytes())),
        "/style.css" => response(StatusCode::OK, "text/css; charset=utf-8", Bytes::from_static(STYLE.as_bytes())),
        "/icon.svg" => response(StatusCode::OK, "image/svg+xml", Bytes::from_static(ICON.as_bytes())),
        "/api/status" => response(StatusCode::OK, "application/json", page.status().await),
        _ => text(StatusCode::NOT_FOUND, "not found: the page is at /, its data at /api/status"),
    };
    if head {
        *r.body_mut() = Full::new(Bytes::new());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("127.0.0.1:8088").unwrap().to_string(), "127.0.0.1:8088");
        assert_eq!(parse_addr("9000").unwrap().to_string(), "127.0.0.1:9000");
        assert_eq!(parse_addr("localhost:7").unwrap().to_string(), "127.0.0.1:7");
        assert_eq!(parse_addr("[::1]:80").unwrap().to_string(), "[::1]:80");
        let err = parse_addr("example.com:80").unwrap_err();
        assert!(err.contains("expected IP:PORT such as 127.0.0.1:8088"), "{err}");
        assert!(parse_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn only_requests_addressed_to_the_server_are_answered() {
        let hosts = allowed_hosts("127.0.0.1:8088".parse().unwrap()).unwrap();
        assert!(hosts.contains(&"localhost:8088".to_owned()) && hosts.contains(&"127.0.0.1:8088".to_owned()));
        assert!(!hosts.iter().any(|h| h.contains("evil")));
        assert!(allowed_hosts("0.0.0.0:8088".parse().unwrap()).is_none(), "bound to every address: any name");
    }

    #[test]
    fn the_page_loads_its_parts_from_this_server_only() {
        // The SVG namespace is a name, not a download.
        for asset in [INDEX, SCRIPT, STYLE, ICON] {
            let rest = asset.replace("http://www.w3.org/2000/svg", "");
            assert!(!rest.contains("http://") && !rest.contains("https://") && !rest.contains("//cdn"), "no CDN");
        }
        for part in ["/app.js", "/style.css", "/icon.svg"] {
            assert!(INDEX.contains(&format!("\"{part}\"")), "index.html loads {part}");
        }
        assert!(SCRIPT.contains("/api/status"));
    }
}
