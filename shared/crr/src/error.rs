//! Errors that say what was being done, to which bucket and key, and what to do
//! about it. None of them ever carries a secret.

use crate::config::ConfigError;
use crate::event::EventError;

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 5xx, throttling, resets, timeouts.
    Transient,
    /// Access denied, missing bucket, invalid request: retrying will not help.
    Permanent,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("invalid event: {0}")]
    Event(#[from] EventError),

    #[error(
        "refusing an event for bucket {bucket:?}: no replication rule names it (this function replicates {configured:?}); \
         check the trigger's source bucket or CRR_SOURCE_BUCKET"
    )]
    UnknownBucket { bucket: String, configured: String },

    #[error("no rule {rule:?}; the configured rules are {configured:?}")]
    UnknownRule { rule: String, configured: Vec<String> },

    #[error("getting the function's own credentials: {0}")]
    Credentials(String),

    #[error("assuming role {role}: {detail}")]
    AssumeRole { role: String, fault: Fault, code: Option<String>, detail: String },

    #[error("{op} {bucket}/{key}: {detail}")]
    Storage { op: &'static str, bucket: String, key: String, fault: Fault, code: Option<String>, detail: String },

    #[error("replica {bucket}/{key} does not match its source: {detail}; the replica was not accepted")]
    Verify { bucket: String, key: String, detail: String },

    /// An archived source object whose bytes cannot be read until it is restored.
    /// Permanent: retrying does not restore it.
    #[error(
        "cannot replicate {bucket}/{key}: it is in storage class {storage_class} and {}",
        if *in_progress {
            "its restore has not finished yet; once it has, run a backfill (crr backfill) or write the object again to replicate it"
        } else {
            "must be restored before it can be read: restore it (OSS RestoreObject, e.g. `ossutil restore`; S3 RestoreObject), \
             then run a backfill (crr backfill); or exclude it from the rule's prefixes"
        }
    )]
    NeedsRestore { bucket: String, key: String, storage_class: String, in_progress: bool },

    #[error("{0}")]
    Batch(BatchFailure),
}

impl Error {
    /// A storage call's failure: what was done to which object, and what the service said.
    pub fn storage(op: &'static str, bucket: &str, key: &str, f: Failure) -> Error {
        Error::Storage {
            op,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            fault: f.fault,
            code: f.code,
            detail: f.message,
        }
    }

    pub fn fault(&self) -> Fault {
        match self {
            Error::AssumeRole { fault, .. } | Error::Storage { fault, .. } => *fault,
            Error::Verify { .. } | Error::Credentials(_) => Fault::Transient,
            _ => Fault::Permanent,
        }
    }

    /// A short, stable name for error reports: the service's error code when there is one.
    pub fn error_type(&self) -> String {
        match self {
            Error::Config(_) => "InvalidConfig".into(),
            Error::Event(_) => "InvalidEvent".into(),
            Error::UnknownBucket { .. } => "UnknownBucket".into(),
            Error::UnknownRule { .. } => "UnknownRule".into(),
            Error::Credentials(_) => "NoCredentials".into(),
            Error::AssumeRole { code, .. } => code.clone().unwrap_or_else(|| "AssumeRoleFailed".into()),
            Error::Storage { code, fault, .. } => code.clone().unwrap_or_else(|| match fault {
                Fault::Transient => "TransientStorageError".into(),
                Fault::Permanent => "StorageError".into(),
            }),
            Error::Verify { .. } => "ReplicaMismatch".into(),
            Error::NeedsRestore { .. } => "ObjectNeedsRestore".into(),
            Error::Batch(b) => b.error_type.clone(),
        }
    }
}

/// A storage service's answer to one request, reduced to what callers decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub fault: Fault,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
}

impl Failure {
    /// From an error answer: its HTTP status and, when the body said, code and message.
    pub fn from_answer(status: u16, code: Option<&str>, message: Option<&str>) -> Self {
        let code = code.map(str::to_owned).or_else(|| match status {
            404 => Some("NotFound".to_owned()),
            403 => Some("AccessDenied".to_owned()),
            _ => None,
        });
        let message = message.map(str::to_owned).unwrap_or_else(|| format!("HTTP {status}"));
        Failure { fault: classify(status, code.as_deref()), status: Some(status), code, message }
    }

    /// A missing object (or version). A missing bucket is not one: see [`Failure::is_missing_bucket`].
    pub fn is_not_found(&self) -> bool {
        !self.is_missing_bucket()
            && (self.status == Some(404)
                || matches!(self.code.as_deref(), Some("NoSuchKey" | "NotFound" | "NoSuchVersion")))
    }

    pub fn is_missing_bucket(&self) -> bool {
        self.code.as_deref() == Some("NoSuchBucket")
    }

    /// A conditional write or delete found the object in another state than it
    /// required: another writer got there first.
    pub fn is_precondition_failed(&self) -> bool {
        self.status == Some(412)
            || matches!(self.code.as_deref(), Some("PreconditionFailed" | "ConditionalRequestConflict"))
    }

    /// A refusal for want of permission. (S3 and OSS also answer 403 for an archived
    /// object that is not restored, which no permission fixes.)
    pub fn is_access_denied(&self) -> bool {
        self.code.as_deref() == Some("AccessDenied") || (self.status == Some(403) && !self.needs_restore())
    }

    /// The object is archived and must be restored before it can be read.
    pub fn needs_restore(&self) -> bool {
        self.code.as_deref() == Some("InvalidObjectState")
    }
}

fn classify(status: u16, code: Option<&str>) -> Fault {
    let throttled = matches!(
        code,
        Some(
            "SlowDown"
                | "Throttling"
                | "ThrottlingException"
                | "RequestTimeout"
                | "InternalError"
                | "ServiceUnavailable"
                | "RequestLimitExceeded"
                | "TooManyRequests"
        )
    );
    if status >= 500 || status == 429 || status == 408 || throttled {
        Fault::Transient
    } else {
        Fault::Permanent
    }
}

/// Some records of a batch failed; the message lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    pub error_type: String,
    pub message: String,
}

impl std::fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The error and its sources in one line.
pub fn source_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
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
    fn archived_objects_are_a_permanent_error_that_names_the_fix() {
        let e = Error::NeedsRestore {
            bucket: "src".into(),
            key: "cold/a.bin".into(),
            storage_class: "Archive".into(),
            in_progress: false,
        };
        assert_eq!(e.fault(), Fault::Permanent, "retrying does not restore it");
        assert_eq!(e.error_type(), "ObjectNeedsRestore");
        let text = e.to_string();
        assert!(text.starts_with("cannot replicate src/cold/a.bin: it is in storage class Archive"), "{text}");
        assert!(text.contains("RestoreObject") && text.contains("crr backfill"), "{text}");
        let archived = Failure::from_answer(403, Some("InvalidObjectState"), Some("not restored"));
        assert!(archived.needs_restore() && !archived.is_access_denied(), "no permission fixes an archive");
        assert!(Failure::from_answer(403, None, None).is_access_denied());
    }

    #[test]
    fn transient_and_permanent_faults() {
        assert_eq!(classify(503, None), Fault::Transient);
        assert_eq!(classify(500, Some("InternalError")), Fault::Transient);
        assert_eq!(classify(400, Some("RequestTimeout")), Fault::Transient);
        assert_eq!(classify(429, None), Fault::Transient);
        assert_eq!(classify(403, Some("AccessDenied")), Fault::Permanent);
        assert_eq!(classify(404, Some("NoSuchBucket")), Fault::Permanent);
    }
}
