//! Astra-style output tables (SPEC §8), written as a stream, and FITS binary-table reading.
//!
//! Astra's summary products (`astraAllStarAstroNN`, `astraAllVisitAstroNN`,
//! `astraAllStarAstroNNdist`) are FITS files with HDU 0 a header describing the run, HDU 1 a
//! binary table named `BOSS` without rows and HDU 2 a binary table named `APOGEE` with
//! lower-case column names. [`AstraTableWriter`] writes that layout (the DR19 columns
//! themselves are [`crate::products`]'s). Because a run can cover millions of
//! spectra, rows are appended in batches straight into the `APOGEE` HDU (the last HDU, so
//! growing it is cheap) and memory does not grow with the row count. The table is written to a
//! temporary file beside its destination and renamed over it only by
//! [`AstraTableWriter::finish`], so a failed run never leaves a half-written table behind.
//!
//! [`read_table`] reads every scalar column of a binary (or ASCII) table HDU; it serves the
//! tests and catalogs such as label or photometry tables. [`read_primary_cards`] lists the
//! primary header.
//!
//! The module also holds the crate's thin, panic-free wrapper over raw CFITSIO calls
//! (`fits`), shared with the apStar reader and the normalized-spectrum files: the safe
//! `fitsio` API lacks logical columns, long-string cards and literal (non-extended) file
//! names, and panics on some inputs.

use crate::io::fits;
use crate::io::temp::TempPath;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

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

/// The value of a header card.
#[derive(Debug, Clone, PartialEq)]
pub enum CardValue {
    /// A string; long values are written with the CONTINUE convention, never truncated.
    Str(String),
    /// A float; a non-finite value is written as an undefined value.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A logical.
    Bool(bool),
}

impl CardValue {
    /// The value as text, as a header reader gives it back (numbers in their shortest exact
    /// form, logicals as `T`/`F`).
    pub fn text(&self) -> String {
        match self {
            CardValue::Str(s) => s.clone(),
            CardValue::F64(v) => v.to_string(),
            CardValue::I64(v) => v.to_string(),
            CardValue::Bool(v) => if *v { "T" } else { "F" }.to_string(),
        }
    }
}

/// A header card to write: keyword, value and comment. The keywords `COMMENT` and `HISTORY`
/// write commentary cards holding the value's text (the comment is then ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderCard {
    /// Keyword; names longer than 8 characters use the HIERARCH convention.
    pub key: String,
    /// Value.
    pub value: CardValue,
    /// Comment (may be empty).
    pub comment: String,
}

impl HeaderCard {
    /// A card from its parts.
    pub fn new(key: impl Into<String>, value: CardValue, comment: impl Into<String>) -> Self {
        HeaderCard {
            key: key.into(),
            value,
            comment: comment.into(),
        }
    }
}

/// Name of the (empty) BOSS HDU of Astra's summary products.
pub const BOSS_HDU: &str = "BOSS";
/// Name of the APOGEE HDU of Astra's summary products, which holds the rows.
pub const APOGEE_HDU: &str = "APOGEE";

/// Everything of an Astra-style summary file except its rows: the primary header, the
/// columns of HDU 1 (`BOSS`, never any rows here) and HDU 2 (`APOGEE`), and the cards each
/// table header carries besides its column definitions.
#[derive(Debug, Clone, Default)]
pub struct AstraTableLayout {
    /// HDU 0 cards.
    pub primary: Vec<HeaderCard>,
    /// HDU 1 (`BOSS`) columns.
    pub boss: Vec<ColumnSpec>,
    /// HDU 1 extra cards.
    pub boss_cards: Vec<HeaderCard>,
    /// HDU 2 (`APOGEE`) columns: the rows' layout.
    pub apogee: Vec<ColumnSpec>,
    /// HDU 2 extra cards.
    pub apogee_cards: Vec<HeaderCard>,
}

