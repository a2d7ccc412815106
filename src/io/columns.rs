//! The columns of a FITS table: their kinds as stored ([`ColumnKind`]), their definitions
//! ([`ColumnSpec`]) and their values ([`ColumnData`]), and the checks a batch of rows passes
//! before it is written. They sit below the modules that write and read tables (`table`, and
//! `fits`, the raw CFITSIO layer beneath it), which both speak them.

use crate::{Error, Result};
use std::path::Path;

/// The type of a table column, as stored in the FITS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// 64-bit IEEE float (`D`).
    F64,
    /// 32-bit IEEE float (`E`).
    F32,
    /// 16-bit signed integer (`I`).
    I16,
    /// 32-bit signed integer (`J`).
    I32,
    /// 64-bit signed integer (`K`).
    I64,
    /// FITS logical (`L`).
    Bool,
    /// Fixed-width ASCII string (`<width>A`); `width` counts bytes.
    Str {
        /// Maximum length in bytes.
        width: usize,
    },
    /// A fixed-length array of bytes per row (`<len>B`, with `TDIMn = (len)`).
    ByteArray {
        /// Elements per row.
        len: usize,
    },
    /// A fixed-length array of 32-bit floats per row (`<len>E`, with `TDIMn = (len)`).
    F32Array {
        /// Elements per row (DR19's empty BOSS HDU has some of length 0).
        len: usize,
    },
}

impl ColumnKind {
    /// The FITS `TFORM` code of this kind.
    pub(crate) fn tform(self) -> String {
        match self {
            ColumnKind::F64 => "1D".into(),
            ColumnKind::F32 => "1E".into(),
            ColumnKind::I16 => "1I".into(),
            ColumnKind::I32 => "1J".into(),
            ColumnKind::I64 => "1K".into(),
            ColumnKind::Bool => "1L".into(),
            ColumnKind::Str { width } => format!("{}A", width.max(1)),
            ColumnKind::ByteArray { len } => format!("{len}B"),
            ColumnKind::F32Array { len } => format!("{len}E"),
        }
    }

    /// The `TDIMn` of an array column (`None` for scalars and strings).
    pub(crate) fn tdim(self) -> Option<String> {
        match self {
            ColumnKind::ByteArray { len } | ColumnKind::F32Array { len } => {
                Some(format!("({len})"))
            }
            _ => None,
        }
    }

    /// Bytes per cell in a FITS binary table.
    pub(crate) fn byte_width(self) -> usize {
        match self {
            ColumnKind::F64 | ColumnKind::I64 => 8,
            ColumnKind::F32 | ColumnKind::I32 => 4,
            ColumnKind::I16 => 2,
            ColumnKind::Bool => 1,
            ColumnKind::Str { width } => width.max(1),
            ColumnKind::ByteArray { len } => len,
            ColumnKind::F32Array { len } => 4 * len,
        }
    }

    /// A short name for messages.
    fn describe(self) -> String {
        match self {
            ColumnKind::F64 => "f64".into(),
            ColumnKind::F32 => "f32".into(),
            ColumnKind::I16 => "i16".into(),
            ColumnKind::I32 => "i32".into(),
            ColumnKind::I64 => "i64".into(),
            ColumnKind::Bool => "bool".into(),
            ColumnKind::Str { width } => format!("string of width {width}"),
            ColumnKind::ByteArray { len } => format!("array of {len} bytes"),
            ColumnKind::F32Array { len } => format!("array of {len} f32"),
        }
    }
}

/// One column of an output table: its name (lower case by Astra's convention), type, and the
/// optional unit (`TUNITn`) and description (written as the comment of `TTYPEn`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Column name (`TTYPEn`).
    pub name: String,
    /// Storage type.
    pub kind: ColumnKind,
    /// Physical unit, if any.
    pub unit: Option<String>,
    /// Human-readable description, if any.
    pub description: Option<String>,
}

impl ColumnSpec {
    /// A column without unit or description.
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        ColumnSpec {
            name: name.into(),
            kind,
            unit: None,
            description: None,
        }
    }
}

/// The values of one column for a batch of rows (or a whole table when read).
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// 64-bit floats; NaN is stored as IEEE NaN.
    F64(Vec<f64>),
    /// 32-bit floats; NaN is stored as IEEE NaN.
    F32(Vec<f32>),
    /// 16-bit integers.
    I16(Vec<i16>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// Logicals.
    Bool(Vec<bool>),
    /// Strings (trailing blanks are not significant in FITS).
    Str(Vec<String>),
    /// Arrays of bytes, one per row.
    ByteArray(Vec<Vec<u8>>),
    /// Arrays of 32-bit floats, one per row.
    F32Array(Vec<Vec<f32>>),
}

