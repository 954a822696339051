//! S3 clients for OSS and any S3-compatible store, configured the way those
//! servers need: path-style when asked, no default CRC checksums or `aws-chunked`
//! bodies (OSS and many S3-compatible servers reject them), one shared
//! connection pool, and credentials cached by us rather than by the SDK.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::config::{
    BehaviorVersion, IdentityCache, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::config::Endpoint;

/// One HTTPS-capable client (rustls with ring) shared by every S3 and STS client in the process.
pub fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// An S3 client for `endpoint` acting with `credentials`.
pub fn s3_client(
    http: &SharedHttpClient,
    endpoint: &Endpoint,
    credentials: Arc<dyn ProvideCredentials>,
) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(endpoint.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(ArcProvider(credentials)))
        .identity_cache(IdentityCache::no_cache())
        .http_client(http.clone())
        .force_path_style(endpoint.path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        // Retries of whole operations (with fresh streams) are ours; the SDK only
        // retries what it can replay.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(60))
                .build(),
        )
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled().grace_period(Duration::from_secs(20)).build(),
        );
    if let Some(url) = &endpoint.url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Lets an `Arc<dyn ProvideCredentials>` be handed to the SDK.
#[derive(Debug)]
struct ArcProvider(Arc<dyn ProvideCredentials>);

impl ProvideCredentials for ArcProvider {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}
