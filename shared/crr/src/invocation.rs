//! What the domain needs to know about one invocation, whoever hosts it: Function
//! Compute, Lambda, the one-shot command line or the operator's `crr` tool. The
//! hosting turns its own context into this value, so nothing here knows a runtime.

use std::time::Instant;

use crr_sign::AccessKey;

/// Who delivered the invocation: decides the form of the metrics line
/// ([`crate::metrics`]): CloudWatch Embedded Metric Format on Lambda, a flat JSON
/// line for Log Service on Function Compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Platform {
    FunctionCompute,
    Lambda,
    /// The one-shot command line, the operator's tool, tests.
    #[default]
    Local,
}

/// One invocation: who asked, by when it must answer, and the platform's
/// temporary credentials for the function's own identity, if it passed any.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// Names the role sessions this invocation opens (`crr-<function>-<request>`).
    pub function_name: Option<String>,
    /// When the platform stops waiting; work stops cleanly before it.
    pub deadline: Option<Instant>,
    /// The function's own identity as the platform passed it; `Debug` hides the secret.
    pub credentials: Option<AccessKey>,
    pub platform: Platform,
}

impl Invocation {
    /// An invocation with only a request id: no deadline, no platform credentials.
    pub fn new(request_id: impl Into<String>) -> Self {
        Invocation {
            request_id: request_id.into(),
            function_name: None,
            deadline: None,
            credentials: None,
            platform: Platform::Local,
        }
    }

    /// The STS session name for role credentials this invocation fetches.
    pub fn session_name(&self) -> String {
        format!("crr-{}-{}", self.function_name.as_deref().unwrap_or("fn"), self.request_id)
    }
}
