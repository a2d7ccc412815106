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
//! Both go through [`crate::io::fits`], the crate's thin, panic-free wrapper over raw CFITSIO
//! calls, shared with the apStar reader and the normalized-spectrum files: the safe `fitsio`
//! API lacks logical columns, long-string cards and literal (non-extended) file names, and
//! panics on some inputs. The columns and header cards are [`crate::io::columns`]'s and
//! [`crate::io::header_card`]'s.

use crate::io::columns::{check_batch, validate_columns, ColumnData, ColumnSpec};
use crate::io::fits;
use crate::io::header_card::HeaderCard;
use crate::io::temp::{while_writing, TempPath};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

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
        fits.write_rows(self.rows + 1, &self.columns, batch)
            .map_err(|e| while_writing(&self.dest, e))?;
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
    pub fn finish(self, late_primary: &[HeaderCard]) -> Result<()> {
        let dest = self.dest.clone();
        self.complete(late_primary)
            .map_err(|e| while_writing(&dest, e))
    }

    fn complete(mut self, late_primary: &[HeaderCard]) -> Result<()> {
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
    Ok(crate::io::header_records::parse_cards(&records))
}
