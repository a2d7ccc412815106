//! Photometry catalogs (`--photometry CAT`): each star's 2MASS Ks magnitude and SFD E(B−V)
//! by APOGEE identifier, for AstroNNDist's distances.
//!
//! A catalog is a FITS table or a CSV file, recognised by content (a FITS file starts with
//! `SIMPLE`; a gzip-compressed file is read as FITS). Three columns are used, found by name
//! ignoring case: the identifier (`sdss4_apogee_id` by default), the Ks magnitude (`k_mag`)
//! and the reddening (`ebv`); [`PhotometryColumns`] renames them, e.g. `APOGEE_ID`, `K` and
//! `SFD_EBV` for an allStar file. Other columns are ignored.
//!
//! - FITS: the first table HDU with rows (or the first table HDU when all are empty); only
//!   the three columns are read, so a large allStar file costs little memory. The identifier
//!   may be a string or an integer column, the values any scalar numeric column.
//! - CSV: an optional preamble of lines starting with `#` (as in astropy's ECSV), a header
//!   line, then one comma-separated line per star. Fields may be quoted with `"` (a doubled
//!   `""` inside is a quote; quoted fields may hold commas and line breaks); surrounding
//!   blanks are trimmed. A blank value, or astropy's masked `--`, reads as NaN; blank lines
//!   are skipped.
//!
//! Values are kept as stored, sentinels (99.999, −9999) and NaN included: AstroNNDist's
//! rules ([`crate::pipeline::distance`]) judge them. When an identifier occurs more than
//! once, its first row wins. Identifiers are matched exactly after trimming blanks.

use crate::io::fits::{self, Fits};
use crate::io::table::ColumnData;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Names of the catalog columns to use (compared ignoring case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotometryColumns {
    /// The APOGEE identifier (matched against `sdss4_apogee_id` of the spectra).
    pub id: String,
    /// The 2MASS Ks magnitude.
    pub k_mag: String,
    /// The SFD reddening E(B−V).
    pub ebv: String,
}

impl Default for PhotometryColumns {
    /// Astra's names: `sdss4_apogee_id`, `k_mag`, `ebv`.
    fn default() -> Self {
        PhotometryColumns {
            id: "sdss4_apogee_id".into(),
            k_mag: "k_mag".into(),
            ebv: "ebv".into(),
        }
    }
}

/// One star's photometry as stored in the catalog (invalid values included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Photometry {
    /// 2MASS Ks magnitude.
    pub k_mag: f64,
    /// SFD E(B−V).
    pub ebv: f64,
}

/// A photometry catalog, indexed by APOGEE identifier.
#[derive(Debug, Clone)]
pub struct PhotometryCatalog {
    path: PathBuf,
    rows: usize,
    stars: HashMap<String, Photometry>,
}

impl PhotometryCatalog {
    /// Reads a catalog (FITS or CSV, see the module documentation). Errors name the file,
    /// and for a missing column list the columns the file has.
    pub fn load(path: &Path, columns: &PhotometryColumns) -> Result<Self> {
        let mut head = [0u8; 9];
        let read = {
            use std::io::Read;
            let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let mut n = 0;
            while n < head.len() {
                match file.read(&mut head[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io(path, e)),
                }
            }
            n
        };
        let head = &head[..read];
        let records = if head.starts_with(b"SIMPLE") || head.starts_with(&[0x1f, 0x8b]) {
            read_fits(path, columns)?
        } else {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::file(path, "neither a FITS file nor a UTF-8 CSV file"))?;
            read_csv(path, &text, columns)?
        };
        let rows = records.len();
        let mut stars = HashMap::with_capacity(rows);
        for (id, photometry) in records {
            stars.entry(id).or_insert(photometry);
        }
        Ok(PhotometryCatalog {
            path: path.to_path_buf(),
            rows,
            stars,
        })
    }

    /// The photometry of the star `apogee_id` (blanks around it ignored), or `None` when the
    /// catalog does not hold it.
    pub fn lookup(&self, apogee_id: &str) -> Option<Photometry> {
        self.stars.get(apogee_id.trim()).copied()
    }

    /// The file the catalog was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of distinct stars.
    pub fn len(&self) -> usize {
        self.stars.len()
    }

    /// Whether the catalog holds no star.
    pub fn is_empty(&self) -> bool {
        self.stars.is_empty()
    }

    /// Number of data rows read (duplicates included).
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// The error for a column the catalog lacks, listing those it has.
fn missing_column(path: &Path, role: &str, name: &str, found: &[String]) -> Error {
    Error::file(
        path,
        format!(
            "the photometry catalog has no {role} column '{name}' (columns: {})",
            found.join(", ")
        ),
    )
}

