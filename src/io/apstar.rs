//! Reading apStar files (SPEC §2): the star's identity from the primary header and, per
//! spectrum (the coadd and optionally every visit), the 8575-pixel flux, flux error and pixel
//! bitmask exactly as Astra hands them to the continuum normalization.
//!
//! Layout: HDU 1 flux, HDU 2 flux error, HDU 3 bitmask, each `(rows, 8575)` (FITS NAXIS1 =
//! 8575, NAXIS2 = rows; a 1-D image of 8575 pixels is one row), stored with any BITPIX and
//! BSCALE/BZERO (CFITSIO converts). Row 0 is the coadd. With NVISITS > 1, visit *k* (1-based,
//! file name in SFILE*k*) is row *k* + 1; with NVISITS = 1 the single visit is row 0 and a
//! second row, if present, is not a spectrum. Gzipped files (`.fits.gz`) are read
//! transparently. Only the rows needed are read, never whole images.
//!
//! Failures of the whole file (not FITS, truncated, missing HDUs, wrong pixel count, shapes
//! that disagree) are errors naming the file; a spectrum that cannot be used (a visit row the
//! file lacks, a row of zeros or without finite flux) is reported in
//! its [`SpectrumSlot::pixels`] so that the pipeline can write a NO_RESULT row for it.

use crate::apogee::grid::APSTAR_PIXELS;
use crate::io::apstar_header::{card, star_fields, visit_fields};
use crate::io::fields::Fields;
use crate::io::fits::{self, Fits};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What the primary header of an apStar file says about the star and its visits.
///
/// `fields` and `visit_fields` hold the header's values as DR19 columns, read from either
/// header style ([`crate::io::apstar_header`]); unknown values are absent.
#[derive(Debug, Clone, PartialEq)]
pub struct StarIdentity {
    /// Number of visits (`NVISITS`; 0 when absent).
    pub nvisits: usize,
    /// Visit file names `SFILE1` … `SFILE<nvisits>` (empty strings where absent).
    pub visit_files: Vec<String>,
    /// The star and its coadded spectrum (`sdss4_apogee_id`, `ra`, `snr`, `k_mag`, …).
    pub fields: Fields,
    /// Each visit's own fields (`snr`, `fiber`, `mjd`, `v_rad`, …), visit *k* at index
    /// *k* − 1.
    pub visit_fields: Vec<Fields>,
}

impl StarIdentity {
    /// The APOGEE object name (`OBJID`), e.g. `2M17335483-2753043`; empty when absent.
    pub fn apogee_id(&self) -> String {
        self.fields.text("sdss4_apogee_id")
    }
}

/// Whether a spectrum is the combined spectrum or a single visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpectrumKind {
    /// The combined (coadded) spectrum, row 0.
    Coadd,
    /// One visit.
    Visit,
}

impl SpectrumKind {
    /// `"coadd"` or `"visit"`, as written in the normalized-spectrum files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SpectrumKind::Coadd => "coadd",
            SpectrumKind::Visit => "visit",
        }
    }
}

/// The pixels of one spectrum, 8575 values each, as the preprocessing receives them.
#[derive(Debug, Clone, PartialEq)]
pub struct RawPixels {
    /// Flux (BSCALE/BZERO applied).
    pub flux: Vec<f64>,
    /// `ivar**-0.5` with `ivar = err**-2` and non-finite ivar set to 0: an error of 0, NaN or
    /// inf becomes +inf (weight 0 in the continuum fit).
    pub e_flux: Vec<f64>,
    /// APOGEE_PIXMASK bits.
    pub bitmask: Vec<u64>,
}

/// One spectrum of an apStar file: where it is and its pixels, or why it cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumSlot {
    /// 0-based row in the apStar arrays.
    pub row: usize,
    /// Coadd or visit.
    pub kind: SpectrumKind,
    /// 1-based visit number (visits only).
    pub visit: Option<usize>,
    /// Visit file name from `SFILE<k>` (visits only; empty when the header lacks it).
    pub visit_file: Option<String>,
    /// The pixels, or (Err) the reason this spectrum is not usable.
    pub pixels: std::result::Result<RawPixels, String>,
}

