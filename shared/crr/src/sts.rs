//! Temporary credentials for the replication role, cached per role.
//!
//! Credentials are refreshed ahead of expiry, and however many requests wait,
//! only one AssumeRole call is in flight per role. The session name carries the
//! function and the request that caused the refresh, for the audit trail.
//! `arn:aws:iam::…` roles are assumed through AWS STS (the SDK), `acs:ram::…`
//! roles through Alibaba Cloud STS ([`alibaba`], signed with `crr_sign::rpc`).

pub mod alibaba;

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, IdentityCache, Region};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use bytes::Bytes;
use crr_sign::AccessKey;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::arn::RoleArn;
use crate::config::StsSettings;
use crate::credentials::FunctionIdentity;
use crate::error::{source_text, Error, Failure, Fault};

/// Refresh this long before the credentials expire.
const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// An STS call that takes longer than this has failed (and will be retried).
const STS_TIMEOUT: Duration = Duration::from_secs(30);
/// STS answers are small; anything bigger is not one.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The HTTP client for Alibaba STS: hyper over rustls with ring, the TLS stack the
/// AWS SDK's client uses too.
pub(crate) type StsHttp = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The replication role and its cached credentials.
#[derive(Debug)]
pub struct AssumedRole {
    role: RoleArn,
    settings: StsSettings,
    caller: Arc<FunctionIdentity>,
    http: SharedHttpClient,
    /// Built on first use, for Alibaba roles only.
    alibaba_http: tokio::sync::OnceCell<StsHttp>,
    current: RwLock<Option<Credentials>>,
    refresh: tokio::sync::Mutex<()>,
}

impl AssumedRole {
    pub fn new(role: RoleArn, settings: StsSettings, caller: Arc<FunctionIdentity>, http: SharedHttpClient) -> Self {
        AssumedRole {
            role,
            settings,
            caller,
            http,
            alibaba_http: tokio::sync::OnceCell::new(),
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    pub fn role(&self) -> &RoleArn {
        &self.role
    }

    /// Valid credentials for the role, assuming it if the cached ones are missing or
    /// about to expire. `session` names who asked (function and request id).
    pub async fn credentials(&self, session: &str) -> Result<Credentials, Error> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let _one_refresh = self.refresh.lock().await;
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let creds = self.assume(&session_name(session)).await?;
        tracing::info!(role = %self.role, expires = ?creds.expiry(), "assumed replication role");
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(creds.clone());
        }
        Ok(creds)
    }

    fn fresh(&self) -> Option<Credentials> {
        let current = self.current.read().ok()?.clone()?;
        match current.expiry() {
            Some(expiry) if expiry <= SystemTime::now() + REFRESH_AHEAD => None,
            _ => Some(current),
        }
    }

    async fn assume(&self, session: &str) -> Result<Credentials, Error> {
        match &self.role {
            RoleArn::Aws { .. } => self.assume_aws(session).await,
            RoleArn::Alibaba { .. } => self.assume_alibaba(session).await,
        }
    }

    /// The external id sent with AssumeRole (`CRR_STS_EXTERNAL_ID`), for roles whose
    /// trust policy requires one.
    fn external_id(&self) -> Option<&str> {
        self.settings.external_id.as_deref()
    }

    async fn assume_alibaba(&self, session: &str) -> Result<Credentials, Error> {
        let caller = self.caller.credentials().await.map_err(|e| Error::Credentials(source_text(&e)))?;
        let key = AccessKey::new(caller.access_key_id(), caller.secret_access_key())
            .with_security_token(caller.session_token().unwrap_or_default());
        let endpoint = self.settings.endpoint.as_deref().unwrap_or(alibaba::DEFAULT_ENDPOINT);
        let session = alibaba::session_name(session);
        let call = alibaba::AssumeRole {
            role: &self.role,
            session: &session,
            duration: self.settings.duration,
            external_id: self.external_id(),
        };
        let nonce = uuid::Uuid::new_v4().to_string();
        let body = alibaba::request_body(&call, &key, SystemTime::now(), &nonce);
        let (status, answer) = self.post_form(endpoint, body).await?;
        alibaba::parse_response(status, &answer, &self.role)
    }