/// Streams an Astra-style summary table to disk (see the module documentation).
///
/// Created with [`AstraTableWriter::create`] (or [`AstraTableWriter::create_layout`]), fed
/// with [`AstraTableWriter::append`], completed with [`AstraTableWriter::finish`]. Dropping it
/// without `finish` deletes the temporary file. A destination ending in `.gz` is written
/// gzip-compressed, as SDSS ships its summary files.
pub struct AstraTableWriter {
    // Field order matters: `fits` is dropped (closed) before `temp` removes the file.
    fits: Option<fits::Fits>,
    dest: PathBuf,
    temp: TempPath,
    columns: Vec<ColumnSpec>,
    rows: usize,
}

impl AstraTableWriter {
    /// Starts a table destined for `path` with the same `columns` in the `BOSS` and `APOGEE`
    /// HDUs and the `primary` cards in HDU 0 (see [`AstraTableWriter::create_layout`]).
    pub fn create(path: &Path, columns: Vec<ColumnSpec>, primary: &[HeaderCard]) -> Result<Self> {
        Self::create_layout(
            path,
            AstraTableLayout {
                primary: primary.to_vec(),
                boss: columns.clone(),
                apogee: columns,
                ..AstraTableLayout::default()
            },
        )
    }

    /// Starts a table destined for `path`: creates a temporary file beside it at once (so an
    /// unwritable destination fails before any work is done) holding HDU 0, the `BOSS` table
    /// (never any rows) and the `APOGEE` table with no rows yet, as `layout` describes.
    pub fn create_layout(path: &Path, layout: AstraTableLayout) -> Result<Self> {
        validate_columns(path, &layout.boss)?;
        validate_columns(path, &layout.apogee)?;
        let temp = TempPath::beside(path, "fits")?;
        let mut fits = fits::Fits::create(temp.path())?;
        fits.create_empty_primary()?;
        for card in &layout.primary {
            fits.write_card(card)?;
        }
        for (name, columns, cards) in [
            (BOSS_HDU, &layout.boss, &layout.boss_cards),
            (APOGEE_HDU, &layout.apogee, &layout.apogee_cards),
        ] {
            fits.create_bintable(name, columns)?;
            for card in cards {
                fits.write_card(card)?;
            }
        }
        Ok(AstraTableWriter {
            fits: Some(fits),
            dest: path.to_path_buf(),
            temp,
            columns: layout.apogee,
            rows: 0,
        })
    }

    /// Appends a batch of rows: one [`ColumnData`] per column, in the order of the column
    /// specs, all of the same length and of the column's kind. A string longer than its
    /// column's width is an error naming the column; nothing is written then.
    pub fn append(&mut self, batch: &[ColumnData]) -> Result<()> {
        check_batch(&self.dest, &self.columns, batch)?;
        let n = batch.first().map_or(0, ColumnData::len);
        if n == 0 {
            return Ok(());
        }
        let fits = self.fits.as_mut().ok_or_else(|| {
            Error::file(
                &self.dest,
                "the table writer was already closed after an error",
            )
        })?;
        fits.write_rows(self.rows + 1, &self.columns, batch)?;
        self.rows += n;
        Ok(())
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The column specifications of the `APOGEE` HDU, in order.
    pub fn columns(&self) -> &[ColumnSpec] {
        &self.columns
    }

    /// Completes the table: adds `late_primary` cards (elapsed time, row counts…) to HDU 0,
    /// writes both tables' `CHECKSUM`/`DATASUM`, closes the file, gzips it when the
    /// destination ends in `.gz`, and renames it over the destination atomically.
    pub fn finish(mut self, late_primary: &[HeaderCard]) -> Result<()> {
        let mut fits = self.fits.take().ok_or_else(|| {
            Error::file(
                &self.dest,
                "the table writer was already closed after an error",
            )
        })?;
        fits.move_to_hdu(1)?;
        for card in late_primary {
            fits.write_card(card)?;
        }
        for hdu in [2, 3] {
            fits.move_to_hdu(hdu)?;
            fits.write_checksums()?;
        }
        fits.close()?;
        persist_fits(self.temp, &self.dest)
    }
}

/// Renames the complete FITS file `temp` over `dest`, gzip-compressing it first when `dest`
/// ends in `.gz` (any case), as SDSS ships its summary files.
pub(crate) fn persist_fits(temp: TempPath, dest: &Path) -> Result<()> {
    let gzip = dest
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if !gzip {
        return temp.persist(dest);
    }
    let gz = TempPath::beside(dest, "fits.gz")?;
    gzip_file(temp.path(), gz.path())?;
    gz.persist(dest)
}

/// Compresses `from` into `to` with gzip, streaming (memory does not grow with the file).
fn gzip_file(from: &Path, to: &Path) -> Result<()> {
    let mut input =
        std::io::BufReader::new(std::fs::File::open(from).map_err(|e| Error::io(from, e))?);
    let output = std::fs::File::create(to).map_err(|e| Error::io(to, e))?;
    let mut encoder = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(output),
        flate2::Compression::default(),
    );
    std::io::copy(&mut input, &mut encoder).map_err(|e| Error::io(to, e))?;
    let writer = encoder.finish().map_err(|e| Error::io(to, e))?;
    writer
        .into_inner()
        .map_err(|e| Error::io(to, e.into_error()))?
        .sync_all()
        .map_err(|e| Error::io(to, e))
}

