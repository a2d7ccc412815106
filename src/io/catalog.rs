//! Star catalogs: numeric columns by APOGEE identifier, from a FITS table or a CSV file.
//! Photometry (`--photometry`) and training labels are read through this module.
//!
//! A catalog is recognised by content (a FITS file starts with `SIMPLE`; a gzip-compressed
//! file is read as FITS). Columns are found by name ignoring case; others are ignored.
//!
//! - FITS: the first table HDU with rows (or the first table HDU when all are empty); only
//!   the requested columns are read, so a large allStar file costs little memory. The
//!   identifier may be a string or an integer column, the values any scalar numeric column.
//! - CSV: an optional preamble of lines starting with `#` (as in astropy's ECSV), a header
//!   line, then one comma-separated line per star. Fields may be quoted with `"` (a doubled
//!   `""` inside is a quote; quoted fields may hold commas and line breaks); surrounding
//!   blanks are trimmed. A blank value, or astropy's masked `--`, reads as NaN; blank lines
//!   are skipped.
//!
//! Values are kept as stored, sentinels (99.999, −9999) and NaN included: the users of a
//! catalog judge them. When an identifier occurs more than once, its first row wins.
//! Identifiers are matched exactly after trimming blanks.

use crate::io::columns::ColumnData;
use crate::io::fits::{self, Fits};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A numeric column to read from a catalog.
#[derive(Debug, Clone, Copy)]
pub struct ColumnRequest<'a> {
    /// What the column holds, for messages ("Ks magnitude").
    pub role: &'a str,
    /// Its name in the file (compared ignoring case).
    pub name: &'a str,
    /// Whether its absence is an error; an absent optional column reads as NaN.
    pub required: bool,
}

/// A catalog's identifiers and requested columns.
#[derive(Debug, Clone)]
pub struct Catalog {
    path: PathBuf,
    ids: Vec<String>,
    columns: Vec<Vec<f64>>,
    present: Vec<bool>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Reads the identifier column `id` and the `columns` of a catalog (FITS or CSV, see the
    /// module documentation); `what` names the catalog in messages. Errors name the file,
    /// and for a missing column list the columns the file has.
    pub fn load(path: &Path, what: &str, id: &str, columns: &[ColumnRequest]) -> Result<Self> {
        let (ids, columns, present) = match csv_text(path)? {
            None => read_fits(path, what, id, columns)?,
            Some(text) => read_csv(path, &text, what, id, columns)?,
        };
        let mut index = HashMap::with_capacity(ids.len());
        for (row, id) in ids.iter().enumerate() {
            index.entry(id.clone()).or_insert(row);
        }
        Ok(Catalog {
            path: path.to_path_buf(),
            ids,
            columns,
            present,
            index,
        })
    }

    /// The row of star `id` (blanks around it ignored; the first row of a repeated id).
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.index.get(id.trim()).copied()
    }

    /// The values of requested column `column` (in request order), one per row.
    pub fn column(&self, column: usize) -> &[f64] {
        &self.columns[column]
    }

    /// Whether requested column `column` exists in the file (an absent optional column
    /// reads as NaN).
    pub fn has_column(&self, column: usize) -> bool {
        self.present[column]
    }

    /// The identifiers, one per row.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The file the catalog was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of distinct stars.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the catalog holds no star.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of data rows read (duplicates included).
    pub fn rows(&self) -> usize {
        self.ids.len()
    }
}

/// The column names of a catalog, in file order: for FITS, those of its table HDU (from the
/// header alone); for CSV, those of the header line. `what` names the catalog in messages.
pub fn column_names(path: &Path, what: &str) -> Result<Vec<String>> {
    match csv_text(path)? {
        None => Ok(open_table(path, what)?
            .1
            .into_iter()
            .map(|info| info.name)
            .collect()),
        Some(text) => Ok(csv_table(path, &text, what)?.0),
    }
}

/// The text of a CSV catalog, or `None` for a FITS one (see [`looks_like_fits`]); a file
/// that is neither is an error.
pub(crate) fn csv_text(path: &Path) -> Result<Option<String>> {
    if looks_like_fits(path)? {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Error::file(path, "neither a FITS file nor a UTF-8 CSV file"))
}

/// Whether the file starts like a FITS file (or is gzip-compressed).
fn looks_like_fits(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 9];
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
    let head = &head[..n];
    Ok(head.starts_with(b"SIMPLE") || head.starts_with(&[0x1f, 0x8b]))
}

/// The error for a column the catalog lacks, listing those it has.
pub(crate) fn missing_column(
    path: &Path,
    what: &str,
    role: &str,
    name: &str,
    found: &[String],
) -> Error {
    Error::file(
        path,
        format!(
            "the {what} has no {role} column '{name}' (columns: {})",
            found.join(", ")
        ),
    )
}

/// Index of the column called `name`, ignoring case.
pub(crate) fn position(names: &[String], name: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name.trim()))
}

