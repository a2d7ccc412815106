//! Writing apStar files in the DR17 layout (HDU 0 header only; HDU 1 float32 flux, HDU 2
//! float32 error, HDU 3 32-bit integer APOGEE_PIXMASK, each `rows × 8575`), as the
//! simulation produces them. The file appears complete or not at all.

use crate::apogee::grid::APSTAR_PIXELS;
use crate::io::fits::Fits;
use crate::io::header_card::HeaderCard;
use crate::io::temp::TempPath;
use crate::sim::observe::ApStarArrays;
use crate::Result;
use std::path::Path;

/// FITS BITPIX of 32-bit floats.
const FLOAT_IMG: i32 = -32;
/// FITS BITPIX of 32-bit integers.
const LONG_IMG: i32 = 32;

/// Writes `arrays` to `path` with the `header` cards in HDU 0.
pub fn write_apstar(path: &Path, header: &[HeaderCard], arrays: &ApStarArrays) -> Result<()> {
    let temp = TempPath::beside(path, "fits")?;
    let mut fits = Fits::create(temp.path())?;
    fits.create_empty_primary()?;
    for card in header {
        fits.write_card(card)?;
    }
    let shape = [APSTAR_PIXELS as i64, arrays.rows as i64];
    let images: [(&str, i32, Vec<f64>); 3] = [
        (
            "FLUX",
            FLOAT_IMG,
            arrays.flux.iter().map(|&v| f64::from(v)).collect(),
        ),
        (
            "ERROR",
            FLOAT_IMG,
            arrays.error.iter().map(|&v| f64::from(v)).collect(),
        ),
        (
            "MASK",
            LONG_IMG,
            arrays.mask.iter().map(|&v| f64::from(v)).collect(),
        ),
    ];
    for (name, bitpix, values) in images {
        fits.create_image(bitpix, &shape)?;
        fits.write_key_str("EXTNAME", name, "")?;
        fits.write_pixels_f64(&[1, 1], &values)?;
    }
    fits.close()?;
    temp.persist(path)
}
