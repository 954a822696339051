//! The seam between the function runtime and the domain, shared by the three
//! functions: the runtime's context becomes the domain's [`crr::Invocation`],
//! the domain's errors become the runtime's typed errors, and every invocation
//! ends with its metrics line (docs/METRICS.md). The domain crate knows no
//! runtime; each function's `main` wires the two with this.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use crr::invocation::Platform;
use crr::metrics::InvocationMetrics;
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
        platform: match context.platform {
            fc_runtime::Platform::FunctionCompute => Platform::FunctionCompute,
            fc_runtime::Platform::Lambda => Platform::Lambda,
            fc_runtime::Platform::Local => Platform::Local,
        },
    }
}

/// Ends an invocation of `function` that started at `started`: logs its metrics
/// line, then hands the result to the runtime.
pub fn finish<T>(
    function: &str,
    replicator: &Replicator,
    invocation: &Invocation,
    started: Instant,
    result: Result<T, crr::Error>,
) -> Result<T, fc_runtime::Error> {
    let metrics = metrics(function, replicator, invocation, started, result.as_ref().err());
    log_metrics(invocation.platform, &metrics.line());
    result.map_err(function_error)
}

/// The invocation's figures as the handler left them; an invocation that failed
/// before counting anything (a bad event, a stranger's bucket) counts one failure.
pub fn metrics(
    function: &str,
    replicator: &Replicator,
    invocation: &Invocation,
    started: Instant,
    error: Option<&crr::Error>,
) -> InvocationMetrics {
    let mut m = replicator
        .take_metrics(&invocation.request_id)
        .unwrap_or_else(|| InvocationMetrics::new(function, &invocation.request_id, invocation.platform));
    m.timestamp = crr::clock::now_millis();
    m.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(e) = error {
        if m.failures == 0 {
            m.failed(&e.error_type());
        } else {
            m.error_type = Some(e.error_type());
        }
    }
    m
}

/// One whole line where the platform's log collector takes metrics from: stdout on
/// Function Compute and Lambda; stderr locally, where stdout carries the one-shot result.
fn log_metrics(platform: Platform, line: &str) {
    let mut out: Box<dyn Write> = match platform {
        Platform::FunctionCompute | Platform::Lambda => Box::new(std::io::stdout().lock()),
        Platform::Local => Box::new(std::io::stderr().lock()),
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
    fn the_platform_comes_from_the_run_mode() {
        let mut context = fc_runtime::Context::new("req-1");
        assert_eq!(invocation(&context).platform, Platform::Local);
        context.platform = fc_runtime::Platform::Lambda;
        assert_eq!(invocation(&context).platform, Platform::Lambda);
        context.platform = fc_runtime::Platform::FunctionCompute;
        assert_eq!(invocation(&context).platform, Platform::FunctionCompute);
    }

    #[test]
    fn an_invocation_that_failed_before_counting_counts_one_failure() {
        let config = crr::Config::from_settings(
            &[
                ("CRR_SOURCE_BUCKET", "crr-src"),
                ("CRR_DEST_BUCKET", "crr-dst"),
                ("CRR_ROLE_ARN", "arn:aws:iam::222222222222:role/crr-replicator"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::HashMap<_, _>>(),
        )
        .unwrap();
        let replicator = Replicator::new(config);
        let mut context = fc_runtime::Context::new("req-9");
        context.platform = fc_runtime::Platform::FunctionCompute;
        let inv = invocation(&context);
        let e = crr::Error::UnknownBucket { bucket: "other".into(), configured: "crr-src".into() };
        let m = metrics("object-created", &replicator, &inv, Instant::now(), Some(&e));
        assert_eq!((m.function.as_str(), m.platform, m.failures), ("object-created", "fc", 1));
        assert_eq!(m.error_type.as_deref(), Some("UnknownBucket"));
        let ok = metrics("object-created", &replicator, &inv, Instant::now(), None);
        assert_eq!((ok.failures, ok.error_type), (0, None));
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
