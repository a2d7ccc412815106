//! Normalized-spectrum files: what `astronn normalize` writes and `astronn predict
//! --normalized FILE` reads, so that the (slow to read, fast to normalize) apStar files are
//! prepared once and the networks can be run many times.
//!
//! Layout (FITS):
//! - HDU 0: header cards describing the run that wrote the file.
//! - Image HDU `FLUX` and image HDU `E_FLUX`: float64, one row per spectrum, 7514 columns
//!   (FITS NAXIS1 = 7514, NAXIS2 = N).
//! - Binary table HDU `SPECTRA`, one row per spectrum: `source_file`, `row` (the apStar row),
//!   `kind` (`coadd`/`visit`), `visit` (0 for coadds), `visit_file` (empty for coadds), then
//!   what the apStar header said about the spectrum and its star, one column per DR19 field
//!   (`sdss4_apogee_id`, `ra`, `snr`, `k_mag`, `fiber`, …; see
//!   [`crate::io::spectrum_meta`]), so that a run on normalized spectra writes the same
//!   tables as a run on the apStar files.
//!
//! [`NormalizedWriter`] keeps memory flat whatever the number of spectra, which is unknown in
//! advance: rows are spilled to temporary files beside the output and the FITS file is
//! assembled from them in chunks by [`NormalizedWriter::finish`], then renamed into place.
//! [`NormalizedReader`] reads rows in chunks; it also accepts a FITS file holding only `FLUX`
//! (and maybe `E_FLUX`), describing each row as a coadd of that file.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::fits::{self, Fits};
use crate::io::header_card::HeaderCard;
pub use crate::io::spectrum_meta::SpectrumMeta;
use crate::io::spectrum_meta::{decode, encode, metas_from_columns, SpectraColumns};
use crate::io::temp::{while_writing, TempPath};
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

/// Values moved per step when an image is assembled (about 15 MB of f64).
const CHUNK_VALUES: usize = 256 * NETWORK_PIXELS;
/// Spectrum descriptions moved per step when the `SPECTRA` table is written.
const META_CHUNK: usize = 8192;

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

/// An image HDU with one plane per spectrum: its name, the plane's axes (FITS order,
/// NAXIS1 first; the spectra are the last axis), its `BITPIX` and extra header cards.
#[derive(Debug, Clone)]
pub struct PlaneImage {
    /// `EXTNAME`.
    pub name: String,
    /// Axis lengths of one spectrum's plane.
    pub plane: Vec<usize>,
    /// FITS `BITPIX` (−64: float64, −32: float32).
    pub bitpix: i32,
    /// Cards written into the image's header.
    pub cards: Vec<HeaderCard>,
}

impl PlaneImage {
    fn values(&self) -> usize {
        self.plane.iter().product()
    }
}

/// Streams per-spectrum planes (image HDUs) and the spectra's descriptions (`SPECTRA`) into
/// a FITS file, keeping memory flat: planes are spilled to temporary files beside the output
/// and the file is assembled from them in chunks by [`SpectraFileWriter::finish`], then
/// renamed into place. Normalized-spectrum files and Jacobian cubes are written with it.
///
/// Dropping the writer without finishing removes every temporary file.
pub struct SpectraFileWriter {
    // Field order matters: `fits` is closed before `temp` removes its file.
    fits: Option<Fits>,
    temp: TempPath,
    dest: PathBuf,
    images: Vec<(PlaneImage, Spill)>,
    meta: Spill,
    columns: SpectraColumns,
    rows: usize,
}

impl std::fmt::Debug for SpectraFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectraFileWriter")
            .field("dest", &self.dest)
            .field("rows", &self.rows)
            .finish()
    }
}

