//! Which API a bucket is spoken to with. Native OSS endpoints (`oss-<region>.aliyuncs.com`,
//! their `-internal` twins, `oss-accelerate`, and the local OSS server's
//! `oss-<region>.localhost`) get the OSS API; OSS's S3-compatible endpoints
//! (`s3.oss-<region>.aliyuncs.com`) and everything else get the S3 API, unless
//! `CRR_SOURCE_API` / `CRR_DEST_API` (or a rule file's `Api`) say otherwise.

use super::{ConfigError, Endpoint};

/// The API of one bucket side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The S3 API (aws-sdk-s3): AWS, MinIO, seaweedfs, OSS's S3-compatible endpoint.
    S3,
    /// OSS's own REST API: V4 signatures, `x-oss-*` headers, tags, symlinks, CRC-64.
    Oss,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::S3 => "s3",
            Api::Oss => "oss",
        }
    }
}

pub(crate) const API_FORM: &str = "auto (OSS endpoints get the OSS API, everything else the S3 API), s3 or oss";

/// `auto` (or nothing) chooses by endpoint: `None`.
pub(crate) fn parse_api(setting: &str, value: &str) -> Result<Option<Api>, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(None),
        "s3" => Ok(Some(Api::S3)),
        "oss" => Ok(Some(Api::Oss)),
        _ => Err(ConfigError::invalid(setting, value, API_FORM)),
    }
}

/// The API for a bucket at `endpoint`: the one chosen, else the endpoint's own.
pub fn choose_api(chosen: Option<Api>, endpoint: &Endpoint) -> Api {
    chosen.unwrap_or_else(|| if endpoint.is_native_oss() { Api::Oss } else { Api::S3 })
}

impl Endpoint {
    /// The endpoint's host, lower case, without scheme, port or path.
    pub fn host(&self) -> Option<String> {
        let url = self.url.as_deref()?;
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split('/').next()?;
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        };
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    }

    /// True for an endpoint of OSS's own API: `oss-<region>[-internal].aliyuncs.com`,
    /// `oss-accelerate[-overseas].aliyuncs.com`, or a local OSS server at
    /// `oss-<region>.localhost`.
    pub fn is_native_oss(&self) -> bool {
        let Some(host) = self.host() else { return false };
        let first = host.split('.').next().unwrap_or_default();
        first.starts_with("oss-") && (host.ends_with(".aliyuncs.com") || host.ends_with(".localhost"))
    }

    /// The region OSS V4 signatures are scoped to: the one a regional OSS host names
    /// (`oss-cn-beijing[-internal]` gives `cn-beijing`), else the configured region
    /// without an `oss-` prefix (acceleration endpoints serve every region).
    pub fn oss_region(&self) -> String {
        if self.is_native_oss() {
            let host = self.host().unwrap_or_default();
            let first = host.split('.').next().unwrap_or_default();
            let named = first.trim_start_matches("oss-");
            let named = named.strip_suffix("-internal").unwrap_or(named);
            if !named.is_empty() && !named.starts_with("accelerate") {
                return named.to_owned();
            }
        }
        self.region.strip_prefix("oss-").unwrap_or(&self.region).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(url: &str, region: &str) -> Endpoint {
        Endpoint { url: Some(url.into()), region: region.into(), path_style: false }
    }

    #[test]
    fn the_api_follows_the_endpoint_unless_chosen() {
        let rows = [
            ("a regional OSS endpoint", "https://oss-cn-hangzhou.aliyuncs.com", None, Api::Oss),
            ("an internal OSS endpoint", "https://oss-cn-hangzhou-internal.aliyuncs.com", None, Api::Oss),
            ("OSS transfer acceleration", "https://oss-accelerate.aliyuncs.com", None, Api::Oss),
            ("the local OSS server", "http://oss-cn-local.localhost:4596", None, Api::Oss),
            ("OSS's S3-compatible endpoint", "https://s3.oss-cn-hangzhou.aliyuncs.com", None, Api::S3),
            ("OSS's S3-compatible acceleration", "https://s3.oss-accelerate.aliyuncs.com", None, Api::S3),
            ("AWS", "https://s3.us-east-1.amazonaws.com", None, Api::S3),
            ("moto on an IP", "http://127.0.0.1:4590", None, Api::S3),
            ("a name under localhost that is no OSS", "http://minio.localhost:9000", None, Api::S3),
            ("an OSS endpoint spoken to as S3", "https://oss-cn-hangzhou.aliyuncs.com", Some(Api::S3), Api::S3),
            ("an OSS-compatible server named otherwise", "http://10.0.0.5:8080", Some(Api::Oss), Api::Oss),
        ];
        for (what, url, chosen, want) in rows {
            assert_eq!(choose_api(chosen, &at(url, "us-east-1")), want, "{what}");
        }
        let aws_default = Endpoint { url: None, region: "us-east-1".into(), path_style: false };
        assert_eq!(choose_api(None, &aws_default), Api::S3, "no URL: AWS");
    }

    #[test]
    fn oss_signing_regions() {
        let rows = [
            ("named by the host", "https://oss-cn-beijing.aliyuncs.com", "us-east-1", "cn-beijing"),
            ("named by an internal host", "https://oss-cn-beijing-internal.aliyuncs.com", "cn-x", "cn-beijing"),
            ("the local server's host", "http://oss-cn-local.localhost:4596", "us-east-1", "cn-local"),
            ("acceleration serves every region", "https://oss-accelerate.aliyuncs.com", "cn-shanghai", "cn-shanghai"),
            ("a location spelled the OSS way", "http://10.0.0.5:8080", "oss-cn-shenzhen", "cn-shenzhen"),
        ];
        for (what, url, region, want) in rows {
            assert_eq!(at(url, region).oss_region(), want, "{what}");
        }
    }

    #[test]
    fn api_settings() {
        assert_eq!(parse_api("CRR_DEST_API", "AUTO"), Ok(None));
        assert_eq!(parse_api("CRR_DEST_API", "oss"), Ok(Some(Api::Oss)));
        assert_eq!(parse_api("CRR_DEST_API", "S3"), Ok(Some(Api::S3)));
        let err = parse_api("CRR_DEST_API", "native").unwrap_err().to_string();
        assert!(err.starts_with("CRR_DEST_API=\"native\" is not valid; expected auto"), "{err}");
    }
}
