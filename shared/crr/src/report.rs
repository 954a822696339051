//! The JSON an invocation returns: counts, and one entry per record and rule. An
//! invocation with a failed record fails as a whole, naming every failed record, so
//! the platform's retry and dead-letter handling takes over.

use serde::Serialize;

use crate::config::Rule;
use crate::error::{BatchFailure, Error};
use crate::event::ObjectEvent;
use crate::outcome::{CopyOutcome, Decision, DeleteOutcome, Method};

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
    /// The destination holds newer content than the source (a newer version deleted
    /// for good at the source, or a two-way conflict the destination won): kept.
    pub kept_newer: usize,
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

    /// A delete that found the key back in the source: what making the replica match it did.
    pub(crate) fn copied_back(&mut self, copy: &CopyOutcome) {
        self.copy = Some(copy.decision);
        self.method = copy.method;
        self.bytes = copy.bytes;
    }

    /// True when the record's replica was written (content or metadata).
    pub(crate) fn copied(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Copy(d)) if d.wrote()) || self.copy.is_some_and(Decision::wrote)
    }
}

impl Report {
    /// The report, or an error naming every record that failed so the platform retries.
    pub(crate) fn finish(records: usize, results: Vec<RecordResult>) -> Result<Report, Error> {
        let report = Report::tally(records, results);
        if report.failed == 0 {
            return Ok(report);
        }
        Err(Error::Batch(batch_failure(&report)))
    }

    /// The counts of `results`, failed records included.
    pub(crate) fn tally(records: usize, mut results: Vec<RecordResult>) -> Report {
        use DeleteOutcome as D;
        results.sort_by_key(|r| r.index);
        let count = |f: &dyn Fn(&RecordResult) -> bool| results.iter().filter(|r| f(r)).count();
        Report {
            records,
            copied: count(&|r| r.copied()),
            deleted: count(&|r| {
                matches!(r.outcome, Some(Outcome::Delete(D::Deleted)) | Some(Outcome::Copy(Decision::DeleteReplica)))
            }),
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
                matches!(
                    r.outcome,
                    Some(Outcome::Delete(D::NotReplicated | D::VersionNotPropagated))
                        | Some(Outcome::Copy(Decision::VersionsDeleted))
                )
            }),
            left_alone: count(&|r| r.outcome == Some(Outcome::Delete(D::NotAReplica))),
            kept_newer: count(&|r| {
                matches!(r.outcome, Some(Outcome::Copy(d)) if d.kept_newer())
                    || r.copy.is_some_and(Decision::kept_newer)
            }),
            ignored: count(&|r| r.ignored.is_some()),
            failed: count(&|r| r.error.is_some()),
            bytes: results.iter().map(|r| r.bytes).sum(),
            results,
        }
    }
}

