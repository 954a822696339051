//! The seam between the function runtime and the domain, shared by the three
//! functions: the runtime's context becomes the domain's [`crr::Invocation`],
//! and the domain's errors become the runtime's typed errors. The domain crate
//! knows no runtime; each function's `main` wires the two with this.

use std::sync::Arc;

use crr::{Invocation, Replicator};

/// What the domain needs of the runtime's context.
pub fn invocation(context: &fc_runtime::Context) -> Invocation {
    Invocation {
        request_id: context.request_id.clone(),
        function_name: context.function_name.clone(),
        deadline: context.deadline,
        credentials: context.credentials.as_ref().map(|c| {
            let key = crr_sign::AccessKey::new(c.access_key_id.clone(), c.access_key_secret.expose());
            match &c.security_token {
                Some(token) => key.with_security_token(token.expose()),
                None => key,
            }
        }),
    }
}

/// The form the runtime reports: `errorType` is [`crr::Error::error_type`].
pub fn function_error(e: crr::Error) -> fc_runtime::Error {
    Box::new(fc_runtime::TypedError::new(e.error_type(), e.to_string()))
}

/// The shared state from the environment, built once per instance by the initializer.
pub fn replicator() -> Result<Arc<Replicator>, fc_runtime::Error> {
    Replicator::from_env().map(Arc::new).map_err(function_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_typed_function_errors() {
        let e = crr::Error::Storage {
            op: "writing",
            bucket: "crr-dst".into(),
            key: "a/b".into(),
            fault: crr::error::Fault::Permanent,
            code: Some("AccessDenied".into()),
            detail: "Access Denied".into(),
        };
        let boxed = function_error(e);
        let d = fc_runtime::Diagnostic::from_error(&boxed);
        assert_eq!(d.error_type, "AccessDenied");
        assert_eq!(d.error_message, "writing crr-dst/a/b: Access Denied");
    }

    #[test]
    fn the_invocation_carries_the_platform_credentials_without_showing_them() {
        let mut context = fc_runtime::Context::new("req-7");
        context.function_name = Some("object-created".into());
        context.credentials = Some(fc_runtime::Credentials {
            access_key_id: "STS.id".into(),
            access_key_secret: fc_runtime::Secret::new("the-secret"),
            security_token: Some(fc_runtime::Secret::new("the-token")),
        });
        let invocation = invocation(&context);
        assert_eq!(invocation.session_name(), "crr-object-created-req-7");
        let key = invocation.credentials.as_ref().unwrap();
        assert_eq!((key.id(), key.secret(), key.security_token()), ("STS.id", "the-secret", Some("the-token")));
        let shown = format!("{invocation:?}");
        assert!(!shown.contains("the-secret") && !shown.contains("the-token"), "{shown}");
    }
}
