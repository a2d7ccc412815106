//! Noise models on the command line, in both formats: a JSON file and Astra's pickle, with an
//! `L_fakemag` entry that recalibrates AstroNNDist's errors in `dist` and in `predict
//! --dist-output`, and a `teff` entry that recalibrates AstroNN's.

mod common;

use common::run::{apogee, floats, s, succeed};
use common::{fixtures, test_data};
use std::path::Path;

/// `pickle.dumps(({"teff": {"offset": 10.0, "scale": 1.2},
///                 "L_fakemag": {"offset": 0.0, "scale": 2.0}}, None), protocol=2)`:
/// Astra's `(corrections, reference)` tuple, written by CPython 3.11.
const ASTRA_PICKLE: &[u8] = b"\x80\x02}q\x00(X\x04\x00\x00\x00teffq\x01}q\x02(X\x06\x00\x00\x00offsetq\x03G@$\x00\x00\x00\x00\x00\x00X\x05\x00\x00\x00scaleq\x04G?\xf3333333uX\x09\x00\x00\x00L_fakemagq\x05}q\x06(h\x03G\x00\x00\x00\x00\x00\x00\x00\x00h\x04G@\x00\x00\x00\x00\x00\x00\x00uuN\x86q\x07.";
/// The same corrections as JSON.
const JSON: &str = r#"{"teff": {"offset": 10.0, "scale": 1.2},
                       "L_fakemag": {"offset": 0.0, "scale": 2.0}}"#;

/// Asserts `e = scale · raw_e + offset` row by row (float32 columns).
fn assert_recalibrated(table: &Path, error: &str, raw_error: &str, scale: f64, offset: f64) {
    let t = apogee(table);
    for (e, raw) in floats(&t, error).iter().zip(floats(&t, raw_error)) {
        let expected = scale * raw + offset;
        assert!(
            (e - expected).abs() <= 1e-6 * expected.abs(),
            "{}: {error} {e} vs {scale}·{raw} + {offset}",
            table.display()
        );
    }
}

#[test]
fn json_and_astra_pickle_noise_models_recalibrate_both_networks() {
    let dir = fixtures();
    let (model, dist_model) = (
        dir.join("astronn_bcnn_censored.pt"),
        dir.join("astronn_dist_bcnn.pt"),
    );
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let (json, pickle) = (out.join("noise.json"), out.join("noise.pkl"));
    std::fs::write(&json, JSON).unwrap();
    std::fs::write(&pickle, ASTRA_PICKLE).unwrap();
    let data = test_data("");

    // `dist --noise-model` (JSON).
    let dist_json = out.join("dist-json.fits");
    succeed(&[
        "dist",
        "-q",
        "--model",
        s(&dist_model),
        "--mc",
        "0",
        "--noise-model",
        s(&json),
        "-o",
        s(&dist_json),
        s(&data),
    ]);
    // `predict --dist-output --noise-model` (Astra's pickle): both tables recalibrated.
    let (stars, dist_pickle) = (out.join("stars.fits"), out.join("dist-pickle.fits"));
    succeed(&[
        "predict",
        "-q",
        "--model",
        s(&model),
        "--dist-model",
        s(&dist_model),
        "--mc",
        "0",
        "--noise-model",
        s(&pickle),
        "-o",
        s(&stars),
        "--dist-output",
        s(&dist_pickle),
        s(&data),
    ]);
    for table in [&dist_json, &dist_pickle] {
        assert_recalibrated(table, "L_fakemag_err", "raw_e_L_fakemag", 2.0, 0.0);
        let t = apogee(table);
        assert_eq!(floats(&t, "L_fakemag"), floats(&t, "raw_L_fakemag"));
        // The distance error follows the recalibrated L_fakemag error.
        for (row, dist) in floats(&t, "nn_dist").iter().enumerate() {
            let expected = dist * floats(&t, "L_fakemag_err")[row] / floats(&t, "L_fakemag")[row];
            let got = floats(&t, "nn_dist_err")[row];
            assert!(
                (got - expected).abs() <= 1e-6 * expected,
                "row {row}: {got} vs {expected}"
            );
        }
    }
    assert_eq!(
        floats(&apogee(&dist_json), "L_fakemag_err"),
        floats(&apogee(&dist_pickle), "L_fakemag_err"),
        "one noise model, two formats, two commands"
    );
    assert_recalibrated(&stars, "e_teff", "raw_e_teff", 1.2, 10.0);
    // A label without an entry keeps its raw error.
    let t = apogee(&stars);
    assert_eq!(floats(&t, "e_logg"), floats(&t, "raw_e_logg"));
}
