//! Reading a policy document's JSON into [`Policy`] and [`Statement`], refusing what a
//! cloud would reject or silently ignore (a field in the wrong case, both `Action` and
//! `NotAction`, an empty list) with an error that names the field and what was expected.

use serde_json::{Map, Value};

use super::{Condition, Effect, PatternClause, Policy, Principal, PrincipalClause, Statement, Version};

impl Statement {
    /// Parses one statement; `index` is its position, for error messages.
    pub fn from_value(value: Value, index: usize) -> Result<Statement, PolicyError> {
        let at = format!("Statement[{index}]");
        let Value::Object(source) = value else {
            return Err(invalid(&at, format!("expected a statement object, found {}", kind(&value))));
        };
        check_field_spelling(&source, &at, STATEMENT_FIELDS)?;
        let sid = match source.get("Sid") {
            None => None,
            Some(Value::String(sid)) => Some(sid.clone()),
            Some(other) => {
                return Err(invalid(&format!("{at}.Sid"), format!("expected a string, found {}", kind(other))))
            }
        };
        let effect = parse_effect(source.get("Effect"), &at)?;
        let principal = parse_either(&source, &at, "Principal", "NotPrincipal", parse_principal)?
            .map(|(negated, principal)| PrincipalClause { negated, principal });
        let action = parse_either(&source, &at, "Action", "NotAction", string_or_list)?
            .map(|(negated, patterns)| PatternClause { negated, patterns })
            .ok_or_else(|| {
                invalid(&at, "missing Action (or NotAction): say which actions the statement is about".to_owned())
            })?;
        let resource = parse_either(&source, &at, "Resource", "NotResource", string_or_list)?
            .map(|(negated, patterns)| PatternClause { negated, patterns });
        let conditions = match source.get("Condition") {
            None => Vec::new(),
            Some(value) => parse_conditions(value, &format!("{at}.Condition"))?,
        };
        Ok(Statement { sid, effect, principal, action, resource, conditions, source })
    }
}

impl Policy {
    /// Parses a policy from JSON text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(PolicyError::Json)?;
        Policy::from_value(value)
    }

    /// Parses a policy from its JSON value.
    pub fn from_value(value: Value) -> Result<Policy, PolicyError> {
        let Value::Object(document) = value else {
            return Err(invalid(
                "the policy",
                format!("expected a JSON object with Version and Statement, found {}", kind(&value)),
            ));
        };
        check_field_spelling(&document, "the policy", POLICY_FIELDS)?;
        let version = match document.get("Version") {
            None => {
                return Err(invalid(
                    "the policy",
                    "missing Version: add \"Version\": \"1\" (Alibaba Cloud RAM / OSS) or \"Version\": \"2012-10-17\" (AWS IAM / S3)".to_owned(),
                ))
            }
            Some(Value::String(text)) => Version::parse(text).ok_or_else(|| {
                invalid(
                    "Version",
                    format!("unknown version {text:?}: expected \"1\" (Alibaba Cloud RAM / OSS) or \"2012-10-17\" (AWS IAM / S3)"),
                )
            })?,
            Some(other) => {
                return Err(invalid(
                    "Version",
                    format!(
                        "expected a string such as \"1\" or \"2012-10-17\", found {}",
                        kind(other)
                    ),
                ))
            }
        };
        let (statement_values, single_statement_object) = match document.get("Statement") {
            None => return Err(invalid("the policy", "missing Statement: add a list of statements".to_owned())),
            Some(Value::Array(items)) => (items.clone(), false),
            Some(object @ Value::Object(_)) => (vec![object.clone()], true),
            Some(other) => {
                return Err(invalid("Statement", format!("expected a list of statements, found {}", kind(other))))
            }
        };
        let statements = statement_values
            .into_iter()
            .enumerate()
            .map(|(index, value)| Statement::from_value(value, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { version, statements, document, single_statement_object })
    }
}

/// What is wrong with a policy text.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy is not valid JSON: {0}; fix the text at that line and column")]
    Json(serde_json::Error),
    #[error("{at}: {problem}")]
    Invalid { at: String, problem: String },
}

