//! What a backfill pass does about one listing difference: the pure mapping from
//! [`Diff`] to [`Action`], decided by the request's mode, whether it writes, and
//! the rule. The pass carries the actions out ([`super::run`]).

use super::counters::Counters;
use super::march::Diff;
use super::request::Mode;
use crate::object::{Listed, ObjectState};

/// What the pass's request and rule allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Not a dry run, and not `verify`.
    pub writes: bool,
    /// Mirror mode on a rule whose deletes replicate.
    pub mirror_deletes: bool,
    /// Source objects modified before this (seconds since the epoch) are not
    /// copied: historical replication is off and `CRR_REPLICATE_SINCE` is set.
    pub since: Option<i64>,
    /// Keys whose listings agree are checked too (headers, metadata, tags).
    pub check_same: bool,
}

impl Policy {
    pub fn new(mode: Mode, dry_run: bool, mirror: bool, deletes_replicate: bool, since: Option<i64>) -> Self {
        let writes = !dry_run && mode != Mode::Verify;
        Policy { mode, writes, mirror_deletes: writes && mirror && deletes_replicate, since, check_same: false }
    }

    /// A deep pass: keys whose size and ETag agree are brought in line too.
    pub fn deep(mut self, deep: bool) -> Self {
        self.check_same = deep && self.writes;
        self
    }
}

/// What to do about one difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do: count it.
    Count(Counters),
    /// Bring the replica in line; `counted` is what the key counts before the copy.
    Copy { source: Listed, counted: Counters },
    /// Same size, different ETag: the replica may record the source's ETag; look.
    Compare { source: Listed },
    /// A destination-only object that mirror mode removes if crr wrote it for this source.
    MirrorDelete { key: String },
    /// Size and ETag agree; a deep pass brings headers, metadata and tags in line.
    Check { source: Listed },
}

pub fn action(diff: Diff, policy: &Policy) -> Action {
    let scanned = |f: fn(&mut Counters)| {
        let mut c = Counters { scanned: 1, ..Counters::default() };
        f(&mut c);
        c
    };
    match diff {
        Diff::Same(source) if policy.check_same => Action::Check { source },
        Diff::Same(_) => Action::Count(scanned(|c| c.identical += 1)),
        Diff::Missing(s) if policy.since.is_some_and(|t| s.modified.is_some_and(|m| m < t)) => {
            Action::Count(scanned(|_| {}))
        }
        Diff::Missing(source) => {
            let counted = scanned(|c| c.missing += 1);
            if policy.writes {
                Action::Copy { source, counted }
            } else {
                Action::Count(counted)
            }
        }
        Diff::Different { source, replica } if source.size == replica.size => Action::Compare { source },
        Diff::Different { source, .. } => {
            let counted = scanned(|c| c.different += 1);
            if policy.writes && policy.mode == Mode::Changed {
                Action::Copy { source, counted }
            } else {
                Action::Count(counted)
            }
        }
        Diff::Extra(d) if policy.mirror_deletes => Action::MirrorDelete { key: d.key },
        Diff::Extra(_) => Action::Count(Counters { extra: 1, ..Counters::default() }),
    }
}

