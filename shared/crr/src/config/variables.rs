//! Every `CRR_*` variable the functions read, with whether it is required: the
//! registry the README's tables and `crr doctor` are checked against.

/// One `CRR_*` environment variable the configuration reads. Deployment templates
/// and `crr doctor` check their environments against [`VARIABLES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// Must be set when the rule comes from variables (no `CRR_CONFIG`).
    /// `CRR_REPLICA_KMS_KEY_ID` is required only with `CRR_KMS=replicate`, so it is not.
    pub required: bool,
}

const fn required(name: &'static str) -> Variable {
    Variable { name, required: true }
}

const fn optional(name: &'static str) -> Variable {
    Variable { name, required: false }
}

/// Every `CRR_*` variable [`Config::from_settings`] reads (see the README's
/// configuration table); a unit test fails when the two disagree.
pub const VARIABLES: &[Variable] = &[
    required("CRR_SOURCE_BUCKET"),
    optional("CRR_SOURCE_ENDPOINT"),
    optional("CRR_SOURCE_REGION"),
    optional("CRR_SOURCE_API"),
    required("CRR_DEST_BUCKET"),
    optional("CRR_DEST_ENDPOINT"),
    optional("CRR_DEST_REGION"),
    optional("CRR_DEST_ACCELERATE"),
    optional("CRR_DEST_API"),
    required("CRR_ROLE_ARN"),
    optional("CRR_STS_ENDPOINT"),
    optional("CRR_STS_REGION"),
    optional("CRR_STS_DURATION"),
    optional("CRR_STS_EXTERNAL_ID"),
    optional("CRR_RULE_ID"),
    optional("CRR_PREFIXES"),
    optional("CRR_ACTION"),
    optional("CRR_HISTORICAL"),
    optional("CRR_KMS"),
    optional("CRR_REPLICA_KMS_KEY_ID"),
    optional("CRR_STORAGE_CLASS"),
    optional("CRR_FORCE_PATH_STYLE"),
    optional("CRR_COPY_MODE"),
    optional("CRR_PART_SIZE"),
    optional("CRR_PART_CONCURRENCY"),
    optional("CRR_MULTIPART_THRESHOLD"),
    optional("CRR_RECORD_CONCURRENCY"),
    optional("CRR_TAG_COUNTS"),
    optional("CRR_DELETE_UNMARKED"),
    optional("CRR_TWO_WAY"),
    optional("CRR_BACKFILL_PAGE_SIZE"),
    optional("CRR_BACKFILL_CONCURRENCY"),
    optional("CRR_BACKFILL_LEASE_SECONDS"),
    optional("CRR_ABANDONED_UPLOAD_SECONDS"),
    optional("CRR_REPLICATE_SINCE"),
    optional("CRR_CONFIG"),
    optional("CRR_SOURCE_ACCOUNT_ID"),
];

