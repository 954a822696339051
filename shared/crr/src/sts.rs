//! Temporary credentials for the replication role, cached per role.
//!
//! Credentials are refreshed ahead of expiry, and however many requests wait,
//! only one AssumeRole call is in flight per role. The session name carries the
//! function and the request that caused the refresh, for the audit trail.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, IdentityCache, Region};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::arn::RoleArn;
use crate::config::StsSettings;
use crate::credentials::FunctionIdentity;
use crate::error::{Error, Failure, Fault};

/// Refresh this long before the credentials expire.
const REFRESH_AHEAD: Duration = Duration::from_secs(300);

/// The replication role and its cached credentials.
#[derive(Debug)]
pub struct AssumedRole {
    role: RoleArn,
    settings: StsSettings,
    caller: Arc<FunctionIdentity>,
    http: SharedHttpClient,
    current: RwLock<Option<Credentials>>,
    refresh: tokio::sync::Mutex<()>,
}

impl AssumedRole {
    pub fn new(role: RoleArn, settings: StsSettings, caller: Arc<FunctionIdentity>, http: SharedHttpClient) -> Self {
        AssumedRole { role, settings, caller, http, current: RwLock::new(None), refresh: tokio::sync::Mutex::new(()) }
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
            RoleArn::Alibaba { .. } => Err(Error::AssumeRole {
                role: self.role.to_string(),
                fault: Fault::Permanent,
                code: Some("Unsupported".into()),
                detail: "Alibaba Cloud STS is not available in this build".into(),
            }),
        }
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
            .set_external_id(self.settings.external_id.clone())
            .send()
            .await
            .map_err(|e| {
                let f = Failure::from_sdk(&e);
                let hint = if f.is_access_denied() {
                    format!(
                        "; the function's own identity must be allowed sts:AssumeRole on {} and the role's trust policy must allow the caller",
                        self.role
                    )
                } else {
                    String::new()
                };
                Error::AssumeRole { role: self.role.to_string(), fault: f.fault, code: f.code, detail: format!("{}{hint}", f.message) }
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

    #[test]
    fn session_names_are_valid() {
        assert_eq!(session_name("crr-object-created-1-2f3a"), "crr-object-created-1-2f3a");
        assert_eq!(session_name("a b/c"), "a-b-c");
        assert_eq!(session_name("x"), "x-");
        assert_eq!(session_name(&"y".repeat(100)).len(), 64);
    }
}
