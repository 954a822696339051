//! One check's outcome: what was checked, how it came out and what to do about it.
//! Every other doctor module produces these; this one depends on none of them.

use std::fmt;

use crr::config::Rule;
use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something can go wrong or is wider than it should be.
    Warn,
    /// Replication will fail (or is misconfigured) until fixed.
    Fail,
    /// Not checked: not applicable, or an earlier check failed.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check: what was checked, how it came out, and for failures and warnings what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `probe-put`.
    pub name: &'static str,
    /// The rule checked; `None` for checks of the configuration and source.
    pub rule: Option<String>,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub(super) fn new(name: &'static str, rule: Option<&Rule>, status: Status, detail: impl Into<String>) -> Check {
        Check { name, rule: rule.map(|r| r.id.clone()), status, detail: detail.into(), fix: None }
    }
    pub(super) fn ok(name: &'static str, rule: Option<&Rule>, detail: impl Into<String>) -> Check {
        Check::new(name, rule, Status::Ok, detail)
    }
    pub(super) fn skip(name: &'static str, rule: Option<&Rule>, detail: impl Into<String>) -> Check {
        Check::new(name, rule, Status::Skip, detail)
    }
    pub(super) fn warn(
        name: &'static str,
        rule: Option<&Rule>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check { fix: Some(fix.into()), ..Check::new(name, rule, Status::Warn, detail) }
    }
    pub(super) fn fail(
        name: &'static str,
        rule: Option<&Rule>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check { fix: Some(fix.into()), ..Check::new(name, rule, Status::Fail, detail) }
    }
}

/// One line: `FAIL  [rule] name: detail. Fix: fix`.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4}  ", self.status.label())?;
        if let Some(rule) = &self.rule {
            write!(f, "[{rule}] ")?;
        }
        write!(f, "{}: {}", self.name, self.detail.trim_end_matches('.'))?;
        match (&self.fix, self.status) {
            (Some(fix), Status::Warn | Status::Fail) => write!(f, ". Fix: {fix}"),
            _ => Ok(()),
        }
    }
}

/// The same skip, for the same reason, of several checks of a rule.
pub(super) fn skipped(rule: &Rule, names: &[&'static str], why: &str) -> Vec<Check> {
    names.iter().map(|name| Check::skip(name, Some(rule), why)).collect()
}
