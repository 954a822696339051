//! A lag histogram that instances can add together. Percentiles of percentiles
//! are meaningless, so each function instance keeps counts per lag bin and
//! readers merge the bins of every instance before asking for p50 or p99.
//!
//! Bins are log-linear (8 per power of two, as HdrHistogram with one significant
//! digit): lags below 16 ms have a bin each, above that a bin spans at most 1/8 of
//! its lower bound, so a percentile read from the bins is at most 12.5 % high. A
//! percentile is the upper bound of its bin, never more than the largest lag seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Counts of lags (milliseconds) per bin, with their exact maximum and sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LagHistogram {
    /// Bin index → how many lags fell into it.
    bins: BTreeMap<u32, u64>,
    max_ms: u64,
    sum_ms: u64,
}

/// Values below this have a bin of their own.
const EXACT: u64 = 16;
/// Bins per power of two above [`EXACT`].
const SUB_BINS: u64 = 8;

/// The bin a lag falls into.
fn bin_of(ms: u64) -> u32 {
    if ms < EXACT {
        return ms as u32;
    }
    let exponent = 63 - ms.leading_zeros() as u64; // floor(log2 ms), at least 4
    let sub = (ms >> (exponent - 3)) & (SUB_BINS - 1);
    (EXACT + (exponent - 4) * SUB_BINS + sub) as u32
}

/// The largest lag in bin `bin`.
fn upper_bound(bin: u32) -> u64 {
    let bin = bin as u64;
    if bin < EXACT {
        return bin;
    }
    let exponent = (bin - EXACT) / SUB_BINS + 4;
    let sub = (bin - EXACT) % SUB_BINS;
    let width = 1u64 << (exponent - 3);
    (SUB_BINS + sub) * width + width - 1
}

impl LagHistogram {
    pub fn record(&mut self, ms: u64) {
        *self.bins.entry(bin_of(ms)).or_default() += 1;
        self.max_ms = self.max_ms.max(ms);
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    /// Adds another instance's counts to these.
    pub fn merge(&mut self, other: &LagHistogram) {
        for (bin, n) in &other.bins {
            *self.bins.entry(*bin).or_default() += n;
        }
        self.max_ms = self.max_ms.max(other.max_ms);
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    pub fn count(&self) -> u64 {
        self.bins.values().sum()
    }

    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// The `q` quantile (0..=1) by nearest rank: the upper bound of the bin holding
    /// that rank, capped at the largest lag seen; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (bin, n) in &self.bins {
            seen += n;
            if seen >= rank {
                return upper_bound(*bin).min(self.max_ms);
            }
        }
        self.max_ms
    }
}

/// The stored form: `{"count", "sumMs", "maxMs", "bins": [[upper bound ms, count], ...]}`,
/// readable without knowing the bin layout.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    count: u64,
    sum_ms: u64,
    max_ms: u64,
    bins: Vec<(u64, u64)>,
}

impl Serialize for LagHistogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            count: self.count(),
            sum_ms: self.sum_ms,
            max_ms: self.max_ms,
            bins: self.bins.iter().map(|(bin, n)| (upper_bound(*bin), *n)).collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LagHistogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        let mut bins = BTreeMap::new();
        for (upper, n) in wire.bins {
            *bins.entry(bin_of(upper)).or_default() += n;
        }
        Ok(LagHistogram { bins, max_ms: wire.max_ms, sum_ms: wire.sum_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lag_falls_in_a_bin_that_holds_it_and_bins_are_narrow() {
        let mut previous_upper = None;
        for bin in 0..200u32 {
            let upper = upper_bound(bin);
            assert_eq!(bin_of(upper), bin, "the upper bound of bin {bin} ({upper}) lies in it");
            let lower = previous_upper.map_or(0, |u: u64| u + 1);
            assert_eq!(bin_of(lower), bin, "bins are contiguous at {lower}");
            assert!((upper - lower) as f64 <= lower as f64 / 8.0 + 1.0, "bin {bin} [{lower}, {upper}] is too wide");
            previous_upper = Some(upper);
        }
        for ms in [0, 1, 15, 16, 17, 99, 100, 1000, 59_999, 600_000, 86_400_000, u64::MAX / 4] {
            assert!(upper_bound(bin_of(ms)) >= ms, "{ms}");
        }
    }

    #[test]
    fn quantiles_by_nearest_rank_within_an_eighth() {
        let mut h = LagHistogram::default();
        assert_eq!((h.quantile(0.5), h.count()), (0, 0), "empty");
        for ms in 1..=100 {
            h.record(ms);
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5);
        assert!((50..=56).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((99..=100).contains(&p99), "{p99}: capped at the maximum");
        assert_eq!(h.quantile(1.0), 100);
        let mut one = LagHistogram::default();
        one.record(5_000);
        assert_eq!((one.quantile(0.5), one.quantile(0.99)), (5_000, 5_000), "capped at the only lag");
    }

    #[test]
    fn instances_add_up_as_if_one_had_seen_everything() {
        let (mut a, mut b, mut both) = (LagHistogram::default(), LagHistogram::default(), LagHistogram::default());
        for ms in [10, 20, 30, 4_000] {
            a.record(ms);
            both.record(ms);
        }
        for ms in [15, 25, 90_000] {
            b.record(ms);
            both.record(ms);
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!((a.count(), a.max_ms()), (7, 90_000));
        assert_eq!(a.quantile(0.99), 90_000);
    }

    #[test]
    fn the_stored_form_names_upper_bounds_and_round_trips() {
        let mut h = LagHistogram::default();
        for ms in [3, 3, 1_000, 1_001] {
            h.record(ms);
        }
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["count"], 4);
        assert_eq!(json["maxMs"], 1_001);
        assert_eq!(json["sumMs"], 2_007);
        assert_eq!(json["bins"][0], serde_json::json!([3, 2]));
        assert_eq!(json["bins"][1], serde_json::json!([1_023, 2]));
        assert_eq!(serde_json::from_value::<LagHistogram>(json).unwrap(), h);
    }
}
