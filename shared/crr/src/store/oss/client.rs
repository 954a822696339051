//! The wire under the OSS dialect: one hyper connection pool per process (rustls
//! with ring, like STS and IAM), names under `.localhost` resolved to loopback as
//! RFC 6761 says (so a local OSS server at `oss-cn-local.localhost` works on any
//! machine), virtual-hosted URLs, OSS V4 signatures from `crr_sign::oss_v4` with the
//! store's credentials (`x-oss-security-token` for STS ones), retries of requests
//! whose body can be sent again, and OSS error answers read into [`Failure`]s,
//! including the base64 `x-oss-err` header a HEAD answer carries instead of a body.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use crr_sign::{oss_v4, AccessKey, OssRequest};
use http::{HeaderMap, Method, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::xml;
use crate::error::{source_text, Failure, Fault};
use crate::store::body::BoxError;
use crate::store::Body;

/// The OSS dialect's HTTP client; clones share one connection pool.
pub type Http =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector<LoopbackResolver>>, RequestBody>;
pub type RequestBody = BoxBody<Bytes, BoxError>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answer may take to start (a request with a streamed body gets more).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// A response body that sends nothing for this long has stalled.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of a request whose body can be sent again.
const ATTEMPTS: u32 = 3;
/// Error answers and XML results are small; anything bigger is not one.
const MAX_SMALL_ANSWER: usize = 16 << 20;

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Builds the process's OSS client: native root certificates when the system has
/// them (an `http://` endpoint, as in local tests, works without).
pub fn http_client() -> Http {
    let mut resolve = HttpConnector::new_with_resolver(LoopbackResolver(GaiResolver::new()));
    resolve.enforce_http(false);
    resolve.set_connect_timeout(Some(CONNECT_TIMEOUT));
    resolve.set_nodelay(true);
    resolve.set_keepalive(Some(Duration::from_secs(30)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(e) => {
            tracing::warn!(error = %e, "no TLS root certificates found; https OSS endpoints will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let connector = builder.https_or_http().enable_http1().wrap_connector(resolve);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(50))
        .build(connector)
}

/// The system resolver, except that `localhost` and every name under `.localhost`
/// are the loopback address (RFC 6761 §6.3), whatever the system's resolver does.
#[derive(Clone, Debug)]
pub struct LoopbackResolver(GaiResolver);

pub fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

type Addresses = Box<dyn Iterator<Item = SocketAddr> + Send>;

impl tower_service::Service<Name> for LoopbackResolver {
    type Response = Addresses;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addresses, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if is_loopback_name(name.as_str()) {
            let loopback: Addresses = Box::new(std::iter::once(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
            return Box::pin(async move { Ok(loopback) });
        }
        let lookup = self.0.call(name);
        Box::pin(async move { Ok(Box::new(lookup.await?) as Addresses) })
    }
}

/// The body of a request.
pub(super) enum Payload {
    Empty,
    /// Small bytes held in memory: the request can be sent again.
    Bytes(Bytes),
    /// A stream of `len` bytes: sent once.
    Stream {
        body: Body,
        len: u64,
    },
}

/// One OSS request before signing.
pub(super) struct Call<'a> {
    pub method: Method,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    /// Names and values unencoded; an empty value is a bare sub-resource (`?uploads`).
    pub query: Vec<(&'static str, String)>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, bucket: &'a str, key: Option<&'a str>) -> Self {
        Call { method, bucket, key, query: Vec::new(), headers: Vec::new(), payload: Payload::Empty }
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }
}

/// Where the store's requests go and who signs them.
#[derive(Clone)]
pub(super) struct Client {
    pub http: Http,
    /// `https` or `http`.
    pub scheme: String,
    /// The endpoint's host and port, e.g. `oss-cn-hangzhou.aliyuncs.com`.
    pub authority: String,
    /// Address buckets as `host/bucket` (for servers without virtual hosts) instead
    /// of `bucket.host`, which OSS requires.
    pub path_style: bool,
    /// The region signatures are scoped to.
    pub region: String,
    pub credentials: Arc<dyn ProvideCredentials>,
}

impl Client {
    /// Sends `call` (again, for a body that allows it, after a transient failure);
    /// the answer when its status is a success, a [`Failure`] from the OSS error otherwise.
    pub async fn send(&self, call: Call<'_>) -> Result<Response<Incoming>, Failure> {
        let Call { method, bucket, key, query, headers, payload } = call;
        let bytes = match payload {
            Payload::Empty => Bytes::new(),
            Payload::Bytes(bytes) => bytes,
            // A stream is sent once; its answer may take as long as its bytes do.
            Payload::Stream { body, len } => {
                let limit = ANSWER_TIMEOUT + Duration::from_secs(len / (256 << 10));
                return self.attempt(&method, bucket, key, &query, &headers, body.into_inner(), Some(len), limit).await;
            }
        };
        let mut attempt = 0;
        loop {
            let body: RequestBody = Full::new(bytes.clone()).map_err(|never| match never {}).boxed();
            let len = Some(bytes.len() as u64);
            match self.attempt(&method, bucket, key, &query, &headers, body, len, ANSWER_TIMEOUT).await {
                Err(f) if f.fault == Fault::Transient && attempt + 1 < ATTEMPTS => {
                    tracing::debug!(bucket, key, code = ?f.code, attempt, "transient OSS failure; sending again");
                    tokio::time::sleep(crate::retry::backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends `call` and reads its (small) answer whole.
    pub async fn send_for_bytes(&self, call: Call<'_>) -> Result<(HeaderMap, Bytes), Failure> {
        let response = self.send(call).await?;
        let (parts, body) = response.into_parts();
        Ok((parts.headers, read_small(body).await?))
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        method: &Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&'static str, String)],
        headers: &[(String, String)],
        body: RequestBody,
        len: Option<u64>,
        limit: Duration,
    ) -> Result<Response<Incoming>, Failure> {
        let signed = self.sign(method, bucket, key, query, headers).await?;
        let mut request = http::Request::builder().method(method.clone()).uri(self.url(bucket, key, query));
        for (name, value) in
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(signed.iter().map(|(k, v)| (*k, v.as_str())))
        {
            // User metadata may hold bytes beyond ASCII, sent as they are; a value no
            // header may hold (a line break) fails the request below, naming it.
            request = request.header(name, value.as_bytes());
        }
        if let Some(len) = len.filter(|_| *method == Method::PUT || *method == Method::POST) {
            request = request.header(http::header::CONTENT_LENGTH, len);
        }
        let request = request.body(body).map_err(|e| Failure {
            fault: Fault::Permanent,
            status: None,
            code: Some("InvalidRequest".into()),
            message: format!(
                "the request could not be built: {e}; check the endpoint, and that the key and metadata hold no line breaks"
            ),
        })?;
        let response = match tokio::time::timeout(limit, self.http.request(request)).await {
            Err(_) => {
                return Err(Failure {
                    fault: Fault::Transient,
                    status: None,
                    code: Some("Timeout".into()),
                    message: format!("OSS at {} did not answer within {} s", self.authority, limit.as_secs()),
                })
            }
            Ok(Err(e)) => {
                return Err(Failure {
                    fault: Fault::Transient,
                    status: None,
                    code: Some("NetworkError".into()),
                    message: format!("could not reach OSS at {}: {}", self.authority, source_text(&e)),
                })
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if status < 300 {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let text = if *method == Method::HEAD {
            // A HEAD answer has no body: OSS sends the error XML base64-encoded in x-oss-err.
            parts.headers.get("x-oss-err").and_then(|v| decode_base64(v.as_bytes())).unwrap_or_default()
        } else {
            read_small(body).await.map(|b| b.to_vec()).unwrap_or_default()
        };
        Err(failure_from_answer(status, &parts.headers, &text))
    }

    /// The V4 signature headers for a request, with the store's current credentials.
    async fn sign(
        &self,
        method: &Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&'static str, String)],
        headers: &[(String, String)],
    ) -> Result<Vec<(&'static str, String)>, Failure> {
        let creds = self.credentials.provide_credentials().await.map_err(|e| Failure {
            fault: Fault::Transient,
            status: None,
            code: Some("NoCredentials".into()),
            message: format!("no credentials to sign the request: {}", source_text(&e)),
        })?;
        let mut access = AccessKey::new(creds.access_key_id(), creds.secret_access_key());
        if let Some(token) = creds.session_token() {
            access = access.with_security_token(token);
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request =
            OssRequest { method: method.as_str(), bucket: Some(bucket), key, query: &query, headers: &headers };
        Ok(oss_v4::sign(&request, &access, &self.region, SystemTime::now(), &[]).headers)
    }

    fn url(&self, bucket: &str, key: Option<&str>, query: &[(&'static str, String)]) -> String {
        let key = utf8_percent_encode(key.unwrap_or_default(), UNRESERVED_AND_SLASH);
        let mut url = if self.path_style {
            format!("{}://{}/{bucket}/{key}", self.scheme, self.authority)
        } else {
            format!("{}://{bucket}.{}/{key}", self.scheme, self.authority)
        };
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&utf8_percent_encode(name, UNRESERVED).to_string());
            if !value.is_empty() {
                url.push('=');
                url.push_str(&utf8_percent_encode(value, UNRESERVED).to_string());
            }
        }
        url
    }
}

/// Reads a small answer body whole (XML results, error documents).
pub(super) async fn read_small(body: Incoming) -> Result<Bytes, Failure> {
    let read = tokio::time::timeout(ANSWER_TIMEOUT, Limited::new(body, MAX_SMALL_ANSWER).collect()).await;
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => Err(bad_response(format!("the answer could not be read: {e}"))),
        Err(_) => Err(bad_response(format!("the answer did not arrive within {} s", ANSWER_TIMEOUT.as_secs()))),
    }
}

pub(super) fn bad_response(message: String) -> Failure {
    Failure { fault: Fault::Transient, status: None, code: Some("BadResponse".into()), message }
}

fn decode_base64(value: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(value).ok()
}

/// An OSS error answer as a [`Failure`]: the code and message of its XML, with the
/// request id and OSS's error code (`EC`) that Alibaba's support asks for.
pub(super) fn failure_from_answer(status: u16, headers: &HeaderMap, body: &[u8]) -> Failure {
    let error = xml::parse_error(body);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let code = error.as_ref().and_then(|e| e.code.clone());
    let request_id = error.as_ref().and_then(|e| e.request_id.clone()).or_else(|| header("x-oss-request-id"));
    let ec = error.as_ref().and_then(|e| e.ec.clone()).or_else(|| header("x-oss-ec"));
    let mut message = match (&code, error.as_ref().and_then(|e| e.message.clone())) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        (None, _) => format!("HTTP {status}"),
    };
    let ids: Vec<String> = [request_id.map(|r| format!("request id {r}")), ec.map(|ec| format!("EC {ec}"))]
        .into_iter()
        .flatten()
        .collect();
    if !ids.is_empty() {
        message.push_str(&format!(" ({})", ids.join(", ")));
    }
    Failure::from_answer(status, code.as_deref(), Some(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_localhost_are_loopback() {
        for name in
            ["localhost", "oss-cn-local.localhost", "bucket.oss-cn-local.localhost", "LOCALHOST.", "a.Localhost"]
        {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in ["localhost.example.com", "oss-cn-hangzhou.aliyuncs.com", "notlocalhost", "127.0.0.1"] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    #[test]
    fn head_errors_are_read_from_x_oss_err() {
        use base64::Engine as _;
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>\
                   <Message>The specified key does not exist.</Message><RequestId>5C3D</RequestId>\
                   <EC>0026-00000001</EC></Error>";
        let mut headers = HeaderMap::new();
        headers.insert("x-oss-err", base64::engine::general_purpose::STANDARD.encode(xml).parse().unwrap());
        let body = decode_base64(headers["x-oss-err"].as_bytes()).unwrap();
        let f = failure_from_answer(404, &headers, &body);
        assert!(f.is_not_found());
        assert_eq!(f.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(f.fault, Fault::Permanent);
        assert_eq!(f.message, "NoSuchKey: The specified key does not exist. (request id 5C3D, EC 0026-00000001)");
    }

    #[test]
    fn errors_without_a_document_keep_the_status() {
        let mut headers = HeaderMap::new();
        headers.insert("x-oss-request-id", "ABC".parse().unwrap());
        let f = failure_from_answer(503, &headers, b"");
        assert_eq!(f.fault, Fault::Transient);
        assert_eq!(f.message, "HTTP 503 (request id ABC)");
        let throttled =
            failure_from_answer(503, &headers, b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>");
        assert_eq!((throttled.fault, throttled.code.as_deref()), (Fault::Transient, Some("SlowDown")));
    }
}
