//! Normalized-spectrum files: what `astronn normalize` writes and `astronn predict
//! --normalized FILE` reads, so that the (slow to read, fast to normalize) apStar files are
//! prepared once and the networks can be run many times.
//!
//! Layout (FITS):
//! - HDU 0: header cards describing the run that wrote the file.
//! - Image HDU `FLUX` and image HDU `E_FLUX`: float64, one row per spectrum, 7514 columns
//!   (FITS NAXIS1 = 7514, NAXIS2 = N).
//! - Binary table HDU `SPECTRA`, one row per spectrum: `source_file`, `row` (the apStar row),
//!   `sdss4_apogee_id`, `kind` (`coadd`/`visit`), `visit` (0 for coadds), `visit_file` (empty
//!   for coadds) and the identity the result tables need later: `telescope`, `field`, `ra`,
//!   `dec`, `snr`, `k_mag`, `sfd_ebv` (NaN when missing).
//!
//! [`NormalizedWriter`] keeps memory flat whatever the number of spectra, which is unknown in
//! advance: rows are spilled to temporary files beside the output and the FITS file is
//! assembled from them in chunks by [`NormalizedWriter::finish`], then renamed into place.
//! [`NormalizedReader`] reads rows in chunks; it also accepts a FITS file holding only `FLUX`
//! (and maybe `E_FLUX`), describing each row as a coadd of that file.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::fits::{self, Fits};
use crate::io::table::{ColumnData, ColumnKind, ColumnSpec, HeaderCard};
use crate::io::temp::TempPath;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Name of the image HDU holding the normalized flux.
pub const FLUX_HDU: &str = "FLUX";
/// Name of the image HDU holding the normalized flux error.
pub const E_FLUX_HDU: &str = "E_FLUX";
/// Name of the table HDU describing each spectrum.
pub const SPECTRA_HDU: &str = "SPECTRA";

/// Rows of spectra moved per step when the file is assembled (about 15 MB of f64).
const CHUNK_ROWS: usize = 256;
/// Spectrum descriptions moved per step when the `SPECTRA` table is written.
const META_CHUNK: usize = 8192;

/// Where one normalized spectrum came from, and the star identity the result tables need.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumMeta {
    /// The apStar file (as given on the command line or in the input list).
    pub source_file: String,
    /// 0-based row in the apStar arrays.
    pub row: i64,
    /// APOGEE object name (`sdss4_apogee_id`).
    pub apogee_id: String,
    /// `"coadd"` or `"visit"`.
    pub kind: String,
    /// 1-based visit number; 0 for coadds.
    pub visit: i64,
    /// Visit file name; empty for coadds.
    pub visit_file: String,
    /// Telescope (`apo25m`, `lco25m`, …).
    pub telescope: String,
    /// Field name.
    pub field: String,
    /// Right ascension, degrees.
    pub ra: f64,
    /// Declination, degrees.
    pub dec: f64,
    /// Median S/N per pixel.
    pub snr: f64,
    /// 2MASS Ks magnitude (NaN when missing).
    pub k_mag: f64,
    /// SFD E(B−V) (NaN when missing).
    pub sfd_ebv: f64,
}

impl SpectrumMeta {
    /// The description used when a file has no `SPECTRA` table: row `index` of `source_file`,
    /// a coadd with unknown identity.
    pub fn anonymous(source_file: &str, index: usize) -> Self {
        SpectrumMeta {
            source_file: source_file.to_string(),
            row: i64::try_from(index).unwrap_or(i64::MAX),
            apogee_id: String::new(),
            kind: "coadd".to_string(),
            visit: 0,
            visit_file: String::new(),
            telescope: String::new(),
            field: String::new(),
            ra: f64::NAN,
            dec: f64::NAN,
            snr: f64::NAN,
            k_mag: f64::NAN,
            sfd_ebv: f64::NAN,
        }
    }

    fn strings(&self) -> [&str; 6] {
        [
            &self.source_file,
            &self.apogee_id,
            &self.kind,
            &self.visit_file,
            &self.telescope,
            &self.field,
        ]
    }
}

/// The `SPECTRA` string columns, in the order of [`SpectrumMeta::strings`].
const STRING_COLUMNS: [&str; 6] = [
    "source_file",
    "sdss4_apogee_id",
    "kind",
    "visit_file",
    "telescope",
    "field",
];

