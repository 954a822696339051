//! How failures are reported to the platform: a type and a message, as JSON.

use std::any::Any;
use std::fmt;

use serde::Serialize;

use crate::Error;

/// The error body every mode reports: `{"errorType": "...", "errorMessage": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    pub error_type: String,
    pub error_message: String,
}

impl Diagnostic {
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Diagnostic { error_type: error_type.into(), error_message: error_message.into() }
    }

    /// Describes a handler error: its [`TypedError`] type if it has one, and the
    /// whole `source()` chain as the message.
    pub fn from_error(err: &Error) -> Self {
        let error_type = err
            .downcast_ref::<TypedError>()
            .map(|t| t.error_type.clone())
            .unwrap_or_else(|| "FunctionError".to_owned());
        Diagnostic::new(error_type, error_chain(err.as_ref()))
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "the handler panicked".to_owned()
        };
        Diagnostic::new("Panic", format!("the handler panicked: {message}"))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{\"errorType\":\"Unknown\"}".to_vec())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// An error that names its own type for the platform's error report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedError {
    pub error_type: String,
    pub message: String,
}

impl TypedError {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        TypedError { error_type: error_type.into(), message: message.into() }
    }
}

impl fmt::Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypedError {}

/// `outer: inner: innermost`, skipping a source whose text the outer one already ends with.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_keep_their_type() {
        let err: Error = Box::new(TypedError::new("AccessDenied", "no write on crr-dst"));
        let d = Diagnostic::from_error(&err);
        assert_eq!(d.error_type, "AccessDenied");
        assert_eq!(d.error_message, "no write on crr-dst");
        let json: serde_json::Value = serde_json::from_slice(&d.to_json()).unwrap();
        assert_eq!(json["errorType"], "AccessDenied");
    }

    #[test]
    fn messages_include_the_source_chain() {
        let inner = std::io::Error::other("connection reset");
        let err: Error = Box::new(std::io::Error::other(Wrapper(inner)));
        let d = Diagnostic::from_error(&err);
        assert_eq!(d.error_type, "FunctionError");
        assert!(d.error_message.contains("copying a/b"), "{}", d.error_message);
        assert!(d.error_message.contains("connection reset"), "{}", d.error_message);
    }

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("copying a/b")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
