//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod synth;

use std::path::PathBuf;

/// The reference fixtures directory (`../shared/fixtures`, or `ASTRONN_FIXTURES`).
///
/// Returns `None`, after printing a notice, when it is absent, so that the calling test can
/// skip; under `CI=true` an absent fixtures directory is a failure instead.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("ASTRONN_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.join("manifest.json").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "reference fixtures not found at {} (CI=true requires them)",
            dir.display()
        );
    }
    eprintln!(
        "NOTICE: reference fixtures not found at {}; skipping this test (set ASTRONN_FIXTURES)",
        dir.display()
    );
    None
}

/// A file under `tests/data`.
pub fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}
