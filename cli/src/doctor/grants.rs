//! What `crr policy generate` would write for a rule, so that a fix names the exact
//! permission, resource and statement that is missing, and the command that prints
//! the policies.

use crr::arn::RoleArn;
use crr::config::{Config, KmsPolicy, Rule, RuleAction};
use crr_policy::{
    evaluate, generate, Bucket, GeneratedPolicies, Kms, Outcome, Policy, Provider, ReplicationAction, ReplicationRule,
    Request, Role, Statement,
};

/// The account ids fixes name policies with, when known.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub source: Option<String>,
    pub dest: Option<String>,
}

/// Which bucket of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Dest,
}

/// The policies `crr policy generate` would write for a rule, to name the
/// permission, resource and statement a fix needs, and the command that prints them.
#[derive(Debug, Clone)]
pub struct Grants {
    pub(super) provider: Provider,
    partition: String,
    role: String,
    role_model: Role,
    pub(super) role_account: String,
    /// The source bucket and its owner, when known.
    source: Bucket,
    /// The destination bucket and its owner, when known.
    pub(super) dest: Bucket,
    /// `None` when the rule cannot be turned into policies.
    pub(super) generated: Option<GeneratedPolicies>,
    /// The `crr policy generate` command that prints the policies.
    pub(super) command: String,
}

impl Grants {
    pub fn new(config: &Config, rule: &Rule, accounts: &Accounts) -> Grants {
        let provider = if rule.role.is_alibaba() { Provider::Oss } else { Provider::Aws };
        let (role, partition) = match &rule.role {
            RoleArn::Alibaba { uid, name } => (Role::alibaba(uid, name), "aws".to_owned()),
            RoleArn::Aws { partition, account, name, path } => {
                (Role::aws(partition, account, path, name), partition.clone())
            }
        };
        let role_account = rule.role.account().to_owned();
        // OSS resource names carry the bucket owner's UID; an unknown one is generated
        // with a placeholder and written `*` afterwards.
        let placeholder = |known: &Option<String>| match (known, provider) {
            (Some(account), _) => Some(account.clone()),
            (None, Provider::Oss) => Some(role_account.clone()),
            (None, Provider::Aws) => None,
        };
        let replication = |kms: bool| ReplicationRule {
            provider,
            source: Bucket { name: config.source.name.clone(), account: placeholder(&accounts.source) },
            destination: Bucket {
                name: rule.destination.name.clone(),
                account: accounts.dest.clone().or_else(|| Some(role_account.clone())),
            },
            role: role.clone(),
            action: match rule.action {
                RuleAction::Put => ReplicationAction::Put,
                RuleAction::All => ReplicationAction::All,
            },
            prefixes: rule.prefixes.clone(),
            kms: match &rule.kms {
                KmsPolicy::Replicate { key_id } if kms => {
                    Some(Kms { destination_key: key_id.clone(), source_key: None })
                }
                _ => None,
            },
            trustee: None,
        };
        // A KMS key generate cannot name (an alias) should not cost every other hint.
        let generated = generate(&replication(true)).or_else(|_| generate(&replication(false))).ok().map(|mut g| {
            if provider == Provider::Oss {
                let unknown: Vec<&str> = [
                    (accounts.source.is_none(), config.source.name.as_str()),
                    (accounts.dest.is_none(), rule.destination.name.as_str()),
                ]
                .into_iter()
                .filter_map(|(unknown, name)| unknown.then_some(name))
                .collect();
                g.permission = any_account(&g.permission, &role_account, &unknown);
                g.bucket_policy = any_account(&g.bucket_policy, &role_account, &unknown);
            }
            g
        });
        Grants {
            provider,
            partition,
            role: rule.role.to_string(),
            role_model: role,
            role_account,
            source: Bucket { name: config.source.name.clone(), account: accounts.source.clone() },
            dest: Bucket { name: rule.destination.name.clone(), account: accounts.dest.clone() },
            generated,
            command: generate_command(config, rule, accounts, provider),
        }
    }

    /// Doctor's session of the role as the destination sees it in a bucket policy.
    pub fn session_principal(&self) -> String {
        self.role_model.session(self.provider, "crr-doctor")
    }

