//! Balanced plans: where to cut a key range so that each piece holds about as
//! many keys, learned from a few listing pages instead of a whole listing.
//!
//! The planner holds the range as contiguous stretches, each with one probe: a
//! page of keys listed after the stretch's start (`start-after`). A page that
//! reaches the stretch's end counts it exactly; otherwise the stretch's size is
//! estimated from how much of it the page covered ([`keyspace`]). The stretch with
//! the largest estimate is cut between its page's last key and its end, and the
//! new stretch probed, until the probe budget is spent; probes land where the keys
//! are, so a bucket with 99% of its keys under one prefix is still cut evenly.
//!
//! It does no I/O: [`Planner::wanted`] says which pages to list, [`Planner::record`]
//! takes them, [`Planner::refine`] chooses what to look at next, [`Planner::ranges`]
//! cuts. The coordinator drives it with real listings, a range with its rest when it
//! turns out large, and the simulation with a synthetic key space.

use serde::{Deserialize, Serialize};

use super::keyspace::{key_between, width_ratio, Alphabet, Bound};

/// Keys remembered per probe page, evenly spaced, to cut inside a page exactly.
const MARKS: u64 = 16;

/// One page to list: keys under the prefix after `after` (from the start for `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub after: Option<String>,
}

/// A planned piece of a range: keys after `lower` up to and including `upper`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Piece {
    pub lower: Option<String>,
    pub upper: Option<String>,
    /// Keys the planner expects in it.
    pub expected: u64,
}

/// What a probe page told about a stretch.
#[derive(Debug, Clone)]
struct Seen {
    /// Keys of the page inside the stretch.
    count: u64,
    /// The page's first key inside the stretch.
    first: String,
    /// `(offset, key)`: the page's keys at evenly spaced offsets (1-based), the last one included.
    marks: Vec<(u64, String)>,
    /// The page reached the stretch's end (or the listing's): `count` is exact.
    complete: bool,
}

/// A contiguous stretch of the range: keys after `lo` up to `hi`.
#[derive(Debug, Clone)]
struct Stretch {
    lo: Option<String>,
    hi: Option<String>,
    seen: Option<Seen>,
}

/// A sans-I/O planner for one range of one prefix.
#[derive(Debug, Clone)]
pub struct Planner {
    prefix: String,
    page: u64,
    budget: usize,
    probes: usize,
    stretches: Vec<Stretch>,
    alphabet: Alphabet,
}

impl Planner {
    /// Plans keys under `prefix` after `lower` up to `upper` (`None`: the prefix's
    /// start and end), listing `page` keys per probe, `budget` probes at most.
    pub fn new(prefix: &str, lower: Option<String>, upper: Option<String>, page: u64, budget: usize) -> Planner {
        Planner {
            prefix: prefix.to_owned(),
            page: page.max(2),
            budget: budget.max(1),
            probes: 0,
            alphabet: [&lower, &upper].iter().fold(
                {
                    let mut a = Alphabet::default();
                    a.learn(prefix);
                    a
                },
                |mut a, k| {
                    if let Some(k) = k {
                        a.learn(k);
                    }
                    a
                },
            ),
            stretches: vec![Stretch { lo: lower, hi: upper, seen: None }],
        }
    }

    /// The probe budget for cutting into `pieces`: enough probes to find where the
    /// keys are and to place each cut (measured by the planner's table tests).
    pub fn budget_for(pieces: usize) -> usize {
        16 + 12 * pieces
    }

    /// Probes spent so far.
    pub fn probes(&self) -> usize {
        self.probes
    }

    /// The pages to list now: one per stretch not yet probed.
    pub fn wanted(&self) -> Vec<Probe> {
        self.stretches.iter().filter(|s| s.seen.is_none()).map(|s| Probe { after: s.lo.clone() }).collect()
    }