    /// POSTs a form to `endpoint`; the status and body of the answer.
    async fn post_form(&self, endpoint: &str, body: String) -> Result<(u16, Bytes), Error> {
        let fail = |fault, code: &str, detail: String| Error::AssumeRole {
            role: self.role.to_string(),
            fault,
            code: Some(code.to_owned()),
            detail,
        };
        let client = self
            .alibaba_http
            .get_or_try_init(|| async { control_plane_http_client() })
            .await
            .map_err(|e| fail(Fault::Permanent, "TlsSetup", e))?;
        let url = format!("{endpoint}/");
        let request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| {
                fail(
                    Fault::Permanent,
                    "InvalidEndpoint",
                    format!("the STS endpoint {url:?} is not a valid URL: {e}; check CRR_STS_ENDPOINT"),
                )
            })?;
        let in_time = |what: &str| {
            fail(
                Fault::Transient,
                "Timeout",
                format!("Alibaba STS at {endpoint} did not {what} within {} s", STS_TIMEOUT.as_secs()),
            )
        };
        let response = tokio::time::timeout(STS_TIMEOUT, client.request(request))
            .await
            .map_err(|_| in_time("answer"))?
            .map_err(|e| {
                fail(
                    Fault::Transient,
                    "NetworkError",
                    format!("could not reach Alibaba STS at {endpoint}: {}", source_text(&e)),
                )
            })?;
        let status = response.status().as_u16();
        let answer = tokio::time::timeout(STS_TIMEOUT, Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect())
            .await
            .map_err(|_| in_time("finish its answer"))?
            .map_err(|e| {
                fail(Fault::Transient, "BadResponse", format!("reading the answer of Alibaba STS at {endpoint}: {e}"))
            })?
            .to_bytes();
        Ok((status, answer))
    }

    async fn assume_aws(&self, session: &str) -> Result<Credentials, Error> {
        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.settings.region.clone()))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(CallerRef(
                self.caller.clone(),
            )))
            .identity_cache(IdentityCache::no_cache())
            .http_client(self.http.clone());
        if let Some(url) = &self.settings.endpoint {
            config = config.endpoint_url(url);
        }
        let client = aws_sdk_sts::Client::from_conf(config.build());
        let out = client
            .assume_role()
            .role_arn(self.role.to_string())
            .role_session_name(session)
            .duration_seconds(self.settings.duration.as_secs() as i32)
            .set_external_id(self.external_id().map(str::to_owned))
            .send()
            .await
            .map_err(|e| {
                let f = Failure::from_sdk(&e);
                let hint = if f.is_access_denied() { aws_denied_hint(&self.role) } else { String::new() };
                Error::AssumeRole {
                    role: self.role.to_string(),
                    fault: f.fault,
                    code: f.code,
                    detail: format!("{}{hint}", f.message),
                }
            })?;
        let c = out.credentials().ok_or_else(|| Error::AssumeRole {
            role: self.role.to_string(),
            fault: Fault::Transient,
            code: None,
            detail: "STS answered without credentials".into(),
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            expiry,
            "crr-assume-role",
        ))
    }
}

/// What to check when AWS STS refuses AssumeRole. It answers AccessDenied both when
/// the caller may not assume the role and when no such role exists.
fn aws_denied_hint(role: &RoleArn) -> String {
    format!(
        "; the function's own identity must be allowed sts:AssumeRole on {role} and the role's trust policy must \
         allow the caller; AWS STS refuses a role that does not exist the same way, so check that CRR_ROLE_ARN \
         (or the rule's role in the CRR_CONFIG file) names the replication role"
    )
}

/// The client for the control-plane calls made without an SDK (Alibaba STS, and
/// IAM in [`crate::iam`]): native root certificates when the system has them (an
/// `http://` endpoint, as in local tests, works without).
pub(crate) fn control_plane_http_client() -> Result<StsHttp, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(e) => {
            tracing::warn!(error = %e, "no TLS root certificates found; https STS endpoints will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("setting up TLS for Alibaba STS: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector))
}

/// Role session names allow `[\w+=,.@-]`, 2 to 64 characters.
pub fn session_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials("crr").await.map_err(|e| CredentialsError::provider_error(e.to_string()))
        })
    }
}

#[derive(Debug)]
struct CallerRef(Arc<FunctionIdentity>);

