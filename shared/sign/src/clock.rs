//! The time formats the signatures embed, always in UTC and independent of locale.

use std::time::SystemTime;

use time::OffsetDateTime;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn utc(at: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(at)
}

/// `YYYY<d>MM<d>DDTHH<c>MM<c>SSZ` with the given date and time separators.
fn iso(at: SystemTime, date_sep: &str, time_sep: &str) -> String {
    let t = utc(at);
    let (d, c) = (date_sep, time_sep);
    format!(
        "{:04}{d}{:02}{d}{:02}T{:02}{c}{:02}{c}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2015-08-30T12:36:00Z`: the RPC `Timestamp` parameter.
pub(crate) fn iso8601(at: SystemTime) -> String {
    iso(at, "-", ":")
}

/// `20150830T123600Z`: the V4 request time.
pub(crate) fn iso8601_basic(at: SystemTime) -> String {
    iso(at, "", "")
}

/// `Sun, 30 Aug 2015 12:36:00 GMT`: the HTTP `Date` header (RFC 7231).
pub(crate) fn http_date(at: SystemTime) -> String {
    let t = utc(at);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(iso8601(at), "2015-08-30T12:36:00Z");
        assert_eq!(iso8601_basic(at), "20150830T123600Z");
        assert_eq!(http_date(at), "Sun, 30 Aug 2015 12:36:00 GMT");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
