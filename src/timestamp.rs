//! UTC timestamps in the forms the output files use, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// The civil UTC date and time of `time`: (year, month, day, hour, minute, second,
/// microsecond).
fn civil(time: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    (
        year,
        month,
        day,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros(),
    )
}

/// `YYYY-MM-DDThh:mm:ss` in UTC (our `DATE` cards).
pub fn utc_timestamp(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
}

/// `YY-MM-DD hh:mm:ss` in UTC: DR19's `CREATED` cards (Python's `%y-%m-%d %H:%M:%S`).
pub fn created_card(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(time);
    format!(
        "{:02}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}",
        y.rem_euclid(100)
    )
}

/// `YYYY-MM-DD hh:mm:ss.ffffff` in UTC: DR19's `created` column (Python's `str` of a
/// datetime, 26 characters).
pub fn created_column(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s, us) = civil(time);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_344_645);
        assert_eq!(utc_timestamp(t), "2026-11-22T10:50:45");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00");
    }

    #[test]
    fn dr19_created_forms() {
        // 2024-10-28 13:46:20.5 UTC, DR19's astraAllStarAstroNN creation time.
        let t = UNIX_EPOCH + Duration::from_millis(1_730_123_180_500);
        assert_eq!(created_card(t), "24-10-28 13:46:20");
        assert_eq!(created_column(t), "2024-10-28 13:46:20.500000");
        assert_eq!(created_column(t).len(), 26);
    }
}
