//! Star catalogs whose columns become fields of the spectra (`--sources`, `--gaia`): any
//! of a set of named columns, typed, looked up by one identifier column.
//!
//! Read like [`crate::io::catalog`] (FITS: the first table HDU with rows; CSV: a header line,
//! `#` preamble, quoted fields, blank or `--` for unknown). Each wanted column the file has is
//! kept in memory in its output storage (float32 where the product stores float32), so a
//! catalog costs about as much memory as those columns take in a FITS file; columns it lacks
//! are simply not copied. Identifiers are matched as text after trimming blanks (integers in
//! decimal); the first row of a repeated identifier wins.

use crate::io::catalog::{
    csv_number, csv_table, csv_text, identifiers, missing_column, open_table, position,
};
use crate::io::columns::{ColumnData, ColumnKind};
use crate::io::fields::{Fields, Value};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A catalog column to copy: its name in the file (ignoring case), the field it becomes,
/// and the storage it is kept in.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogColumn {
    /// The column's name in the catalog.
    pub name: String,
    /// The field it fills.
    pub field: String,
    /// How its values are kept (and parsed, for CSV).
    pub kind: ColumnKind,
}

/// A catalog read for its columns' values, by identifier.
#[derive(Debug, Clone)]
pub struct StarCatalog {
    path: PathBuf,
    index: HashMap<String, usize>,
    /// Each copied column: its field name and values.
    columns: Vec<(String, ColumnData)>,
}

impl StarCatalog {
    /// Reads `path` (FITS or CSV): the identifier column `id` (an error naming the columns
    /// the file has when it lacks it) and every one of `wanted` that it has; `what` names
    /// the catalog in messages. A wanted column of another type than expected (text where
    /// numbers are expected) is an error naming it.
    pub fn load(path: &Path, what: &str, id: &str, wanted: &[CatalogColumn]) -> Result<Self> {
        let (ids, columns) = match csv_text(path)? {
            None => read_fits(path, what, id, wanted)?,
            Some(text) => read_csv(path, &text, what, id, wanted)?,
        };
        let mut index = HashMap::with_capacity(ids.len());
        for (row, id) in ids.into_iter().enumerate() {
            index.entry(id).or_insert(row);
        }
        Ok(StarCatalog {
            path: path.to_path_buf(),
            index,
            columns,
        })
    }

    /// The fields of the star whose identifier is `id` (blanks ignored), or `None` when the
    /// catalog does not list it.
    pub fn lookup(&self, id: &str) -> Option<Fields> {
        let row = *self.index.get(id.trim())?;
        let mut fields = Fields::new();
        for (field, data) in &self.columns {
            fields.set(field, cell(data, row));
        }
        Some(fields)
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Row `row` of a column as a field value.
fn cell(data: &ColumnData, row: usize) -> Value {
    match data {
        ColumnData::F64(v) => Value::Float(v[row]),
        ColumnData::F32(v) => Value::Float(f64::from(v[row])),
        ColumnData::I16(v) => Value::Int(i64::from(v[row])),
        ColumnData::I32(v) => Value::Int(i64::from(v[row])),
        ColumnData::I64(v) => Value::Int(v[row]),
        ColumnData::Bool(v) => Value::Bool(v[row]),
        ColumnData::Str(v) => Value::Text(v[row].clone()),
        ColumnData::ByteArray(v) => Value::Bytes(v[row].clone()),
        ColumnData::F32Array(_) => Value::Float(f64::NAN),
    }
}

/// Identifiers (as text) and the copied columns.
type Read = (Vec<String>, Vec<(String, ColumnData)>);

/// `data` in the storage `kind` asks for, or `None` when they do not convert (text into
/// numbers, numbers into text).
fn convert(data: ColumnData, kind: ColumnKind) -> Option<ColumnData> {
    let integers = |data: &ColumnData| -> Option<Vec<i64>> {
        Some(match data {
            ColumnData::I16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ColumnData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ColumnData::I64(v) => v.clone(),
            ColumnData::F64(v) => v.iter().map(|&x| integral(x)).collect(),
            ColumnData::F32(v) => v.iter().map(|&x| integral(f64::from(x))).collect(),
            _ => return None,
        })
    };
    Some(match kind {
        ColumnKind::F64 => ColumnData::F64(data.to_f64s()?),
        ColumnKind::F32 => ColumnData::F32(data.to_f64s()?.into_iter().map(|x| x as f32).collect()),
        ColumnKind::I16 | ColumnKind::I32 => ColumnData::I32(
            integers(&data)?
                .into_iter()
                .map(|x| i32::try_from(x).unwrap_or(-1))
                .collect(),
        ),
        ColumnKind::I64 => ColumnData::I64(integers(&data)?),
        ColumnKind::Bool => match data {
            ColumnData::Bool(v) => ColumnData::Bool(v),
            other => ColumnData::Bool(integers(&other)?.into_iter().map(|x| x != 0).collect()),
        },
        ColumnKind::Str { .. } => match data {
            ColumnData::Str(v) => {
                ColumnData::Str(v.into_iter().map(|s| s.trim().to_string()).collect())
            }
            _ => return None,
        },
        ColumnKind::ByteArray { .. } => match data {
            ColumnData::ByteArray(v) => ColumnData::ByteArray(v),
            _ => return None,
        },
        ColumnKind::F32Array { .. } => return None,
    })
}

/// An integral float as an integer; −1 (DR19's integer fill) for NaN or fractions.
fn integral(x: f64) -> i64 {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.2e18 {
        x as i64
    } else {
        -1
    }
}

fn wrong_type(path: &Path, what: &str, name: &str, kind: ColumnKind) -> Error {
    let expected = match kind {
        ColumnKind::Str { .. } => "text",
        ColumnKind::Bool => "logicals",
        ColumnKind::ByteArray { .. } => "arrays of bytes",
        _ => "numbers",
    };
    Error::file(
        path,
        format!("the {what}'s column '{name}' does not hold {expected}"),
    )
}

/// Reads a FITS catalog's identifier and wanted columns.
fn read_fits(path: &Path, what: &str, id: &str, wanted: &[CatalogColumn]) -> Result<Read> {
    let (mut fits, infos, nrows) = open_table(path, what)?;
    let names: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
    let id_index =
        position(&names, id).ok_or_else(|| missing_column(path, what, "identifier", id, &names))?;
    let id_data = fits
        .read_column(&infos[id_index], 1, nrows)?
        .ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "the identifier column '{}' is not a scalar column",
                    names[id_index]
                ),
            )
        })?;
    let ids = identifiers(path, &names[id_index], id_data)?;
    let mut columns = Vec::new();
    for column in wanted {
        let Some(index) = position(&names, &column.name) else {
            continue;
        };
        // Columns without a scalar form in the file (other arrays) are not copied.
        let Some(data) = fits.read_column(&infos[index], 1, nrows)? else {
            continue;
        };
        let data = convert(data, column.kind)
            .ok_or_else(|| wrong_type(path, what, &names[index], column.kind))?;
        columns.push((column.field.clone(), data));
    }
    Ok((ids, columns))
}

