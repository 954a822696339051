//! What the doctor unit tests share: a configuration from settings, its grants, a
//! failed request and a probe that went well.

use std::collections::HashMap;

use crr::config::Config;
use crr::error::{Failure, Fault};

use super::grants::{Accounts, Grants};
use super::probe::{ProbeOutcome, Stored, PROBE_BODY};

pub(super) fn config(extra: &[(&str, &str)]) -> Config {
    let mut settings: HashMap<String, String> = [
        ("CRR_SOURCE_BUCKET", "crr-src"),
        ("CRR_SOURCE_ENDPOINT", "http://127.0.0.1:4590"),
        ("CRR_DEST_BUCKET", "crr-dst"),
        ("CRR_DEST_ENDPOINT", "http://127.0.0.1:4590"),
        ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        settings.insert(k.to_string(), v.to_string());
    }
    Config::from_settings(&settings).unwrap()
}

pub(super) fn grants(config: &Config) -> Grants {
    Grants::new(config, &config.rules[0], &Accounts::default())
}

pub(super) fn failure(status: u16, code: &str) -> Failure {
    Failure {
        fault: Fault::Permanent,
        status: Some(status),
        code: Some(code.to_owned()),
        message: format!("{code} message"),
    }
}

pub(super) fn probe_ok() -> ProbeOutcome {
    ProbeOutcome {
        bucket: "crr-dst".into(),
        key: ".crr/doctor/abc".into(),
        put: Ok(()),
        head: Some(Ok(Stored { size: Some(PROBE_BODY.len() as i64), ..Stored::default() })),
        delete: Some(Ok(())),
        leftover_version: false,
    }
}
