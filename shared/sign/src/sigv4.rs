//! AWS Signature Version 4 for `http::Request`s, through the maintained
//! `aws-sigv4` crate: this module only maps our [`AccessKey`] and a few settings
//! onto it and applies the result, so no part of SigV4 is reimplemented here.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    self, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::AccessKey;

/// Where the signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token`) headers.
    Headers,
    /// A presigned URL valid for `expires_in`.
    Query { expires_in: Duration },
}

/// What the payload hash in the canonical request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The whole body, hashed here.
    Bytes(&'a [u8]),
    /// `UNSIGNED-PAYLOAD`: the body is not signed (streaming uploads, presigned URLs).
    Unsigned,
    /// A SHA-256 of the body computed elsewhere, lowercase hex.
    Precomputed(&'a str),
}

/// How the URI path is canonicalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRules {
    /// Most AWS services: the path is normalised and encoded a second time.
    Standard,
    /// S3 and S3-compatible stores: the path is signed exactly as sent.
    S3,
}

/// Where, when and how to sign.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub region: &'a str,
    /// The signing name, e.g. `s3` or `sts`.
    pub service: &'a str,
    pub time: SystemTime,
    pub location: Location,
    pub payload: Payload<'a>,
    pub path_rules: PathRules,
    /// Send the payload hash as `x-amz-content-sha256` (S3 requires it).
    pub content_sha256_header: bool,
}

impl<'a> Settings<'a> {
    /// Header signing of an empty body for a standard AWS service.
    pub fn new(region: &'a str, service: &'a str, time: SystemTime) -> Self {
        Settings {
            region,
            service,
            time,
            location: Location::Headers,
            payload: Payload::Bytes(&[]),
            path_rules: PathRules::Standard,
            content_sha256_header: false,
        }
    }

    /// Header signing with S3's rules: path as sent, `x-amz-content-sha256` sent.
    pub fn s3(region: &'a str, time: SystemTime, payload: Payload<'a>) -> Self {
        Settings {
            payload,
            path_rules: PathRules::S3,
            content_sha256_header: true,
            ..Settings::new(region, "s3", time)
        }
    }
}

/// Why a request could not be signed. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("header {name} has a value that is not visible ASCII text; it cannot be signed")]
    HeaderValue { name: String },
    #[error("SigV4 signing failed: {0}")]
    Signing(String),
    #[error("the signed request is not valid HTTP: {0}")]
    Apply(String),
}

/// Signs `request` in place with `key` and returns the signature (lowercase hex).
pub fn sign<B>(request: &mut http::Request<B>, key: &AccessKey, settings: &Settings<'_>) -> Result<String, SignError> {
    let identity: Identity =
        Credentials::new(key.id(), key.secret(), key.security_token().map(str::to_owned), None, "crr-sign").into();
    let mut signing = SigningSettings::default();
    signing.signature_location = match settings.location {
        Location::Headers => SignatureLocation::Headers,
        Location::Query { .. } => SignatureLocation::QueryParams,
    };
    if let Location::Query { expires_in } = settings.location {
        signing.expires_in = Some(expires_in);
    }
    if settings.path_rules == PathRules::S3 {
        signing.percent_encoding_mode = PercentEncodingMode::Single;
        signing.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    if settings.content_sha256_header {
        signing.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(settings.region)
        .name(settings.service)
        .time(settings.time)
        .settings(signing)
        .build()
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into();

    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        let value = value.to_str().map_err(|_| SignError::HeaderValue { name: name.as_str().to_owned() })?;
        headers.push((name.as_str(), value));
    }
    let body = match settings.payload {
        Payload::Bytes(bytes) => SignableBody::Bytes(bytes),
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::Precomputed(hash) => SignableBody::Precomputed(hash.to_owned()),
    };
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(request.method().as_str(), uri, headers.into_iter(), body)
        .map_err(|e| SignError::Signing(e.to_string()))?;
    let (instructions, signature) =
        http_request::sign(signable, &params).map_err(|e| SignError::Signing(e.to_string()))?.into_parts();

    let (new_headers, new_params) = instructions.into_parts();
    for header in new_headers {
        let mut value = http::HeaderValue::from_str(header.value())
            .map_err(|_| SignError::HeaderValue { name: header.name().to_owned() })?;
        value.set_sensitive(header.sensitive());
        request.headers_mut().insert(header.name(), value);
    }
    if !new_params.is_empty() {
        let mut parts = request.uri().clone().into_parts();
        let path = parts.path_and_query.as_ref().map(|pq| pq.path()).unwrap_or("/");
        let mut query = parts.path_and_query.as_ref().and_then(|pq| pq.query()).unwrap_or_default().to_owned();
        for (name, value) in new_params {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            query.push_str(&utf8_percent_encode(&value, QUERY_VALUE).to_string());
        }
        parts.path_and_query = Some(
            format!("{path}?{query}").parse().map_err(|e: http::uri::InvalidUri| SignError::Apply(e.to_string()))?,
        );
        *request.uri_mut() = http::Uri::from_parts(parts).map_err(|e| SignError::Apply(e.to_string()))?;
    }
    Ok(signature)
}

/// Query values are sent with everything but RFC 3986 unreserved characters encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
