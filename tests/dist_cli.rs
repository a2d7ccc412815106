//! `astronn dist` and `predict --dist-model` end to end: reference parity, photometry from
//! headers and catalogs, flags, and the one-pass run.

mod common;

use astronn::io::model_file::ModelFile;
use astronn::io::npy::NpyArray;
use astronn::nn::dist::DistBcnn;
use astronn::nn::network::BayesianNetwork;
use common::broken::broken_inputs;
use common::run::{apogee, astronn, bools, floats, ints, s, strings, succeed};
use common::test_data;
use std::path::PathBuf;

const FILE1: &str = "apStar-dr17-2M17335483-2753043.fits";
const FILE2: &str = "apStar-dr17-2M19485057+5005279.fits";
const NO_RESULT: i64 = 1 << 11;

fn models() -> (PathBuf, PathBuf) {
    let dir = common::fixtures();
    (
        dir.join("astronn_dist_bcnn.pt"),
        dir.join("astronn_bcnn_censored.pt"),
    )
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

#[test]
fn deterministic_dist_on_real_files_uses_header_photometry() {
    let (dist_model, _) = models();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist.fits");
    succeed(&[
        "dist",
        "--model",
        s(&dist_model),
        "--mc",
        "0",
        "-o",
        s(&out),
        s(&test_data("")),
    ]);
    let table = apogee(&out);
    let fixtures = common::fixtures();
    let expected = NpyArray::read(&fixtures.join("dist_det_fakemag.npy"))
        .unwrap()
        .data;
    let log_variance = NpyArray::read(&fixtures.join("dist_det_log_variance.npy"))
        .unwrap()
        .data;
    let std = DistBcnn::load(&ModelFile::load(&dist_model).unwrap().var_builder())
        .unwrap()
        .scaling()
        .labels_std[0];
    let (l, l_err) = (floats(&table, "L_fakemag"), floats(&table, "L_fakemag_err"));
    // Inputs rows 0 and 5 of the fixtures are these files' coadds. A deterministic pass's
    // error is the predicted one alone, σ·exp(log-variance / 2).
    for (row, fixture) in [(0, 0), (1, 5)] {
        assert!(
            close(l[row], expected[fixture], 2e-4),
            "row {row}: L_fakemag {} vs {}",
            l[row],
            expected[fixture]
        );
        let expected_error = (0.5 * log_variance[fixture]).exp() * std;
        assert!(
            close(l_err[row], expected_error, 1e-3),
            "row {row}: L_fakemag_err {} vs {expected_error}",
            l_err[row]
        );
    }
    // Whole flag values: the fixture network's error exceeds 20 % of L_fakemag on both
    // spectra (FAKEMAG_UNRELIABLE, bit 0, hence flag_bad), and file 1 has no E(B−V)
    // (MISSING_EXTINCTION, bit 2, hence flag_warn).
    assert!(l_err.iter().zip(&l).all(|(e, l)| *e >= 0.2 * l));
    assert_eq!(ints(&table, "result_flags"), [0b101, 0b001]);
    assert_eq!(bools(&table, "flag_warn"), [true, false]);
    assert_eq!(bools(&table, "flag_bad"), [true, true]);

    // File 1: K = 9.811, SFD_EBV missing -> extinction 0 and MISSING_EXTINCTION.
    let (k, ebv, a_k) = (
        floats(&table, "k_mag"),
        floats(&table, "ebv"),
        floats(&table, "a_k_mag"),
    );
    assert!(close(k[0], 9.811, 1e-6));
    assert!(ebv[0].is_nan());
    assert_eq!(a_k[0], 0.0);
    // Values are stored as float32: formulas of stored values agree to a few 1e-8.
    let dist = floats(&table, "nn_dist");
    let expected_dist = 1000.0 * 10f64.powf(0.2 * k[0]) / l[0];
    assert!(close(dist[0], expected_dist, 1e-6));
    assert!(close(
        floats(&table, "nn_parallax")[0],
        1000.0 / expected_dist,
        1e-6
    ));
    let err = floats(&table, "L_fakemag_err");
    assert!(close(
        floats(&table, "nn_dist_err")[0],
        dist[0] * err[0] / l[0],
        1e-6
    ));

    // File 2: K = 10.522, SFD_EBV = 0.1927.
    assert!(close(ebv[1], 0.192664697766304, 1e-7));
    assert!(close(a_k[1], 0.3517 * 0.192664697766304, 1e-7));
    let k0 = k[1] - a_k[1];
    assert!(close(k[1], 10.522, 1e-6));
    assert!(close(dist[1], 1000.0 * 10f64.powf(0.2 * k0) / l[1], 1e-6));
}

#[test]
fn catalog_photometry_takes_precedence_and_absent_stars_use_the_header() {
    let (dist_model, _) = models();
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("photometry.csv");
    // Only the second star is listed, under allStar-like column names; a third star is
    // listed with an invalid magnitude.
    std::fs::write(
        &catalog,
        "APOGEE_ID,K,SFD_EBV\n2M19485057+5005279,11.25,0.05\n2M00000000+0000000,99.0,0.1\n",
    )
    .unwrap();
    let out = dir.path().join("dist.fits");
    succeed(&[
        "dist",
        "--model",
        s(&dist_model),
        "--mc",
        "0",
        "--photometry",
        s(&catalog),
        "--id-column",
        "APOGEE_ID",
        "--k-mag-column",
        "K",
        "--ebv-column",
        "SFD_EBV",
        "-o",
        s(&out),
        s(&test_data(FILE1)),
        s(&test_data(FILE2)),
    ]);
    let table = apogee(&out);
    let k = floats(&table, "k_mag");
    assert!(
        close(k[0], 9.811, 1e-6),
        "absent from the catalog: header K"
    );
    assert!(close(k[1], 11.25, 1e-7), "listed: catalog K");
    assert!(close(floats(&table, "ebv")[1], 0.05, 1e-7));
    let l = floats(&table, "L_fakemag")[1];
    let k0 = 11.25 - 0.3517 * 0.05;
    assert!(close(
        floats(&table, "nn_dist")[1],
        1000.0 * 10f64.powf(0.2 * k0) / l,
        1e-6
    ));

    // A missing Ks magnitude: no distance or parallax, MISSING_PHOTOMETRY, flag_bad.
    std::fs::write(
        &catalog,
        "sdss4_apogee_id,k_mag,ebv\n2M17335483-2753043,99.0,0.1\n",
    )
    .unwrap();
    succeed(&[
        "--overwrite",
        "dist",
        "--model",
        s(&dist_model),
        "--mc",
        "0",
        "--photometry",
        s(&catalog),
        "-o",
        s(&out),
        s(&test_data(FILE1)),
    ]);
    let without_k = apogee(&out);
    assert!(floats(&without_k, "nn_dist")[0].is_nan());
    assert!(floats(&without_k, "nn_parallax")[0].is_nan());
    // The network's L_fakemag does not depend on the photometry.
    assert_eq!(
        floats(&without_k, "L_fakemag")[0],
        floats(&table, "L_fakemag")[0]
    );
    // The whole flag value: MISSING_PHOTOMETRY (bit 1) and, as on every row of this
    // network, FAKEMAG_UNRELIABLE (bit 0); E(B−V) was given.
    assert_eq!(ints(&without_k, "result_flags")[0], 0b011);
    assert!(bools(&without_k, "flag_bad")[0]);

    // A catalog without the id column is an error before any work.
    std::fs::write(&catalog, "id,k_mag,ebv\nx,1,2\n").unwrap();
    let failed = astronn(&[
        "dist",
        "--model",
        s(&dist_model),
        "--photometry",
        s(&catalog),
        "-o",
        s(&dir.path().join("failed.fits")),
        s(&test_data(FILE1)),
    ]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("sdss4_apogee_id"));
}

#[test]
fn one_pass_gives_the_same_values_as_separate_runs() {
    let (dist_model, abundance_model) = models();
    let dir = tempfile::tempdir().unwrap();
    let data = test_data("");
    let (both, both_dist) = (
        dir.path().join("both.fits"),
        dir.path().join("both-dist.fits"),
    );
    let (alone, alone_dist) = (
        dir.path().join("alone.fits"),
        dir.path().join("alone-dist.fits"),
    );
    succeed(&[
        "predict",
        "--model",
        s(&abundance_model),
        "--mc",
        "25",
        "--seed",
        "11",
        "--dist-model",
        s(&dist_model),
        "--dist-output",
        s(&both_dist),
        "-o",
        s(&both),
        s(&data),
    ]);
    succeed(&[
        "predict",
        "--model",
        s(&abundance_model),
        "--mc",
        "25",
        "--seed",
        "11",
        "-o",
        s(&alone),
        s(&data),
    ]);
    succeed(&[
        "dist",
        "--model",
        s(&dist_model),
        "--mc",
        "25",
        "--seed",
        "11",
        "-o",
        s(&alone_dist),
        s(&data),
    ]);
    for column in ["teff", "e_teff", "fe_h", "raw_e_ni_h"] {
        assert_eq!(
            floats(&apogee(&both), column),
            floats(&apogee(&alone), column)
        );
    }
    for column in [
        "L_fakemag",
        "L_fakemag_err",
        "nn_dist",
        "nn_dist_err",
        "nn_parallax",
    ] {
        let a = floats(&apogee(&both_dist), column);
        let b = floats(&apogee(&alone_dist), column);
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{column}"
        );
    }
    // --dist-model without --dist-output is refused by the argument parser.
    let refused = astronn(&[
        "predict",
        "--model",
        s(&abundance_model),
        "--dist-model",
        s(&dist_model),
        "-o",
        s(&both),
        s(&data),
    ]);
    assert!(!refused.status.success());
}

