//! A pass-through HTTP proxy that fails chosen requests on their way to a real
//! server (errors, resets, refused batch deletes, requests held at a gate): real
//! servers with real faults, for testing retries, cleanup and races.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A fault to inject into requests whose query (or path) contains `matches`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: http::Method,
    pub matches: String,
    /// How many matching requests fail; `usize::MAX` for all.
    pub times: usize,
    pub answer: Answer,
}

/// What a request hit by a [`Fault`] gets.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status with an S3 error of this code.
    Error(u16, &'static str),
    /// The connection is reset.
    Reset,
    /// For a batch delete (`POST ?delete`): a 200 whose result refuses every key
    /// with this code, deleting nothing, as a busy server may answer.
    RefuseEveryKey(&'static str),
    /// Nothing fails: the request waits at the gate until the test opens it, then
    /// goes through. The test acts at a chosen moment of the function's work.
    Hold(Gate),
}

impl Answer {
    /// `Some((status, code))` answers with that S3 error; `None` resets the connection.
    pub fn from_error(error: Option<(u16, &'static str)>) -> Answer {
        error.map_or(Answer::Reset, |(status, code)| Answer::Error(status, code))
    }
}

/// Where a held request waits: the test learns when one arrives and lets it go.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    arrived: Arc<tokio::sync::Notify>,
    opened: Arc<tokio::sync::Notify>,
}

impl Gate {
    /// Waits until a request is held at this gate (at most `limit`).
    pub async fn arrival(&self, limit: Duration) {
        tokio::time::timeout(limit, self.arrived.notified()).await.expect("no request reached the gate in time");
    }

    /// Lets the held request go on.
    pub fn open(&self) {
        self.opened.notify_one();
    }

    async fn hold(&self) {
        self.arrived.notify_one();
        self.opened.notified().await;
    }
}

/// The keys of a DeleteObjects request body.
fn keys_of_batch_delete(body: &str) -> Vec<&str> {
    body.split("<Key>").skip(1).filter_map(|rest| rest.split("</Key>").next()).collect()
}

/// A pass-through HTTP proxy in front of the local cloud that fails chosen
/// requests: a real server with real faults, for testing retries and cleanup.
pub struct FaultProxy {
    pub base: String,
    faults: Arc<Mutex<Vec<Fault>>>,
    pub injected: Arc<std::sync::atomic::AtomicUsize>,
    /// Every request that went through: `METHOD /path?query`.
    requests: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, faults: Vec<Fault>) -> FaultProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Mutex::new(faults));
        let injected = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let upstream: http::uri::Authority = upstream.trim_start_matches("http://").parse().unwrap();
        let client: Client<
            hyper_util::client::legacy::connect::HttpConnector,
            http_body_util::combinators::BoxBody<Bytes, hyper::Error>,
        > = Client::builder(TokioExecutor::new()).build_http();
        let (f, inj) = (faults.clone(), injected.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (client, faults, injected, upstream, log) =
                    (client.clone(), f.clone(), inj.clone(), upstream.clone(), log.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (client, faults, injected, upstream, log) =
                            (client.clone(), faults.clone(), injected.clone(), upstream.clone(), log.clone());
                        async move {
                            let target = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
                            log.lock().unwrap().push(format!("{} {target}", req.method()));
                            let hit = {
                                let mut faults = faults.lock().unwrap();
                                faults
                                    .iter_mut()
                                    .find(|f| f.times > 0 && f.method == req.method() && target.contains(&f.matches))
                                    .map(|f| {
                                        f.times = f.times.saturating_sub(1);
                                        f.answer.clone()
                                    })
                            };
                            type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;
                            let xml = |status: u16, xml: String| {
                                let body: Body = Full::new(Bytes::from(xml)).map_err(|never| match never {}).boxed();
                                Ok(http::Response::builder().status(status).body(body).unwrap())
                            };
                            let req = match hit {
                                None => req.map(|b| b.boxed()),
                                Some(answer) => {
                                    injected.fetch_add(1, Ordering::SeqCst);
                                    match answer {
                                        Answer::Error(status, code) => {
                                            return xml(status, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected fault</Message></Error>"));
                                        }
                                        Answer::Reset => return Err("connection reset by the fault proxy".to_string()),
                                        Answer::RefuseEveryKey(code) => {
                                            let body = req.into_body().collect().await.map_err(|e| e.to_string())?;
                                            let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
                                            let errors: String = keys_of_batch_delete(&body)
                                                .iter()
                                                .map(|k| format!("<Error><Key>{k}</Key><Code>{code}</Code><Message>injected fault</Message></Error>"))
                                                .collect();
                                            return xml(200, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{errors}</DeleteResult>"));
                                        }
                                        Answer::Hold(gate) => {
                                            gate.hold().await;
                                            req.map(|b| b.boxed())
                                        }
                                    }
                                }
                            };
                            let (mut parts, body) = req.into_parts();
                            let mut uri = parts.uri.clone().into_parts();
                            uri.scheme = Some(http::uri::Scheme::HTTP);
                            uri.authority = Some(upstream);
                            parts.uri = http::Uri::from_parts(uri).unwrap();
                            match client.request(http::Request::from_parts(parts, body)).await {
                                Ok(resp) => {
                                    let (parts, body) = resp.into_parts();
                                    let body: Body = body.boxed();
                                    Ok(http::Response::from_parts(parts, body))
                                }
                                Err(e) => Err(format!("upstream: {e}")),
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { base, faults, injected, requests }
    }

    /// Requests seen so far whose `METHOD /path?query` contains `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r.contains(pattern)).count()
    }

    pub fn injected(&self) -> usize {
        self.injected.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_faults(&self, faults: Vec<Fault>) {
        *self.faults.lock().unwrap() = faults;
    }
}
