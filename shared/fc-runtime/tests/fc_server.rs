//! The Function Compute server, driven over real HTTP the way the platform calls it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use fc_runtime::{service_fn, Error, Event, TypedError};

#[derive(Debug, Deserialize)]
struct Input {
    name: String,
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    sleep_ms: u64,
}

#[derive(Debug, Serialize)]
struct Output {
    greeting: String,
    request_id: String,
    function: Option<String>,
    has_credentials: bool,
    deadline_secs: Option<u64>,
}

async fn handler(event: Event<Input>) -> Result<Output, Error> {
    let Event { payload, context } = event;
    if payload.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(payload.sleep_ms)).await;
    }
    if payload.panic {
        panic!("asked to panic for {}", payload.name);
    }
    if payload.fail {
        return Err(Box::new(TypedError::new("AccessDenied", format!("no access for {}", payload.name))));
    }
    Ok(Output {
        greeting: format!("hello {}", payload.name),
        request_id: context.request_id.clone(),
        function: context.function_name.clone(),
        has_credentials: context.credentials.is_some(),
        deadline_secs: context.remaining().map(|d| (d.as_secs_f64().round()) as u64),
    })
}

struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), Error>>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(fc_runtime::testing::serve_fc(listener, service_fn(handler), async move {
        let _ = stopped.await;
    }));
    Server { base, stop: Some(stop), done }
}

struct Reply {
    status: u16,
    fc_status: Option<String>,
    json: serde_json::Value,
}

async fn post(base: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::post(format!("{base}{path}")).header("content-type", "application/octet-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let fc_status = resp.headers().get("x-fc-status").map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    Reply { status, fc_status, json }
}

const FC_HEADERS: &[(&str, &str)] = &[
    ("x-fc-request-id", "rid-1"),
    ("x-fc-function-name", "object-created"),
    ("x-fc-function-timeout", "60"),
    ("x-fc-access-key-id", "STS.id"),
    ("x-fc-access-key-secret", "secret"),
    ("x-fc-security-token", "token"),
];

#[tokio::test]
async fn invoke_initialize_and_errors_follow_the_custom_runtime_contract() {
    let s = start().await;

    let init = post(&s.base, "/initialize", "", &[("x-fc-request-id", "init-1")]).await;
    assert_eq!((init.status, init.fc_status.as_deref()), (200, Some("200")));

    let ok = post(&s.base, "/invoke", r#"{"name":"oss"}"#, FC_HEADERS).await;
    assert_eq!((ok.status, ok.fc_status.as_deref()), (200, Some("200")));
    assert_eq!(ok.json["greeting"], "hello oss");
    assert_eq!(ok.json["request_id"], "rid-1");
    assert_eq!(ok.json["function"], "object-created");
    assert_eq!(ok.json["has_credentials"], true);
    assert_eq!(ok.json["deadline_secs"], 60);

    // A malformed body: a typed error saying what is wrong, and the server keeps serving.
    let bad = post(&s.base, "/invoke", "{not json", FC_HEADERS).await;
    assert_eq!((bad.status, bad.fc_status.as_deref()), (404, Some("404")));
    assert_eq!(bad.json["errorType"], "InvalidEvent");
    assert!(bad.json["errorMessage"].as_str().unwrap().contains("not valid JSON"), "{}", bad.json);

    let wrong_shape = post(&s.base, "/invoke", r#"{"nom":"x"}"#, FC_HEADERS).await;
    assert_eq!(wrong_shape.status, 404);
    assert!(
        wrong_shape.json["errorMessage"].as_str().unwrap().contains("missing field `name`"),
        "{}",
        wrong_shape.json
    );

    let empty = post(&s.base, "/invoke", "", FC_HEADERS).await;
    assert!(empty.json["errorMessage"].as_str().unwrap().contains("empty"), "{}", empty.json);

    // A handler error keeps its type.
    let failed = post(&s.base, "/invoke", r#"{"name":"dst","fail":true}"#, FC_HEADERS).await;
    assert_eq!((failed.status, failed.fc_status.as_deref()), (404, Some("404")));
    assert_eq!(failed.json["errorType"], "AccessDenied");
    assert_eq!(failed.json["errorMessage"], "no access for dst");

    // A panic becomes an error response, not a dead instance.
    let panicked = post(&s.base, "/invoke", r#"{"name":"boom","panic":true}"#, FC_HEADERS).await;
    assert_eq!(panicked.status, 404);
    assert_eq!(panicked.json["errorType"], "Panic");
    assert!(panicked.json["errorMessage"].as_str().unwrap().contains("asked to panic for boom"));

    let unknown = post(&s.base, "/elsewhere", "{}", FC_HEADERS).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json["errorType"], "UnknownPath");

    let again = post(&s.base, "/invoke", r#"{"name":"still here"}"#, &[]).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["greeting"], "hello still here");
    assert_eq!(again.json["has_credentials"], false);

    stop(s).await;
}

#[tokio::test]
async fn concurrent_invocations_run_in_parallel() {
    let s = start().await;
    let started = std::time::Instant::now();
    let calls = (0..8).map(|i| {
        let base = s.base.clone();
        async move { post(&base, "/invoke", &format!(r#"{{"name":"n{i}","sleep_ms":400}}"#), &[]).await }
    });
    let replies = futures::future::join_all(calls).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert!(started.elapsed() < Duration::from_millis(1600), "8 x 400 ms took {:?}", started.elapsed());
    stop(s).await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_invocations() {
    let s = start().await;
    let base = s.base.clone();
    let slow = tokio::spawn(async move { post(&base, "/invoke", r#"{"name":"slow","sleep_ms":500}"#, &[]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let Server { base, stop, done } = s;
    stop.unwrap().send(()).unwrap();
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, 200, "the in-flight invocation completed");
    assert_eq!(reply.json["greeting"], "hello slow");
    tokio::time::timeout(Duration::from_secs(5), done).await.unwrap().unwrap().unwrap();
    let refused = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await;
    assert!(refused.is_err(), "no new connections after shutdown");
}

async fn stop(s: Server) {
    let Server { stop, done, .. } = s;
    stop.unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), done).await.unwrap().unwrap().unwrap();
}