impl std::fmt::Debug for AstraTableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AstraTableWriter")
            .field("dest", &self.dest)
            .field("temp", &self.temp.path())
            .field("columns", &self.columns.len())
            .field("rows", &self.rows)
            .finish()
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

/// A table read from a FITS file: `(name, values)` per column, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The columns, in file order.
    pub columns: Vec<(String, ColumnData)>,
}

impl Table {
    /// The values of the column called `name` (compared ignoring case, as FITS does).
    pub fn column(&self, name: &str) -> Option<&ColumnData> {
        self.columns
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, data)| data)
    }

    /// Number of rows (0 for a table without columns).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, data)| data.len())
    }
}

/// Reads every scalar column of the table HDU named `hdu_name` (`EXTNAME`, ignoring case).
///
/// Columns map to [`ColumnData`] by their equivalent type after `TSCAL`/`TZERO`: doubles to
/// `F64`, floats to `F32`, 8/16-bit integers to `I16`, unsigned 16-bit and 32-bit integers to
/// `I32`, unsigned 32-bit and 64-bit integers to `I64`, logicals to `Bool` (undefined ones
/// false), strings to `Str` with surrounding blanks trimmed, and byte arrays (such as DR19's
/// `sdss5_target_flags`) to `ByteArray`. Other columns whose cells are arrays (repeat > 1),
/// bit and complex columns have no `ColumnData` form and are left out.
pub fn read_table(path: &Path, hdu_name: &str) -> Result<Table> {
    let mut fits = fits::Fits::open(path)?;
    let hdutype = fits
        .move_to_named(hdu_name)?
        .ok_or_else(|| Error::file(path, format!("the file has no HDU named '{hdu_name}'")))?;
    if hdutype != fits::BINARY_TBL && hdutype != fits::ASCII_TBL {
        return Err(Error::file(
            path,
            format!("HDU '{hdu_name}' is an image, not a table"),
        ));
    }
    let (ncols, nrows) = fits.table_shape()?;
    let mut columns = Vec::with_capacity(ncols);
    for colnum in 1..=ncols {
        let info = fits.column_info(colnum)?;
        if let Some(data) = fits.read_column(&info, 1, nrows)? {
            columns.push((info.name, data));
        }
    }
    Ok(Table { columns })
}

/// The cards of the primary header as `(keyword, value text)`, in order, without `END`.
///
/// String values are unquoted (doubled quotes undone, trailing blanks removed) and long
/// strings continued over `CONTINUE` cards are joined; other values are given as written.
/// Commentary cards (`COMMENT`, `HISTORY`, blank) give their text as the value.
pub fn read_primary_cards(path: &Path) -> Result<Vec<(String, String)>> {
    read_header_cards(path, 0)
}

/// The cards of HDU `hdu` (0: the primary), as [`read_primary_cards`] gives them.
pub fn read_header_cards(path: &Path, hdu: usize) -> Result<Vec<(String, String)>> {
    let mut fits = fits::Fits::open(path)?;
    fits.move_to_hdu(hdu + 1)?;
    let records = fits.records()?;
    Ok(fits::parse_cards(&records))
}
