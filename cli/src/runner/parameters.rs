//! What a local run is configured with: the local cloud's facts (`.local/cloud.env`,
//! `KEY=VALUE` lines), the template parameters filled from them and from `--param`,
//! and the platform those facts describe (region, account, the functions' identity).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context as _};

use crate::dev::PlatformIdentity;
use crate::template::{ResolveOptions, Stack};

/// `KEY=VALUE` lines, `#` comments ignored.
pub fn read_env_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {}: start the local cloud with scripts/local-cloud up, or pass --cloud-env with a setup's facts",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// A template parameter whose value a local cloud fact gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudFact {
    /// The template's parameter, e.g. `SourceBucket`.
    pub parameter: &'static str,
    /// The cloud env's variable, e.g. `LOCAL_SRC_BUCKET`.
    pub variable: &'static str,
}

/// Template parameters taken from the local cloud's facts, for the parameters the template declares.
pub const PARAMETER_MAP: &[CloudFact] = &[
    CloudFact { parameter: "SourceBucket", variable: "LOCAL_SRC_BUCKET" },
    CloudFact { parameter: "SourceEndpoint", variable: "LOCAL_ENDPOINT" },
    CloudFact { parameter: "SourceRegion", variable: "LOCAL_REGION" },
    CloudFact { parameter: "DestBucket", variable: "LOCAL_DST_BUCKET" },
    CloudFact { parameter: "DestEndpoint", variable: "LOCAL_ENDPOINT" },
    CloudFact { parameter: "DestRegion", variable: "LOCAL_REGION" },
    CloudFact { parameter: "ReplicationRoleArn", variable: "LOCAL_ROLE_ARN" },
    CloudFact { parameter: "StsEndpoint", variable: "LOCAL_ENDPOINT" },
];

/// The parameter values for a run: the cloud env's facts mapped by [`PARAMETER_MAP`],
/// then `--param` values. An Alibaba role (`acs:ram::`) given without an STS endpoint
/// is assumed through the local Alibaba STS.
pub fn parameters(
    cloud: &BTreeMap<String, String>,
    overrides: &[String],
    declared: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for fact in PARAMETER_MAP {
        if let (true, Some(v)) = (declared.iter().any(|d| d == fact.parameter), cloud.get(fact.variable)) {
            params.insert(fact.parameter.to_string(), v.clone());
        }
    }
    let mut given = BTreeMap::new();
    for p in overrides {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| anyhow!("--param {p:?}: expected KEY=VALUE, e.g. --param TriggerPrefix=logs/"))?;
        given.insert(k.trim().to_owned(), v.to_owned());
    }
    let alibaba_role = given.get("ReplicationRoleArn").is_some_and(|r| r.starts_with("acs:ram::"));
    if alibaba_role && !given.contains_key("StsEndpoint") {
        if let Some(sts) = cloud.get("LOCAL_ALIBABA_STS_ENDPOINT") {
            params.insert("StsEndpoint".into(), sts.clone());
        }
    }
    params.extend(given);
    Ok(params)
}

/// Where the functions run, as Function Compute would tell them: region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Platform {
    pub(super) region: String,
    pub(super) account_id: String,
}

impl Platform {
    pub(super) fn from_cloud(cloud: &BTreeMap<String, String>) -> Platform {
        Platform {
            region: cloud.get("LOCAL_REGION").cloned().unwrap_or_else(|| "us-east-1".into()),
            account_id: cloud.get("LOCAL_SRC_ACCOUNT").cloned().unwrap_or_default(),
        }
    }
}

/// The template resolved with the cloud's facts and `--param`: its parameter names
/// first, to know which facts apply.
pub(super) fn resolve_stack(
    template: &Path,
    cloud: &BTreeMap<String, String>,
    overrides: &[String],
    platform: &Platform,
) -> anyhow::Result<Stack> {
    let declared = crate::template::declared_parameters(template)?;
    let options = ResolveOptions {
        params: parameters(cloud, overrides, &declared)?,
        region: platform.region.clone(),
        account_id: platform.account_id.clone(),
        stack_name: "crr-dev".into(),
    };
    Ok(crate::template::load(template, &options)?)
}

