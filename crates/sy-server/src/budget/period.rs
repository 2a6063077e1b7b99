//! Budget periods on the calendar of the budget's time zone: which period an instant falls in,
//! as the half-open interval `[start, end)` of UTC instants.
//!
//! A day is local midnight to local midnight, so across a DST change it lasts 23 or 25 hours; a
//! week starts on Monday; a month on its first day. Where local midnight does not exist (a DST
//! gap at midnight), the day starts at the first instant that does.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};
use sy_store::BudgetPeriod;

/// Looks a zone up by its IANA name (`UTC`, `America/New_York`, ...) in the bundled database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!(
            "`{name}` is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)"
        )
    })
}

/// The period of `now_ms` (Unix milliseconds): its first instant and the first instant of the
/// next period, in Unix milliseconds. A total budget's single period starts at 0 and never ends.
pub fn bounds(
    period: BudgetPeriod,
    tz: &TimeZone,
    now_ms: i64,
) -> Result<(i64, Option<i64>), String> {
    let calendar = |e: jiff::Error| format!("budget period out of the calendar's range: {e}");
    let now = Timestamp::from_millisecond(now_ms)
        .map_err(calendar)?
        .to_zoned_datetime(tz.clone());
    let (start, next) = match period {
        BudgetPeriod::Total => return Ok((0, None)),
        BudgetPeriod::Day => {
            let start = now.start_of_day().map_err(calendar)?;
            (start, day_start(&now, 1.day(), tz)?)
        }
        BudgetPeriod::Week => {
            let back = i64::from(now.weekday().to_monday_zero_offset());
            let monday = now.date().checked_sub(back.days()).map_err(calendar)?;
            let start = local_day_start(monday, tz)?;
            let next = monday.checked_add(7.days()).map_err(calendar)?;
            (start, local_day_start(next, tz)?)
        }
        BudgetPeriod::Month => {
            let first = now.date().first_of_month();
            let next = first.checked_add(1.month()).map_err(calendar)?;
            (local_day_start(first, tz)?, local_day_start(next, tz)?)
        }
    };
    Ok((
        start.timestamp().as_millisecond(),
        Some(next.timestamp().as_millisecond()),
    ))
}

fn day_start(
    now: &ZonedDateTime,
    ahead: jiff::Span,
    tz: &TimeZone,
) -> Result<ZonedDateTime, String> {
    let date = now
        .date()
        .checked_add(ahead)
        .map_err(|e| format!("budget period out of the calendar's range: {e}"))?;
    local_day_start(date, tz)
}

/// The first instant of a local calendar day.
fn local_day_start(date: jiff::civil::Date, tz: &TimeZone) -> Result<ZonedDateTime, String> {
    date.to_zoned_datetime(tz.clone())
        .and_then(|midnight_or_later| midnight_or_later.start_of_day())
        .map_err(|e| format!("budget period out of the calendar's range: {e}"))
}

