//! Function Compute timer schedules: 6-field cron expressions with seconds
//! (`sec min hour day-of-month month day-of-week`, in UTC) and `@every <duration>`.
//!
//! Fields take `*`, `?` (day fields), single values, lists (`1,15`), ranges
//! (`1-5`), steps (`*/10`, `5-50/5`, `7/15`) and month and weekday names
//! (`JAN`, `MON-FRI`; Sunday is 0 or 7). As in cron, when both day fields are
//! restricted a day matches if either does.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Cron(Cron),
    /// Fires every interval, the first time one interval after the start.
    Every(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_any: bool,
    weekdays_any: bool,
}

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Schedule {
    /// Parses a schedule; the error says what is wrong and what is expected.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if let Some(d) = text.strip_prefix("@every") {
            return parse_duration(d.trim()).map(Schedule::Every).map_err(|e| {
                format!("{text:?}: {e}; expected @every followed by a duration such as 6h, 30m or 1h30m")
            });
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "{text:?} has {} fields; expected 6 (seconds minutes hours day-of-month month day-of-week, \
                 e.g. \"0 30 2 * * *\") or @every 6h",
                fields.len()
            ));
        }
        let field = |i: usize, name: &str, min: u32, max: u32, names: &[&str], question: bool| {
            parse_field(fields[i], min, max, names, question)
                .map_err(|e| format!("{text:?}: {name} field {:?}: {e}", fields[i]))
        };
        let seconds = field(0, "seconds", 0, 59, &[], false)?;
        let minutes = field(1, "minutes", 0, 59, &[], false)?;
        let hours = field(2, "hours", 0, 23, &[], false)?;
        let days = field(3, "day-of-month", 1, 31, &[], true)?;
        let months = field(4, "month", 1, 12, MONTHS, false)?;
        let mut weekdays = field(5, "day-of-week", 0, 7, WEEKDAYS, true)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        let any = |f: &str| f == "*" || f == "?";
        Ok(Schedule::Cron(Cron {
            seconds,
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            days_any: any(fields[3]),
            weekdays_any: any(fields[5]),
        }))
    }

    /// For cron schedules: whether the second `unix_secs` (UTC) is one it fires at.
    /// `@every` schedules are counted from their start instead; see [`Schedule::every`].
    pub fn matches(&self, unix_secs: u64) -> bool {
        match self {
            Schedule::Cron(c) => c.matches(unix_secs),
            Schedule::Every(_) => false,
        }
    }

    pub fn every(&self) -> Option<Duration> {
        match self {
            Schedule::Every(d) => Some(*d),
            Schedule::Cron(_) => None,
        }
    }

    /// The first second after `after` (exclusive) at which a cron schedule fires,
    /// looking at most a little over four years ahead (Feb 29 schedules).
    pub fn next_after(&self, after: u64) -> Option<u64> {
        match self {
            Schedule::Every(d) => Some(after + d.as_secs().max(1)),
            Schedule::Cron(c) => {
                // Skip whole non-matching days, then minutes, then seconds.
                let mut t = after + 1;
                let limit = after + 5 * 366 * 86_400;
                while t < limit {
                    let day_start = t - t % 86_400;
                    let (_, month, day, weekday) = civil(t);
                    if !c.day_matches(month, day, weekday) {
                        t = day_start + 86_400;
                        continue;
                    }
                    let (hour, minute, second) = ((t % 86_400) / 3600, (t % 3600) / 60, t % 60);
                    if c.hours & (1 << hour) == 0 {
                        t = t - t % 3600 + 3600;
                    } else if c.minutes & (1 << minute) == 0 {
                        t = t - t % 60 + 60;
                    } else if c.seconds & (1 << second) == 0 {
                        t += 1;
                    } else {
                        return Some(t);
                    }
                }
                None
            }
        }
    }
}

impl Cron {
    fn matches(&self, t: u64) -> bool {
        let (_, month, day, weekday) = civil(t);
        self.seconds & (1 << (t % 60)) != 0
            && self.minutes & (1 << ((t % 3600) / 60)) != 0
            && self.hours & (1 << ((t % 86_400) / 3600)) != 0
            && self.day_matches(month, day, weekday)
    }

    fn day_matches(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        match (self.days_any, self.weekdays_any) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }
}

/// Bit i set for each value i the field allows.
fn parse_field(field: &str, min: u32, max: u32, names: &[&str], question: bool) -> Result<u64, String> {
    if field == "?" {
        return if question { Ok(all_bits(min, max)) } else { Err("? is only allowed in the day fields".into()) };
    }
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("step {s:?} is not a number"))?;
                if step == 0 {
                    return Err("a step of 0".into());
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            // `7/15` means from 7 to the end in steps of 15.
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {range:?} runs backwards"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn all_bits(min: u32, max: u32) -> u64 {
    (min..=max).fold(0, |b, v| b | 1 << v)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        // Month names count from 1, weekday names from 0.
        return Ok(if names.len() == 12 { i as u32 + 1 } else { i as u32 });
    }
    let v: u32 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside {min}-{max}"));
    }
    Ok(v)
}

