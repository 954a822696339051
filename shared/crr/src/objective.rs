//! The lag objective of a rule, as OSS Replication Time Control promises one: most
//! objects replicated within 10 minutes. A rule is flagged when the p99 lag of the
//! copies made in the last 10 minutes, all instances together, exceeds its
//! objective; `crr status --check` then exits non-zero.

use serde::Serialize;

use crate::activity::WindowLag;

/// Where a rule stands against its lag objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// p99 within the objective.
    Met,
    /// p99 above the objective.
    Missed,
    /// No copy in the window carried a lag: nothing to judge.
    NoData,
}

/// A rule's objective and the measured p99 it is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub objective_seconds: u64,
    pub window_minutes: u64,
    /// Copies with a lag in the window.
    pub measured: u64,
    pub p99_ms: u64,
    pub state: State,
    /// How far p99 is above the objective (0 unless missed).
    pub over_by_ms: u64,
}

/// Judges `recent` (the window's lag, every instance merged) against `objective_seconds`.
pub fn judge(objective_seconds: u64, recent: &WindowLag) -> Verdict {
    let objective_ms = objective_seconds.saturating_mul(1000);
    let state = match recent.count {
        0 => State::NoData,
        _ if recent.p99_ms > objective_ms => State::Missed,
        _ => State::Met,
    };
    Verdict {
        objective_seconds,
        window_minutes: recent.minutes,
        measured: recent.count,
        p99_ms: recent.p99_ms,
        state,
        over_by_ms: if state == State::Missed { recent.p99_ms - objective_ms } else { 0 },
    }
}

impl Verdict {
    /// One line for operators: `lag p99 over the last 10 minutes is 5.2 s, 2.2 s over the objective of 3 s`.
    pub fn describe(&self) -> String {
        let window = format!("over the last {} minutes", self.window_minutes);
        match self.state {
            State::NoData => format!(
                "no copies measured {window}; objective {} (nothing to judge)",
                seconds(self.objective_seconds * 1000)
            ),
            State::Met => format!(
                "lag p99 {window} is {} ({}), within the objective of {}",
                seconds(self.p99_ms),
                copies(self.measured),
                seconds(self.objective_seconds * 1000)
            ),
            State::Missed => format!(
                "lag p99 {window} is {} ({}), {} over the objective of {}",
                seconds(self.p99_ms),
                copies(self.measured),
                seconds(self.over_by_ms),
                seconds(self.objective_seconds * 1000)
            ),
        }
    }
}

fn copies(n: u64) -> String {
    if n == 1 {
        "1 copy".into()
    } else {
        format!("{n} copies")
    }
}

/// Milliseconds as seconds for people: `850 ms`, `5.2 s`, `12 min 5 s`.
pub fn seconds(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => {
            let tenths = (ms + 50) / 100;
            if tenths.is_multiple_of(10) {
                format!("{} s", tenths / 10)
            } else {
                format!("{}.{} s", tenths / 10, tenths % 10)
            }
        }
        _ => {
            let s = (ms + 500) / 1000;
            match (s / 3600, s % 3600 / 60, s % 60) {
                (0, m, 0) => format!("{m} min"),
                (0, m, s) => format!("{m} min {s} s"),
                (h, m, _) => format!("{h} h {m} min"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(count: u64, p99_ms: u64) -> WindowLag {
        WindowLag { minutes: 10, count, p50_ms: p99_ms / 2, p99_ms, max_ms: p99_ms }
    }

    #[test]
    fn verdicts() {
        for (what, objective, window, state, over) in [
            ("well within", 600, recent(100, 2_000), State::Met, 0),
            ("exactly at the objective is within it", 3, recent(5, 3_000), State::Met, 0),
            ("one millisecond over", 3, recent(5, 3_001), State::Missed, 1),
            ("far over", 600, recent(2, 900_000), State::Missed, 300_000),
            ("nothing copied", 600, recent(0, 0), State::NoData, 0),
        ] {
            let v = judge(objective, &window);
            assert_eq!((v.state, v.over_by_ms), (state, over), "{what}");
            assert_eq!((v.objective_seconds, v.window_minutes, v.measured), (objective, 10, window.count), "{what}");
        }
    }

    #[test]
    fn descriptions_say_by_how_much() {
        assert_eq!(
            judge(3, &recent(2, 5_240)).describe(),
            "lag p99 over the last 10 minutes is 5.2 s (2 copies), 2.2 s over the objective of 3 s"
        );
        assert_eq!(
            judge(600, &recent(40, 850)).describe(),
            "lag p99 over the last 10 minutes is 850 ms (40 copies), within the objective of 10 min"
        );
        assert!(judge(600, &recent(0, 0)).describe().starts_with("no copies measured"));
        let json = serde_json::to_value(judge(3, &recent(0, 0))).unwrap();
        assert_eq!(json["state"], "no-data");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(999), "999 ms");
        assert_eq!(seconds(1_000), "1 s");
        assert_eq!(seconds(61_000), "1 min 1 s");
        assert_eq!(seconds(3_600_000 + 120_000), "1 h 2 min");
    }
}