/// Index of the column called `name`, ignoring case.
fn find_column(path: &Path, names: &[String], role: &str, name: &str) -> Result<usize> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| missing_column(path, role, name, names))
}

/// The roles of the three columns, for messages, in [`PhotometryColumns`] order.
fn roles(columns: &PhotometryColumns) -> [(&'static str, &str); 3] {
    [
        ("identifier", columns.id.as_str()),
        ("Ks magnitude", columns.k_mag.as_str()),
        ("E(B-V)", columns.ebv.as_str()),
    ]
}

/// Reads the three columns of the catalog's table HDU.
fn read_fits(path: &Path, columns: &PhotometryColumns) -> Result<Vec<(String, Photometry)>> {
    let mut fits = Fits::open(path)?;
    let hdu = find_table_hdu(&mut fits)?;
    fits.move_to_hdu(hdu)?;
    let (ncols, nrows) = fits.table_shape()?;
    let infos = (1..=ncols)
        .map(|c| fits.column_info(c))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
    let mut data = Vec::with_capacity(3);
    for (role, name) in roles(columns) {
        let info = &infos[find_column(path, &names, role, name)?];
        let values = fits.read_column(info, 1, nrows)?.ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "the {role} column '{}' is not a scalar column (one value per row)",
                    info.name
                ),
            )
        })?;
        data.push((role, info.name.clone(), values));
    }
    let ids = match &data[0].2 {
        ColumnData::Str(v) => v.clone(),
        ColumnData::I16(v) => v.iter().map(i16::to_string).collect(),
        ColumnData::I32(v) => v.iter().map(i32::to_string).collect(),
        ColumnData::I64(v) => v.iter().map(i64::to_string).collect(),
        _ => {
            return Err(Error::file(
                path,
                format!(
                    "the identifier column '{}' holds neither strings nor integers",
                    data[0].1
                ),
            ))
        }
    };
    let numbers = |(role, name, values): &(&str, String, ColumnData)| -> Result<Vec<f64>> {
        match values {
            ColumnData::F64(v) => Ok(v.clone()),
            ColumnData::F32(v) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
            ColumnData::I16(v) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
            ColumnData::I32(v) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
            ColumnData::I64(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            _ => Err(Error::file(
                path,
                format!("the {role} column '{name}' is not numeric"),
            )),
        }
    };
    let k_mag = numbers(&data[1])?;
    let ebv = numbers(&data[2])?;
    Ok(ids
        .into_iter()
        .zip(k_mag.into_iter().zip(ebv))
        .map(|(id, (k_mag, ebv))| (id.trim().to_string(), Photometry { k_mag, ebv }))
        .collect())
}

/// The 1-based number of the first table HDU with rows, or of the first table HDU when no
/// table has rows.
fn find_table_hdu(fits: &mut Fits) -> Result<usize> {
    let mut first_table = None;
    let mut hdu = 2;
    while let Ok(hdutype) = fits.try_move_to_hdu(hdu) {
        if hdutype == fits::BINARY_TBL || hdutype == fits::ASCII_TBL {
            if fits.table_shape()?.1 > 0 {
                return Ok(hdu);
            }
            first_table.get_or_insert(hdu);
        }
        hdu += 1;
    }
    first_table.ok_or_else(|| {
        Error::file(
            fits.path(),
            "the photometry catalog is a FITS file without a table HDU",
        )
    })
}