impl ProvideCredentials for CallerRef {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A stand-in for Alibaba STS that checks the signature, counts the calls and
    /// hands out credentials valid for `lifetime`.
    async fn sts_stub(lifetime: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let params: Vec<(String, String)> = String::from_utf8(body.to_vec())
                                .unwrap()
                                .split('&')
                                .map(|p| {
                                    let (k, v) = p.split_once('=').unwrap();
                                    let d = |s: &str| {
                                        percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned()
                                    };
                                    (d(k), d(v))
                                })
                                .collect();
                            let signature = params.iter().find(|(k, _)| k == "Signature").unwrap().1.clone();
                            let expected =
                                crr_sign::rpc::signature(&crr_sign::rpc::string_to_sign("POST", &params), "fn-secret");
                            assert_eq!(signature, expected, "the stub got a request signed with the wrong secret");
                            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            let expiry = time::OffsetDateTime::from(SystemTime::now() + lifetime);
                            let expiration = format!(
                                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                                expiry.year(),
                                u8::from(expiry.month()),
                                expiry.day(),
                                expiry.hour(),
                                expiry.minute(),
                                expiry.second()
                            );
                            let answer = serde_json::json!({"RequestId": "R", "Credentials": {
                                "AccessKeyId": format!("STS.{n}"), "AccessKeySecret": "tmp",
                                "SecurityToken": "tok", "Expiration": expiration}});
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                                answer.to_string(),
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (url, calls)
    }

    fn alibaba_role(endpoint: String) -> AssumedRole {
        let http = crate::store::http_client();
        let identity = Arc::new(FunctionIdentity::new(http.clone(), "cn-hangzhou"));
        let mut invocation = crate::Invocation::new("req-1");
        invocation.credentials = Some(crr_sign::AccessKey::new("LTAI-fn", "fn-secret"));
        identity.observe(&invocation);
        AssumedRole::new(
            "acs:ram::1234567890123456:role/crr-replicator".parse().unwrap(),
            StsSettings {
                endpoint: Some(endpoint),
                region: "cn-hangzhou".into(),
                duration: Duration::from_secs(3600),
                external_id: None,
            },
            identity,
            http,
        )
    }

    #[tokio::test]
    async fn alibaba_credentials_are_assumed_once_for_many_waiters() {
        let (url, calls) = sts_stub(Duration::from_secs(3600)).await;
        let role = Arc::new(alibaba_role(url));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let role = role.clone();
                tokio::spawn(async move { role.credentials("crr-fn-req-1").await })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap().access_key_id(), "STS.1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(role.credentials("again").await.unwrap().access_key_id(), "STS.1");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "fresh credentials are reused");
    }

    #[tokio::test]
    async fn alibaba_credentials_are_refreshed_ahead_of_expiry() {
        // Four minutes left is inside the five-minute refresh window.
        let (url, calls) = sts_stub(Duration::from_secs(240)).await;
        let role = alibaba_role(url);
        assert_eq!(role.credentials("a").await.unwrap().access_key_id(), "STS.1");
        assert_eq!(role.credentials("b").await.unwrap().access_key_id(), "STS.2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unreachable_alibaba_sts_is_a_transient_error_naming_the_endpoint() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let role = alibaba_role(format!("http://127.0.0.1:{port}"));
        let err = role.credentials("a").await.unwrap_err();
        assert_eq!(err.fault(), Fault::Transient);
        assert_eq!(err.error_type(), "NetworkError");
        let text = err.to_string();
        assert!(text.starts_with("assuming role acs:ram::1234567890123456:role/crr-replicator: could not reach Alibaba STS at http://127.0.0.1:"), "{text}");
        assert!(!text.contains("fn-secret"), "{text}");
    }

    #[test]
    fn an_aws_refusal_says_what_to_check() {
        let role: RoleArn = "arn:aws:iam::222222222222:role/crr-replicator".parse().unwrap();
        let hint = aws_denied_hint(&role);
        for piece in ["sts:AssumeRole on arn:aws:iam::222222222222:role/crr-replicator", "trust policy", "CRR_ROLE_ARN"]
        {
            assert!(hint.contains(piece), "{hint:?} lacks {piece:?}");
        }
    }

    #[test]
    fn session_names_are_valid() {
        assert_eq!(session_name("crr-object-created-1-2f3a"), "crr-object-created-1-2f3a");
        assert_eq!(session_name("a b/c"), "a-b-c");
        assert_eq!(session_name("x"), "x-");
        assert_eq!(session_name(&"y".repeat(100)).len(), 64);
    }
}