    /// The provider's name of an S3 action: `s3:PutObject`, `oss:PutObject`.
    pub fn action(&self, s3_name: &str) -> String {
        match self.provider {
            Provider::Aws => format!("s3:{s3_name}"),
            Provider::Oss => match s3_name {
                "ListBucket" => "oss:ListObjects".to_owned(),
                other => format!("oss:{other}"),
            },
        }
    }

    /// A bucket (`key` None) or object resource in the provider's form.
    pub fn resource(&self, side: Side, key: Option<&str>) -> String {
        let Bucket { name, account } = match side {
            Side::Source => &self.source,
            Side::Dest => &self.dest,
        };
        let bucket = match self.provider {
            Provider::Aws => format!("arn:{}:s3:::{name}", self.partition),
            Provider::Oss => format!("acs:oss:*:{}:{name}", account.as_deref().unwrap_or("*")),
        };
        match key {
            Some(key) => format!("{bucket}/{key}"),
            None => bucket,
        }
    }

    /// The generated permission statement that allows `action` on `resource`.
    fn granting(&self, action: &str, resource: &str) -> Option<&Statement> {
        let policy = &self.generated.as_ref()?.permission;
        let decision = evaluate([policy], &Request::new(action, resource));
        let at = decision.decided_by.filter(|_| decision.outcome == Outcome::Allow)?;
        policy.statements().get(at.statement.index)
    }

    fn grant(&self, who: &str, actions: &[&str], side: Side, key: Option<&str>) -> (String, Option<String>) {
        let actions: Vec<String> = actions.iter().map(|a| self.action(a)).collect();
        let asked = self.resource(side, key);
        let statement = actions.first().and_then(|a| self.granting(a, &asked));
        let on = statement
            .and_then(|s| s.resource())
            .map(|r| r.patterns.join(", "))
            .unwrap_or_else(|| self.resource(side, key.map(|_| "*")));
        let sid = statement.and_then(|s| s.sid()).map(str::to_owned);
        let source = match &sid {
            Some(sid) => format!("statement {sid} of the permission policy `{}` prints", self.command),
            None => format!("`{}` prints the policies", self.command),
        };
        (format!("allow {who} {} on {on} ({source})", actions.join(", ")), sid)
    }

    /// What to grant the replication role on the destination, and the bucket policy
    /// when the role is in another account.
    pub fn role_fix(&self, actions: &[&str], key: Option<&str>) -> String {
        let (text, sid) = self.grant(&format!("the role {}", self.role), actions, Side::Dest, key);
        let bucket = &self.dest.name;
        let statement = sid.map(|s| format!(" (statement {s})")).unwrap_or_default();
        let bucket_policy = match self.dest.account.as_deref() {
            Some(account) if account == self.role_account => String::new(),
            Some(account) => format!(
                "; the role is in account {} and {bucket} in account {account}, so {bucket}'s bucket policy must grant it too{statement}: merge it with `crr policy merge`",
                self.role_account
            ),
            None => format!(
                "; if {bucket} belongs to another account than the role, its bucket policy must grant it too{statement}: merge it with `crr policy merge`"
            ),
        };
        format!("{text}{bucket_policy}")
    }

    /// What to grant the replication role on the source, for server-side copies.
    pub fn role_source_fix(&self, actions: &[&str], key: Option<&str>) -> String {
        let (text, _) = self.grant(&format!("the role {}", self.role), actions, Side::Source, key);
        let bucket = &self.source.name;
        let bucket_policy = match self.source.account.as_deref() {
            Some(account) if account == self.role_account => String::new(),
            Some(account) => format!(
                "; the role is in account {} and {bucket} in account {account}, so {bucket}'s bucket policy must let it read too",
                self.role_account
            ),
            None => format!("; if {bucket} belongs to another account than the role, its bucket policy must let it read too"),
        };
        format!("{text}{bucket_policy}")
    }

    /// What to grant the function's own identity on the source.
    pub fn identity_fix(&self, actions: &[&str], side: Side, key: Option<&str>) -> String {
        let (text, _) = self.grant("the function's own identity", actions, side, key);
        format!("{text}; attach it to the function's own role or user, not the replication role")
    }

