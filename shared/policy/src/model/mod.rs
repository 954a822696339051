//! Policy documents as both clouds write them: Alibaba RAM/OSS (`"Version": "1"`) and
//! AWS IAM/S3 (`"Version": "2012-10-17"`). Parsed into types once, with errors that name
//! the field, while each statement keeps the JSON its author wrote so that a merge can
//! put it back unchanged. This module holds the types and printing; reading a document
//! and its errors are `parse`.

use std::fmt;

use serde_json::{Map, Value};

mod parse;

pub use parse::PolicyError;

/// The policy language version, which also tells which cloud the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `"1"`: Alibaba Cloud RAM policies and OSS bucket policies.
    Ram,
    /// `"2012-10-17"`: the current AWS IAM policy language.
    Iam2012,
    /// `"2008-10-17"`: the older AWS language, still accepted by S3 bucket policies.
    Iam2008,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Ram => "1",
            Version::Iam2012 => "2012-10-17",
            Version::Iam2008 => "2008-10-17",
        }
    }

    pub fn parse(text: &str) -> Option<Version> {
        match text {
            "1" => Some(Version::Ram),
            "2012-10-17" => Some(Version::Iam2012),
            "2008-10-17" => Some(Version::Iam2008),
            _ => None,
        }
    }

    /// Whether statements written for `other` can live in a policy of this version.
    pub fn is_compatible_with(self, other: Version) -> bool {
        self.is_alibaba() == other.is_alibaba()
    }

    pub fn is_alibaba(self) -> bool {
        self == Version::Ram
    }

    /// Who writes policies in this version, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Version::Ram => "\"1\" (Alibaba Cloud RAM / OSS)",
            Version::Iam2012 => "\"2012-10-17\" (AWS IAM / S3)",
            Version::Iam2008 => "\"2008-10-17\" (AWS IAM / S3, old)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// Who a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"`: anyone, signed or not.
    Anyone,
    /// A list of principal strings, as OSS bucket policies write them:
    /// `["arn:sts::<uid>:assumed-role/<role>/*", "<uid>"]`.
    List(Vec<String>),
    /// Principals by kind, as IAM and RAM trust policies write them:
    /// `{"AWS": [...]}`, `{"Service": [...]}`, `{"RAM": [...]}`, in the author's order.
    ByKind(Vec<(String, Vec<String>)>),
}

impl Principal {
    /// Every principal string named, whatever its kind.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Principal::Anyone => vec!["*"],
            Principal::List(values) => values.iter().map(String::as_str).collect(),
            Principal::ByKind(kinds) => {
                kinds.iter().flat_map(|(_, values)| values.iter().map(String::as_str)).collect()
            }
        }
    }

    /// `"*"`, `["*"]` or `{"AWS": "*"}`: everyone.
    pub fn includes_anyone(&self) -> bool {
        self.values().contains(&"*")
    }
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalClause {
    /// `NotPrincipal`: the statement applies to everyone except these.
    pub negated: bool,
    pub principal: Principal,
}

/// `Action` / `NotAction` or `Resource` / `NotResource`: patterns with `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternClause {
    /// `NotAction` / `NotResource`: the statement applies to everything except these.
    pub negated: bool,
    pub patterns: Vec<String>,
}

/// One test of a `Condition` block: `{"<operator>": {"<key>": [values]}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    /// Values as written; numbers and booleans as their JSON text.
    pub values: Vec<String>,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.operator, self.key, self.values)
    }
}

/// Which statement of a policy, for findings and decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Position in the policy's `Statement` list, from 0.
    pub index: usize,
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Statement[{}]", self.index)?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid:?})")?;
        }
        Ok(())
    }
}

/// One statement: the parsed meaning plus the JSON object it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    principal: Option<PrincipalClause>,
    action: PatternClause,
    resource: Option<PatternClause>,
    conditions: Vec<Condition>,
    source: Map<String, Value>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
    /// `None` in identity policies: the statement is about whoever holds the policy.
    pub fn principal(&self) -> Option<&PrincipalClause> {
        self.principal.as_ref()
    }
    pub fn action(&self) -> &PatternClause {
        &self.action
    }
    /// `None` in trust policies: the statement is about the resource holding the policy.
    pub fn resource(&self) -> Option<&PatternClause> {
        self.resource.as_ref()
    }
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    /// The statement's JSON as its author wrote it (key order and unknown fields kept).
    pub fn source(&self) -> &Map<String, Value> {
        &self.source
    }
    pub fn to_value(&self) -> Value {
        Value::Object(self.source.clone())
    }

    /// The same statement under another Sid; the Sid keeps its place among the keys.
    pub fn with_sid(&self, sid: &str) -> Statement {
        let mut renamed = self.clone();
        renamed.sid = Some(sid.to_owned());
        renamed.source.insert("Sid".to_owned(), Value::String(sid.to_owned()));
        renamed
    }
}

/// A whole policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    version: Version,
    statements: Vec<Statement>,
    /// The top-level object as written (key order, `Id`, unknown fields); its
    /// `Statement` entry is rebuilt from `statements` when printed.
    document: Map<String, Value>,
    /// `"Statement": {...}` (allowed by IAM) rather than a list.
    single_statement_object: bool,
}

impl Policy {
    /// A new policy with these statements.
    pub fn new(version: Version, statements: Vec<Statement>) -> Policy {
        let mut document = Map::new();
        document.insert("Version".to_owned(), Value::String(version.as_str().to_owned()));
        document.insert("Statement".to_owned(), Value::Array(Vec::new()));
        Policy { version, statements, document, single_statement_object: false }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Where statement `index` is, for messages.
    pub fn statement_ref(&self, index: usize) -> StatementRef {
        StatementRef { index, sid: self.statements.get(index).and_then(|s| s.sid().map(str::to_owned)) }
    }

    /// Appends a statement at the end.
    pub fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// The document as JSON: the original top-level keys in their order, statements
    /// as their authors wrote them.
    pub fn to_value(&self) -> Value {
        let statements: Vec<Value> = self.statements.iter().map(Statement::to_value).collect();
        let statement_value = if self.single_statement_object && statements.len() == 1 {
            statements.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(statements)
        };
        let mut document = self.document.clone();
        document.insert("Statement".to_owned(), statement_value);
        Value::Object(document)
    }

    /// The document as indented JSON, ready to paste into a console or save.
    pub fn to_pretty_json(&self) -> String {
        // Serialising a Value built from strings, numbers and maps cannot fail.
        serde_json::to_string_pretty(&self.to_value()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_keeps_key_order_and_unknown_fields() {
        let text = r#"{"Id":"keep-me","Version":"1","Statement":[{"Resource":"r","Action":"a","Effect":"Allow","X-Note":{"z":1,"a":2}}]}"#;
        let policy = Policy::parse(text).unwrap();
        let printed = serde_json::to_string(&policy.to_value()).unwrap();
        assert_eq!(printed, text);
        assert!(policy.to_pretty_json().contains("\n  \"Version\": \"1\""));
    }

    #[test]
    fn renaming_keeps_the_sid_in_place() {
        let text = r#"{"Version":"1","Statement":[{"Sid":"A","Effect":"Allow","Action":"a"}]}"#;
        let policy = Policy::parse(text).unwrap();
        let renamed = policy.statements()[0].with_sid("B");
        assert_eq!(renamed.sid(), Some("B"));
        assert_eq!(serde_json::to_string(&renamed.to_value()).unwrap(), r#"{"Sid":"B","Effect":"Allow","Action":"a"}"#);
    }
}