/// The identity Function Compute passes the functions with each request, from the
/// cloud env's `LOCAL_FN_KEY_ID` / `LOCAL_FN_SECRET`.
pub(super) fn identity_from(cloud: &BTreeMap<String, String>) -> Option<PlatformIdentity> {
    Some(PlatformIdentity {
        access_key_id: cloud.get("LOCAL_FN_KEY_ID")?.clone(),
        access_key_secret: fc_runtime::Secret::new(cloud.get("LOCAL_FN_SECRET")?.clone()),
        region: cloud.get("LOCAL_REGION").cloned().unwrap_or_else(|| "us-east-1".into()),
        account_id: cloud.get("LOCAL_SRC_ACCOUNT").cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cloud() -> BTreeMap<String, String> {
        [
            ("LOCAL_ENDPOINT", "http://127.0.0.1:4590"),
            ("LOCAL_REGION", "us-east-1"),
            ("LOCAL_SRC_BUCKET", "crr-src"),
            ("LOCAL_DST_BUCKET", "crr-dst"),
            ("LOCAL_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
            ("LOCAL_ALIBABA_STS_ENDPOINT", "http://127.0.0.1:4591"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn declared() -> Vec<String> {
        crate::template::declared_parameters(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")))
            .unwrap()
    }

    #[test]
    fn cloud_facts_become_parameters_and_params_override_them() {
        let p = parameters(&cloud(), &["TriggerSuffix=.jpg".into(), "DestBucket=other".into()], &declared()).unwrap();
        assert_eq!(p["SourceBucket"], "crr-src");
        assert_eq!(p["SourceEndpoint"], "http://127.0.0.1:4590");
        assert_eq!(p["DestEndpoint"], "http://127.0.0.1:4590");
        assert_eq!(p["StsEndpoint"], "http://127.0.0.1:4590");
        assert_eq!(p["ReplicationRoleArn"], "arn:aws:iam::222222222222:role/crr-replicator");
        assert_eq!(p["DestBucket"], "other");
        assert_eq!(p["TriggerSuffix"], ".jpg");

        // Only parameters the template declares are filled in.
        let p = parameters(&cloud(), &[], &["SourceBucket".to_owned()]).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["SourceBucket"]);

        // An Alibaba role goes through the local Alibaba STS unless told otherwise.
        let role = "ReplicationRoleArn=acs:ram::222222222222:role/crr-replicator".to_owned();
        let p = parameters(&cloud(), std::slice::from_ref(&role), &declared()).unwrap();
        assert_eq!(p["StsEndpoint"], "http://127.0.0.1:4591");
        let p = parameters(&cloud(), &[role, "StsEndpoint=http://x".into()], &declared()).unwrap();
        assert_eq!(p["StsEndpoint"], "http://x");

        let e = parameters(&cloud(), &["TriggerSuffix".into()], &declared()).unwrap_err().to_string();
        assert!(e.contains("expected KEY=VALUE"), "{e}");
    }

    #[test]
    fn the_template_resolves_against_the_local_cloud() {
        let options = ResolveOptions {
            params: parameters(&cloud(), &["Action=ALL".into()], &declared()).unwrap(),
            region: "us-east-1".into(),
            account_id: "111111111111".into(),
            stack_name: "crr-dev".into(),
        };
        let stack =
            crate::template::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")), &options)
                .unwrap();
        let env = &stack.function("object-created").unwrap().env;
        let settings: HashMap<String, String> = env.clone().into_iter().collect();
        let config = crr::Config::from_settings(&settings).expect("a valid configuration");
        assert!(format!("{config:?}").contains("crr-dst"), "{config:?}");
        assert_eq!(env["CRR_SOURCE_ENDPOINT"], "http://127.0.0.1:4590");
        assert_eq!(env["CRR_ACTION"], "ALL");
    }
}
