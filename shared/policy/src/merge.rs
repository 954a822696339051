//! Adding replication statements to a bucket policy that already exists. A bucket
//! policy PUT replaces the whole document, so the only safe change is: every existing
//! statement back exactly as it was, in its place, and the missing grants appended.
//! Merging is idempotent, and existing Deny statements in the way of replication are
//! reported, because no Allow can override them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::evaluate::{may_apply, AccessPattern};
use crate::model::{Effect, Policy, PolicyError, Statement, StatementRef};

/// The result of a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub policy: Policy,
    /// Positions in `policy` of the statements appended.
    pub added: Vec<usize>,
    /// Generated statements the existing policy already had: (generated, existing) positions.
    pub already_present: Vec<(usize, usize)>,
    /// Sids given to appended statements because the existing policy uses theirs for
    /// other statements (Sids must be unique): (generated Sid, Sid used).
    pub renamed: Vec<(String, String)>,
    /// Existing Deny statements in the way of what the generated statements grant.
    pub blocking: Vec<BlockingDeny>,
}

impl Merged {
    /// True when something was appended.
    pub fn changed(&self) -> bool {
        !self.added.is_empty()
    }

    /// A Deny without conditions blocks part of what replication needs.
    pub fn blocks_replication(&self) -> bool {
        self.blocking.iter().any(|b| b.certain)
    }

    /// The lines added, each prefixed with `+ `, indented as in the printed document,
    /// under a `@@` line naming the statement; empty when nothing was added.
    pub fn diff(&self) -> String {
        let mut diff = String::new();
        for &index in &self.added {
            let reference = self.policy.statement_ref(index);
            let renamed = self
                .renamed
                .iter()
                .find(|(_, new)| reference.sid.as_deref() == Some(new.as_str()))
                .map(|(old, _)| format!(", renamed from {old:?}: the existing policy uses that Sid"))
                .unwrap_or_default();
            diff.push_str(&format!("@@ appended {reference}{renamed}\n"));
            let text = serde_json::to_string_pretty(&self.policy.statements()[index].to_value()).unwrap_or_default();
            for line in text.lines() {
                diff.push_str(&format!("+     {line}\n"));
            }
        }
        diff
    }
}

/// An existing Deny that applies to some of the requests replication needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingDeny {
    pub statement: StatementRef,
    /// False when the Deny has conditions: it blocks only when they hold.
    pub certain: bool,
    /// `"<action> on <resource> by <principal>"` for each blocked grant.
    pub blocked: Vec<String>,
    /// The Deny's conditions, when it has some.
    pub conditions: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("the existing bucket policy cannot be read: {0}")]
    Existing(PolicyError),
    #[error("the existing bucket policy is Version {existing} but the statements to add are Version {generated}: a bucket policy is for one cloud; generate the statements with --provider {provider}")]
    VersionMismatch { existing: &'static str, generated: &'static str, provider: &'static str },
}

/// Merges `generated` into the bucket policy `existing` (JSON text; empty text means the
/// bucket has no policy yet).
pub fn merge(existing: &str, generated: &Policy) -> Result<Merged, MergeError> {
    let existing =
        if existing.trim().is_empty() { None } else { Some(Policy::parse(existing).map_err(MergeError::Existing)?) };
    merge_policies(existing.as_ref(), generated)
}

/// `merge` for a parsed existing policy (`None`: the bucket has none).
pub fn merge_policies(existing: Option<&Policy>, generated: &Policy) -> Result<Merged, MergeError> {
    if let Some(existing) = existing {
        if !existing.version().is_compatible_with(generated.version()) {
            return Err(MergeError::VersionMismatch {
                existing: existing.version().describe(),
                generated: generated.version().describe(),
                provider: if existing.version().is_alibaba() { "oss" } else { "aws" },
            });
        }
    }
    let mut policy = existing.cloned().unwrap_or_else(|| Policy::new(generated.version(), Vec::new()));
    let existing_len = policy.statements().len();
    let (mut added, mut already_present, mut renamed) = (Vec::new(), Vec::new(), Vec::new());
    for (generated_index, statement) in generated.statements().iter().enumerate() {
        let present = policy.statements().iter().position(|s| same_grant(s, statement));
        match present {
            Some(index) if index < existing_len => already_present.push((generated_index, index)),
            // Repeated within the generated statements: once is enough.
            Some(_) => {}
            None => {
                let statement = with_unique_sid(&policy, statement, &mut renamed);
                policy.push(statement);
                added.push(policy.statements().len() - 1);
            }
        }
    }
    let blocking = existing.map_or_else(Vec::new, |e| blocking_denies(e, generated));
    Ok(Merged { policy, added, already_present, renamed, blocking })
}

