//! The one timestamp format the config accepts: RFC 3339 in UTC (`2026-01-01T00:00:00Z`) or a date.

/// Seconds since the Unix epoch for `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DD` (midnight UTC).
pub fn parse_rfc3339_utc(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut d = date.splitn(3, '-');
    let year: i64 = number(d.next()?, 4)?;
    let month: i64 = number(d.next()?, 2)?;
    let day: i64 = number(d.next()?, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let seconds = match time {
        None => 0,
        Some(time) => {
            let mut t = time.splitn(3, ':');
            let h: i64 = number(t.next()?, 2)?;
            let m: i64 = number(t.next()?, 2)?;
            let s: i64 = number(t.next()?, 2)?;
            if h > 23 || m > 59 || s > 59 {
                return None;
            }
            h * 3600 + m * 60 + s
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + seconds)
}

fn number(text: &str, digits: usize) -> Option<i64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub fn format_rfc3339_utc(seconds: i64) -> String {
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01: the inverse of
/// [`days_from_civil`] (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2026-01-01T00:00:00Z"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_rfc3339_utc("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339_utc("2000-03-01T12:30:15Z"), Some(951_913_815));
    }

    #[test]
    fn formats_what_it_parses() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2026-11-26T14:05:09Z",
            "1969-12-31T23:59:59Z",
            "2100-03-01T00:00:00Z",
        ] {
            let secs = parse_rfc3339_utc(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(format_rfc3339_utc(secs), text);
        }
    }

    #[test]
    fn rejects_what_it_cannot_read_exactly() {
        for bad in [
            "2026-13-01",
            "2025-02-29",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+02:00",
            "26-01-01",
            "2026-01-01T24:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }
}
