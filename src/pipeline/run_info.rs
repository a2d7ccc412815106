//! What a run records about itself in its output headers.

use crate::io::table::{CardValue, HeaderCard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Cards every output starts with: tool, version, start time and command line.
pub fn run_cards(command_line: &str, started: SystemTime) -> Vec<HeaderCard> {
    vec![
        card(
            "ORIGIN",
            CardValue::Str("astronn".into()),
            "Software that wrote this file",
        ),
        card(
            "VERSION",
            CardValue::Str(env!("CARGO_PKG_VERSION").into()),
            "astronn version",
        ),
        card(
            "DATE",
            CardValue::Str(utc_timestamp(started)),
            "Run start (UTC)",
        ),
        card(
            "CMDLINE",
            CardValue::Str(command_line.into()),
            "Command line",
        ),
    ]
}

/// A header card.
pub fn card(key: &str, value: CardValue, comment: &str) -> HeaderCard {
    HeaderCard::new(key, value, comment)
}

/// `YYYY-MM-DDThh:mm:ss` in UTC.
pub fn utc_timestamp(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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
}
