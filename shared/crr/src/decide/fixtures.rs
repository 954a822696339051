//! Objects and rules for the decisions' table tests.

use crate::arn::RoleArn;
use crate::config::{Api, Bucket, Endpoint, KmsPolicy, Rule, RuleAction};
use crate::object::{ObjectState, ObjectType, StandardHeaders};

/// A rule replicating `crr-src` to `crr-dst`.
pub fn rule(action: RuleAction, two_way: bool) -> Rule {
    Rule {
        id: "default".into(),
        prefixes: Vec::new(),
        action,
        destination: Bucket {
            name: "crr-dst".into(),
            endpoint: Endpoint { url: None, region: "us-east-1".into(), path_style: false },
            api: Api::S3,
        },
        role: "arn:aws:iam::222222222222:role/crr-replicator".parse::<RoleArn>().expect("a role ARN"),
        historical: true,
        kms: KmsPolicy::Skip,
        storage_class: None,
        delete_unmarked: false,
        lag_objective_seconds: crate::config::DEFAULT_LAG_OBJECTIVE_SECONDS,
        two_way,
    }
}

/// An object of `size` bytes with this ETag, a content type and no tags.
pub fn state(size: u64, etag: &str) -> ObjectState {
    ObjectState {
        size,
        etag: etag.into(),
        server_etag: etag.into(),
        object_type: ObjectType::from_etag(etag),
        headers: StandardHeaders { content_type: Some("text/plain".into()), ..Default::default() },
        tag_count: Some(0),
        ..ObjectState::default()
    }
}

pub fn with(mut s: ObjectState, f: impl FnOnce(&mut ObjectState)) -> ObjectState {
    f(&mut s);
    s
}