const POLICY_FIELDS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_FIELDS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

fn invalid(at: &str, problem: String) -> PolicyError {
    PolicyError::Invalid { at: at.to_owned(), problem }
}

/// A JSON kind for "found ..." in messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Unknown fields are kept, but a known field in the wrong case (`"effect"`) would be
/// silently ignored by the cloud: refuse it with the right spelling.
fn check_field_spelling(object: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), PolicyError> {
    for key in object.keys() {
        if let Some(right) = known.iter().find(|k| k.eq_ignore_ascii_case(key) && **k != key.as_str()) {
            return Err(invalid(
                at,
                format!("field {key:?} must be spelled {right:?} (field names are case-sensitive)"),
            ));
        }
    }
    Ok(())
}

fn parse_effect(value: Option<&Value>, at: &str) -> Result<Effect, PolicyError> {
    match value {
        Some(Value::String(text)) if text == "Allow" => Ok(Effect::Allow),
        Some(Value::String(text)) if text == "Deny" => Ok(Effect::Deny),
        Some(Value::String(text)) => {
            Err(invalid(&format!("{at}.Effect"), format!("expected \"Allow\" or \"Deny\", found {text:?}")))
        }
        Some(other) => {
            Err(invalid(&format!("{at}.Effect"), format!("expected \"Allow\" or \"Deny\", found {}", kind(other))))
        }
        None => Err(invalid(at, "missing Effect: add \"Effect\": \"Allow\" or \"Effect\": \"Deny\"".to_owned())),
    }
}

/// Reads `positive` or its negated twin `negative` (never both).
fn parse_either<T>(
    source: &Map<String, Value>,
    at: &str,
    positive: &str,
    negative: &str,
    parse: fn(&Value, &str) -> Result<T, PolicyError>,
) -> Result<Option<(bool, T)>, PolicyError> {
    match (source.get(positive), source.get(negative)) {
        (Some(_), Some(_)) => Err(invalid(at, format!("has both {positive} and {negative}: keep one"))),
        (Some(value), None) => Ok(Some((false, parse(value, &format!("{at}.{positive}"))?))),
        (None, Some(value)) => Ok(Some((true, parse(value, &format!("{at}.{negative}"))?))),
        (None, None) => Ok(None),
    }
}

fn string_or_list(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) if items.is_empty() => {
            Err(invalid(at, "the list is empty: name at least one value".to_owned()))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(invalid(&format!("{at}[{i}]"), format!("expected a string, found {}", kind(other)))),
            })
            .collect(),
        other => Err(invalid(at, format!("expected a string or a list of strings, found {}", kind(other)))),
    }
}

fn parse_principal(value: &Value, at: &str) -> Result<Principal, PolicyError> {
    match value {
        Value::String(text) if text == "*" => Ok(Principal::Anyone),
        Value::String(_) | Value::Array(_) => string_or_list(value, at).map(Principal::List),
        Value::Object(kinds) if kinds.is_empty() => Err(invalid(
            at,
            "the object is empty: name principals such as {\"AWS\": \"arn:aws:iam::111122223333:root\"}".to_owned(),
        )),
        Value::Object(kinds) => kinds
            .iter()
            .map(|(kind_name, values)| {
                string_or_list(values, &format!("{at}.{kind_name}")).map(|values| (kind_name.clone(), values))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Principal::ByKind),
        other => Err(invalid(
            at,
            format!(
                "expected \"*\", a list of principals or an object such as {{\"AWS\": [...]}}, found {}",
                kind(other)
            ),
        )),
    }
}

fn parse_conditions(value: &Value, at: &str) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(invalid(
            at,
            format!("expected an object such as {{\"StringEquals\": {{\"key\": \"value\"}}}}, found {}", kind(value)),
        ));
    };
    let mut conditions = Vec::new();
    for (operator, tests) in operators {
        let at = format!("{at}.{operator}");
        let Value::Object(tests) = tests else {
            return Err(invalid(&at, format!("expected an object of condition keys to values, found {}", kind(tests))));
        };
        for (key, values) in tests {
            conditions.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values: condition_values(values, &format!("{at}.{key}"))?,
            });
        }
    }
    Ok(conditions)
}