/// Reads a CSV catalog's identifier and wanted columns.
fn read_csv(
    path: &Path,
    text: &str,
    what: &str,
    id: &str,
    wanted: &[CatalogColumn],
) -> Result<Read> {
    let (names, records) = csv_table(path, text, what)?;
    let id_index =
        position(&names, id).ok_or_else(|| missing_column(path, what, "identifier", id, &names))?;
    let found: Vec<(usize, &CatalogColumn)> = wanted
        .iter()
        .filter_map(|c| position(&names, &c.name).map(|i| (i, c)))
        .collect();
    let mut ids = Vec::new();
    let mut lines = Vec::new();
    let mut texts: Vec<Vec<String>> = vec![Vec::new(); found.len()];
    for record in records {
        ids.push(record.fields[id_index].trim().to_string());
        lines.push(record.line);
        for (column, (index, _)) in texts.iter_mut().zip(&found) {
            column.push(record.fields[*index].trim().to_string());
        }
    }
    let mut columns = Vec::with_capacity(found.len());
    for ((index, column), values) in found.into_iter().zip(texts) {
        let name = &names[index];
        let data = match column.kind {
            ColumnKind::Str { .. } => ColumnData::Str(values),
            ColumnKind::Bool => ColumnData::Bool(values.iter().map(|v| csv_truth(v)).collect()),
            ColumnKind::ByteArray { .. } | ColumnKind::F32Array { .. } => continue,
            ColumnKind::I16 | ColumnKind::I32 | ColumnKind::I64 => ColumnData::I64(
                values
                    .iter()
                    .zip(&lines)
                    .map(|(v, &line)| csv_integer(path, line, name, v))
                    .collect::<Result<Vec<_>>>()?,
            ),
            ColumnKind::F32 | ColumnKind::F64 => ColumnData::F64(
                values
                    .iter()
                    .zip(&lines)
                    .map(|(v, &line)| csv_number(path, line, name, v))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let data =
            convert(data, column.kind).ok_or_else(|| wrong_type(path, what, name, column.kind))?;
        columns.push((column.field.clone(), data));
    }
    Ok((ids, columns))
}

/// A CSV integer, exactly (identifiers exceed a float's precision): blank or `--` is −1
/// (DR19's integer fill), an integral float is accepted.
fn csv_integer(path: &Path, line: usize, column: &str, text: &str) -> Result<i64> {
    if text.is_empty() || text == "--" {
        return Ok(-1);
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(v);
    }
    let v = csv_number(path, line, column, text)?;
    if v.is_finite() && v.fract() == 0.0 {
        Ok(integral(v))
    } else {
        Err(Error::file(
            path,
            format!("line {line}: column '{column}' holds '{text}', not an integer"),
        ))
    }
}

/// A CSV logical: `T`, `True`, `1` (any case) are true.
fn csv_truth(text: &str) -> bool {
    matches!(text.to_ascii_lowercase().as_str(), "t" | "true" | "1")
}