/// The statement, renamed to `<Sid>2`, `<Sid>3`... if the policy uses its Sid already.
fn with_unique_sid(policy: &Policy, statement: &Statement, renamed: &mut Vec<(String, String)>) -> Statement {
    let Some(sid) = statement.sid() else {
        return statement.clone();
    };
    let taken = |candidate: &str| policy.statements().iter().any(|s| s.sid() == Some(candidate));
    if !taken(sid) {
        return statement.clone();
    }
    let fresh =
        (2..).map(|n| format!("{sid}{n}")).find(|candidate| !taken(candidate)).unwrap_or_else(|| format!("{sid}New"));
    renamed.push((sid.to_owned(), fresh.clone()));
    statement.with_sid(&fresh)
}

/// Whether two statements grant the same thing: equal apart from the Sid, once a string
/// and a one-element list count as equal, lists as sets, and actions ignore case.
pub fn same_grant(a: &Statement, b: &Statement) -> bool {
    canonical_grant(a) == canonical_grant(b)
}

fn canonical_grant(statement: &Statement) -> BTreeMap<String, Value> {
    statement
        .source()
        .iter()
        .filter(|(key, _)| key.as_str() != "Sid")
        .map(|(key, value)| {
            let value = match key.as_str() {
                "Action" | "NotAction" => lowercase_strings(as_list(value)),
                "Resource" | "NotResource" => as_list(value),
                "Principal" | "NotPrincipal" => match value {
                    Value::Object(kinds) => {
                        Value::Object(kinds.iter().map(|(kind, values)| (kind.clone(), as_list(values))).collect())
                    }
                    other => as_list(other),
                },
                "Condition" => map_leaves(value, as_list),
                _ => value.clone(),
            };
            (key.clone(), canonical(&value))
        })
        .collect()
}

fn as_list(value: &Value) -> Value {
    match value {
        Value::Array(_) => value.clone(),
        other => Value::Array(vec![other.clone()]),
    }
}

fn lowercase_strings(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase_strings).collect()),
        Value::String(text) => Value::String(text.to_ascii_lowercase()),
        other => other,
    }
}

/// Applies `leaf` to the values two levels down (`{"op": {"key": values}}`).
fn map_leaves(value: &Value, leaf: fn(&Value) -> Value) -> Value {
    match value {
        Value::Object(operators) => Value::Object(
            operators
                .iter()
                .map(|(operator, tests)| {
                    let tests = match tests {
                        Value::Object(tests) => {
                            Value::Object(tests.iter().map(|(k, v)| (k.clone(), leaf(v))).collect())
                        }
                        other => other.clone(),
                    };
                    (operator.clone(), tests)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Objects with sorted keys, lists sorted without repeats: equal meaning, equal value.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// The Deny statements of `policy` that apply to some request the Allow statements of
/// `required` grant (principals included), conditions aside; a Deny with conditions is
/// reported as possibly blocking.
pub fn blocking_denies(policy: &Policy, required: &Policy) -> Vec<BlockingDeny> {
    let accesses = required_accesses(required);
    policy
        .statements()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.effect() == Effect::Deny)
        .filter_map(|(index, deny)| {
            let mut blocked: Vec<String> =
                accesses.iter().filter(|access| may_apply(deny, &access.pattern())).map(Access::describe).collect();
            blocked.dedup();
            (!blocked.is_empty()).then(|| BlockingDeny {
                statement: policy.statement_ref(index),
                certain: deny.conditions().is_empty(),
                blocked,
                conditions: deny.conditions().iter().map(ToString::to_string).collect(),
            })
        })
        .collect()
}

struct Access {
    action: String,
    resource: String,
    principal: Option<String>,
}

impl Access {
    fn pattern(&self) -> AccessPattern<'_> {
        AccessPattern { action: &self.action, resource: &self.resource, principal: self.principal.as_deref() }
    }

    fn describe(&self) -> String {
        match &self.principal {
            Some(p) => format!("{} on {} by {p}", self.action, self.resource),
            None => format!("{} on {}", self.action, self.resource),
        }
    }
}

/// Every (action, resource, principal) the Allow statements grant, as patterns.
fn required_accesses(required: &Policy) -> Vec<Access> {
    let mut accesses = Vec::new();
    for statement in required.statements() {
        if statement.effect() != Effect::Allow || statement.action().negated {
            continue;
        }
        let resources = match statement.resource() {
            Some(clause) if !clause.negated => clause.patterns.clone(),
            _ => vec!["*".to_owned()],
        };
        let principals: Vec<Option<String>> = match statement.principal() {
            Some(clause) if !clause.negated => {
                clause.principal.values().into_iter().map(|p| Some(p.to_owned())).collect()
            }
            _ => vec![None],
        };
        for action in &statement.action().patterns {
            for resource in &resources {
                for principal in &principals {
                    accesses.push(Access {
                        action: action.clone(),
                        resource: resource.clone(),
                        principal: principal.clone(),
                    });
                }
            }
        }
    }
    accesses
}