impl SpectraFileWriter {
    /// Starts a file destined for `path`, with `primary` cards in HDU 0 and the `images`. The
    /// temporary files are created beside `path` at once, so an unwritable destination fails
    /// here.
    pub fn create(path: &Path, primary: &[HeaderCard], images: Vec<PlaneImage>) -> Result<Self> {
        let temp = TempPath::beside(path, "fits")?;
        let mut fits = Fits::create(temp.path())?;
        fits.create_empty_primary()?;
        for card in primary {
            fits.write_card(card)?;
        }
        let images = images
            .into_iter()
            .map(|image| {
                let spill = Spill::create(path, &image.name.to_ascii_lowercase())?;
                Ok((image, spill))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SpectraFileWriter {
            fits: Some(fits),
            temp,
            dest: path.to_path_buf(),
            images,
            meta: Spill::create(path, "meta")?,
            columns: SpectraColumns::default(),
            rows: 0,
        })
    }

    /// Adds one spectrum: its description and one plane per image, in the images' order.
    pub fn append(&mut self, meta: &SpectrumMeta, planes: &[&[f64]]) -> Result<()> {
        if planes.len() != self.images.len() {
            return Err(Error::Invalid(format!(
                "{}: {} planes for {} images",
                self.dest.display(),
                planes.len(),
                self.images.len()
            )));
        }
        for ((image, _), values) in self.images.iter().zip(planes) {
            if values.len() != image.values() {
                return Err(Error::Invalid(format!(
                    "{}: a {} plane has {} values, {} expected (spectrum from {} row {})",
                    self.dest.display(),
                    image.name,
                    values.len(),
                    image.values(),
                    meta.source_file,
                    meta.row
                )));
            }
        }
        let mut record = Vec::with_capacity(512);
        encode(meta, &mut record);
        let dest = &self.dest;
        for ((_, spill), values) in self.images.iter_mut().zip(planes) {
            spill
                .write_f64s(values)
                .map_err(|e| while_writing(dest, e))?;
        }
        self.meta
            .write(&record)
            .map_err(|e| while_writing(dest, e))?;
        self.columns.observe(meta);
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
    pub fn finish(self) -> Result<()> {
        let dest = self.dest.clone();
        self.complete().map_err(|e| while_writing(&dest, e))
    }

    fn complete(mut self) -> Result<()> {
        let mut fits = self
            .fits
            .take()
            .ok_or_else(|| Error::file(&self.dest, "the writer was already closed"))?;
        let rows = self.rows;
        let to_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        for (image, spill) in self.images {
            let mut axes: Vec<i64> = image.plane.iter().map(|&v| to_i64(v)).collect();
            axes.push(to_i64(rows));
            fits.create_image(image.bitpix, &axes)?;
            fits.write_key_str("EXTNAME", &image.name, "")?;
            for card in &image.cards {
                fits.write_card(card)?;
            }
            let per_row = image.values();
            let chunk_rows = (CHUNK_VALUES / per_row.max(1)).max(1);
            let (mut reader, spill_path) = spill.into_reader()?;
            let mut done = 0;
            let mut bytes = Vec::new();
            let mut values = Vec::new();
            while done < rows {
                let m = (rows - done).min(chunk_rows);
                bytes.resize(m * per_row * 8, 0);
                reader
                    .read_exact(&mut bytes)
                    .map_err(|e| Error::io(spill_path.path(), e))?;
                values.clear();
                values.extend(
                    bytes.chunks_exact(8).map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                    }),
                );
                let mut first = vec![1i64; image.plane.len()];
                first.push(to_i64(done + 1));
                fits.write_pixels_f64(&first, &values)?;
                done += m;
            }
        }

        let columns = self.columns.specs();
        fits.create_bintable(SPECTRA_HDU, &columns)?;
        let (mut reader, spill_path) = self.meta.into_reader()?;
        let mut done = 0;
        while done < rows {
            let m = (rows - done).min(META_CHUNK);
            let metas = (0..m)
                .map(|_| decode(&mut reader).map_err(|e| Error::io(spill_path.path(), e)))
                .collect::<Result<Vec<_>>>()?;
            fits.write_rows(done + 1, &columns, &self.columns.batch(&metas))?;
            done += m;
        }
        fits.close()?;
        self.temp.persist(&self.dest)
    }
}

/// Streams normalized spectra into a normalized-spectrum file (see the module documentation).
///
/// Dropping the writer without [`NormalizedWriter::finish`] removes every temporary file.
#[derive(Debug)]
pub struct NormalizedWriter(SpectraFileWriter);

