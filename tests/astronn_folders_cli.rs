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

/// The primary header's value of `key` in a table.
fn card(table: &std::path::Path, key: &str) -> String {
    astronn::io::table::read_primary_cards(table)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {}", table.display()))
}

/// Each astroNN class writes the table its outputs call for, with its outputs named as
/// DR19's columns: the paper's 22-label ApogeeBCNN DR19's AstroNN table, the ages network
/// and ApogeeCNN a table of their own; each round-trips through `convert`.
#[test]
fn predict_writes_the_table_each_network_calls_for() {
    let paper = run_and_round_trip("predict", "bcnn_paper22");
    for column in ["teff", "e_c_1_h", "raw_ti_2_h", "e_fe_h"] {
        let values = floats(&paper, column);
        assert!(
            !values.is_empty() && values.iter().all(|v| v.is_finite()),
            "{column}"
        );
    }
    let dr19 = astronn::products::Product::AllStarAstroNN.apogee_columns();
    let names: Vec<&str> = dr19.iter().map(|c| c.name).collect();
    let written: Vec<&str> = paper
        .columns
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        written, names,
        "the paper's ApogeeBCNN writes astraAllStarAstroNN"
    );

    let ages = run_and_round_trip("predict", "bcnn_ages");
    for column in ["age", "mass", "e_age", "e_mass", "raw_age", "raw_e_mass"] {
        let values = floats(&ages, column);
        assert!(!values.is_empty(), "{column}");
        // softplus outputs of a mode-4 normalisation: positive.
        assert!(
            values.iter().all(|v| v.is_finite() && *v > 0.0),
            "{column}: {values:?}"
        );
    }
    assert!(ages.column("sdss_id").is_some());
    assert!(ages.column("teff").is_none());

    // Labels mode 3s: its labels through the logit, kept by convert.
    let sigmoid = run_and_round_trip("predict", "bcnn_mode3s");
    for column in ["fe_h", "alpha_m", "e_fe_h"] {
        let values = floats(&sigmoid, column);
        assert!(
            !values.is_empty() && values.iter().all(|v| v.is_finite()),
            "{column}"
        );
    }

    let defaults = run_and_round_trip("predict", "bcnn25_dropout02");
    for column in [
        "m_h",
        "alpha_m",
        "c_1_h",
        "L_fakemag",
        "e_L_fakemag",
        "nn_dist",
    ] {
        assert!(!floats(&defaults, column).is_empty(), "{column}");
    }
}

#[test]
fn an_apogee_cnn_runs_once_without_errors_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("cnn.fits");
    let data = common::test_data("");
    let model = folder("cnn");
    let run = succeed(&["predict", "--model", s(&model), "-o", s(&output), s(&data)]);
    assert!(
        stderr(&run).contains("--mc ignored") && stderr(&run).contains("ApogeeCNN"),
        "{}",
        stderr(&run)
    );
    let table = apogee(&output);
    assert!(floats(&table, "teff").iter().all(|v| v.is_finite()));
    assert!(floats(&table, "e_teff").iter().all(|v| v.is_nan()));
    assert_eq!(card(&output, "MC"), "0");
    assert_eq!(card(&output, "NNCLASS"), "ApogeeCNN");
    assert_eq!(card(&output, "PIPELINE"), "ApogeeCNN");
}

/// Abundances, distances and ages in one pass (each spectrum read once, as the DR17 VAC ran
/// its three networks): the ages table is the one `predict --model` writes alone.
#[test]
fn abundances_distances_and_ages_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::test_data("");
    let path = |name: &str| dir.path().join(name);
    succeed(&[
        "predict",
        "--seed",
        "7",
        "--model",
        s(&folder("censored_dict")),
        "-o",
        s(&path("abundances.fits")),
        "--dist-model",
        s(&folder("dist_dict")),
        "--dist-output",
        s(&path("distances.fits")),
        "--extra",
        s(&folder("bcnn_ages")),
        s(&path("ages.fits")),
        s(&data),
    ]);
    succeed(&[
        "predict",
        "--seed",
        "7",
        "--model",
        s(&folder("bcnn_ages")),
        "-o",
        s(&path("ages_alone.fits")),
        s(&data),
    ]);
    assert_eq!(
        comparable_table(&path("ages.fits"), "APOGEE"),
        comparable_table(&path("ages_alone.fits"), "APOGEE")
    );
    assert!(!floats(&apogee(&path("abundances.fits")), "fe_h").is_empty());
    assert!(!floats(&apogee(&path("distances.fits")), "nn_dist").is_empty());

    // Two tables at one path are refused before any work.
    let clash = astronn(&[
        "predict",
        "--model",
        s(&folder("censored_dict")),
        "-o",
        s(&path("same.fits")),
        "--extra",
        s(&folder("bcnn_ages")),
        s(&path("same.fits")),
        s(&data),
    ]);
    assert_eq!(clash.status.code(), Some(2), "{}", stderr(&clash));
    assert!(stderr(&clash).contains("two tables"), "{}", stderr(&clash));
    assert!(!path("same.fits").exists());
}

/// `info` and `jacobian` take every class: an ApogeeBCNN of other outputs gives a row per
/// output.
#[test]
fn info_and_jacobian_take_other_astronn_networks() {
    let out = succeed(&["info", s(&folder("bcnn_ages"))]);
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "class:       ApogeeBCNN",
        "labels:      age, mass",
        "softplus",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("jacobian.fits");
    let data = common::test_data("");
    let model = folder("bcnn_conv_shapes");
    succeed(&[
        "jacobian",
        "--model",
        s(&model),
        "--mc",
        "0",
        "-o",
        s(&output),
        s(&data),
    ]);
    assert_eq!(card(&output, "MODELSHA").len(), 64);
}

/// A network's own table shards and merges as DR19's do: the merged shards of an ages run
/// are the whole run's table.
#[test]
fn an_ages_table_merges_from_shards_into_the_whole_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::test_data("");
    let model = folder("bcnn_ages");
    let path = |name: &str| dir.path().join(name);
    let run = |output: &PathBuf, shard: Option<&str>| {
        let mut args = vec!["predict", "-q", "--seed", "3", "--mc", "10"];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        args.extend(["--model", s(&model), "-o", s(output), s(&data)]);
        succeed(&args);
    };
    run(&path("whole.fits"), None);
    run(&path("part0.fits"), Some("0/2"));
    run(&path("part1.fits"), Some("1/2"));
    let parts = [path("part0.fits"), path("part1.fits")];
    succeed(&[
        "merge",
        "-q",
        "-o",
        s(&path("merged.fits")),
        s(&parts[0]),
        s(&parts[1]),
    ]);
    assert_eq!(
        comparable_table(&path("merged.fits"), "APOGEE"),
        comparable_table(&path("whole.fits"), "APOGEE")
    );
}
