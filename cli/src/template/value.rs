//! Reading YAML values, with errors that name their place in the template (a path
//! such as `Resources.crr.object-created.Properties.Timeout`) and what to do.

use serde_yaml::{Mapping, Value};

/// A template problem: what is wrong, where (a path such as
/// `Resources.crr.object-created.Properties.Timeout`) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub(super) String);

impl TemplateError {
    pub(super) fn at(path: &str, message: impl std::fmt::Display) -> Self {
        TemplateError(format!("{path}: {message}"))
    }
}

pub(super) type Result<T> = std::result::Result<T, TemplateError>;

pub(super) fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(Value::String(key.to_owned()))
}

pub(super) fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(super) fn key_str<'a>(k: &'a Value, path: &str) -> Result<&'a str> {
    k.as_str().ok_or_else(|| TemplateError::at(path, format!("key {k:?} is not a string")))
}

/// A scalar as the text ROS would see.
pub(super) fn scalar(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        Value::Tagged(_) => Err(TemplateError::at(path, "an intrinsic function where a plain value is expected")),
        Value::Sequence(_) | Value::Mapping(_) => {
            Err(TemplateError::at(path, "expected a single value, found a list or mapping"))
        }
    }
}