/// Index of the identifier column, then of each requested column (`None`: optional and
/// absent).
fn find_columns(
    path: &Path,
    names: &[String],
    what: &str,
    id: &str,
    columns: &[ColumnRequest],
) -> Result<(usize, Vec<Option<usize>>)> {
    let id =
        position(names, id).ok_or_else(|| missing_column(path, what, "identifier", id, names))?;
    let found = columns
        .iter()
        .map(|c| match position(names, c.name) {
            Some(i) => Ok(Some(i)),
            None if c.required => Err(missing_column(path, what, c.role, c.name, names)),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((id, found))
}

/// Identifiers, numeric columns, and whether each requested column exists.
type Columns = (Vec<String>, Vec<Vec<f64>>, Vec<bool>);

/// Reads the identifier and requested columns of the catalog's table HDU.
fn read_fits(path: &Path, what: &str, id: &str, columns: &[ColumnRequest]) -> Result<Columns> {
    let (mut fits, infos, nrows) = open_table(path, what)?;
    let names: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
    let (id_index, indices) = find_columns(path, &names, what, id, columns)?;
    let mut read = |index: usize, role: &str| -> Result<ColumnData> {
        let info = &infos[index];
        fits.read_column(info, 1, nrows)?.ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "the {role} column '{}' is not a scalar column (one value per row)",
                    info.name
                ),
            )
        })
    };
    let ids = identifiers(path, &names[id_index], read(id_index, "identifier")?)?;
    let present = indices.iter().map(Option::is_some).collect();
    let mut values = Vec::with_capacity(columns.len());
    for (request, index) in columns.iter().zip(indices) {
        let Some(index) = index else {
            values.push(vec![f64::NAN; nrows]);
            continue;
        };
        values.push(match read(index, request.role)? {
            ColumnData::F64(v) => v,
            ColumnData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ColumnData::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ColumnData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ColumnData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            _ => {
                return Err(Error::file(
                    path,
                    format!(
                        "the {} column '{}' is not numeric",
                        request.role, names[index]
                    ),
                ))
            }
        });
    }
    Ok((ids, values, present))
}

/// The catalog's table HDU (see [`find_table_hdu`]), opened: the file, its columns and its
/// row count.
pub(crate) fn open_table(path: &Path, what: &str) -> Result<(Fits, Vec<fits::ColumnInfo>, usize)> {
    let mut fits = Fits::open(path)?;
    let hdu = find_table_hdu(&mut fits, what)?;
    fits.move_to_hdu(hdu)?;
    let (ncols, nrows) = fits.table_shape()?;
    let infos = (1..=ncols)
        .map(|c| fits.column_info(c))
        .collect::<Result<Vec<_>>>()?;
    Ok((fits, infos, nrows))
}

/// The identifiers of an identifier column as text: strings trimmed, integers in decimal.
pub(crate) fn identifiers(path: &Path, name: &str, data: ColumnData) -> Result<Vec<String>> {
    Ok(match data {
        ColumnData::Str(v) => v.into_iter().map(|s| s.trim().to_string()).collect(),
        ColumnData::I16(v) => v.iter().map(i16::to_string).collect(),
        ColumnData::I32(v) => v.iter().map(i32::to_string).collect(),
        ColumnData::I64(v) => v.iter().map(i64::to_string).collect(),
        _ => {
            return Err(Error::file(
                path,
                format!("the identifier column '{name}' holds neither strings nor integers"),
            ))
        }
    })
}

/// The 1-based number of the first table HDU with rows, or of the first table HDU when no
/// table has rows.
fn find_table_hdu(fits: &mut Fits, what: &str) -> Result<usize> {
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
            format!("the {what} is a FITS file without a table HDU"),
        )
    })
}

/// One parsed CSV record: its fields and the 1-based line it starts on.
pub(crate) struct Record {
    pub(crate) line: usize,
    pub(crate) fields: Vec<String>,
}

/// Splits CSV text into records (see the module documentation for the dialect).
pub(crate) fn csv_records(path: &Path, text: &str) -> Result<Vec<Record>> {
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

/// The column names and data records of CSV text (a byte-order mark ignored), every record
/// checked to have one field per column.
pub(crate) fn csv_table(path: &Path, text: &str, what: &str) -> Result<(Vec<String>, Vec<Record>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = csv_records(path, text)?.into_iter();
    let header = records
        .next()
        .ok_or_else(|| Error::file(path, format!("the {what} is empty (no header line)")))?;
    let names = header.fields;
    let records: Vec<Record> = records.collect();
    if let Some(bad) = records.iter().find(|r| r.fields.len() != names.len()) {
        return Err(Error::file(
            path,
            format!(
                "line {}: {} fields where the header names {} columns",
                bad.line,
                bad.fields.len(),
                names.len()
            ),
        ));
    }
    Ok((names, records))
}

/// A CSV value: blank or `--` is NaN, otherwise a number (`nan`, `inf` accepted).
pub(crate) fn csv_number(path: &Path, line: usize, column: &str, text: &str) -> Result<f64> {
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

/// Reads the identifier and requested columns of a CSV catalog.
fn read_csv(
    path: &Path,
    text: &str,
    what: &str,
    id: &str,
    columns: &[ColumnRequest],
) -> Result<Columns> {
    let (names, records) = csv_table(path, text, what)?;
    let (id_index, indices) = find_columns(path, &names, what, id, columns)?;
    let present = indices.iter().map(Option::is_some).collect();
    let mut ids = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    for record in records {
        ids.push(record.fields[id_index].trim().to_string());
        for (column, index) in values.iter_mut().zip(&indices) {
            column.push(match index {
                Some(i) => csv_number(path, record.line, &names[*i], record.fields[*i].trim())?,
                None => f64::NAN,
            });
        }
    }
    Ok((ids, values, present))
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
