//! A pass-through HTTP proxy in front of the local cloud (or the local OSS server) that fails chosen
//! requests: a real server with real faults, for testing retries, cleanup and
//! convergence. Faults are listed (the first `times` requests whose target
//! contains a pattern), or drawn at random for a share of all requests from a
//! seeded generator ([`RandomFaults`]): 5xx and SlowDown answers, connection
//! resets before the request reaches the server or after it was carried out (the
//! answer is lost), latency, and response bodies cut short.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

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
    /// The connection is reset before the request reaches the server.
    Reset,
    /// The request is carried out, and the connection reset before its answer: the
    /// client cannot tell whether it happened.
    ResetAfter,
    /// The request waits this long, then goes through.
    Delay(Duration),
    /// The request goes through; its answer's body stops half way (the connection
    /// is cut, the length promised is not met).
    Truncate,
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

/// How many faults of each kind [`RandomFaults`] injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub errors: usize,
    pub resets: usize,
    pub lost_answers: usize,
    pub delays: usize,
    pub truncations: usize,
}

impl FaultCounts {
    pub fn total(&self) -> usize {
        self.errors + self.resets + self.lost_answers + self.delays + self.truncations
    }
}

/// Faults drawn at random for a share of the requests, from a seeded generator.
#[derive(Debug)]
pub struct RandomFaults {
    rng: fastrand::Rng,
    /// The share of requests that get a fault.
    pub rate: f64,
    pub counts: FaultCounts,
}

impl RandomFaults {
    pub fn new(seed: u64, rate: f64) -> RandomFaults {
        RandomFaults { rng: fastrand::Rng::with_seed(seed), rate, counts: FaultCounts::default() }
    }

    /// The fault for one request, if it gets one. Bodies are cut short only where
    /// there is one to cut (GET).
    fn draw(&mut self, method: &http::Method) -> Option<Answer> {
        if self.rate <= 0.0 || self.rng.f64() >= self.rate {
            return None;
        }
        let answer = match self.rng.u32(0..10) {
            0..=2 => {
                self.counts.errors += 1;
                match self.rng.u32(0..3) {
                    0 => Answer::Error(500, "InternalError"),
                    1 => Answer::Error(503, "SlowDown"),
                    _ => Answer::Error(503, "ServiceUnavailable"),
                }
            }
            3 | 4 => {
                self.counts.resets += 1;
                Answer::Reset
            }
            5 => {
                self.counts.lost_answers += 1;
                Answer::ResetAfter
            }
            6 | 7 if *method == http::Method::GET => {
                self.counts.truncations += 1;
                Answer::Truncate
            }
            _ => {
                self.counts.delays += 1;
                Answer::Delay(Duration::from_millis(self.rng.u64(50..400)))
            }
        };
        Some(answer)
    }
}

/// The keys of a DeleteObjects request body.
fn keys_of_batch_delete(body: &str) -> Vec<&str> {
    body.split("<Key>").skip(1).filter_map(|rest| rest.split("</Key>").next()).collect()
}

/// The proxy: listed faults first, then random ones.
pub struct FaultProxy {
    pub base: String,
    faults: Arc<Mutex<Vec<Fault>>>,
    random: Arc<Mutex<Option<RandomFaults>>>,
    pub injected: Arc<AtomicUsize>,
    /// Every request that went through: `METHOD /path?query`.
    requests: Arc<Mutex<Vec<String>>>,
    /// Remember requests (tests that count them); off for long chaos runs.
    log_requests: Arc<std::sync::atomic::AtomicBool>,
}