/// The `SPECTRA` columns in file order, with string widths.
fn spectra_columns(widths: &[usize; 6]) -> Vec<ColumnSpec> {
    let s = |i: usize| ColumnKind::Str {
        width: widths[i].max(1),
    };
    let describe = |name: &str, kind: ColumnKind, desc: &str, unit: Option<&str>| ColumnSpec {
        name: name.to_string(),
        kind,
        unit: unit.map(str::to_string),
        description: Some(desc.to_string()),
    };
    vec![
        describe(
            "source_file",
            s(0),
            "apStar file the spectrum was read from",
            None,
        ),
        describe(
            "row",
            ColumnKind::I64,
            "0-based row in the apStar arrays",
            None,
        ),
        describe("sdss4_apogee_id", s(1), "APOGEE object name", None),
        describe("kind", s(2), "coadd or visit", None),
        describe(
            "visit",
            ColumnKind::I64,
            "1-based visit number, 0 for coadds",
            None,
        ),
        describe("visit_file", s(3), "apVisit file of the visit", None),
        describe("telescope", s(4), "telescope", None),
        describe("field", s(5), "field name", None),
        describe("ra", ColumnKind::F64, "right ascension", Some("deg")),
        describe("dec", ColumnKind::F64, "declination", Some("deg")),
        describe("snr", ColumnKind::F64, "median S/N per pixel", None),
        describe("k_mag", ColumnKind::F64, "2MASS Ks magnitude", Some("mag")),
        describe("sfd_ebv", ColumnKind::F64, "SFD E(B-V)", Some("mag")),
    ]
}

/// A temporary spill file written sequentially, then read back once.
struct Spill {
    // Field order matters: the writer is closed before `temp` removes the file.
    writer: Option<BufWriter<File>>,
    temp: TempPath,
}

impl Spill {
    fn create(dest: &Path, suffix: &str) -> Result<Spill> {
        let temp = TempPath::beside(dest, suffix)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp.path())
            .map_err(|e| Error::io(temp.path(), e))?;
        Ok(Spill {
            temp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.temp.path().to_path_buf();
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::file(&path, "the spill file was already closed"))?;
        writer.write_all(bytes).map_err(|e| Error::io(&path, e))
    }

    fn write_f64s(&mut self, values: &[f64]) -> Result<()> {
        let mut bytes = Vec::with_capacity(values.len() * 8);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.write(&bytes)
    }

    /// Flushes and reopens the spill for reading.
    fn into_reader(mut self) -> Result<(BufReader<File>, TempPath)> {
        let path = self.temp.path().to_path_buf();
        if let Some(writer) = self.writer.take() {
            let file = writer
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            file.sync_all().ok();
        }
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        Ok((BufReader::with_capacity(1 << 20, file), self.temp))
    }
}

/// Streams normalized spectra into a normalized-spectrum file (see the module documentation).
///
/// Dropping the writer without [`NormalizedWriter::finish`] removes every temporary file.
pub struct NormalizedWriter {
    // Field order matters: `fits` is closed before `temp` removes its file.
    fits: Option<Fits>,
    temp: TempPath,
    dest: PathBuf,
    flux: Spill,
    e_flux: Spill,
    meta: Spill,
    widths: [usize; 6],
    rows: usize,
}

impl std::fmt::Debug for NormalizedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NormalizedWriter")
            .field("dest", &self.dest)
            .field("rows", &self.rows)
            .finish()
    }
}

impl NormalizedWriter {
    /// Starts a file destined for `path`, with `primary` cards in HDU 0. The temporary files
    /// are created beside `path` at once, so an unwritable destination fails here.
    pub fn create(path: &Path, primary: &[HeaderCard]) -> Result<Self> {
        let temp = TempPath::beside(path, "fits")?;
        let mut fits = Fits::create(temp.path())?;
        fits.create_empty_primary()?;
        for card in primary {
            fits.write_card(card)?;
        }
        Ok(NormalizedWriter {
            fits: Some(fits),
            temp,
            dest: path.to_path_buf(),
            flux: Spill::create(path, "flux")?,
            e_flux: Spill::create(path, "e_flux")?,
            meta: Spill::create(path, "meta")?,
            widths: [1; 6],
            rows: 0,
        })
    }

