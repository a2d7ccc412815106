//! Broken inputs: files a run must turn into NO_RESULT rows without stopping.

use crate::common::synth::{primary_header_bytes, raw_arrays, write_apstar, Img};
use crate::common::test_data;
use std::path::{Path, PathBuf};

const FILE1: &str = "apStar-dr17-2M17335483-2753043.fits";

/// Broken apStar files of every kind a run must survive, written into `dir`: `(what, path)`.
pub fn broken_inputs(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let real = test_data(FILE1);
    let bytes = std::fs::read(&real).unwrap();
    let mut cases = Vec::new();
    let mut add = |name: &'static str, path: PathBuf| cases.push((name, path));

    let text = dir.join("apStar-text.fits");
    std::fs::write(&text, "this is not a FITS file\n").unwrap();
    add("not FITS", text);
    let truncated = dir.join("apStar-truncated.fits");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    add("truncated", truncated);
    let empty = dir.join("apStar-empty.fits");
    std::fs::write(&empty, b"").unwrap();
    add("empty", empty);
    let header_only = dir.join("apStar-header-only.fits");
    std::fs::write(&header_only, primary_header_bytes(&real)).unwrap();
    add("header only", header_only);
    let visit_layout = dir.join("apStar-wrong-pixels.fits");
    std::fs::copy(test_data("apVisit-r13-5095-55844-128.fits"), &visit_layout).unwrap();
    add("wrong pixel count", visit_layout);

    let (flux, err, mask, rows) = raw_arrays(&real);
    let all_nan = dir.join("apStar-all-nan.fits");
    write_apstar(
        &all_nan,
        &real,
        &[rows, 8575],
        [
            Img::F64(vec![f64::NAN; flux.len()]),
            Img::F64(err.clone()),
            Img::I64(mask.clone()),
        ],
    );
    add("all NaN", all_nan);
    // Flux finite everywhere but every error zero: no continuum pixel has weight.
    let no_continuum = dir.join("apStar-no-continuum.fits");
    write_apstar(
        &no_continuum,
        &real,
        &[rows, 8575],
        [
            Img::F64(flux),
            Img::F64(vec![0.0; err.len()]),
            Img::I64(mask),
        ],
    );
    add("no finite continuum pixel", no_continuum);
    cases
}