    /// What the role and the key need for SSE-KMS replicas.
    pub fn kms_fix(&self, key_id: &str) -> String {
        let kms = self.generated.as_ref().and_then(|g| {
            let statement = g.permission.statements().iter().find(|s| s.sid() == Some("CrrEncryptReplicas"))?;
            Some(statement.resource()?.patterns.join(", "))
        });
        let on = kms.unwrap_or_else(|| format!("key {key_id}"));
        format!(
            "allow the role {} kms:GenerateDataKey, kms:Encrypt, kms:Decrypt on {on} (statement CrrEncryptReplicas of the permission policy) \
             and let the key's policy allow the role (statement CrrReplicationRoleUsesKey); `{}` prints both",
            self.role, self.command
        )
    }
}

/// `policy` with the placeholder account of `buckets` written as `*`.
fn any_account(policy: &Policy, placeholder: &str, buckets: &[&str]) -> Policy {
    let mut text = policy.to_pretty_json();
    for name in buckets {
        for end in ["\"", "/"] {
            text = text.replace(&format!("acs:oss:*:{placeholder}:{name}{end}"), &format!("acs:oss:*:*:{name}{end}"));
        }
    }
    Policy::parse(&text).unwrap_or_else(|_| policy.clone())
}

/// The `crr policy generate` command for a rule, with placeholders for what is unknown.
pub fn generate_command(config: &Config, rule: &Rule, accounts: &Accounts, provider: Provider) -> String {
    let mut command = format!("crr policy generate --source-bucket {}", config.source.name);
    match (&accounts.source, provider) {
        (Some(account), _) => command.push_str(&format!(" --source-account {account}")),
        (None, Provider::Oss) => command.push_str(" --source-account <SOURCE_UID>"),
        (None, Provider::Aws) => {}
    }
    command.push_str(&format!(
        " --dest-bucket {} --dest-account {} --role-arn {}",
        rule.destination.name,
        accounts.dest.as_deref().unwrap_or("<DEST_ACCOUNT>"),
        rule.role
    ));
    if rule.action == RuleAction::All {
        command.push_str(" --action ALL");
    }
    for prefix in &rule.prefixes {
        command.push_str(&format!(" --prefix {}", crate::shell::word(prefix)));
    }
    if let KmsPolicy::Replicate { key_id } = &rule.kms {
        command.push_str(&format!(" --kms-key {}", crate::shell::word(key_id)));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixtures::{config, grants};

    #[test]
    fn oss_roles_get_oss_actions_and_resources_with_known_or_any_account() {
        let c = config(&[("CRR_ROLE_ARN", "acs:ram::1234567890123456:role/crr-replicator")]);
        let unknown = grants(&c);
        let fix = unknown.role_fix(&["PutObject"], Some(".crr/doctor/x"));
        assert!(fix.contains("oss:PutObject on acs:oss:*:*:crr-dst/*"), "{fix}");
        assert!(fix.contains("--source-account <SOURCE_UID>"), "{fix}");
        let known = Grants::new(
            &c,
            &c.rules[0],
            &Accounts { source: Some("1234567890123456".into()), dest: Some("6543210987654321".into()) },
        );
        let fix = known.role_fix(&["ListBucket"], None);
        assert!(fix.contains("oss:ListObjects on acs:oss:*:6543210987654321:crr-dst ("), "{fix}");
        assert!(
            fix.contains("the role is in account 1234567890123456 and crr-dst in account 6543210987654321"),
            "{fix}"
        );
        // Same account: no bucket policy needed.
        let same = Grants::new(&c, &c.rules[0], &Accounts { source: None, dest: Some("1234567890123456".into()) });
        assert!(!same.role_fix(&["PutObject"], Some("k")).contains("bucket policy"));
    }

    #[test]
    fn generate_command_carries_the_rule() {
        let c = config(&[("CRR_ACTION", "ALL"), ("CRR_PREFIXES", "logs/,my docs/")]);
        let command = generate_command(
            &c,
            &c.rules[0],
            &Accounts { source: Some("111111111111".into()), dest: None },
            Provider::Aws,
        );
        assert_eq!(
            command,
            "crr policy generate --source-bucket crr-src --source-account 111111111111 --dest-bucket crr-dst \
             --dest-account <DEST_ACCOUNT> --role-arn arn:aws:iam::222222222222:role/crr-replicator --action ALL \
             --prefix logs/ --prefix 'my docs/'"
        );
    }
}