    /// Adds one spectrum: its description and 7514 normalized flux and error values.
    pub fn append(&mut self, meta: &SpectrumMeta, flux: &[f64], e_flux: &[f64]) -> Result<()> {
        for (name, values) in [("flux", flux), ("e_flux", e_flux)] {
            if values.len() != NETWORK_PIXELS {
                return Err(Error::Invalid(format!(
                    "{}: a normalized {name} has {} pixels, {NETWORK_PIXELS} expected \
                     (spectrum from {} row {})",
                    self.dest.display(),
                    values.len(),
                    meta.source_file,
                    meta.row
                )));
            }
        }
        let strings = meta.strings();
        for (i, s) in strings.iter().enumerate() {
            if s.contains('\0') {
                return Err(Error::Invalid(format!(
                    "{}: {} '{}' contains a NUL character",
                    self.dest.display(),
                    STRING_COLUMNS[i],
                    s.escape_debug()
                )));
            }
        }
        let mut record = Vec::with_capacity(256);
        let push_str = |record: &mut Vec<u8>, s: &str| {
            record.extend_from_slice(&(s.len() as u64).to_le_bytes());
            record.extend_from_slice(s.as_bytes());
        };
        push_str(&mut record, &meta.source_file);
        record.extend_from_slice(&meta.row.to_le_bytes());
        push_str(&mut record, &meta.apogee_id);
        push_str(&mut record, &meta.kind);
        record.extend_from_slice(&meta.visit.to_le_bytes());
        push_str(&mut record, &meta.visit_file);
        push_str(&mut record, &meta.telescope);
        push_str(&mut record, &meta.field);
        for v in [meta.ra, meta.dec, meta.snr, meta.k_mag, meta.sfd_ebv] {
            record.extend_from_slice(&v.to_le_bytes());
        }
        self.flux.write_f64s(flux)?;
        self.e_flux.write_f64s(e_flux)?;
        self.meta.write(&record)?;
        for (w, s) in self.widths.iter_mut().zip(strings) {
            *w = (*w).max(s.len());
        }
        self.rows += 1;
        Ok(())
    }

    /// Spectra appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no spectrum was appended yet.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Assembles the FITS file from the spills (in chunks), closes it and renames it over
    /// the destination atomically; the temporary files are removed.
    pub fn finish(mut self) -> Result<()> {
        let mut fits = self
            .fits
            .take()
            .ok_or_else(|| Error::file(&self.dest, "the writer was already closed"))?;
        let rows = self.rows;
        let n = i64::try_from(rows).unwrap_or(i64::MAX);
        let width = i64::try_from(NETWORK_PIXELS).unwrap_or(i64::MAX);
        for (name, spill) in [(FLUX_HDU, self.flux), (E_FLUX_HDU, self.e_flux)] {
            fits.create_image(-64, &[width, n])?;
            fits.write_key_str("EXTNAME", name, "")?;
            let (mut reader, spill_path) = spill.into_reader()?;
            let mut done = 0;
            let mut bytes = Vec::new();
            let mut values = Vec::new();
            while done < rows {
                let m = (rows - done).min(CHUNK_ROWS);
                bytes.resize(m * NETWORK_PIXELS * 8, 0);
                reader
                    .read_exact(&mut bytes)
                    .map_err(|e| Error::io(spill_path.path(), e))?;
                values.clear();
                values.extend(
                    bytes.chunks_exact(8).map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                    }),
                );
                let first_row = i64::try_from(done + 1).unwrap_or(i64::MAX);
                fits.write_pixels_f64(&[1, first_row], &values)?;
                done += m;
            }
        }

        let columns = spectra_columns(&self.widths);
        fits.create_bintable(SPECTRA_HDU, &columns)?;
        let (mut reader, spill_path) = self.meta.into_reader()?;
        let mut done = 0;
        while done < rows {
            let m = (rows - done).min(META_CHUNK);
            let mut batch = MetaBatch::with_capacity(m);
            for _ in 0..m {
                batch.push(read_meta(&mut reader).map_err(|e| Error::io(spill_path.path(), e))?);
            }
            fits.write_rows(done + 1, &columns, &batch.into_columns())?;
            done += m;
        }
        fits.close()?;
        self.temp.persist(&self.dest)
    }
}

