//! The function's own identity, used to read the source and to call STS.
//!
//! Order: the temporary credentials Function Compute passes with each invocation
//! (`x-fc-access-key-*` headers), else `ALIBABA_CLOUD_ACCESS_KEY_ID` /
//! `ALIBABA_CLOUD_ACCESS_KEY_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN`, else the
//! AWS default chain (`AWS_ACCESS_KEY_ID`..., profile, container and instance roles).

use std::sync::RwLock;

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::OnceCell;

use crate::invocation::Invocation;

#[derive(Debug)]
pub struct FunctionIdentity {
    platform: RwLock<Option<Credentials>>,
    fallback: OnceCell<SharedCredentialsProvider>,
    http: SharedHttpClient,
    region: String,
}

impl FunctionIdentity {
    /// `region` is used by the fallback chain (instead of asking instance metadata).
    pub fn new(http: SharedHttpClient, region: &str) -> Self {
        FunctionIdentity { platform: RwLock::new(None), fallback: OnceCell::new(), http, region: region.to_owned() }
    }

    /// Takes the platform credentials an invocation carries; they replace older ones.
    pub fn observe(&self, invocation: &Invocation) {
        let Some(c) = &invocation.credentials else {
            return;
        };
        let creds = Credentials::new(
            c.id().to_owned(),
            c.secret().to_owned(),
            c.security_token().map(str::to_owned),
            None,
            "function-compute",
        );
        if let Ok(mut slot) = self.platform.write() {
            *slot = Some(creds);
        }
    }

    pub async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        if let Some(c) = self.platform.read().ok().and_then(|s| s.clone()) {
            return Ok(c);
        }
        if let Some(c) = alibaba_env() {
            return Ok(c);
        }
        let chain = self
            .fallback
            .get_or_init(|| async {
                let config = aws_config::provider_config::ProviderConfig::without_region()
                    .with_region(Some(aws_config::Region::new(self.region.clone())))
                    .with_http_client(self.http.clone());
                // The region given, so building the chain never asks instance metadata.
                let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(aws_config::Region::new(self.region.clone()))
                    .configure(config)
                    .build()
                    .await;
                SharedCredentialsProvider::new(chain)
            })
            .await;
        chain.provide_credentials().await
    }
}

fn alibaba_env() -> Option<Credentials> {
    let id = std::env::var("ALIBABA_CLOUD_ACCESS_KEY_ID").ok().filter(|v| !v.is_empty())?;
    let secret = std::env::var("ALIBABA_CLOUD_ACCESS_KEY_SECRET").ok().filter(|v| !v.is_empty())?;
    let token = std::env::var("ALIBABA_CLOUD_SECURITY_TOKEN").ok().filter(|v| !v.is_empty());
    Some(Credentials::new(id, secret, token, None, "alibaba-env"))
}

impl ProvideCredentials for FunctionIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}