/// Go-style durations: `6h`, `30m`, `1h30m`, `90s`, `1.5h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("no duration".into());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().map_err(|_| format!("{text:?} is not a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "" => return Err(format!("{text:?} lacks a unit (h, m, s)")),
            u => return Err(format!("unknown unit {u:?} in {text:?} (h, m, s)")),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if total < 1.0 {
        return Err(format!("{text:?} is shorter than a second"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// (year, month 1-12, day 1-31, weekday 0=Sunday) of a UTC unix time.
pub fn civil(unix_secs: u64) -> (i64, u32, u32, u32) {
    let days = (unix_secs / 86_400) as i64;
    let weekday = ((days + 4) % 7) as u32; // 1970-01-01 was a Thursday
                                           // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, weekday)
}

/// RFC 3339 UTC with milliseconds, as OSS events carry it.
pub fn rfc3339_millis(unix_millis: u64) -> String {
    let secs = unix_millis / 1000;
    let (y, mo, d, _) = civil(secs);
    let (h, mi, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z", unix_millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: u64, mi: u64, s: u64) -> u64 {
        // days_from_civil
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (i64::from(mo) + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days as u64 * 86_400 + h * 3600 + mi * 60 + s
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 4));
        assert_eq!(civil(at(2024, 2, 29, 23, 59, 59)), (2024, 2, 29, 4));
        assert_eq!(civil(at(2026, 11, 25, 12, 0, 0)), (2026, 11, 25, 3));
        assert_eq!(rfc3339_millis(at(2026, 1, 2, 3, 4, 5) * 1000 + 67), "2026-01-02T03:04:05.067Z");
    }

    #[test]
    fn cron_matches() {
        // 2026-11-25 is a Wednesday.
        let wed = |h, mi, s| at(2026, 11, 25, h, mi, s);
        for (expr, time, expected) in [
            ("0 30 2 * * *", wed(2, 30, 0), true),
            ("0 30 2 * * *", wed(2, 30, 1), false),
            ("0 30 2 * * *", wed(3, 30, 0), false),
            ("* * * * * *", wed(17, 3, 9), true),
            ("*/15 * * * * *", wed(1, 1, 45), true),
            ("*/15 * * * * *", wed(1, 1, 46), false),
            ("5/20 * * * * *", wed(1, 1, 45), true),
            ("5-10/5 * * * * *", wed(1, 1, 10), true),
            ("5-10/5 * * * * *", wed(1, 1, 15), false),
            ("0 0,30 * * * *", wed(9, 30, 0), true),
            ("0 0,30 * * * *", wed(9, 15, 0), false),
            ("0 0 9-17 * * *", wed(17, 0, 0), true),
            ("0 0 9-17 * * *", wed(18, 0, 0), false),
            ("0 0 0 25 * ?", wed(0, 0, 0), true),
            ("0 0 0 24 * ?", wed(0, 0, 0), false),
            ("0 0 0 * NOV *", wed(0, 0, 0), true),
            ("0 0 0 * 1-10 *", wed(0, 0, 0), false),
            ("0 0 0 ? * WED", wed(0, 0, 0), true),
            ("0 0 0 ? * MON-FRI", wed(0, 0, 0), true),
            ("0 0 0 ? * SAT,SUN", wed(0, 0, 0), false),
            ("0 0 0 ? * 3", wed(0, 0, 0), true),
            ("0 0 0 ? * 7", at(2026, 11, 29, 0, 0, 0), true), // Sunday as 7
            ("0 0 0 ? * 0", at(2026, 11, 29, 0, 0, 0), true),
            // Both day fields restricted: either matches.
            ("0 0 0 1 * MON", wed(0, 0, 0), false),
            ("0 0 0 1 * WED", wed(0, 0, 0), true),
            ("0 0 0 25 * MON", wed(0, 0, 0), true),
            ("0 0 0 29 2 *", at(2024, 2, 29, 0, 0, 0), true),
        ] {
            let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(s.matches(time), expected, "{expr} at {:?}", civil(time));
        }
    }

    #[test]
    fn next_firing() {
        let s = Schedule::parse("0 30 2 * * *").unwrap();
        let t = at(2026, 11, 25, 2, 30, 0);
        assert_eq!(s.next_after(t - 1), Some(t));
        assert_eq!(s.next_after(t), Some(t + 86_400));
        let s = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(s.next_after(at(2026, 1, 1, 0, 0, 3)), Some(at(2026, 1, 1, 0, 0, 10)));
        let s = Schedule::parse("0 0 0 29 2 ?").unwrap();
        assert_eq!(s.next_after(at(2026, 1, 1, 0, 0, 0)), Some(at(2028, 2, 29, 0, 0, 0)));
        let s = Schedule::parse("0 0 0 31 2 ?").unwrap();
        assert_eq!(s.next_after(0), None, "February 31 never comes");
        let s = Schedule::parse("@every 90s").unwrap();
        assert_eq!(s.next_after(100), Some(190));
    }

    #[test]
    fn every_durations() {
        for (text, secs) in [("@every 6h", 21_600), ("@every 30m", 1800), ("@every 1h30m", 5400), ("@every 45s", 45)] {
            assert_eq!(Schedule::parse(text).unwrap().every(), Some(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(Schedule::parse("@every 1.5h").unwrap().every(), Some(Duration::from_secs(5400)));
    }

    #[test]
    fn bad_schedules_say_what_is_expected() {
        for (text, needle) in [
            ("0 30 2 * *", "has 5 fields; expected 6"),
            ("", "has 0 fields"),
            ("60 * * * * *", "seconds field \"60\": 60 is outside 0-59"),
            ("0 0 24 * * *", "hours field"),
            ("0 0 0 0 * *", "day-of-month field \"0\": 0 is outside 1-31"),
            ("0 0 0 * 13 *", "month field"),
            ("0 0 0 * * 8", "day-of-week field"),
            ("0 0 0 * FOO *", "\"FOO\" is not a number"),
            ("*/0 * * * * *", "a step of 0"),
            ("10-5 * * * * *", "runs backwards"),
            ("? * * * * *", "? is only allowed in the day fields"),
            ("@every", "no duration"),
            ("@every 6", "lacks a unit"),
            ("@every 6d", "unknown unit \"d\""),
            ("@every 10ms", "shorter than a second"),
        ] {
            let e = Schedule::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