/// Reads one spill record (the layout written by [`NormalizedWriter::append`]).
fn read_meta<R: Read>(reader: &mut R) -> std::io::Result<SpectrumMeta> {
    fn word<R: Read>(reader: &mut R) -> std::io::Result<[u8; 8]> {
        let mut b = [0u8; 8];
        reader.read_exact(&mut b)?;
        Ok(b)
    }
    fn string<R: Read>(reader: &mut R) -> std::io::Result<String> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let len = usize::try_from(u64::from_le_bytes(word(reader)?))
            .map_err(|_| bad("bad string length in spill file"))?;
        let mut bytes = vec![0u8; len];
        reader.read_exact(&mut bytes)?;
        String::from_utf8(bytes).map_err(|_| bad("bad UTF-8 in spill file"))
    }
    let source_file = string(reader)?;
    let row = i64::from_le_bytes(word(reader)?);
    let apogee_id = string(reader)?;
    let kind = string(reader)?;
    let visit = i64::from_le_bytes(word(reader)?);
    let visit_file = string(reader)?;
    let telescope = string(reader)?;
    let field = string(reader)?;
    let mut floats = [0f64; 5];
    for x in &mut floats {
        *x = f64::from_le_bytes(word(reader)?);
    }
    let [ra, dec, snr, k_mag, sfd_ebv] = floats;
    Ok(SpectrumMeta {
        source_file,
        row,
        apogee_id,
        kind,
        visit,
        visit_file,
        telescope,
        field,
        ra,
        dec,
        snr,
        k_mag,
        sfd_ebv,
    })
}

/// Spectrum descriptions gathered column-wise for one table write.
struct MetaBatch {
    strings: [Vec<String>; 6],
    row: Vec<i64>,
    visit: Vec<i64>,
    floats: [Vec<f64>; 5],
}

impl MetaBatch {
    fn with_capacity(n: usize) -> Self {
        MetaBatch {
            strings: std::array::from_fn(|_| Vec::with_capacity(n)),
            row: Vec::with_capacity(n),
            visit: Vec::with_capacity(n),
            floats: std::array::from_fn(|_| Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, m: SpectrumMeta) {
        self.row.push(m.row);
        self.visit.push(m.visit);
        for (v, x) in self
            .floats
            .iter_mut()
            .zip([m.ra, m.dec, m.snr, m.k_mag, m.sfd_ebv])
        {
            v.push(x);
        }
        let [a, b, c, d, e, f] = [
            m.source_file,
            m.apogee_id,
            m.kind,
            m.visit_file,
            m.telescope,
            m.field,
        ];
        for (v, x) in self.strings.iter_mut().zip([a, b, c, d, e, f]) {
            v.push(x);
        }
    }

    /// The columns in the order of [`spectra_columns`].
    fn into_columns(self) -> Vec<ColumnData> {
        let [source_file, apogee_id, kind, visit_file, telescope, field] = self.strings;
        let [ra, dec, snr, k_mag, sfd_ebv] = self.floats;
        vec![
            ColumnData::Str(source_file),
            ColumnData::I64(self.row),
            ColumnData::Str(apogee_id),
            ColumnData::Str(kind),
            ColumnData::I64(self.visit),
            ColumnData::Str(visit_file),
            ColumnData::Str(telescope),
            ColumnData::Str(field),
            ColumnData::F64(ra),
            ColumnData::F64(dec),
            ColumnData::F64(snr),
            ColumnData::F64(k_mag),
            ColumnData::F64(sfd_ebv),
        ]
    }
}

/// Reads a normalized-spectrum file in chunks (see the module documentation).
pub struct NormalizedReader {
    fits: Fits,
    path: PathBuf,
    flux_hdu: usize,
    e_flux_hdu: Option<usize>,
    rows: usize,
    meta: Vec<SpectrumMeta>,
}

impl std::fmt::Debug for NormalizedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NormalizedReader")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("e_flux", &self.e_flux_hdu.is_some())
            .finish()
    }
}

