//! What a run records about itself in its output headers.

use crate::io::header_card::{CardValue, HeaderCard};
pub use crate::timestamp::utc_timestamp;
use std::time::SystemTime;

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