/// One parsed CSV record: its fields and the 1-based line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Splits CSV text into records (see the module documentation for the dialect).
fn csv_records(path: &Path, text: &str) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false; // inside a quoted section
    let mut was_quoted = false; // the current field had a quoted section
    let mut line = 1;
    let mut start_line = 1;
    let mut at_record_start = true;
    let mut chars = text.chars().peekable();
    let finish_field = |field: &mut String, was_quoted: &mut bool, fields: &mut Vec<String>| {
        let value = if *was_quoted {
            std::mem::take(field)
        } else {
            std::mem::take(field).trim().to_string()
        };
        fields.push(value);
        *was_quoted = false;
    };
    while let Some(c) = chars.next() {
        if at_record_start {
            start_line = line;
            at_record_start = false;
            if c == '#' && records.is_empty() && fields.is_empty() {
                // A comment line of the preamble.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                line += 1;
                at_record_start = true;
                continue;
            }
        }
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                if !field.trim().is_empty() || was_quoted {
                    return Err(Error::file(
                        path,
                        format!("line {line}: a quote inside an unquoted CSV field"),
                    ));
                }
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            ',' => finish_field(&mut field, &mut was_quoted, &mut fields),
            '\n' => {
                finish_field(&mut field, &mut was_quoted, &mut fields);
                push_record(&mut records, &mut fields, start_line);
                line += 1;
                at_record_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            _ => {
                if was_quoted {
                    if c.is_whitespace() {
                        continue;
                    }
                    return Err(Error::file(
                        path,
                        format!("line {line}: text after a closing quote in a CSV field"),
                    ));
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err(Error::file(
            path,
            format!("line {start_line}: a quoted CSV field is never closed"),
        ));
    }
    if !at_record_start {
        finish_field(&mut field, &mut was_quoted, &mut fields);
        push_record(&mut records, &mut fields, start_line);
    }
    Ok(records)
}

/// Appends a finished record unless it is a blank line.
fn push_record(records: &mut Vec<Record>, fields: &mut Vec<String>, line: usize) {
    let fields = std::mem::take(fields);
    if fields.len() == 1 && fields[0].is_empty() {
        return;
    }
    records.push(Record { line, fields });
}

/// A CSV value: blank or `--` is NaN, otherwise a number (`nan`, `inf` accepted).
fn csv_number(path: &Path, line: usize, column: &str, text: &str) -> Result<f64> {
    if text.is_empty() || text == "--" {
        return Ok(f64::NAN);
    }
    text.parse::<f64>().map_err(|_| {
        Error::file(
            path,
            format!("line {line}: column '{column}' holds '{text}', not a number"),
        )
    })
}

/// Reads the three columns of a CSV catalog.
fn read_csv(
    path: &Path,
    text: &str,
    columns: &PhotometryColumns,
) -> Result<Vec<(String, Photometry)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = csv_records(path, text)?.into_iter();
    let header = records
        .next()
        .ok_or_else(|| Error::file(path, "the photometry catalog is empty (no header line)"))?;
    let names = header.fields;
    let mut index = [0usize; 3];
    for (slot, (role, name)) in index.iter_mut().zip(roles(columns)) {
        *slot = find_column(path, &names, role, name)?;
    }
    let [id, k_mag, ebv] = index;
    records
        .map(|record| {
            if record.fields.len() != names.len() {
                return Err(Error::file(
                    path,
                    format!(
                        "line {}: {} fields where the header names {} columns",
                        record.line,
                        record.fields.len(),
                        names.len()
                    ),
                ));
            }
            let field = |i: usize| record.fields[i].as_str();
            Ok((
                field(id).trim().to_string(),
                Photometry {
                    k_mag: csv_number(path, record.line, &names[k_mag], field(k_mag).trim())?,
                    ebv: csv_number(path, record.line, &names[ebv], field(ebv).trim())?,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Vec<String>> {
        csv_records(Path::new("t.csv"), text)
            .unwrap()
            .into_iter()
            .map(|r| r.fields)
            .collect()
    }

    #[test]
    fn csv_dialect() {
        assert_eq!(
            parse("# comment\n#more\na, b ,c\r\n\n\"x,1\",\"say \"\"hi\"\"\", 3\n4,,\n"),
            vec![
                vec!["a", "b", "c"],
                vec!["x,1", "say \"hi\"", "3"],
                vec!["4", "", ""],
            ]
        );
        // A quoted field spanning lines, and no final newline.
        assert_eq!(
            parse("a,b\n\"two\nlines\",2"),
            vec![vec!["a", "b"], vec!["two\nlines", "2"]]
        );
        // Blanks around a quoted field are not part of it; inside they are.
        assert_eq!(parse(" \" x \" ,y"), vec![vec![" x ", "y"]]);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let err = csv_records(Path::new("t.csv"), "a,b\n1,\"open\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("never closed"),
            "{err}"
        );
        let err = csv_records(Path::new("t.csv"), "a,b\n1,x\"y\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = csv_records(Path::new("t.csv"), "a,b\n1,\"x\"y\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("after a closing quote"), "{err}");
    }

    #[test]
    fn csv_numbers() {
        let p = Path::new("t.csv");
        assert!(csv_number(p, 1, "k", "").unwrap().is_nan());
        assert!(csv_number(p, 1, "k", "--").unwrap().is_nan());
        assert!(csv_number(p, 1, "k", "NaN").unwrap().is_nan());
        assert_eq!(csv_number(p, 1, "k", "99.999").unwrap(), 99.999);
        assert_eq!(csv_number(p, 1, "k", "-9999").unwrap(), -9999.0);
        let err = csv_number(p, 7, "K", "abc").unwrap_err().to_string();
        assert!(err.contains("line 7") && err.contains("'K'"), "{err}");
    }
}
