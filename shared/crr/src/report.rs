//! The JSON an invocation returns: counts, and one entry per record and rule. An
//! invocation with a failed record fails as a whole, naming every failed record, so
//! the platform's retry and dead-letter handling takes over.

use serde::Serialize;

use crate::config::Rule;
use crate::copy::Method;
use crate::decide::Decision;
use crate::delete::DeleteOutcome;
use crate::error::Error;
use crate::event::ObjectEvent;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub records: usize,
    pub copied: usize,
    pub deleted: usize,
    /// Nothing to do: the replica was already right, or the event was stale.
    pub unchanged: usize,
    /// Deletes not replicated by design: rule action `PUT`, or a version-specific delete.
    pub not_replicated: usize,
    /// Destination objects crr did not write, left in place.
    pub left_alone: usize,
    pub ignored: usize,
    pub failed: usize,
    pub bytes: u64,
    pub results: Vec<RecordResult>,
}

/// What happened to one record for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Copy(Decision),
    Delete(DeleteOutcome),
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordResult {
    pub index: usize,
    pub event: String,
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// For a delete that found the object back in the source: what the replica needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub bytes: u64,
    pub ms: u64,
    /// From the event's time to the verified replica, for copies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RecordResult {
    pub(crate) fn new(index: usize, ev: &ObjectEvent) -> Self {
        RecordResult {
            index,
            event: ev.name.clone(),
            bucket: ev.bucket.clone(),
            key: ev.key.clone(),
            rule: None,
            destination: None,
            outcome: None,
            copy: None,
            method: None,
            ignored: None,
            bytes: 0,
            ms: 0,
            lag_ms: None,
            error_type: None,
            error: None,
        }
    }

    pub(crate) fn ignored(mut self, why: &str) -> Self {
        self.ignored = Some(why.to_owned());
        self
    }

    pub(crate) fn for_rule(mut self, rule: &Rule) -> Self {
        self.rule = Some(rule.id.clone());
        self.destination = Some(rule.destination.name.clone());
        self
    }

    pub(crate) fn failed(&mut self, e: &Error) {
        self.error_type = Some(e.error_type());
        self.error = Some(e.to_string());
    }

    fn copied(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Copy(Decision::Copy | Decision::UpdateMetadata)))
            || matches!(self.copy, Some(Decision::Copy | Decision::UpdateMetadata))
    }
}

impl Report {
    /// The report, or an error naming every record that failed so the platform retries.
    pub(crate) fn finish(records: usize, mut results: Vec<RecordResult>) -> Result<Report, Error> {
        use DeleteOutcome as D;
        results.sort_by_key(|r| r.index);
        let count = |f: &dyn Fn(&RecordResult) -> bool| results.iter().filter(|r| f(r)).count();
        let report = Report {
            records,
            copied: count(&|r| r.copied()),
            deleted: count(&|r| r.outcome == Some(Outcome::Delete(D::Deleted))),
            unchanged: count(&|r| {
                !r.copied()
                    && matches!(
                        r.outcome,
                        Some(Outcome::Copy(
                            Decision::Identical
                                | Decision::SourceGone
                                | Decision::SourceIsReplica
                                | Decision::SkippedKms
                        )) | Some(Outcome::Delete(D::ReplicaAbsent | D::SourceExists))
                    )
            }),
            not_replicated: count(&|r| {
                matches!(r.outcome, Some(Outcome::Delete(D::NotReplicated | D::VersionNotPropagated)))
            }),
            left_alone: count(&|r| r.outcome == Some(Outcome::Delete(D::NotAReplica))),
            ignored: count(&|r| r.ignored.is_some()),
            failed: count(&|r| r.error.is_some()),
            bytes: results.iter().map(|r| r.bytes).sum(),
            results,
        };
        if report.failed == 0 {
            return Ok(report);
        }
        Err(Error::Batch(BatchFailure::from_report(&report)))
    }
}

/// Some records of a batch failed; the message lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    pub error_type: String,
    pub message: String,
}

impl BatchFailure {
    fn from_report(report: &Report) -> Self {
        let failed: Vec<&RecordResult> = report.results.iter().filter(|r| r.error.is_some()).collect();
        let error_type =
            failed.first().and_then(|r| r.error_type.clone()).unwrap_or_else(|| "ReplicationFailed".into());
        const SHOWN: usize = 20;
        let mut list: Vec<String> = failed
            .iter()
            .take(SHOWN)
            .map(|r| format!("[{}] {}: {}", r.index, r.key, r.error.as_deref().unwrap_or("")))
            .collect();
        if failed.len() > SHOWN {
            list.push(format!("and {} more (every record's outcome is in the function's log)", failed.len() - SHOWN));
        }
        BatchFailure {
            error_type,
            message: format!(
                "{} of {} records failed ({} copied, {} deleted, {} unchanged); failed: {}",
                failed.len(),
                report.records,
                report.copied,
                report.deleted,
                report.unchanged,
                list.join("; ")
            ),
        }
    }
}

impl std::fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
