//! Writing apStar-like FITS files for tests: re-encoded copies of real files and broken
//! variants.

use fitsio::images::{ImageDescription, ImageType};
use fitsio::FitsFile;
use std::path::Path;

const PIXELS: usize = 8575;

/// The raw arrays of a real file: flux, error (f64) and mask (i64), row-major, and the rows.
pub fn raw_arrays(path: &Path) -> (Vec<f64>, Vec<f64>, Vec<i64>, usize) {
    let mut f = FitsFile::open(path).unwrap();
    let flux: Vec<f64> = f.hdu(1).unwrap().read_image(&mut f).unwrap();
    let err: Vec<f64> = f.hdu(2).unwrap().read_image(&mut f).unwrap();
    let mask: Vec<i64> = f.hdu(3).unwrap().read_image(&mut f).unwrap();
    let rows = flux.len() / PIXELS;
    (flux, err, mask, rows)
}

/// The bytes of the primary header of a FITS file (a header-only HDU 0).
pub fn primary_header_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let end_card = (0..bytes.len() / 80)
        .find(|i| bytes[i * 80..].starts_with(b"END     "))
        .unwrap();
    let len = (end_card * 80 + 80).div_ceil(2880) * 2880;
    bytes[..len].to_vec()
}

/// Image data for a synthetic HDU.
pub enum Img {
    F64(Vec<f64>),
    F32(Vec<f32>),
    U16(Vec<u16>),
    I64(Vec<i64>),
    /// Stored 32-bit integers with BSCALE and BZERO.
    Scaled(Vec<i32>, f64, f64),
}

/// Writes a file with the primary header of `header_from` and HDUs 1–3 from `arrays`, each
/// with shape `dims` (slowest axis first, fitsio's order).
pub fn write_apstar(path: &Path, header_from: &Path, dims: &[usize], arrays: [Img; 3]) {
    std::fs::write(path, primary_header_bytes(header_from)).unwrap();
    let mut f = FitsFile::edit(path).unwrap();
    for img in arrays {
        let data_type = match &img {
            Img::F64(_) => ImageType::Double,
            Img::F32(_) => ImageType::Float,
            Img::U16(_) => ImageType::UnsignedShort,
            Img::I64(_) => ImageType::LongLong,
            Img::Scaled(..) => ImageType::Long,
        };
        let desc = ImageDescription {
            data_type,
            dimensions: dims,
        };
        let hdu = f.create_image("", &desc).unwrap();
        match img {
            Img::F64(v) => hdu.write_image(&mut f, &v).unwrap(),
            Img::F32(v) => hdu.write_image(&mut f, &v).unwrap(),
            Img::U16(v) => hdu.write_image(&mut f, &v).unwrap(),
            Img::I64(v) => hdu.write_image(&mut f, &v).unwrap(),
            Img::Scaled(v, bscale, bzero) => {
                hdu.write_image(&mut f, &v).unwrap();
                hdu.write_key(&mut f, "BSCALE", bscale).unwrap();
                hdu.write_key(&mut f, "BZERO", bzero).unwrap();
            }
        }
    }
}