impl NormalizedWriter {
    /// Starts a file destined for `path`, with `primary` cards in HDU 0. The temporary files
    /// are created beside `path` at once, so an unwritable destination fails here.
    pub fn create(path: &Path, primary: &[HeaderCard]) -> Result<Self> {
        let image = |name: &str| PlaneImage {
            name: name.to_string(),
            plane: vec![NETWORK_PIXELS],
            bitpix: -64,
            cards: Vec::new(),
        };
        Ok(NormalizedWriter(SpectraFileWriter::create(
            path,
            primary,
            vec![image(FLUX_HDU), image(E_FLUX_HDU)],
        )?))
    }

    /// Adds one spectrum: its description and 7514 normalized flux and error values.
    pub fn append(&mut self, meta: &SpectrumMeta, flux: &[f64], e_flux: &[f64]) -> Result<()> {
        self.0.append(meta, &[flux, e_flux])
    }

    /// Spectra appended so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no spectrum was appended yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the file ([`SpectraFileWriter::finish`]).
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// Reads a normalized-spectrum file in chunks (see the module documentation).
pub struct NormalizedReader {
    fits: Fits,
    path: PathBuf,
    flux_hdu: usize,
    e_flux_hdu: Option<usize>,
    rows: usize,
    /// The `SPECTRA` table's HDU, read a chunk of rows at a time (`None`: the file has
    /// none, and each row is described as a coadd of this file).
    spectra_hdu: Option<usize>,
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
    /// Opens a normalized-spectrum file and checks its images (7514 columns) and its
    /// `SPECTRA` table (one row per spectrum); nothing per spectrum is read until asked for,
    /// so that memory does not grow with the file.
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
        let spectra_hdu = match fits.move_to_named(SPECTRA_HDU)? {
            Some(t) if t == fits::BINARY_TBL || t == fits::ASCII_TBL => {
                let (_, nrows) = fits.table_shape()?;
                if nrows != rows {
                    return Err(Error::file(
                        path,
                        format!(
                            "'{SPECTRA_HDU}' describes {nrows} spectra but '{FLUX_HDU}' holds \
                             {rows}"
                        ),
                    ));
                }
                Some(fits.current_hdu())
            }
            Some(_) => {
                return Err(Error::file(
                    path,
                    format!("'{SPECTRA_HDU}' is an image, but it should be a table"),
                ))
            }
            None => None,
        };
        Ok(NormalizedReader {
            fits,
            path: path.to_path_buf(),
            flux_hdu,
            e_flux_hdu,
            rows,
            spectra_hdu,
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

    /// The descriptions of spectra `start .. start + count`, in row order (read from the
    /// `SPECTRA` table, or each a coadd of this file when it has none).
    pub fn read_meta(&mut self, start: usize, count: usize) -> Result<Vec<SpectrumMeta>> {
        self.check_range(start, count)?;
        let rows = start..start + count;
        let Some(hdu) = self.spectra_hdu else {
            return metas_from_columns(&self.path, rows, Vec::new());
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        self.fits.move_to_hdu(hdu)?;
        let (ncols, _) = self.fits.table_shape()?;
        let mut columns = Vec::with_capacity(ncols);
        for colnum in 1..=ncols {
            let info = self.fits.column_info(colnum)?;
            if let Some(data) = self.fits.read_column(&info, start + 1, count)? {
                columns.push((info.name, data));
            }
        }
        metas_from_columns(&self.path, rows, columns)
    }

    /// The descriptions of every spectrum ([`NormalizedReader::read_meta`] of all rows).
    pub fn read_all_meta(&mut self) -> Result<Vec<SpectrumMeta>> {
        self.read_meta(0, self.rows)
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

    /// An error unless spectra `start .. start + count` are in the file.
    fn check_range(&self, start: usize, count: usize) -> Result<()> {
        if start.checked_add(count).is_some_and(|end| end <= self.rows) {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "{}: spectra {start}..{} requested but the file holds {}",
            self.path.display(),
            start.saturating_add(count),
            self.rows
        )))
    }

    fn read_rows(
        &mut self,
        hdu: usize,
        name: &str,
        start: usize,
        count: usize,
    ) -> Result<Vec<f64>> {
        self.check_range(start, count)?;
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