/// A read apStar file.
#[derive(Debug, Clone, PartialEq)]
pub struct ApStar {
    /// The file read.
    pub path: PathBuf,
    /// Header identity.
    pub identity: StarIdentity,
    /// The coadd first, then (if asked for) the visits in order.
    pub spectra: Vec<SpectrumSlot>,
}

/// HDU numbers (0-based, FITS convention) of the arrays and their names for messages.
const ARRAYS: [(usize, &str); 3] = [(1, "flux"), (2, "flux error"), (3, "bitmask")];

/// Reads an apStar file: the identity and the coadd (row 0), plus every visit when
/// `include_visits` is true. See the module documentation for the layout and the errors.
pub fn read_apstar(path: &Path, include_visits: bool) -> Result<ApStar> {
    let mut fits = Fits::open(path)?;
    check_structure(&mut fits)?;

    fits.move_to_hdu(1)?;
    let identity = read_identity(&mut fits, path)?;

    let rows = array_rows(&mut fits)?;

    let mut plan: Vec<(usize, SpectrumKind, Option<usize>, Option<String>)> =
        vec![(0, SpectrumKind::Coadd, None, None)];
    if include_visits {
        for k in 1..=identity.nvisits {
            let row = if identity.nvisits == 1 { 0 } else { k + 1 };
            let file = identity.visit_files.get(k - 1).cloned().unwrap_or_default();
            plan.push((row, SpectrumKind::Visit, Some(k), Some(file)));
        }
    }

    let mut cache: Vec<(usize, std::result::Result<RawPixels, String>)> = Vec::new();
    let mut spectra = Vec::with_capacity(plan.len());
    for (row, kind, visit, visit_file) in plan {
        let pixels = if row >= rows {
            Err(format!(
                "visit {} would be row {row}, but the arrays hold only {rows} row{}",
                visit.unwrap_or(0),
                if rows == 1 { "" } else { "s" }
            ))
        } else if let Some((_, cached)) = cache.iter().find(|(r, _)| *r == row) {
            cached.clone()
        } else {
            let read = read_row(&mut fits, row)?;
            cache.push((row, read.clone()));
            read
        };
        spectra.push(SpectrumSlot {
            row,
            kind,
            visit,
            visit_file,
            pixels,
        });
    }
    Ok(ApStar {
        path: path.to_path_buf(),
        identity,
        spectra,
    })
}

/// Walks every HDU to make sure the file is complete: HDUs 0–3 must exist and be readable,
/// the last HDU's data must end within the file and no incomplete header may follow it.
/// (Checked through CFITSIO, so gzipped files, decompressed in memory, are covered too.)
fn check_structure(fits: &mut Fits) -> Result<()> {
    let path = fits.path().to_path_buf();
    let mut count = 0usize;
    let mut extent = (0i64, 0i64, 0i64);
    loop {
        match fits.try_move_to_hdu(count + 1) {
            Ok(_) => {
                count += 1;
                extent = fits.hdu_extent()?;
            }
            // Past the arrays, the end of the file (or bytes that are not an HDU) ends the
            // walk; an incomplete extension header is caught below.
            Err(_) if count >= 4 => break,
            Err(status) if status == fits::END_OF_FILE => {
                return Err(Error::file(
                    &path,
                    format!(
                        "the file has only {count} HDU{} but an apStar file holds the flux, \
                         error and bitmask arrays in HDUs 1-3 (header-only or truncated file)",
                        if count == 1 { "" } else { "s" }
                    ),
                ))
            }
            Err(status) => {
                return Err(fits.error(
                    status,
                    &format!("HDU {count} is damaged or the file is truncated"),
                ))
            }
        }
    }
    // Back on the last HDU (the failed move may have left CFITSIO elsewhere).
    fits.move_to_hdu(count)?;
    let data_end = extent.2;
    let last = count - 1;
    if data_end > 0 && fits.probe_byte(data_end - 1) != 0 {
        return Err(Error::file(
            &path,
            format!(
                "the file is truncated: HDU {last} should end at byte {data_end}, past the end \
                 of the file"
            ),
        ));
    }
    match fits.probe_byte(data_end) {
        s if s == fits::END_OF_FILE => {}
        0 => {
            if fits.bytes_at(data_end).as_ref() == Some(b"XTENSION") {
                return Err(Error::file(
                    &path,
                    format!(
                        "the file is truncated or damaged: the header of HDU {count}, at byte \
                         {data_end}, cannot be read"
                    ),
                ));
            }
        }
        _ => {
            return Err(Error::file(
                &path,
                format!(
                    "the file is truncated: it ends inside a 2880-byte block after HDU {last} \
                     (byte {data_end})"
                ),
            ))
        }
    }
    Ok(())
}

