//! One column of a DR19 product: name, storage, unit, description, and DR19's fill value.

use crate::io::columns::{ColumnKind, ColumnSpec};
use crate::io::fields::Value;

/// How a column is stored in FITS and what fills it when its value is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// float32 (`E`), filled with NaN.
    F32,
    /// float64 (`D`), filled with NaN.
    F64,
    /// int32 (`J`), filled with −1.
    I32,
    /// int64 (`K`), filled with −1.
    I64,
    /// A bit field stored as int64 (`K`), filled with 0 (no bit set).
    Bits,
    /// Logical (`L`), filled with false.
    Bool,
    /// Text of at most this many bytes (`<n>A`), filled with "".
    Text(usize),
    /// A date and time as Python writes it, `YYYY-MM-DD hh:mm:ss.ffffff` (`26A`), filled
    /// with "".
    DateTime,
    /// A fixed-length array of bytes (`<n>B`), filled with zeros: a bit field too long for
    /// an integer (Astra's `BigBitField`, `sdss5_target_flags`).
    Bytes(usize),
    /// A fixed-length array of float32 (`<n>E`), filled with NaN.
    F32s(usize),
}

/// A column of a DR19 product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Name (`TTYPEn`), as DR19 spells it.
    pub name: &'static str,
    /// Storage and fill.
    pub kind: Kind,
    /// Unit (`TUNITn`; empty for none).
    pub unit: &'static str,
    /// Description, written as the comment of `TTYPEn`.
    pub description: &'static str,
}

/// The DR19 units that are FITS-standard unit strings (FITS 4.0 §4.3, with its prefixes),
/// written as `TUNITn`. The others stay in the `TTYPEn` comment only: `dex`,
/// `log10(cm/s^2)`, `%`, `Vega`, `Vega nMgy`, `arcsecond` (FITS spells it `arcsec`),
/// `millibar` and `C` (degrees Celsius in DR19, coulomb in FITS).
pub const FITS_STANDARD_UNITS: [&str; 9] =
    ["K", "deg", "km/s", "mag", "mas", "mas/yr", "mJy", "pc", "s"];

impl Column {
    /// A column from its parts (for the constant tables).
    pub const fn new(
        name: &'static str,
        kind: Kind,
        unit: &'static str,
        description: &'static str,
    ) -> Self {
        Column {
            name,
            kind,
            unit,
            description,
        }
    }

    /// DR19's value for "unknown" in this column: NaN floats, −1 integers, 0 bit fields,
    /// false logicals, empty text.
    pub fn fill(&self) -> Value {
        match self.kind {
            Kind::F32 | Kind::F64 => Value::Float(f64::NAN),
            Kind::I32 | Kind::I64 => Value::Int(-1),
            Kind::Bits => Value::Int(0),
            Kind::Bool => Value::Bool(false),
            Kind::Text(_) | Kind::DateTime => Value::Text(String::new()),
            Kind::Bytes(n) => Value::Bytes(vec![0; n]),
            Kind::F32s(_) => Value::Float(f64::NAN),
        }
    }

    /// The storage of this column in the table writer.
    pub fn storage(&self) -> ColumnKind {
        match self.kind {
            Kind::F32 => ColumnKind::F32,
            Kind::F64 => ColumnKind::F64,
            Kind::I32 => ColumnKind::I32,
            Kind::I64 | Kind::Bits => ColumnKind::I64,
            Kind::Bool => ColumnKind::Bool,
            Kind::Text(width) => ColumnKind::Str { width },
            Kind::DateTime => ColumnKind::Str { width: 26 },
            Kind::Bytes(len) => ColumnKind::ByteArray { len },
            Kind::F32s(len) => ColumnKind::F32Array { len },
        }
    }

    /// The writer's column specification: name, storage and, as Astra writes it, the unit
    /// in brackets after the description in the `TTYPEn` comment; and `TUNITn` where the
    /// unit is one the FITS standard defines ([`FITS_STANDARD_UNITS`]). DR19 has no
    /// `TUNITn`; the others (`dex`, `log10(cm/s^2)`, `Vega nMgy`, `C` for Celsius, …) would
    /// make FITS readers warn or misread them.
    pub fn spec(&self) -> ColumnSpec {
        let description = match (self.description, self.unit) {
            (d, "") => d.to_string(),
            ("", u) => format!("[{u}]"),
            (d, u) => format!("{d} [{u}]"),
        };
        ColumnSpec {
            name: self.name.to_string(),
            kind: self.storage(),
            unit: FITS_STANDARD_UNITS
                .contains(&self.unit)
                .then(|| self.unit.to_string()),
            description: (!description.is_empty()).then_some(description),
        }
    }
}
