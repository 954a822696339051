//! What a range of a fanned-out backfill does between slices of its work: finish,
//! carry on, hand itself on to a fresh invocation before its time runs out, or
//! split off what it cannot finish in step with the other ranges.
//!
//! The plan gave each range about the same number of keys. A range that finds more
//! than its share left (its rest is estimated with the [`super::planner`]) cuts the
//! rest into pieces of one share each and starts all but the first as ranges of
//! their own, so every range still finishes about when the others do. Pure: the
//! range runner and the simulation both decide with these functions.

use std::time::Duration;

/// How eagerly ranges split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitPolicy {
    /// A rest this much over the range's share is split (0.1: 10%).
    pub tolerance: f64,
    /// No piece smaller than this many keys (a few listing pages).
    pub min_piece: u64,
    /// At most this many pieces from one split.
    pub max_pieces: usize,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy { tolerance: 0.10, min_piece: 20_000, max_pieces: 16 }
    }
}

/// Where a range stands when it looks ahead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlook {
    /// Keys the plan gave the range.
    pub expected: u64,
    /// Keys it has scanned so far.
    pub scanned: u64,
    /// Keys estimated to be left in it.
    pub remaining: f64,
}

/// Into how many pieces to cut the rest of a range: 1 keeps it whole.
pub fn pieces_for(outlook: Outlook, policy: &SplitPolicy) -> usize {
    let share = outlook.expected.saturating_sub(outlook.scanned).max(policy.min_piece) as f64;
    if outlook.remaining <= share * (1.0 + policy.tolerance) {
        return 1;
    }
    ((outlook.remaining / share).ceil() as usize).clamp(2, policy.max_pieces.max(2))
}

/// Shares of its plan at which a range looks ahead (estimates its rest).
pub const LOOKOUTS: [f64; 3] = [0.1, 0.5, 0.9];

/// True when scanning moved from `before` to `after` keys past one of the
/// [`LOOKOUTS`] of a range planned for `expected` keys: time to estimate the rest.
pub fn looks_ahead(expected: u64, before: u64, after: u64) -> bool {
    LOOKOUTS.iter().any(|share| {
        let mark = (expected as f64 * share) as u64;
        before < mark && after >= mark
    })
}

/// What a range does after a slice of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The range reached its end.
    Done,
    /// Another slice fits in this invocation.
    CarryOn,
    /// Not enough time for another slice: invoke the function again with this range
    /// (its checkpoint carries the progress) and end this invocation.
    HandOn,
}

/// The next step after a slice that took `slice`, with `left` of the invocation's time.
pub fn next_step(done: bool, left: Option<Duration>, slice: Duration) -> Next {
    match (done, left) {
        (true, _) => Next::Done,
        (false, Some(left)) if left < slice + slice / 2 => Next::HandOn,
        _ => Next::CarryOn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        what: &'static str,
        outlook: Outlook,
        want: usize,
    }

    #[test]
    fn a_range_splits_only_what_it_cannot_finish_with_the_others() {
        let policy = SplitPolicy { tolerance: 0.10, min_piece: 1000, max_pieces: 8 };
        let rows = [
            Row {
                what: "on plan",
                outlook: Outlook { expected: 100_000, scanned: 40_000, remaining: 60_000.0 },
                want: 1,
            },
            Row {
                what: "within the tolerance",
                outlook: Outlook { expected: 100_000, scanned: 40_000, remaining: 65_000.0 },
                want: 1,
            },
            Row {
                what: "twice its share left",
                outlook: Outlook { expected: 100_000, scanned: 40_000, remaining: 120_000.0 },
                want: 2,
            },
            Row {
                what: "far more than planned",
                outlook: Outlook { expected: 100_000, scanned: 50_000, remaining: 1_000_000.0 },
                want: 8,
            },
            Row {
                what: "past its share with a little left",
                outlook: Outlook { expected: 10_000, scanned: 12_000, remaining: 900.0 },
                want: 1,
            },
            Row {
                what: "past its share with much left: pieces of the smallest size",
                outlook: Outlook { expected: 10_000, scanned: 12_000, remaining: 3_500.0 },
                want: 4,
            },
            Row { what: "nothing left", outlook: Outlook { expected: 10, scanned: 10, remaining: 0.0 }, want: 1 },
        ];
        for row in rows {
            assert_eq!(pieces_for(row.outlook, &policy), row.want, "{}", row.what);
        }
    }

    #[test]
    fn a_range_looks_ahead_at_a_tenth_half_and_nine_tenths_of_its_share() {
        assert!(looks_ahead(1000, 0, 100));
        assert!(!looks_ahead(1000, 100, 499));
        assert!(looks_ahead(1000, 499, 500));
        assert!(looks_ahead(1000, 0, 1000), "one long slice past every mark");
        assert!(!looks_ahead(1000, 950, 5000), "past its share it is on its own");
    }

    #[test]
    fn a_range_hands_itself_on_before_its_time_runs_out() {
        let slice = Duration::from_secs(60);
        assert_eq!(next_step(true, Some(Duration::ZERO), slice), Next::Done);
        assert_eq!(next_step(false, Some(Duration::from_secs(600)), slice), Next::CarryOn);
        assert_eq!(next_step(false, Some(Duration::from_secs(80)), slice), Next::HandOn);
        assert_eq!(next_step(false, None, slice), Next::CarryOn, "no deadline (one-shot, the CLI)");
    }
}
