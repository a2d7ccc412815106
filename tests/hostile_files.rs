//! Sizes taken from a file are checked before anything is allocated or looped over: a header
//! that claims more than the file holds is a clear error, never a panic, an abort or a hang
//! (issue 33's findings, each reproduced here).

mod common;

use astronn::io::apstar::read_apstar;
use astronn::io::table::read_table;
use common::test_data;
use std::path::Path;
use std::time::{Duration, Instant};

/// A FITS header: `cards` as 80-character records, END, padded to 2880 bytes.
fn header(cards: &[&str]) -> Vec<u8> {
    let mut bytes: Vec<u8> = cards
        .iter()
        .chain(&["END"])
        .flat_map(|card| format!("{card:<80}").into_bytes())
        .collect();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes
}

const PRIMARY: [&str; 4] = [
    "SIMPLE  =                    T",
    "BITPIX  =                    8",
    "NAXIS   =                    0",
    "EXTEND  =                    T",
];

#[test]
fn a_table_claiming_2_to_the_62_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.fits");
    let mut bytes = header(&PRIMARY);
    bytes.extend(header(&[
        "XTENSION= 'BINTABLE'",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        "NAXIS1  =                    8",
        "NAXIS2  =  4611686018427387904",
        "PCOUNT  =                    0",
        "GCOUNT  =                    1",
        "TFIELDS =                    1",
        "TTYPE1  = 'sdss_id '",
        "TFORM1  = 'K       '",
        "EXTNAME = 'APOGEE  '",
    ]));
    std::fs::write(&path, bytes).unwrap();
    let err = read_table(&path, "APOGEE").unwrap_err().to_string();
    assert!(
        err.contains("claims 4611686018427387904 table rows"),
        "{err}"
    );
}

/// A copy of a real apStar file in `dir` with its NVISITS card set to `value`.
fn with_nvisits(dir: &Path, value: &str) -> std::path::PathBuf {
    let mut bytes = std::fs::read(test_data("apStar-dr17-2M17335483-2753043.fits")).unwrap();
    let at = bytes
        .chunks(80)
        .position(|card| card.starts_with(b"NVISITS ="))
        .expect("an NVISITS card")
        * 80;
    let card = format!("{:<80}", format!("NVISITS = {value:>20}"));
    bytes[at..at + 80].copy_from_slice(card.as_bytes());
    let path = dir.join("apStar-nvisits.fits");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn nvisits_of_a_hundred_million_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_nvisits(dir.path(), "100000000");
    let start = Instant::now();
    let err = read_apstar(&path, true).unwrap_err().to_string();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("NVISITS = 100000000"), "{err}");
}

#[test]
fn an_image_of_ten_axes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-axes.fits");
    let mut bytes = header(&PRIMARY);
    let mut cards = vec![
        "XTENSION= 'IMAGE   '".to_string(),
        "BITPIX  =                    8".to_string(),
        "NAXIS   =                   10".to_string(),
    ];
    cards.extend((1..=10).map(|k| format!("{:<8}= {:>20}", format!("NAXIS{k}"), 1)));
    cards.extend([
        "PCOUNT  =                    0".into(),
        "GCOUNT  =                    1".into(),
    ]);
    let cards: Vec<&str> = cards.iter().map(String::as_str).collect();
    for _ in 0..3 {
        bytes.extend(header(&cards));
        bytes.extend([0u8; 2880]);
    }
    std::fs::write(&path, bytes).unwrap();
    let err = read_apstar(&path, false).unwrap_err().to_string();
    assert!(err.contains("10 axes"), "{err}");
}
