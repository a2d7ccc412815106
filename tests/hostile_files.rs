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

/// A primary header, then the header of a table `APOGEE` of `rows` rows of `row_bytes` bytes
/// whose columns are `(TTYPE, TFORM)` pairs.
fn table_header(row_bytes: u64, rows: u64, columns: &[(&str, &str)]) -> Vec<u8> {
    let mut cards = vec![
        "XTENSION= 'BINTABLE'".to_string(),
        "BITPIX  =                    8".into(),
        "NAXIS   =                    2".into(),
        format!("NAXIS1  = {row_bytes:>20}"),
        format!("NAXIS2  = {rows:>20}"),
        "PCOUNT  =                    0".into(),
        "GCOUNT  =                    1".into(),
        format!("TFIELDS = {:>20}", columns.len()),
    ];
    for (k, (name, tform)) in columns.iter().enumerate() {
        cards.push(format!("TTYPE{}  = '{name}'", k + 1));
        cards.push(format!("TFORM{}  = '{tform}'", k + 1));
    }
    cards.push("EXTNAME = 'APOGEE  '".into());
    let cards: Vec<&str> = cards.iter().map(String::as_str).collect();
    let mut bytes = header(&PRIMARY);
    bytes.extend(header(&cards));
    bytes
}

#[test]
fn a_table_claiming_2_to_the_62_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.fits");
    let bytes = table_header(8, 1 << 62, &[("sdss_id", "K")]);
    std::fs::write(&path, bytes).unwrap();
    let err = read_table(&path, "APOGEE").unwrap_err().to_string();
    assert!(
        err.contains("catalog.fits: HDU 1: the data size overflows"),
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

/// 10 axes: more than the 9 astronn reads; 500: beyond CFITSIO's own 99 per HDU (issue 33:
/// its `ffpinit` wrote past its axis array before anything else saw the header).
#[test]
fn images_of_ten_and_of_five_hundred_axes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for axes in [10, 500] {
        let err = read_apstar(&image_of_axes(dir.path(), axes), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("HDU 1: NAXIS = {axes}")), "{err}");
    }
}

/// An apStar-named file in `dir` of three images of `axes` axes of length 1.
fn image_of_axes(dir: &Path, axes: usize) -> std::path::PathBuf {
    let path = dir.join("apStar-axes.fits");
    let mut bytes = header(&PRIMARY);
    let mut cards = vec![
        "XTENSION= 'IMAGE   '".to_string(),
        "BITPIX  =                    8".to_string(),
        format!("NAXIS   = {axes:>20}"),
    ];
    cards.extend((1..=axes).map(|k| format!("{:<8}= {:>20}", format!("NAXIS{k}"), 1)));
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
    path
}

/// A one-row table whose string column has the TFORM `tform` beside an integer column.
fn table_with_string_column(dir: &Path, tform: &str, width: usize) -> std::path::PathBuf {
    let path = dir.join("catalog.fits");
    let mut bytes = table_header(width as u64 + 8, 1, &[("name", tform), ("sdss_id", "K")]);
    let mut data = vec![b'x'; width];
    data.extend(42i64.to_be_bytes());
    data.resize(2880, 0);
    bytes.extend(data);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Issue 33's string columns: `0A` (legal FITS, no characters) reads as empty strings, where
/// CFITSIO divided by its width of 0 (SIGFPE), and `6A     0` (a width of 0) is refused; a
/// width of 10^12 (`1000000000000A`), which a buffer was sized by (an abort), is refused as a
/// row longer than the file; in `1A1000000000000` CFITSIO reads the one character.
#[test]
fn string_columns_of_no_width_or_a_huge_one() {
    let dir = tempfile::tempdir().unwrap();
    let strings = |tform: &str, width: usize| {
        let path = table_with_string_column(dir.path(), tform, width);
        read_table(&path, "APOGEE").map(|table| {
            assert!(matches!(
                table.column("sdss_id"),
                Some(astronn::io::columns::ColumnData::I64(v)) if v == &[42]
            ));
            match table.column("name") {
                Some(astronn::io::columns::ColumnData::Str(v)) => v.clone(),
                other => panic!("{other:?}"),
            }
        })
    };
    assert_eq!(strings("0A", 0).unwrap(), [""]);
    assert_eq!(strings("1A1000000000000", 1).unwrap(), ["x"]);
    let err = strings("6A     0", 6).unwrap_err().to_string();
    assert!(err.contains("string column 'name'"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.fits");
    let mut bytes = table_header(1_000_000_000_000, 1, &[("name", "1000000000000A")]);
    bytes.extend([b'x'; 2880]);
    std::fs::write(&path, bytes).unwrap();
    let err = read_table(&path, "APOGEE").unwrap_err().to_string();
    assert!(err.contains("catalog.fits: the file is truncated"), "{err}");
}