/// A [`Action::Compare`] after a look at the replica: identical if it recorded the
/// source's ETag; missing if it is gone since the listing (copied whenever the pass
/// writes, as any missing key); different otherwise (copied in `changed` mode).
/// Always a `Count` or a `Copy`.
pub fn compared(source: Listed, replica: Option<&ObjectState>, policy: &Policy) -> Action {
    let counted = |f: fn(&mut Counters)| {
        let mut c = Counters { scanned: 1, ..Counters::default() };
        f(&mut c);
        c
    };
    match replica {
        Some(r) if r.source_etag.as_deref() == Some(source.etag.as_str()) => {
            Action::Count(counted(|c| c.identical += 1))
        }
        None if policy.writes => Action::Copy { source, counted: counted(|c| c.missing += 1) },
        None => Action::Count(counted(|c| c.missing += 1)),
        Some(_) if policy.writes && policy.mode == Mode::Changed => {
            Action::Copy { source, counted: counted(|c| c.different += 1) }
        }
        Some(_) => Action::Count(counted(|c| c.different += 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(key: &str, size: u64, etag: &str, modified: Option<i64>) -> Listed {
        Listed { key: key.into(), size, etag: etag.into(), modified }
    }

    fn counted(f: fn(&mut Counters)) -> Counters {
        let mut c = Counters::default();
        f(&mut c);
        c
    }

    struct Row {
        what: &'static str,
        diff: Diff,
        policy: Policy,
        want: Action,
    }

    #[test]
    fn differences_become_actions() {
        let a = l("a", 1, "x", Some(100));
        let a_other = l("a", 1, "y", Some(100));
        let a_longer = l("a", 2, "y", Some(100));
        let missing = Policy::new(Mode::Missing, false, false, false, None);
        let changed = Policy::new(Mode::Changed, false, false, false, None);
        let verify = Policy::new(Mode::Verify, false, true, true, None);
        let dry = Policy::new(Mode::Changed, true, true, true, None);
        let mirror = Policy::new(Mode::Missing, false, true, true, None);
        let mirror_put_rule = Policy::new(Mode::Missing, false, true, false, None);
        let since = Policy::new(Mode::Missing, false, false, false, Some(200));
        let rows = [
            Row {
                what: "identical",
                diff: Diff::Same(a.clone()),
                policy: missing,
                want: Action::Count(counted(|c| {
                    c.scanned = 1;
                    c.identical = 1
                })),
            },
            Row {
                what: "missing is copied",
                diff: Diff::Missing(a.clone()),
                policy: missing,
                want: Action::Copy {
                    source: a.clone(),
                    counted: counted(|c| {
                        c.scanned = 1;
                        c.missing = 1
                    }),
                },
            },
            Row {
                what: "missing in verify mode is only counted",
                diff: Diff::Missing(a.clone()),
                policy: verify,
                want: Action::Count(counted(|c| {
                    c.scanned = 1;
                    c.missing = 1
                })),
            },
            Row {
                what: "missing in a dry run is only counted",
                diff: Diff::Missing(a.clone()),
                policy: dry,
                want: Action::Count(counted(|c| {
                    c.scanned = 1;
                    c.missing = 1
                })),
            },
            Row {
                what: "older than CRR_REPLICATE_SINCE is left alone",
                diff: Diff::Missing(a.clone()),
                policy: since,
                want: Action::Count(counted(|c| c.scanned = 1)),
            },
            Row {
                what: "same size, other ETag: look at the replica's recorded source ETag",
                diff: Diff::Different { source: a.clone(), replica: a_other.clone() },
                policy: missing,
                want: Action::Compare { source: a.clone() },
            },
            Row {
                what: "other size in missing mode is counted, not overwritten",
                diff: Diff::Different { source: a_longer.clone(), replica: a.clone() },
                policy: missing,
                want: Action::Count(counted(|c| {
                    c.scanned = 1;
                    c.different = 1
                })),
            },
            Row {
                what: "other size in changed mode is copied",
                diff: Diff::Different { source: a_longer.clone(), replica: a.clone() },
                policy: changed,
                want: Action::Copy {
                    source: a_longer.clone(),
                    counted: counted(|c| {
                        c.scanned = 1;
                        c.different = 1
                    }),
                },
            },
            Row {
                what: "extra is counted",
                diff: Diff::Extra(a.clone()),
                policy: missing,
                want: Action::Count(counted(|c| c.extra = 1)),
            },
            Row {
                what: "extra in mirror mode is a delete candidate",
                diff: Diff::Extra(a.clone()),
                policy: mirror,
                want: Action::MirrorDelete { key: "a".into() },
            },
            Row {
                what: "mirror on a rule whose deletes do not replicate only counts",
                diff: Diff::Extra(a.clone()),
                policy: mirror_put_rule,
                want: Action::Count(counted(|c| c.extra = 1)),
            },
            Row {
                what: "identical listings are checked in a deep pass",
                diff: Diff::Same(a.clone()),
                policy: missing.deep(true),
                want: Action::Check { source: a.clone() },
            },
            Row {
                what: "a deep dry run only counts",
                diff: Diff::Same(a.clone()),
                policy: dry.deep(true),
                want: Action::Count(counted(|c| {
                    c.scanned = 1;
                    c.identical = 1
                })),
            },
            Row {
                what: "mirror in a dry run only counts",
                diff: Diff::Extra(a.clone()),
                policy: dry,
                want: Action::Count(counted(|c| c.extra = 1)),
            },
        ];
        for row in rows {
            assert_eq!(action(row.diff, &row.policy), row.want, "{}", row.what);
        }
    }

    #[test]
    fn a_compared_replica_is_identical_missing_or_different() {
        let a = l("a", 1, "x", Some(100));
        let recorded = ObjectState { source_etag: Some("x".into()), ..ObjectState::default() };
        let other = ObjectState { source_etag: Some("y".into()), ..ObjectState::default() };
        let missing = Policy::new(Mode::Missing, false, false, false, None);
        let changed = Policy::new(Mode::Changed, false, false, false, None);
        let verify = Policy::new(Mode::Verify, false, false, false, None);
        let scanned = |f: fn(&mut Counters)| {
            let mut c = counted(|c| c.scanned = 1);
            f(&mut c);
            c
        };
        let rows = [
            (
                "the replica recorded the source's ETag",
                Some(&recorded),
                missing,
                Action::Count(scanned(|c| c.identical = 1)),
            ),
            (
                "deleted since the listing: copied in missing mode too",
                None,
                missing,
                Action::Copy { source: a.clone(), counted: scanned(|c| c.missing = 1) },
            ),
            (
                "deleted since the listing, verify mode: counted",
                None,
                verify,
                Action::Count(scanned(|c| c.missing = 1)),
            ),
            ("different, missing mode: counted", Some(&other), missing, Action::Count(scanned(|c| c.different = 1))),
            (
                "different, changed mode: copied",
                Some(&other),
                changed,
                Action::Copy { source: a.clone(), counted: scanned(|c| c.different = 1) },
            ),
        ];
        for (what, replica, policy, want) in rows {
            assert_eq!(compared(a.clone(), replica, &policy), want, "{what}");
        }
    }
}