#[test]
fn broken_inputs_give_no_result_rows_and_wrong_models_are_refused() {
    let (dist_model, abundance_model) = models();
    let dir = tempfile::tempdir().unwrap();
    let cases = broken_inputs(dir.path());
    let out = dir.path().join("dist.fits");
    let mut args = vec![
        "dist",
        "--model",
        s(&dist_model),
        "--mc",
        "4",
        "-o",
        s(&out),
    ];
    args.extend(cases.iter().map(|(_, path)| s(path)));
    let good = test_data(FILE2);
    args.push(s(&good));
    let run = succeed(&args);
    let messages = String::from_utf8_lossy(&run.stderr);
    let table = apogee(&out);
    let flags = ints(&table, "result_flags");
    let (l_fakemag, bad) = (floats(&table, "L_fakemag"), bools(&table, "flag_bad"));
    assert_eq!(table.rows(), cases.len() + 1, "one row per input file");
    for (row, (what, path)) in cases.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            strings(&table, "source_file")[row].ends_with(&name),
            "{what}: row {row}"
        );
        assert_eq!(flags[row] & NO_RESULT, NO_RESULT, "{what}: NO_RESULT");
        assert!(l_fakemag[row].is_nan(), "{what}: no L_fakemag");
        assert!(
            floats(&table, "nn_dist")[row].is_nan(),
            "{what}: no distance"
        );
        assert!(bad[row], "{what}: flag_bad");
        assert!(
            messages
                .lines()
                .any(|l| l.starts_with("warning:") && l.contains(&name)),
            "{what}: no warning naming {name} in\n{messages}"
        );
    }
    // The good file after them: FAKEMAG_UNRELIABLE alone, as in a run of its own.
    assert_eq!(flags[cases.len()], 0b001);
    assert!(l_fakemag[cases.len()].is_finite());
    let broken = &cases[0].1;

    let wrong = astronn(&[
        "dist",
        "--model",
        s(&abundance_model),
        "-o",
        s(&dir.path().join("wrong.fits")),
        s(broken),
    ]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("AstroNNDist model is needed"));
    let converted = dir.path().join("dist.safetensors");
    succeed(&["convert", s(&dist_model), "-o", s(&converted)]);
    let info = succeed(&["info", s(&converted)]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("astronn_dist"));
}
