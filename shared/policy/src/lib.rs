//! The policies cross-account replication depends on: parse them, evaluate requests
//! against them, generate least-privilege ones for a replication rule, merge statements
//! into an existing bucket policy without losing anything, and lint them for the
//! mistakes that silently break replication. Alibaba Cloud RAM/OSS and AWS IAM/S3.

pub mod evaluate;
pub mod generate;
pub mod model;
pub mod pattern;

pub use evaluate::{evaluate, Applies, Decision, Outcome, Request, StatementAt, Unresolved};
pub use generate::{
    generate, Bucket, GeneratedPolicies, Kms, Provider, ReplicationAction, ReplicationRule, Role,
    RuleError, Trustee,
};
pub use model::{
    Condition, Effect, PatternClause, Policy, PolicyError, Principal, PrincipalClause, Statement,
    StatementRef, Version,
};