impl NormalizedReader {
    /// Opens a normalized-spectrum file and reads its `SPECTRA` table (or describes each row
    /// as a coadd of this file when there is none). The images must have 7514 columns.
    pub fn open(path: &Path) -> Result<Self> {
        let mut fits = Fits::open(path)?;
        let (flux_hdu, rows) = match image_rows(&mut fits, FLUX_HDU)? {
            Some(found) => found,
            None => {
                return Err(Error::file(
                    path,
                    format!(
                        "no '{FLUX_HDU}' image HDU: not a normalized-spectrum file (write one \
                         with `astronn normalize`)"
                    ),
                ))
            }
        };
        let e_flux_hdu = match image_rows(&mut fits, E_FLUX_HDU)? {
            Some((hdu, n)) if n == rows => Some(hdu),
            Some((_, n)) => {
                return Err(Error::file(
                    path,
                    format!("'{E_FLUX_HDU}' holds {n} spectra but '{FLUX_HDU}' holds {rows}"),
                ))
            }
            None => None,
        };
        let meta = match fits.move_to_named(SPECTRA_HDU)? {
            Some(t) if t == fits::BINARY_TBL || t == fits::ASCII_TBL => {
                read_spectra_table(&mut fits, path, rows)?
            }
            Some(_) => {
                return Err(Error::file(
                    path,
                    format!("'{SPECTRA_HDU}' is an image, but it should be a table"),
                ))
            }
            None => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (0..rows)
                    .map(|i| SpectrumMeta::anonymous(&name, i))
                    .collect()
            }
        };
        Ok(NormalizedReader {
            fits,
            path: path.to_path_buf(),
            flux_hdu,
            e_flux_hdu,
            rows,
            meta,
        })
    }

    /// Number of spectra.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the file holds no spectrum.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The description of every spectrum, in row order.
    pub fn meta(&self) -> &[SpectrumMeta] {
        &self.meta
    }

    /// Whether the file has an `E_FLUX` image.
    pub fn has_e_flux(&self) -> bool {
        self.e_flux_hdu.is_some()
    }

    /// The normalized flux of spectra `start .. start + count`: `count × 7514` values,
    /// row-major.
    pub fn read_flux(&mut self, start: usize, count: usize) -> Result<Vec<f64>> {
        self.read_rows(self.flux_hdu, FLUX_HDU, start, count)
    }

    /// The normalized flux error of spectra `start .. start + count` (as `read_flux`); an
    /// error naming the file when it has no `E_FLUX` image.
    pub fn read_e_flux(&mut self, start: usize, count: usize) -> Result<Vec<f64>> {
        let hdu = self.e_flux_hdu.ok_or_else(|| {
            Error::file(&self.path, format!("the file has no '{E_FLUX_HDU}' image"))
        })?;
        self.read_rows(hdu, E_FLUX_HDU, start, count)
    }

    fn read_rows(
        &mut self,
        hdu: usize,
        name: &str,
        start: usize,
        count: usize,
    ) -> Result<Vec<f64>> {
        let end = start.checked_add(count).filter(|&e| e <= self.rows);
        if end.is_none() {
            return Err(Error::Invalid(format!(
                "{}: spectra {start}..{} requested but the file holds {}",
                self.path.display(),
                start.saturating_add(count),
                self.rows
            )));
        }
        let mut out = vec![0f64; count * NETWORK_PIXELS];
        if count == 0 {
            return Ok(out);
        }
        self.fits.move_to_hdu(hdu)?;
        let (_, naxes) = self.fits.image_shape()?;
        let mut coords = vec![1i64; naxes.len().max(1)];
        if let Some(c) = coords.get_mut(1) {
            *c = i64::try_from(start + 1).unwrap_or(i64::MAX);
        }
        self.fits.read_pixels_f64(&coords, &mut out).map_err(|s| {
            self.fits.error(
                s,
                &format!("cannot read spectra {start}..{} of '{name}'", start + count),
            )
        })?;
        Ok(out)
    }
}

/// Finds the image HDU `name` and checks its shape: `(hdu number, rows)`, or `None`.
fn image_rows(fits: &mut Fits, name: &str) -> Result<Option<(usize, usize)>> {
    let path = fits.path().to_path_buf();
    let Some(hdutype) = fits.move_to_named(name)? else {
        return Ok(None);
    };
    if hdutype != fits::IMAGE_HDU {
        return Err(Error::file(
            &path,
            format!("'{name}' is a table, but it should be an image"),
        ));
    }
    let hdu = fits.current_hdu();
    let (_, naxes) = fits.image_shape()?;
    let shape = naxes
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" × ");
    let rows = match naxes.as_slice() {
        [n, rest @ ..]
            if usize::try_from(*n).ok() == Some(NETWORK_PIXELS)
                && rest.iter().skip(1).all(|&a| a == 1) =>
        {
            rest.first()
                .map_or(Some(1), |&r| usize::try_from(r).ok())
                .unwrap_or(0)
        }
        [] => {
            return Err(Error::file(
                &path,
                format!("'{name}' holds no data (header only)"),
            ))
        }
        _ => {
            return Err(Error::file(
                &path,
                format!(
                    "'{name}' is {shape} pixels (NAXIS1 × NAXIS2…), but normalized spectra have \
                     {NETWORK_PIXELS} columns (one spectrum per row)"
                ),
            ))
        }
    };
    Ok(Some((hdu, rows)))
}