/// The entry of [`VARIABLES`] named `name`.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod variables_tests {
    use super::super::{Config, Settings};
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    /// Settings that remember every name they were asked for.
    struct Recorder {
        values: HashMap<String, String>,
        asked: RefCell<BTreeSet<String>>,
    }

    impl Recorder {
        fn new(pairs: &[(&str, &str)]) -> Self {
            let values = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Recorder { values, asked: RefCell::new(BTreeSet::new()) }
        }
    }

    impl Settings for Recorder {
        fn get(&self, name: &str) -> Option<String> {
            self.asked.borrow_mut().insert(name.to_owned());
            self.values.get(name).cloned()
        }
    }

    /// A valid single-rule configuration that sets every variable, so every read happens.
    fn every_variable() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CRR_SOURCE_BUCKET", "crr-src"),
            ("CRR_SOURCE_ENDPOINT", "https://s3.oss-cn-hangzhou.aliyuncs.com"),
            ("CRR_SOURCE_REGION", "cn-hangzhou"),
            ("CRR_SOURCE_API", "s3"),
            ("CRR_DEST_BUCKET", "crr-dst"),
            ("CRR_DEST_ENDPOINT", "https://s3.oss-cn-beijing.aliyuncs.com"),
            ("CRR_DEST_REGION", "cn-beijing"),
            ("CRR_DEST_ACCELERATE", "true"),
            ("CRR_DEST_API", "auto"),
            ("CRR_ROLE_ARN", "acs:ram::1234567890123456:role/crr-replicator"),
            ("CRR_STS_ENDPOINT", "https://sts.cn-hangzhou.aliyuncs.com"),
            ("CRR_STS_REGION", "cn-hangzhou"),
            ("CRR_STS_DURATION", "900"),
            ("CRR_STS_EXTERNAL_ID", "ext"),
            ("CRR_RULE_ID", "r1"),
            ("CRR_PREFIXES", "a/,b/"),
            ("CRR_ACTION", "ALL"),
            ("CRR_HISTORICAL", "false"),
            ("CRR_KMS", "replicate"),
            ("CRR_REPLICA_KMS_KEY_ID", "key-1"),
            ("CRR_STORAGE_CLASS", "IA"),
            ("CRR_FORCE_PATH_STYLE", "false"),
            ("CRR_COPY_MODE", "stream"),
            ("CRR_PART_SIZE", "8MiB"),
            ("CRR_PART_CONCURRENCY", "2"),
            ("CRR_MULTIPART_THRESHOLD", "64MiB"),
            ("CRR_RECORD_CONCURRENCY", "4"),
            ("CRR_TAG_COUNTS", "unreported"),
            ("CRR_DELETE_UNMARKED", "true"),
            ("CRR_TWO_WAY", "true"),
            ("CRR_BACKFILL_PAGE_SIZE", "500"),
            ("CRR_BACKFILL_CONCURRENCY", "16"),
            ("CRR_BACKFILL_LEASE_SECONDS", "60"),
            ("CRR_ABANDONED_UPLOAD_SECONDS", "3600"),
            ("CRR_REPLICATE_SINCE", "2026-01-01T00:00:00Z"),
            ("CRR_SOURCE_ACCOUNT_ID", "1234567890123456"),
        ]
    }

    /// The names a configuration read, across single-rule and rule-file mode.
    fn names_read() -> BTreeSet<String> {
        let single = Recorder::new(&every_variable());
        Config::from_settings(&single).expect("the full single-rule configuration is valid");

        // A rule file whose SyncRole is a bare name, completed from CRR_SOURCE_ACCOUNT_ID.
        let dir = std::env::temp_dir().join(format!("crr-variables-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("crr.xml");
        std::fs::write(
            &path,
            "<ReplicationConfiguration><Rule><ID>r</ID><Destination><Bucket>crr-dst</Bucket>\
             <Location>oss-cn-beijing</Location></Destination><SyncRole>crr-replicator</SyncRole>\
             </Rule></ReplicationConfiguration>",
        )
        .unwrap();
        let mut file_mode = every_variable();
        file_mode.push(("CRR_CONFIG", path.to_str().unwrap()));
        let file = Recorder::new(&file_mode);
        let config = Config::from_settings(&file);
        std::fs::remove_dir_all(&dir).ok();
        config.expect("the rule-file configuration is valid");

        let mut names = single.asked.into_inner();
        names.extend(file.asked.into_inner());
        names
    }

    #[test]
    fn every_crr_variable_the_config_reads_is_listed() {
        let unlisted: Vec<String> =
            names_read().into_iter().filter(|n| n.starts_with("CRR_") && variable(n).is_none()).collect();
        assert!(unlisted.is_empty(), "Config::from_settings reads {unlisted:?}, missing from config::VARIABLES");
    }

    #[test]
    fn every_listed_variable_is_read() {
        let read = names_read();
        let stale: Vec<&str> = VARIABLES.iter().map(|v| v.name).filter(|n| !read.contains(*n)).collect();
        assert!(stale.is_empty(), "config::VARIABLES lists {stale:?}, which the configuration never reads");
    }

    #[test]
    fn listed_names_are_unique() {
        let unique: BTreeSet<&str> = VARIABLES.iter().map(|v| v.name).collect();
        assert_eq!(unique.len(), VARIABLES.len(), "config::VARIABLES names a variable twice");
    }

    #[test]
    fn required_flags_match_the_single_rule_configuration() {
        let required: Vec<(&str, &str)> =
            every_variable().into_iter().filter(|(k, _)| variable(k).is_some_and(|v| v.required)).collect();
        assert!(!required.is_empty());
        Config::from_settings(&Recorder::new(&required)).expect("the required variables alone are a configuration");
        for (name, _) in &required {
            let without: Vec<(&str, &str)> = required.iter().copied().filter(|(k, _)| k != name).collect();
            let err = Config::from_settings(&Recorder::new(&without)).expect_err(name).to_string();
            assert!(err.starts_with(&format!("{name} is not set")), "without {name}: {err}");
        }
    }
}