/// Reads the identity from the primary header (the current HDU).
fn read_identity(fits: &mut Fits, path: &Path) -> Result<StarIdentity> {
    let cards = crate::io::header_records::parse_cards(&fits.records()?);
    let nvisits = card(&cards, "NVISITS")
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    // Each visit has its SFILE<k> card (and more): a count beyond the header's cards is not
    // a real one, and looking up that many would keep a run busy for minutes.
    if nvisits > cards.len() {
        return Err(Error::file(
            path,
            format!(
                "NVISITS = {nvisits}, but the primary header holds only {} cards (one SFILE \
                 card per visit)",
                cards.len()
            ),
        ));
    }
    let visit_files = (1..=nvisits)
        .map(|k| {
            card(&cards, &format!("SFILE{k}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        })
        .collect();
    let visit_fields: Vec<Fields> = (1..=nvisits).map(|k| visit_fields(&cards, k)).collect();
    Ok(StarIdentity {
        nvisits,
        visit_files,
        fields: star_fields(&cards, path, &visit_fields),
        visit_fields,
    })
}

/// Checks HDUs 1–3 are images of matching shape `(rows, 8575)`; returns the row count.
fn array_rows(fits: &mut Fits) -> Result<usize> {
    let path = fits.path().to_path_buf();
    let mut shapes = Vec::with_capacity(3);
    for (hdu, name) in ARRAYS {
        let hdutype = fits.move_to_hdu(hdu + 1)?;
        if hdutype != fits::IMAGE_HDU {
            return Err(Error::file(
                &path,
                format!("HDU {hdu} ({name}) is a table, but an apStar file holds an image there"),
            ));
        }
        let (_, naxes) = fits.image_shape()?;
        let shape = describe_shape(&naxes);
        let rows = match naxes.as_slice() {
            [] => {
                return Err(Error::file(
                    &path,
                    format!("HDU {hdu} ({name}) holds no data (header only)"),
                ))
            }
            [n, rest @ ..]
                if usize::try_from(*n).ok() == Some(APSTAR_PIXELS)
                    && rest.iter().skip(1).all(|&a| a == 1) =>
            {
                rest.first()
                    .map_or(Some(1), |&r| usize::try_from(r).ok())
                    .unwrap_or(0)
            }
            _ => {
                return Err(Error::file(
                    &path,
                    format!(
                        "HDU {hdu} ({name}) is {shape} pixels (NAXIS1 × NAXIS2…), but apStar \
                         spectra have {APSTAR_PIXELS} pixels per row; is this an apVisit or \
                         another kind of file?"
                    ),
                ))
            }
        };
        if rows == 0 {
            return Err(Error::file(
                &path,
                format!("HDU {hdu} ({name}) has no rows (NAXIS2 = 0)"),
            ));
        }
        shapes.push((name, shape, rows));
    }
    let Some(((first_name, first_shape, rows), others)) = shapes.split_first() else {
        return Err(Error::file(&path, "the file holds no spectrum arrays"));
    };
    for (name, shape, r) in others {
        if r != rows {
            return Err(Error::file(
                &path,
                format!(
                    "the {first_name} array is {first_shape} pixels but the {name} array is \
                     {shape}; they must have the same shape"
                ),
            ));
        }
    }
    Ok(*rows)
}

fn describe_shape(naxes: &[i64]) -> String {
    naxes
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" × ")
}

/// Reads row `row` of the three arrays. Err(whole file) for read failures; Ok(Err(reason))
/// when the row is not a usable spectrum.
fn read_row(fits: &mut Fits, row: usize) -> Result<std::result::Result<RawPixels, String>> {
    let mut flux = vec![0f64; APSTAR_PIXELS];
    let mut err = vec![0f64; APSTAR_PIXELS];
    let mut mask = vec![0i64; APSTAR_PIXELS];
    for (hdu, name) in ARRAYS {
        fits.move_to_hdu(hdu + 1)?;
        let (_, naxes) = fits.image_shape()?;
        // First pixel of the row: (1, row + 1, 1, …) in FITS's 1-based coordinates.
        let mut coords = vec![1i64; naxes.len().max(1)];
        if let Some(c) = coords.get_mut(1) {
            *c = i64::try_from(row + 1).unwrap_or(i64::MAX);
        }
        let result = match hdu {
            1 => fits.read_pixels_f64(&coords, &mut flux),
            2 => fits.read_pixels_f64(&coords, &mut err),
            _ => fits.read_pixels_i64(&coords, &mut mask),
        };
        match result {
            Ok(()) => {}
            Err(status) if status == fits::NUM_OVERFLOW => {
                return Ok(Err(format!(
                    "row {row}: the {name} values do not fit a 64-bit number"
                )))
            }
            Err(status) if status == fits::END_OF_FILE => {
                return Err(fits.error(
                    status,
                    &format!(
                        "the file is truncated: it ends inside the {name} array (HDU {hdu}), \
                         row {row}"
                    ),
                ))
            }
            Err(status) => {
                return Err(fits.error(
                    status,
                    &format!("cannot read row {row} of the {name} array (HDU {hdu})"),
                ))
            }
        }
    }
    if flux.iter().all(|&f| f == 0.0) {
        return Ok(Err(format!("row {row} is all zeros: not a spectrum")));
    }
    if flux.iter().all(|f| !f.is_finite()) {
        return Ok(Err(format!("row {row} has no finite flux value")));
    }
    if !flux.iter().any(|&f| f.is_finite() && f != 0.0) {
        return Ok(Err(format!(
            "row {row} has no finite non-zero flux value: not a spectrum"
        )));
    }
    // A negative value (a signed integer mask with its top bit set) is taken as its
    // two's-complement bit pattern, as NumPy's bitwise tests on the stored value do.
    let bitmask = mask.into_iter().map(|m| m as u64).collect();
    let e_flux = err.into_iter().map(e_flux_from_error).collect();
    Ok(Ok(RawPixels {
        flux,
        e_flux,
        bitmask,
    }))
}

/// Astra's flux error: `ivar = err**-2`, non-finite ivar → 0, `e_flux = ivar**-0.5`.
///
/// For `|err|` within [`DIRECT_ERRORS`], ivar is a finite normal number and the formula's
/// value is `|err|`: rounding ivar moves the root by at most 2⁻⁵⁴ of `|err|`, which rounds
/// back to `|err|` (a float32 error always, a double barring a tie). Those errors (every real one) take `|err|` at once instead of two
/// powers, which were a third of the time spent reading and normalizing a spectrum. libm's
/// powers, which Astra calls, are accurate to 0.52 units in the last place and so land one
/// unit off `|err|` in rare cases (about 1 in 2.6 million float32 values); the weights this
/// feeds change by 10⁻¹⁶ of themselves there. Any other value goes through the powers.
pub fn e_flux_from_error(err: f64) -> f64 {
    let magnitude = err.abs();
    if DIRECT_ERRORS.contains(&magnitude) {
        return magnitude;
    }
    e_flux_by_powers(err)
}

/// The errors whose `e_flux` is `|err|` (see [`e_flux_from_error`]); ivar stays a normal
/// double far beyond both ends.
pub const DIRECT_ERRORS: std::ops::RangeInclusive<f64> = 1e-150..=1e150;

/// [`e_flux_from_error`] as Astra writes it, with two powers.
pub fn e_flux_by_powers(err: f64) -> f64 {
    let ivar = err.powf(-2.0);
    let ivar = if ivar.is_finite() { ivar } else { 0.0 };
    ivar.powf(-0.5)
}

/// Reads any one row of an apStar file's arrays (row 1, the second combination, included),
/// with the same checks and conversions as [`read_apstar`]. Err(reason) inside Ok when the
/// row is not a usable spectrum or the file holds fewer rows.
pub fn read_apstar_row(path: &Path, row: usize) -> Result<std::result::Result<RawPixels, String>> {
    let mut fits = Fits::open(path)?;
    check_structure(&mut fits)?;
    let rows = array_rows(&mut fits)?;
    if row >= rows {
        return Ok(Err(format!(
            "row {row} does not exist: the arrays hold {rows} row{}",
            if rows == 1 { "" } else { "s" }
        )));
    }
    read_row(&mut fits, row)
}