    /// Takes the page listed for `probe`: keys in listing order (at most a page), and
    /// whether the listing ended with them.
    pub fn record(&mut self, probe: &Probe, keys: &[String], exhausted: bool) {
        if !self.stretches.iter().any(|s| s.seen.is_none() && s.lo == probe.after) {
            return;
        }
        self.probes += 1;
        for k in keys {
            self.alphabet.learn(k);
        }
        let Some(stretch) = self.stretches.iter_mut().find(|s| s.seen.is_none() && s.lo == probe.after) else {
            return;
        };
        let inside: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&self.prefix))
            .take_while(|k| stretch.hi.as_ref().is_none_or(|h| k.as_str() <= h.as_str()))
            .collect();
        let count = inside.len() as u64;
        let step = (self.page / MARKS).max(1);
        let mut marks: Vec<(u64, String)> = inside
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as u64 + 1).is_multiple_of(step))
            .map(|(i, k)| (i as u64 + 1, (*k).clone()))
            .collect();
        if let Some(last) = inside.last() {
            if marks.last().map(|m| m.0) != Some(count) {
                marks.push((count, (*last).clone()));
            }
        }
        let complete = exhausted || (inside.len() < keys.len()) || (keys.len() as u64) < self.page;
        let first = inside.first().map(|k| (*k).clone()).unwrap_or_default();
        stretch.seen = Some(Seen { count, first, marks, complete });
    }

    /// The stretch's size: exact, or estimated from its page: the page's density
    /// (its keys over the stretch of key space from its first key to its last)
    /// carried on to the stretch's end.
    fn estimate(&self, s: &Stretch) -> f64 {
        let Some(seen) = &s.seen else { return 0.0 };
        if seen.complete || seen.count < 2 {
            return seen.count as f64;
        }
        let last = &seen.marks.last().expect("a page with keys has a last mark").1;
        let end = match &s.hi {
            Some(h) => Bound::Key(h),
            None => Bound::End(&self.prefix),
        };
        let ahead = width_ratio(&Bound::Key(last), &end, &Bound::Key(&seen.first), &Bound::Key(last), &self.alphabet);
        seen.count as f64 + ((seen.count - 1) as f64 * ahead).max(1.0)
    }

    #[cfg(test)]
    pub(crate) fn debug(&self, mut f: impl FnMut(&Option<String>, &Option<String>, f64)) {
        for s in &self.stretches {
            f(&s.lo, &s.hi, self.estimate(s));
        }
    }

    /// Keys in the range: the sum of the stretches' counts and estimates.
    pub fn total(&self) -> f64 {
        self.stretches.iter().map(|s| self.estimate(s)).sum()
    }

    /// True when every stretch is counted exactly.
    pub fn exact(&self) -> bool {
        self.stretches.iter().all(|s| s.seen.as_ref().is_some_and(|x| x.complete))
    }

    /// Cuts up to `at_once` of the largest estimated stretches (their new parts to be
    /// probed next); false when the budget is spent or everything is counted.
    pub fn refine(&mut self, at_once: usize) -> bool {
        let room = self.budget.saturating_sub(self.probes + self.wanted().len());
        let mut order: Vec<(f64, usize)> = self
            .stretches
            .iter()
            .enumerate()
            .filter(|(_, s)| s.seen.as_ref().is_some_and(|x| !x.complete))
            .map(|(i, s)| (self.estimate(s), i))
            .collect();
        if room == 0 || order.is_empty() {
            return false;
        }
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut chosen: Vec<usize> = order.iter().take(at_once.min(room)).map(|(_, i)| *i).collect();
        chosen.sort_unstable_by(|a, b| b.cmp(a));
        for i in chosen {
            let s = &self.stretches[i];
            let seen = s.seen.as_ref().expect("chosen stretches were probed");
            let last = seen.marks.last().expect("incomplete pages have keys").1.clone();
            let end = match &s.hi {
                Some(h) => Bound::Key(h),
                None => Bound::End(&self.prefix),
            };
            // Cut between what the page saw and the stretch's end, at the geometric mean
            // of the page's width and the rest's: an empty stretch of key space is
            // crossed in a few probes, a dense one is sampled at growing steps. Where
            // little is left beyond the page, or no key fits, the page's own end is the
            // cut (the page then counts its part exactly) and the rest is probed.
            let little = self.estimate(s) - seen.count as f64 <= self.page as f64;
            let page = Bound::Key(&seen.first);
            let from = Bound::Key(&last);
            let step = width_ratio(&page, &from, &from, &end, &self.alphabet).sqrt().clamp(1e-12, 0.5);
            let ahead = if little { None } else { key_between(&from, &end, step, &self.alphabet) };
            let cut = ahead.unwrap_or(last.clone());
            let right = Stretch { lo: Some(cut.clone()), hi: s.hi.clone(), seen: None };
            let left = &mut self.stretches[i];
            left.hi = Some(cut.clone());
            if cut == last {
                if let Some(seen) = &mut left.seen {
                    seen.complete = true;
                }
            }
            self.stretches.insert(i + 1, right);
        }
        true
    }

    /// A key about `offset` keys into stretch `s` (estimated), strictly inside it.
    fn key_at(&self, s: &Stretch, offset: f64) -> Option<String> {
        let seen = s.seen.as_ref()?;
        if offset <= seen.count as f64 {
            // Inside the page: the nearest remembered key.
            return seen
                .marks
                .iter()
                .min_by(|a, b| (a.0 as f64 - offset).abs().total_cmp(&(b.0 as f64 - offset).abs()))
                .map(|m| m.1.clone());
        }
        let last = &seen.marks.last()?.1;
        let end = match &s.hi {
            Some(h) => Bound::Key(h),
            None => Bound::End(&self.prefix),
        };
        let rest = (self.estimate(s) - seen.count as f64).max(1.0);
        key_between(&Bound::Key(last), &end, (offset - seen.count as f64) / rest, &self.alphabet).or(Some(last.clone()))
    }

    /// The range cut into `n` pieces of about equal estimated size (fewer when there
    /// are fewer keys than pieces), in key order, covering the range exactly.
    pub fn pieces(&self, n: usize) -> Vec<Piece> {
        let n = n.max(1);
        let total = self.total();
        let first = self.stretches.first().and_then(|s| s.lo.clone());
        let end = self.stretches.last().and_then(|s| s.hi.clone());
        let mut cuts: Vec<(String, f64)> = Vec::new();
        let mut before = 0.0;
        let mut j = 1;
        for s in &self.stretches {
            let size = self.estimate(s);
            while j < n && total * j as f64 / n as f64 <= before + size {
                let target = total * j as f64 / n as f64;
                if let Some(key) = self.key_at(s, target - before) {
                    let above = cuts.last().map(|c| c.0.as_str()).or(first.as_deref());
                    let below = end.as_deref();
                    if above.is_none_or(|a| key.as_str() > a) && below.is_none_or(|b| key.as_str() < b) {
                        cuts.push((key, target));
                    }
                }
                j += 1;
            }
            before += size;
        }
        let mut out = Vec::with_capacity(cuts.len() + 1);
        let (mut lower, mut at) = (first, 0.0);
        for (key, target) in cuts {
            out.push(Piece { lower, upper: Some(key.clone()), expected: (target - at).round() as u64 });
            lower = Some(key);
            at = target;
        }
        out.push(Piece { lower, upper: end, expected: (total - at).round().max(0.0) as u64 });
        out
    }
}

/// Runs a planner to its budget with a synchronous lister (tests and the
/// simulation); `list(after)` returns a page and whether the listing ended.
pub fn plan_with(planner: &mut Planner, at_once: usize, mut list: impl FnMut(Option<&str>) -> (Vec<String>, bool)) {
    loop {
        for probe in planner.wanted() {
            let (keys, exhausted) = list(probe.after.as_deref());
            planner.record(&probe, &keys, exhausted);
        }
        if !planner.refine(at_once) {
            break;
        }
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
