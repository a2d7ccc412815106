//! A FITS file's headers checked in Rust before CFITSIO opens it.
//!
//! CFITSIO trusts the sizes a header gives. Fuzzing found files it cannot survive: a negative
//! or overflowing `GCOUNT` makes it place the next HDU before the current one and walk HDUs
//! forever; `TFIELDS = 100000000` makes it allocate a column structure for each before it
//! reads one; `NAXIS` over 99 overflows its per-HDU axis array; a table claiming more rows
//! than the file holds makes readers allocate for all of them. [`check_headers`] walks every
//! header first (seeking over the data of a plain file) and refuses such a file with a message
//! naming the HDU, so CFITSIO only ever sees headers whose sizes add up.

use crate::io::fits_stream::{FitsStream, RawHeader};
use crate::{Error, Result};
use std::path::Path;

/// The most columns a FITS table may have (FITS 4.0 §7.3.1).
const MAX_TABLE_FIELDS: i64 = 999;

/// The read buffer of the walk: a few header blocks (the data is sought over).
const BUFFER: usize = 4 * 2880;

/// Checks every HDU's header of the FITS file `path` (plain or gzip-compressed): valid sizes
/// whose data lies inside the file ([`RawHeader::data_bytes`]), and tables of at most 999
/// columns. What follows the last HDU and does not start an extension is ignored, as CFITSIO
/// ignores it.
pub(crate) fn check_headers(path: &Path) -> Result<()> {
    let length = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut stream = FitsStream::open_buffered(path, BUFFER)?;
    let mut hdu = 0;
    while let Some(header) = stream.read_header(hdu, true)? {
        let in_hdu = |e: Error| Error::file(path, format!("HDU {hdu}: {e}"));
        let bytes = header.data_bytes().map_err(in_hdu)?;
        check_table_fields(&header).map_err(in_hdu)?;
        if bytes == 0 {
            check_rows_of_nothing(&header, length).map_err(in_hdu)?;
        }
        stream.skip_data(bytes, hdu)?;
        hdu += 1;
    }
    Ok(())
}

/// Refuses an HDU without data whose last axis (its rows, which readers make room for) is
/// longer than the file: rows of 0 bytes (`NAXIS1 = 0`), at most one per byte of the file.
fn check_rows_of_nothing(header: &RawHeader, file_length: u64) -> Result<()> {
    let naxis = header.int("NAXIS").unwrap_or(0);
    let last = format!("NAXIS{naxis}");
    match header.int(&last) {
        Some(rows) if naxis >= 2 && rows as u64 > file_length => Err(Error::Invalid(format!(
            "{last} = {rows} rows of no data: more than the file's {file_length} bytes"
        ))),
        _ => Ok(()),
    }
}

/// Refuses a table header with a negative `TFIELDS` or more than FITS's 999 columns.
fn check_table_fields(header: &RawHeader) -> Result<()> {
    let Some(fields) = header.value("TFIELDS") else {
        return Ok(());
    };
    match fields.trim().parse::<i64>() {
        Ok(n) if (0..=MAX_TABLE_FIELDS).contains(&n) => Ok(()),
        _ => Err(Error::Invalid(format!(
            "TFIELDS = {fields}: a FITS table has 0 to {MAX_TABLE_FIELDS} columns"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the given headers (each a list of cards), each followed by its data of zeros.
    fn fits_file(dir: &Path, hdus: &[&[&str]], data: &[usize]) -> std::path::PathBuf {
        let mut bytes = Vec::new();
        for (cards, &size) in hdus.iter().zip(data) {
            let header = RawHeader {
                records: cards.iter().map(|c| format!("{c:<80}")).collect(),
            };
            bytes.extend(header.to_bytes());
            bytes.resize(bytes.len() + size.div_ceil(2880) * 2880, 0);
        }
        let path = dir.join("file.fits");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    const PRIMARY: &[&str] = &["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0"];

    fn table(naxis1: &str, naxis2: &str, gcount: &str, tfields: &str) -> Vec<String> {
        vec![
            "XTENSION= 'BINTABLE'".into(),
            "BITPIX  = 8".into(),
            "NAXIS   = 2".into(),
            format!("NAXIS1  = {naxis1}"),
            format!("NAXIS2  = {naxis2}"),
            "PCOUNT  = 0".into(),
            format!("GCOUNT  = {gcount}"),
            format!("TFIELDS = {tfields}"),
        ]
    }

    fn check(hdus: &[Vec<String>], data: &[usize]) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let cards: Vec<Vec<&str>> = hdus
            .iter()
            .map(|h| h.iter().map(String::as_str).collect())
            .collect();
        let mut all: Vec<&[&str]> = vec![PRIMARY];
        all.extend(cards.iter().map(Vec::as_slice));
        let mut sizes = vec![0];
        sizes.extend(data);
        check_headers(&fits_file(dir.path(), &all, &sizes))
    }

    fn refused(hdus: &[Vec<String>], data: &[usize], words: &str) {
        let message = check(hdus, data).unwrap_err().to_string();
        assert!(message.contains(words), "{message}");
        assert!(
            message.contains("HDU 1") || message.contains("truncated"),
            "{message}"
        );
    }

    #[test]
    fn a_table_whose_sizes_add_up_passes() {
        check(&[table("4", "10", "1", "1")], &[40]).unwrap();
        // A table of no rows claims no data whatever its row width.
        check(&[table("1000000000000", "0", "1", "1")], &[0]).unwrap();
    }

    #[test]
    fn sizes_that_cfitsio_mishandles_are_refused() {
        refused(&[table("4", "10", "-1", "1")], &[40], "GCOUNT = -1");
        refused(
            &[table("4", "10", "9223372036854775807", "1")],
            &[40],
            "GCOUNT = 9223372036854775807",
        );
        refused(
            &[table("4", "10", "1", "100000000")],
            &[40],
            "TFIELDS = 100000000",
        );
        refused(&[table("-4", "10", "1", "1")], &[40], "NAXIS1 is negative");
        refused(
            &[table("9223372036854775807", "2", "1", "1")],
            &[40],
            "overflows",
        );
        let mut axes = vec!["XTENSION= 'IMAGE   '".to_string(), "BITPIX  = 8".into()];
        axes.push("NAXIS   = 100".into());
        refused(&[axes], &[0], "NAXIS = 100");
    }

    #[test]
    fn a_header_claiming_more_data_than_the_file_holds_is_refused() {
        refused(&[table("4", "100000000", "1", "1")], &[40], "truncated");
        refused(
            &[table("0", "4611686018427387904", "1", "0")],
            &[0],
            "NAXIS2 = 4611686018427387904 rows of no data",
        );
        // Empty tables and images are fine, however wide.
        check(&[table("100000", "0", "1", "1")], &[0]).unwrap();
    }

    #[test]
    fn bytes_after_the_last_hdu_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = fits_file(dir.path(), &[PRIMARY], &[0]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(b"trailing junk that is not an extension");
        std::fs::write(&path, &bytes).unwrap();
        check_headers(&path).unwrap();
    }
}