/// What the proxy shares with the tasks serving its connections.
#[derive(Clone)]
struct Shared {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: http::uri::Authority,
    faults: Arc<Mutex<Vec<Fault>>>,
    random: Arc<Mutex<Option<RandomFaults>>>,
    injected: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    log_requests: Arc<std::sync::atomic::AtomicBool>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, faults: Vec<Fault>) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            client: Client::builder(TokioExecutor::new()).build_http(),
            upstream: upstream.trim_start_matches("http://").parse().unwrap(),
            faults: Arc::new(Mutex::new(faults)),
            random: Arc::new(Mutex::new(None)),
            injected: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(Mutex::new(Vec::new())),
            log_requests: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let proxy = FaultProxy {
            base,
            faults: shared.faults.clone(),
            random: shared.random.clone(),
            injected: shared.injected.clone(),
            requests: shared.requests.clone(),
            log_requests: shared.log_requests.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| serve(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        proxy
    }

    /// Requests seen so far whose `METHOD /path?query` contains `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r.contains(pattern)).count()
    }

    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    pub fn set_faults(&self, faults: Vec<Fault>) {
        *self.faults.lock().unwrap() = faults;
    }

    /// Faults for a share of every request from now on (`None`: no more).
    pub fn set_random(&self, random: Option<RandomFaults>) {
        *self.random.lock().unwrap() = random;
    }

    /// What the random faults injected so far.
    pub fn random_counts(&self) -> FaultCounts {
        self.random.lock().unwrap().as_ref().map(|r| r.counts).unwrap_or_default()
    }

    /// Stops remembering requests (long runs).
    pub fn forget_requests(&self) {
        self.log_requests.store(false, Ordering::SeqCst);
        self.requests.lock().unwrap().clear();
    }
}

fn xml(status: u16, xml: String) -> Result<http::Response<Body>, BoxError> {
    let body: Body = Full::new(Bytes::from(xml)).map_err(|never| match never {}).boxed();
    Ok(http::Response::builder().status(status).body(body).unwrap())
}

async fn serve(shared: Shared, req: http::Request<hyper::body::Incoming>) -> Result<http::Response<Body>, BoxError> {
    let target = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if shared.log_requests.load(Ordering::SeqCst) {
        shared.requests.lock().unwrap().push(format!("{} {target}", req.method()));
    }
    let listed = {
        let mut faults = shared.faults.lock().unwrap();
        faults.iter_mut().find(|f| f.times > 0 && f.method == req.method() && target.contains(&f.matches)).map(|f| {
            f.times = f.times.saturating_sub(1);
            f.answer.clone()
        })
    };
    let hit = listed.or_else(|| shared.random.lock().unwrap().as_mut().and_then(|r| r.draw(req.method())));
    if hit.is_some() {
        shared.injected.fetch_add(1, Ordering::SeqCst);
    }
    let after = match hit {
        None => None,
        Some(Answer::Error(status, code)) => {
            return xml(status, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected fault</Message></Error>"));
        }
        Some(Answer::Reset) => return Err("connection reset by the fault proxy".into()),
        Some(Answer::RefuseEveryKey(code)) => {
            let body = req.into_body().collect().await?;
            let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
            let errors: String = keys_of_batch_delete(&body)
                .iter()
                .map(|k| format!("<Error><Key>{k}</Key><Code>{code}</Code><Message>injected fault</Message></Error>"))
                .collect();
            return xml(200, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{errors}</DeleteResult>"));
        }
        Some(Answer::Hold(gate)) => {
            gate.hold().await;
            None
        }
        Some(Answer::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            None
        }
        Some(after @ (Answer::ResetAfter | Answer::Truncate)) => Some(after),
    };
    let (mut parts, body) = req.into_parts();
    let mut uri = parts.uri.clone().into_parts();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(shared.upstream.clone());
    parts.uri = http::Uri::from_parts(uri)?;
    let body: Body = body.map_err(BoxError::from).boxed();
    let resp =
        shared.client.request(http::Request::from_parts(parts, body)).await.map_err(|e| format!("upstream: {e}"))?;
    let (parts, body) = resp.into_parts();
    match after {
        Some(Answer::ResetAfter) => {
            // Carried out; the answer is lost.
            let _ = body.collect().await;
            Err("connection reset by the fault proxy after the request was carried out".into())
        }
        Some(_) => {
            let whole = body.collect().await?.to_bytes();
            let half = whole.slice(..whole.len() / 2);
            let frames: Vec<Result<Frame<Bytes>, BoxError>> =
                vec![Ok(Frame::data(half)), Err("the fault proxy cut the body short".into())];
            let body: Body = StreamBody::new(futures::stream::iter(frames)).boxed();
            Ok(http::Response::from_parts(parts, body))
        }
        None => Ok(http::Response::from_parts(parts, body.map_err(BoxError::from).boxed())),
    }
}