/// An instant as RFC 3339 in the zone, for messages: `2026-12-01T00:00:00-05:00`.
pub fn local_time(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn bounds_of(period: BudgetPeriod, tz: &str, at: &str) -> (i64, Option<i64>) {
        bounds(period, &zone(tz).unwrap(), ms(at)).unwrap()
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_day_across_spring_forward_lasts_23_hours() {
        // New York springs forward at 02:00 on 2026-03-08.
        let (start, end) = bounds_of(
            BudgetPeriod::Day,
            "America/New_York",
            "2026-03-08T12:00:00Z",
        );
        assert_eq!(start, ms("2026-03-08T05:00:00Z"), "midnight EST");
        assert_eq!(end, Some(ms("2026-03-09T04:00:00Z")), "midnight EDT");
        assert_eq!(end.unwrap() - start, 23 * HOUR);
    }

    #[test]
    fn a_day_across_fall_back_lasts_25_hours() {
        // New York falls back at 02:00 on 2026-11-01.
        let (start, end) = bounds_of(
            BudgetPeriod::Day,
            "America/New_York",
            "2026-11-01T20:00:00Z",
        );
        assert_eq!(start, ms("2026-11-01T04:00:00Z"));
        assert_eq!(end.unwrap() - start, 25 * HOUR);
    }

    #[test]
    fn boundaries_are_half_open() {
        let tz = "America/New_York";
        let midnight = "2026-11-02T05:00:00Z"; // 2026-11-02T00:00:00-05:00
        let (start, _) = bounds_of(BudgetPeriod::Day, tz, midnight);
        assert_eq!(start, ms(midnight), "midnight belongs to the day it starts");
        let just_before = ms(midnight) - 1;
        let (before, end) = bounds(BudgetPeriod::Day, &zone(tz).unwrap(), just_before).unwrap();
        assert_eq!(before, ms("2026-11-01T04:00:00Z"));
        assert_eq!(end, Some(ms(midnight)));
    }

    #[test]
    fn a_local_evening_is_the_next_utc_day_but_the_same_local_day() {
        // 23:30 in New York on 2026-11-26 is 04:30 UTC on the 27th.
        let (start, _) = bounds_of(
            BudgetPeriod::Day,
            "America/New_York",
            "2026-11-27T04:30:00Z",
        );
        assert_eq!(start, ms("2026-11-26T05:00:00Z"));
        let (utc, _) = bounds_of(BudgetPeriod::Day, "UTC", "2026-11-27T04:30:00Z");
        assert_eq!(utc, ms("2026-11-27T00:00:00Z"));
    }

    #[test]
    fn weeks_start_on_monday_and_span_the_dst_change() {
        // Sunday 2026-11-01 (fall back) belongs to the week of Monday 2026-10-26 (EDT).
        let (start, end) = bounds_of(
            BudgetPeriod::Week,
            "America/New_York",
            "2026-11-01T12:00:00Z",
        );
        assert_eq!(start, ms("2026-10-26T04:00:00Z"));
        assert_eq!(end, Some(ms("2026-11-02T05:00:00Z")));
        assert_eq!(end.unwrap() - start, 7 * 24 * HOUR + HOUR);
    }

    #[test]
    fn months_start_on_the_first_local_day() {
        let (start, end) = bounds_of(
            BudgetPeriod::Month,
            "America/New_York",
            "2026-11-15T00:00:00Z",
        );
        assert_eq!(start, ms("2026-11-01T04:00:00Z"), "1 November, still EDT");
        assert_eq!(end, Some(ms("2026-12-01T05:00:00Z")), "1 December, EST");
        let (start, end) = bounds_of(BudgetPeriod::Month, "Europe/Berlin", "2026-03-31T23:30:00Z");
        assert_eq!(start, ms("2026-03-31T22:00:00Z"), "already April in Berlin");
        assert_eq!(end, Some(ms("2026-04-30T22:00:00Z")));
    }

    #[test]
    fn a_missing_local_midnight_starts_the_day_at_the_first_instant() {
        // Santiago springs forward at 24:00 on 2026-09-05: 2026-09-06 starts at 01:00 local.
        let (start, end) = bounds_of(
            BudgetPeriod::Day,
            "America/Santiago",
            "2026-09-06T12:00:00Z",
        );
        assert_eq!(start, ms("2026-09-06T04:00:00Z"));
        assert_eq!(end.unwrap() - start, 23 * HOUR);
    }

    #[test]
    fn total_budgets_have_one_period() {
        assert_eq!(
            bounds_of(BudgetPeriod::Total, "UTC", "2026-11-27T04:30:00Z"),
            (0, None)
        );
    }

    #[test]
    fn unknown_zones_are_named_in_the_error() {
        let err = zone("Mars/Olympus_Mons").unwrap_err();
        assert!(err.contains("Mars/Olympus_Mons"), "{err}");
    }
}
