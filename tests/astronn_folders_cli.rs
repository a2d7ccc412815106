//! astroNN model folders through the command line: `predict`, `dist`, `convert` and `info`
//! with `tests/data/astronn_models`, and a broken folder refused with exit status 2 before
//! any work.

mod common;

use common::run::{apogee, astronn, comparable_table, floats, s, stderr, succeed};
use std::path::PathBuf;

fn folder(name: &str) -> PathBuf {
    common::test_data("astronn_models").join(name)
}

/// Runs `command` (`predict` or `dist`) with the folder `name` and with its `convert`ed
/// model file, asserts the two tables are identical (timing columns aside), and returns the
/// first's `APOGEE` table.
fn run_and_round_trip(command: &str, name: &str) -> astronn::io::table::Table {
    let dir = tempfile::tempdir().unwrap();
    let data = common::test_data("");
    let model = folder(name);
    let converted = dir.path().join("converted.safetensors");
    succeed(&["convert", s(&model), "-o", s(&converted)]);
    let run = |model: &PathBuf, output: &str| -> PathBuf {
        let output = dir.path().join(output);
        let args = [
            command,
            "--seed",
            "7",
            "--model",
            s(model),
            "-o",
            s(&output),
            s(&data),
        ];
        succeed(&args);
        output
    };
    let from_folder = run(&model, "folder.fits");
    let from_file = run(&converted, "file.fits");
    assert_eq!(
        comparable_table(&from_folder, "APOGEE"),
        comparable_table(&from_file, "APOGEE")
    );
    apogee(&from_folder)
}

#[test]
fn predict_with_a_censored_folder_writes_a_complete_table_and_convert_round_trips() {
    let table = run_and_round_trip("predict", "censored_dict");
    let teff = floats(&table, "teff");
    assert!(!teff.is_empty());
    assert!(teff.iter().all(|t| t.is_finite()), "{teff:?}");
    let errors = floats(&table, "e_mg_h");
    assert!(
        errors.iter().all(|e| e.is_finite() && *e > 0.0),
        "{errors:?}"
    );
}

#[test]
fn dist_with_a_distance_folder_writes_a_complete_table_and_convert_round_trips() {
    let table = run_and_round_trip("dist", "dist_list_mode0");
    let fakemag = floats(&table, "L_fakemag");
    assert!(!fakemag.is_empty());
    let positive = fakemag.iter().all(|v| v.is_finite() && *v > 0.0);
    assert!(positive, "{fakemag:?}");
}

#[test]
fn info_describes_class_labels_normalisation_and_provenance() {
    let out = succeed(&["info", s(&folder("censored_list"))]);
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "AstroNNFolder",
        "astronn_class",
        "ApogeeBCNNCensored",
        "teff, logg, c_h",
        "input mode 3, labels mode 2 (list-valued JSON)",
        "astronn_version",
        "keras_version",
        "mc_variance  population",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn a_broken_folder_is_refused_with_exit_status_2_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(
        folder("dist_dict").join("astroNN_model_parameter.json"),
        broken.join("astroNN_model_parameter.json"),
    )
    .unwrap();
    let output = dir.path().join("out.fits");
    let data = common::test_data("");
    let run = astronn(&["dist", "--model", s(&broken), "-o", s(&output), s(&data)]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("no model_weights.h5"),
        "{}",
        stderr(&run)
    );
    assert!(!output.exists());
}