/// Why a batch with failed records fails, naming them.
fn batch_failure(report: &Report) -> BatchFailure {
    let failed: Vec<&RecordResult> = report.results.iter().filter(|r| r.error.is_some()).collect();
    let error_type = failed.first().and_then(|r| r.error_type.clone()).unwrap_or_else(|| "ReplicationFailed".into());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Fault;
    use crate::event::{Cloud, EventKind};
    use DeleteOutcome as D;

    fn record(index: usize) -> RecordResult {
        let ev = ObjectEvent {
            cloud: Cloud::S3,
            name: "ObjectCreated:Put".into(),
            kind: EventKind::Created,
            bucket: "crr-src".into(),
            key: format!("k{index}"),
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
            time: None,
        };
        RecordResult::new(index, &ev)
    }

    fn copy(index: usize, decision: Decision, bytes: u64) -> RecordResult {
        RecordResult { outcome: Some(Outcome::Copy(decision)), bytes, ..record(index) }
    }

    fn delete(index: usize, outcome: DeleteOutcome) -> RecordResult {
        RecordResult { outcome: Some(Outcome::Delete(outcome)), ..record(index) }
    }

    fn ignored(index: usize) -> RecordResult {
        record(index).ignored("no rule's prefixes match this key")
    }

    fn failed(index: usize, code: &str) -> RecordResult {
        let mut r = record(index);
        r.failed(&Error::Storage {
            op: "writing",
            bucket: "crr-dst".into(),
            key: format!("k{index}"),
            fault: Fault::Permanent,
            code: Some(code.into()),
            detail: format!("{code} happened"),
        });
        r
    }

    /// `[copied, deleted, unchanged, not_replicated, left_alone, ignored, failed, kept_newer]`.
    fn counts(r: &Report) -> [usize; 8] {
        [r.copied, r.deleted, r.unchanged, r.not_replicated, r.left_alone, r.ignored, r.failed, r.kept_newer]
    }

    #[test]
    fn every_outcome_is_counted_once_in_its_column() {
        let back_in_source = RecordResult { copy: Some(Decision::Copy), bytes: 5, ..delete(13, D::SourceExists) };
        let back_and_identical = RecordResult { copy: Some(Decision::Identical), ..delete(14, D::SourceExists) };
        let cases: Vec<(&str, Vec<RecordResult>, [usize; 8], u64)> = vec![
            ("nothing", vec![], [0, 0, 0, 0, 0, 0, 0, 0], 0),
            ("a copy", vec![copy(0, Decision::Copy, 10)], [1, 0, 0, 0, 0, 0, 0, 0], 10),
            (
                "a metadata update counts as copied",
                vec![copy(0, Decision::UpdateMetadata, 0)],
                [1, 0, 0, 0, 0, 0, 0, 0],
                0,
            ),
            (
                "every reason for nothing to do is unchanged",
                vec![
                    copy(0, Decision::Identical, 0),
                    copy(1, Decision::SourceGone, 0),
                    copy(2, Decision::SourceIsReplica, 0),
                    copy(3, Decision::SkippedKms, 0),
                    delete(4, D::ReplicaAbsent),
                ],
                [0, 0, 5, 0, 0, 0, 0, 0],
                0,
            ),
            (
                "deletes",
                vec![
                    delete(0, D::Deleted),
                    delete(1, D::NotReplicated),
                    delete(2, D::VersionNotPropagated),
                    delete(3, D::NotAReplica),
                ],
                [0, 1, 0, 2, 1, 0, 0, 0],
                0,
            ),
            (
                "a delete that found the key back in the source counts what the replica needed",
                vec![back_in_source, back_and_identical],
                [1, 0, 1, 0, 0, 0, 0, 0],
                5,
            ),
            ("ignored", vec![ignored(0), ignored(1)], [0, 0, 0, 0, 0, 2, 0, 0], 0),
            (
                "a stale copy that removed crr's replica counts as deleted; versions deleted for good are not replicated",
                vec![copy(0, Decision::DeleteReplica, 0), copy(1, Decision::VersionsDeleted, 0)],
                [0, 1, 0, 1, 0, 0, 0, 0],
                0,
            ),
            (
                "newer content kept in the destination is counted, never silent",
                vec![
                    copy(0, Decision::ReplicaNewer, 0),
                    copy(1, Decision::DestinationNewer, 0),
                    RecordResult { copy: Some(Decision::ReplicaNewer), ..delete(2, D::VersionNotPropagated) },
                ],
                [0, 0, 0, 1, 0, 0, 0, 3],
                0,
            ),
        ];
        for (what, results, want, bytes) in cases {
            let records = results.len();
            let report = Report::finish(records, results).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(counts(&report), want, "{what}");
            assert_eq!(report.bytes, bytes, "{what}");
            assert_eq!(report.records, records, "{what}");
        }
    }

    #[test]
    fn results_come_back_in_record_order() {
        let results = vec![copy(2, Decision::Copy, 1), ignored(0), copy(1, Decision::Identical, 0)];
        let report = Report::finish(3, results).unwrap();
        let order: Vec<usize> = report.results.iter().map(|r| r.index).collect();
        assert_eq!(order, [0, 1, 2]);
    }

    /// A batch with failures: the errorType and pieces its message has, and has not.
    type FailureCase = (&'static str, Vec<RecordResult>, &'static str, Vec<&'static str>, Vec<&'static str>);

    #[test]
    fn a_failed_record_fails_the_batch_naming_every_failure() {
        let cases: Vec<FailureCase> = vec![
            (
                "one failure among successes",
                vec![
                    copy(0, Decision::Copy, 7),
                    failed(1, "AccessDenied"),
                    copy(2, Decision::Identical, 0),
                    delete(3, D::Deleted),
                    ignored(4),
                ],
                "AccessDenied",
                vec![
                    "1 of 5 records failed (1 copied, 1 deleted, 1 unchanged); failed: ",
                    "[1] k1: writing crr-dst/k1: AccessDenied happened",
                ],
                vec!["k0", "k2", "k3", "k4", "more"],
            ),
            (
                "the first failure in record order names the type, every failure is listed",
                vec![failed(2, "SlowDown"), copy(0, Decision::Copy, 1), failed(1, "NoSuchBucket")],
                "NoSuchBucket",
                vec![
                    "2 of 3 records failed (1 copied, 0 deleted, 0 unchanged)",
                    "failed: [1] k1: writing crr-dst/k1: NoSuchBucket happened; [2] k2: writing crr-dst/k2: SlowDown happened",
                ],
                vec!["more"],
            ),
            (
                "a failure without a code is a storage error",
                vec![{
                    let mut r = record(0);
                    r.failed(&Error::Storage {
                        op: "reading",
                        bucket: "crr-src".into(),
                        key: "k0".into(),
                        fault: Fault::Transient,
                        code: None,
                        detail: "HTTP 500".into(),
                    });
                    r
                }],
                "TransientStorageError",
                vec!["1 of 1 records failed", "[0] k0: reading crr-src/k0: HTTP 500"],
                vec![],
            ),
        ];
        for (what, results, error_type, has, has_not) in cases {
            let records = results.len();
            let Err(Error::Batch(failure)) = Report::finish(records, results) else {
                panic!("{what}: not a batch failure")
            };
            assert_eq!(failure.error_type, error_type, "{what}");
            for piece in has {
                assert!(failure.message.contains(piece), "{what}: {:?} lacks {piece:?}", failure.message);
            }
            for piece in has_not {
                assert!(!failure.message.contains(piece), "{what}: {:?} has {piece:?}", failure.message);
            }
        }
    }

    #[test]
    fn a_long_list_of_failures_is_cut_after_twenty_and_says_how_many_more() {
        let mut results: Vec<RecordResult> = (0..25).map(|i| failed(i, "AccessDenied")).collect();
        results.push(copy(25, Decision::Copy, 3));
        let Err(Error::Batch(failure)) = Report::finish(26, results) else { panic!("not a batch failure") };
        let message = failure.message;
        assert!(
            message.starts_with("25 of 26 records failed (1 copied, 0 deleted, 0 unchanged); failed: [0] k0: "),
            "{message}"
        );
        assert!(message.contains("[19] k19: "), "{message}");
        assert!(!message.contains("[20] k20: "), "{message}");
        assert!(message.ends_with("; and 5 more (every record's outcome is in the function's log)"), "{message}");
        assert_eq!(message.matches("AccessDenied happened").count(), 20);
        assert_eq!(Error::Batch(BatchFailure { error_type: failure.error_type, message }).error_type(), "AccessDenied");
    }
}