fn condition_values(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |item: &Value, at: &str| match item {
        Value::String(text) => Ok(text.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(item.to_string()),
        other => Err(invalid(at, format!("expected a string, number or boolean, found {}", kind(other)))),
    };
    match value {
        Value::Array(items) => items.iter().enumerate().map(|(i, item)| scalar(item, &format!("{at}[{i}]"))).collect(),
        item => Ok(vec![scalar(item, at)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_BUCKET_POLICY: &str = r#"{
        "Version":"1",
        "Statement":[
            {
                "Effect":"Allow",
                "Action":["oss:ReplicateList","oss:ReplicateGet","oss:ReplicatePut","oss:ReplicateDelete"],
                "Principal": ["arn:sts::1111:assumed-role/AliyunOssDrsRole/*"],
                "Resource":["acs:oss:*:2222:dst","acs:oss:*:2222:dst/*"]
            }
        ]
    }"#;

    #[test]
    fn parses_the_seed_bucket_policy() {
        let policy = Policy::parse(SEED_BUCKET_POLICY).unwrap();
        assert_eq!(policy.version(), Version::Ram);
        let statement = &policy.statements()[0];
        assert_eq!(statement.effect(), Effect::Allow);
        assert_eq!(statement.action().patterns.len(), 4);
        assert_eq!(
            statement.principal().unwrap().principal,
            Principal::List(vec!["arn:sts::1111:assumed-role/AliyunOssDrsRole/*".into()])
        );
        assert_eq!(statement.resource().unwrap().patterns, ["acs:oss:*:2222:dst", "acs:oss:*:2222:dst/*"]);
    }

    #[test]
    fn parses_iam_forms_and_conditions() {
        let policy = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::1:root"],"Service":"s3.amazonaws.com"},
               "NotAction":"s3:Get*","NotResource":"arn:aws:s3:::b/*",
               "Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":[10, "20"]}}}}"#,
        )
        .unwrap();
        let s = &policy.statements()[0];
        let principal = s.principal().unwrap();
        assert!(principal.negated);
        assert_eq!(
            principal.principal,
            Principal::ByKind(vec![
                ("AWS".into(), vec!["arn:aws:iam::1:root".into()]),
                ("Service".into(), vec!["s3.amazonaws.com".into()])
            ])
        );
        assert!(s.action().negated && s.resource().unwrap().negated);
        assert_eq!(s.conditions()[0].values, ["false"]);
        assert_eq!(s.conditions()[1].values, ["10", "20"]);
        // A single statement object stays an object when printed back.
        assert!(policy.to_value()["Statement"].is_object());
    }

    #[test]
    fn errors_name_the_field_and_what_was_expected() {
        for (text, expected) in [
            ("{", "not valid JSON"),
            ("[]", "expected a JSON object with Version and Statement, found a list"),
            (r#"{"Statement":[]}"#, "missing Version"),
            (r#"{"Version":"3","Statement":[]}"#, "unknown version \"3\""),
            (r#"{"Version":"1"}"#, "missing Statement"),
            (
                r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"a"}]}"#,
                "Statement[0].Effect: expected \"Allow\" or \"Deny\", found \"allow\"",
            ),
            (r#"{"Version":"1","Statement":[{"Effect":"Allow"}]}"#, "Statement[0]: missing Action"),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":5}]}"#,
                "Statement[0].Action: expected a string or a list of strings, found a number",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["a",1]}]}"#,
                "Statement[0].Action[1]: expected a string, found a number",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"a","NotAction":"b"}]}"#,
                "both Action and NotAction",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","action":"a"}]}"#,
                "\"action\" must be spelled \"Action\"",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"a","Principal":5}]}"#,
                "Statement[0].Principal: expected \"*\"",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":"x"}}]}"#,
                "Statement[0].Condition.StringEquals: expected an object",
            ),
        ] {
            let err = Policy::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
