//! Timestamps (seconds since the epoch, UTC) to and from the text forms the CLI meets:
//! RFC 3339 for output, and the asctime form of mbox `From ` lines.

use wildduck_store::Timestamp;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month 1-12, day 1-31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: usize,
}

fn parts(ts: Timestamp) -> Parts {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// `2026-11-29T19:47:19Z`.
pub fn rfc3339(ts: Timestamp) -> String {
    let p = parts(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `Sun Nov 29 19:47:19 2026`, the date form of an mbox `From ` line (always UTC here).
pub fn asctime(ts: Timestamp) -> String {
    let p = parts(ts);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[p.weekday],
        MONTHS[(p.month - 1) as usize],
        p.day,
        p.hour,
        p.minute,
        p.second,
        p.year
    )
}

/// `Sun, 29 Nov 2026 19:47:19 +0000`, the RFC 5322 `Date:` form (always UTC here).
pub fn rfc5322(ts: Timestamp) -> String {
    let p = parts(ts);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[p.weekday],
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second
    )
}

/// Now, in seconds since the epoch.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as Timestamp)
        .unwrap_or(0)
}

/// Reads the date at the end of an mbox `From ` line, leniently: month name, day, `hh:mm[:ss]`
/// and year in any order after the weekday (writers disagree on the zone's place); a numeric
/// zone like `+0200` is honoured, zone names are taken as UTC.
pub fn parse_asctime(text: &str) -> Option<Timestamp> {
    let mut month = None;
    let mut day = None;
    let mut time = None;
    let mut year = None;
    let mut offset = 0i64;
    for token in text.split_whitespace() {
        if let Some(index) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(token)) {
            month = Some(index as u32 + 1);
        } else if token.contains(':') {
            let mut fields = token.split(':').map(str::parse::<i64>);
            let hour = fields.next()?.ok()?;
            let minute = fields.next()?.ok()?;
            let second = match fields.next() {
                Some(s) => s.ok()?,
                None => 0,
            };
            if hour > 23 || minute > 59 || second > 60 {
                return None;
            }
            time = Some(hour * 3600 + minute * 60 + second);
        } else if let Some(zone) = token.strip_prefix(['+', '-']).filter(|z| z.len() == 4) {
            let value: i64 = zone.parse().ok()?;
            let sign = if token.starts_with('-') { -1 } else { 1 };
            offset = sign * (value / 100 * 3600 + value % 100 * 60);
        } else if let Ok(number) = token.parse::<i64>() {
            if token.len() == 4 {
                year = Some(number);
            } else if (1..=31).contains(&number) {
                day = Some(number as u32);
            }
        }
    }
    let days = days_from_civil(year?, month?, day?);
    Some(days * 86_400 + time? - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_980_839), "2026-11-29T19:33:59Z");
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc5322(1_795_980_839), "Sun, 29 Nov 2026 19:33:59 +0000");
    }

    #[test]
    fn asctime_round_trips_over_many_days() {
        for ts in (-86_400 * 800..86_400 * 30_000).step_by(86_400 * 13 + 3_607) {
            assert_eq!(parse_asctime(&asctime(ts)), Some(ts), "{}", asctime(ts));
        }
    }

    #[test]
    fn from_line_dates_in_the_wild_parse() {
        assert_eq!(parse_asctime("Thu Jan  1 00:00:00 1970"), Some(0));
        assert_eq!(parse_asctime("Thu Jan 01 02:00:00 +0200 1970"), Some(0));
        assert_eq!(parse_asctime("Thu Jan  1 00:01 1970"), Some(60));
        assert_eq!(parse_asctime("Thu Jan  1 00:00:00 UTC 1970"), Some(0));
        assert_eq!(parse_asctime("garbage"), None);
        assert_eq!(parse_asctime("Thu Foo  1 00:00:00 1970"), None);
        assert_eq!(parse_asctime("Thu Jan  1 25:00:00 1970"), None);
    }
}
