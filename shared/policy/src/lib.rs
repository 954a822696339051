//! The policies cross-account replication depends on: parse them, evaluate requests
//! against them, generate least-privilege ones for a replication rule, merge statements
//! into an existing bucket policy without losing anything, and lint them for the
//! mistakes that silently break replication. Alibaba Cloud RAM/OSS and AWS IAM/S3.

pub mod evaluate;
pub mod generate;
pub mod lint;
pub mod merge;
pub mod model;
pub mod pattern;

pub use evaluate::{evaluate, may_apply, AccessPattern, Applies, Decision, Outcome, Request, StatementAt, Unresolved};
pub use generate::{
    generate, Bucket, GeneratedPolicies, Kms, Provider, ReplicationAction, ReplicationRule, Role, RuleError, Trustee,
};
pub use lint::{lint, Finding, Severity};
pub use merge::{blocking_denies, merge, merge_policies, same_grant, BlockingDeny, MergeError, Merged};
pub use model::{
    Condition, Effect, PatternClause, Policy, PolicyError, Principal, PrincipalClause, Statement, StatementRef, Version,
};