/// Reads the `SPECTRA` table (the current HDU); absent columns take the anonymous defaults.
fn read_spectra_table(fits: &mut Fits, path: &Path, rows: usize) -> Result<Vec<SpectrumMeta>> {
    let (ncols, nrows) = fits.table_shape()?;
    if nrows != rows {
        return Err(Error::file(
            path,
            format!("'{SPECTRA_HDU}' describes {nrows} spectra but '{FLUX_HDU}' holds {rows}"),
        ));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut meta: Vec<SpectrumMeta> = (0..rows)
        .map(|i| SpectrumMeta::anonymous(&name, i))
        .collect();
    for colnum in 1..=ncols {
        let info = fits.column_info(colnum)?;
        let column = info.name.to_ascii_lowercase();
        let Some(data) = fits.read_column(&info, 1, rows)? else {
            continue;
        };
        let wrong = || {
            Error::file(
                path,
                format!(
                    "column '{}' of '{SPECTRA_HDU}' has the wrong type",
                    info.name
                ),
            )
        };
        match (column.as_str(), data) {
            ("source_file", ColumnData::Str(v)) => set(&mut meta, v, |m, x| m.source_file = x),
            ("sdss4_apogee_id", ColumnData::Str(v)) => set(&mut meta, v, |m, x| m.apogee_id = x),
            ("kind", ColumnData::Str(v)) => set(&mut meta, v, |m, x| m.kind = x),
            ("visit_file", ColumnData::Str(v)) => set(&mut meta, v, |m, x| m.visit_file = x),
            ("telescope", ColumnData::Str(v)) => set(&mut meta, v, |m, x| m.telescope = x),
            ("field", ColumnData::Str(v)) => set(&mut meta, v, |m, x| m.field = x),
            ("row", data) => set(&mut meta, integers(data).ok_or_else(wrong)?, |m, x| {
                m.row = x
            }),
            ("visit", data) => set(&mut meta, integers(data).ok_or_else(wrong)?, |m, x| {
                m.visit = x
            }),
            ("ra", data) => set(&mut meta, floats(data).ok_or_else(wrong)?, |m, x| m.ra = x),
            ("dec", data) => set(&mut meta, floats(data).ok_or_else(wrong)?, |m, x| m.dec = x),
            ("snr", data) => set(&mut meta, floats(data).ok_or_else(wrong)?, |m, x| m.snr = x),
            ("k_mag", data) => set(&mut meta, floats(data).ok_or_else(wrong)?, |m, x| {
                m.k_mag = x
            }),
            ("sfd_ebv", data) => set(&mut meta, floats(data).ok_or_else(wrong)?, |m, x| {
                m.sfd_ebv = x
            }),
            (
                "source_file" | "sdss4_apogee_id" | "kind" | "visit_file" | "telescope" | "field",
                _,
            ) => return Err(wrong()),
            _ => {}
        }
    }
    Ok(meta)
}

fn set<T>(meta: &mut [SpectrumMeta], values: Vec<T>, f: impl Fn(&mut SpectrumMeta, T)) {
    for (m, v) in meta.iter_mut().zip(values) {
        f(m, v);
    }
}

fn integers(data: ColumnData) -> Option<Vec<i64>> {
    match data {
        ColumnData::I16(v) => Some(v.into_iter().map(i64::from).collect()),
        ColumnData::I32(v) => Some(v.into_iter().map(i64::from).collect()),
        ColumnData::I64(v) => Some(v),
        _ => None,
    }
}

fn floats(data: ColumnData) -> Option<Vec<f64>> {
    match data {
        ColumnData::F64(v) => Some(v),
        ColumnData::F32(v) => Some(v.into_iter().map(f64::from).collect()),
        ColumnData::I16(v) => Some(v.into_iter().map(f64::from).collect()),
        ColumnData::I32(v) => Some(v.into_iter().map(f64::from).collect()),
        _ => None,
    }
}