impl ColumnData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::F64(v) => v.len(),
            ColumnData::F32(v) => v.len(),
            ColumnData::I16(v) => v.len(),
            ColumnData::I32(v) => v.len(),
            ColumnData::I64(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Str(v) => v.len(),
            ColumnData::ByteArray(v) => v.len(),
            ColumnData::F32Array(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numeric values as f64 (`None` for strings, logicals and arrays).
    pub fn to_f64s(&self) -> Option<Vec<f64>> {
        Some(match self {
            ColumnData::F64(v) => v.clone(),
            ColumnData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ColumnData::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ColumnData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ColumnData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            ColumnData::Bool(_)
            | ColumnData::Str(_)
            | ColumnData::ByteArray(_)
            | ColumnData::F32Array(_) => return None,
        })
    }

    /// A short name of the variant, for messages.
    fn describe(&self) -> &'static str {
        match self {
            ColumnData::F64(_) => "f64",
            ColumnData::F32(_) => "f32",
            ColumnData::I16(_) => "i16",
            ColumnData::I32(_) => "i32",
            ColumnData::I64(_) => "i64",
            ColumnData::Bool(_) => "bool",
            ColumnData::Str(_) => "string",
            ColumnData::ByteArray(_) => "byte array",
            ColumnData::F32Array(_) => "f32 array",
        }
    }

    /// Whether these values can be stored in a column of `kind`.
    fn matches(&self, kind: ColumnKind) -> bool {
        matches!(
            (self, kind),
            (ColumnData::F64(_), ColumnKind::F64)
                | (ColumnData::F32(_), ColumnKind::F32)
                | (ColumnData::I16(_), ColumnKind::I16)
                | (ColumnData::I32(_), ColumnKind::I32)
                | (ColumnData::I64(_), ColumnKind::I64)
                | (ColumnData::Bool(_), ColumnKind::Bool)
                | (ColumnData::Str(_), ColumnKind::Str { .. })
                | (ColumnData::ByteArray(_), ColumnKind::ByteArray { .. })
                | (ColumnData::F32Array(_), ColumnKind::F32Array { .. })
        )
    }
}

/// Checks column names (non-empty, unique ignoring case, as FITS compares them) and widths.
pub(crate) fn validate_columns(path: &Path, columns: &[ColumnSpec]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for spec in columns {
        if spec.name.trim().is_empty() {
            return Err(Error::Invalid(format!(
                "{}: a table column has an empty name",
                path.display()
            )));
        }
        if !seen.insert(spec.name.to_ascii_lowercase()) {
            return Err(Error::Invalid(format!(
                "{}: column name '{}' is used twice",
                path.display(),
                spec.name
            )));
        }
        if let ColumnKind::Str { width: 0 } = spec.kind {
            return Err(Error::Invalid(format!(
                "{}: string column '{}' has width 0",
                path.display(),
                spec.name
            )));
        }
    }
    Ok(())
}

/// Checks that a batch fits the columns: count, kinds, equal lengths, string widths.
pub(crate) fn check_batch(path: &Path, columns: &[ColumnSpec], batch: &[ColumnData]) -> Result<()> {
    if batch.len() != columns.len() {
        return Err(Error::Invalid(format!(
            "{}: a batch holds {} columns but the table has {}",
            path.display(),
            batch.len(),
            columns.len()
        )));
    }
    let n = batch.first().map_or(0, ColumnData::len);
    for (data, spec) in batch.iter().zip(columns) {
        if !data.matches(spec.kind) {
            return Err(Error::Invalid(format!(
                "{}: column '{}' holds {} values but {} were given",
                path.display(),
                spec.name,
                spec.kind.describe(),
                data.describe()
            )));
        }
        if data.len() != n {
            return Err(Error::Invalid(format!(
                "{}: column '{}' has {} values in this batch, the first column {}",
                path.display(),
                spec.name,
                data.len(),
                n
            )));
        }
        let array_lengths: Vec<usize> = match data {
            ColumnData::ByteArray(v) => v.iter().map(Vec::len).collect(),
            ColumnData::F32Array(v) => v.iter().map(Vec::len).collect(),
            _ => Vec::new(),
        };
        if let ColumnKind::ByteArray { len } | ColumnKind::F32Array { len } = spec.kind {
            if let Some(bad) = array_lengths.iter().find(|&&n| n != len) {
                return Err(Error::Invalid(format!(
                    "{}: column '{}' holds arrays of {len} values but one of {bad} was given",
                    path.display(),
                    spec.name
                )));
            }
        }
        if let (ColumnData::Str(values), ColumnKind::Str { width }) = (data, spec.kind) {
            for value in values {
                if value.len() > width {
                    return Err(Error::Invalid(format!(
                        "{}: value '{}' ({} bytes) does not fit column '{}' of width {}",
                        path.display(),
                        value,
                        value.len(),
                        spec.name,
                        width
                    )));
                }
                if value.contains('\0') {
                    return Err(Error::Invalid(format!(
                        "{}: a value of column '{}' contains a NUL character",
                        path.display(),
                        spec.name
                    )));
                }
            }
        }
    }
    Ok(())
}
