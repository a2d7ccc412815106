//! The `astronn` binary end to end: real files, reference parity through the whole
//! pipeline, reproducibility, model conversion, and broken inputs.

mod common;

use astronn::io::columns::ColumnData;
use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::io::npy::NpyArray;
use astronn::io::table::{read_primary_cards, Table};
use astronn::models::default_model;
use astronn::nn::censored::CensoredBcnn;
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::predict_raw;
use astronn::nn::network::BayesianNetwork;
use astronn::pipeline::predict::stream_key;
use astronn::pipeline::prepare::prepare_file;
use common::broken::broken_inputs;
use common::run::{apogee, astronn, bools, floats, ints, s, stderr, strings, succeed};
use common::test_data;
use std::path::{Path, PathBuf};

const FILE1: &str = "apStar-dr17-2M17335483-2753043.fits";
const FILE2: &str = "apStar-dr17-2M19485057+5005279.fits";
const LABELS: [&str; 22] = [
    "teff", "logg", "c_h", "c_1_h", "n_h", "o_h", "na_h", "mg_h", "al_h", "si_h", "p_h", "s_h",
    "k_h", "ca_h", "ti_h", "ti_2_h", "v_h", "cr_h", "mn_h", "fe_h", "co_h", "ni_h",
];

fn model() -> PathBuf {
    common::fixtures().join("astronn_bcnn_censored.pt")
}

/// Every column except the per-spectrum timing and the run's creation time, for comparing
/// runs; floats as their bit patterns, so that NaN equals NaN.
fn without_timing(table: &Table) -> Vec<(String, ColumnData)> {
    table
        .columns
        .iter()
        .filter(|(name, _)| !["t_elapsed", "t_overhead", "created"].contains(&name.as_str()))
        .map(|(name, data)| {
            let data = match data {
                ColumnData::F32(v) => {
                    ColumnData::I64(v.iter().map(|x| i64::from(x.to_bits())).collect())
                }
                ColumnData::F64(v) => {
                    ColumnData::I64(v.iter().map(|x| x.to_bits() as i64).collect())
                }
                other => other.clone(),
            };
            (name.clone(), data)
        })
        .collect()
}

/// Label columns with NaN made comparable.
fn label_bits(table: &Table) -> Vec<Vec<u64>> {
    LABELS
        .iter()
        .flat_map(|l| [l.to_string(), format!("e_{l}"), format!("raw_e_{l}")])
        .map(|name| floats(table, &name).iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// The fixtures' deterministic outputs of the censored network.
struct DeterministicReference {
    /// Labels, 22 per input row.
    pred: Vec<f64>,
    /// Predicted log-variances, 22 per input row.
    log_variance: Vec<f64>,
    /// The network's label scales σ.
    std: Vec<f64>,
}

impl DeterministicReference {
    fn load(model: &Path) -> Self {
        let fixtures = common::fixtures();
        let array = |name: &str| NpyArray::read(&fixtures.join(name)).unwrap().data;
        let model = ModelFile::load(model).unwrap();
        DeterministicReference {
            pred: array("bcnn_det_pred.npy"),
            log_variance: array("bcnn_det_log_variance.npy"),
            std: CensoredBcnn::load(&model.var_builder())
                .unwrap()
                .scaling()
                .labels_std
                .to_vec(),
        }
    }

    /// Asserts that row `row` of `table` holds the reference's 22 raw labels (to 2e-4 σ, as
    /// the library parity test) and errors σ·exp(log-variance / 2) (to 1e-3 relative) of
    /// input row `reference_row`, and, without a noise model, reports them unchanged.
    fn assert_row(&self, table: &Table, row: usize, reference_row: usize) {
        for (j, label) in LABELS.iter().enumerate() {
            let k = reference_row * 22 + j;
            let got = floats(table, &format!("raw_{label}"))[row];
            assert!(
                (got - self.pred[k]).abs() <= 2e-4 * self.std[j],
                "{label} row {row}: {got} vs {}",
                self.pred[k]
            );
            let error = floats(table, &format!("raw_e_{label}"))[row];
            let expected = (0.5 * self.log_variance[k]).exp() * self.std[j];
            assert!(
                (error - expected).abs() <= 1e-3 * expected,
                "e_{label} row {row}: {error} vs {expected}"
            );
            assert_eq!(floats(table, label)[row], got);
            assert_eq!(floats(table, &format!("e_{label}"))[row], error);
        }
    }
}

#[test]
fn deterministic_predict_on_real_files_matches_the_reference_end_to_end() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let (stars, visits) = (
        dir.path().join("stars.fits"),
        dir.path().join("visits.fits"),
    );
    let data = test_data("");
    let out = succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "0",
        "-o",
        s(&stars),
        "--visits-output",
        s(&visits),
        s(&data),
    ]);
    assert!(
        stderr(&out).contains("6 spectra, 0 NO_RESULT"),
        "{}",
        stderr(&out)
    );

    // Coadds: one row per file, identity from the headers.
    let coadds = apogee(&stars);
    assert_eq!(
        strings(&coadds, "sdss4_apogee_id"),
        ["2M17335483-2753043", "2M19485057+5005279"]
    );
    assert_eq!(ints(&coadds, "row"), [0, 0]);
    assert_eq!(floats(&coadds, "ra")[0], 263.478474);
    assert_eq!(floats(&coadds, "dec")[0], -27.884539);
    assert!(
        (floats(&coadds, "snr")[0] - 154.1551207216066).abs() < 2e-5,
        "float32"
    );
    assert!((floats(&coadds, "snr")[1] - 137.49).abs() < 0.01);
    assert_eq!(strings(&coadds, "field")[0], "000+02");
    assert!(strings(&coadds, "source_file")[0].ends_with(FILE1));

    // Visits: rows 2-4 of the three-visit file, row 0 of the one-visit file.
    let visit_table = apogee(&visits);
    assert_eq!(ints(&visit_table, "row"), [2, 3, 4, 0]);
    assert_eq!(ints(&visit_table, "visit"), [1, 2, 3, 1]);
    assert_eq!(
        strings(&visit_table, "visit_file")[..3],
        [
            "apVisit-dr17-5815-56396-212.fits",
            "apVisit-dr17-5815-56433-221.fits",
            "apVisit-dr17-5815-56434-221.fits"
        ]
    );

    // The reference's deterministic labels for these spectra: inputs rows 0-5 are file 1
    // rows 0-4 and file 2 row 0.
    let reference = DeterministicReference::load(&model);
    reference.assert_row(&coadds, 0, 0);
    reference.assert_row(&coadds, 1, 5);
    for (row, reference_row) in [(0, 2), (1, 3), (2, 4), (3, 5)] {
        reference.assert_row(&visit_table, row, reference_row);
    }

    let cards = read_primary_cards(&stars).unwrap();
    let card = |key: &str| {
        cards
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {key} card"))
    };
    assert_eq!(card("MC"), "0");
    assert!(card("MODEL").contains("astronn_bcnn_censored.pt"));
    assert_eq!(card("MODELSHA").len(), 64);
    assert!(card("CMDLINE").contains("--visits-output"));
    assert_eq!(card("VERSION"), env!("CARGO_PKG_VERSION"));
    assert!(card("DATE").starts_with("20"));
}

#[test]
fn same_seed_gives_the_same_table_on_one_thread_or_all_and_in_any_order() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("reversed.txt");
    std::fs::write(
        &list,
        format!("{}\n{}\n", s(&test_data(FILE2)), s(&test_data(FILE1))),
    )
    .unwrap();
    let run = |name: &str, threads: &str, input: &str| {
        let out = dir.path().join(name);
        let visits = dir.path().join(format!("visits-{name}"));
        succeed(&[
            "predict",
            "--model",
            s(&model),
            "--mc",
            "30",
            "--seed",
            "77",
            "--threads",
            threads,
            "-o",
            s(&out),
            "--visits-output",
            s(&visits),
            input,
        ]);
        (apogee(&out), apogee(&visits))
    };
    let data = test_data("");
    let (one, one_visits) = run("one.fits", "1", s(&data));
    let (all, all_visits) = run("all.fits", "2", s(&data));
    assert_eq!(without_timing(&one), without_timing(&all));
    assert_eq!(without_timing(&one_visits), without_timing(&all_visits));

    // Reversed input order: the same rows, reversed.
    let (reversed, _) = run("reversed.fits", "2", &format!("@{}", s(&list)));
    let mut forward = label_bits(&one);
    let backward = label_bits(&reversed);
    for column in forward.iter_mut() {
        column.reverse();
    }
    assert_eq!(forward, backward);

    // A different seed changes the MC draws.
    let other = dir.path().join("other.fits");
    succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "30",
        "--seed",
        "78",
        "-o",
        s(&other),
        s(&data),
    ]);
    assert_ne!(floats(&apogee(&other), "teff"), floats(&one, "teff"));
}

#[test]
fn converted_model_gives_exactly_the_same_table() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("bcnn.safetensors");
    succeed(&[
        "convert",
        s(&model),
        "-o",
        s(&converted),
        "--description",
        "fixture model",
    ]);
    let info = succeed(&["info", s(&converted)]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("kind:        astronn"), "{text}");
    assert!(text.contains("fixture model"), "{text}");
    assert!(text.contains("teff, logg, c_h"), "{text}");

    let data = test_data("");
    let from_pt = dir.path().join("pt.fits");
    let from_st = dir.path().join("st.fits");
    for (m, out) in [(&model, &from_pt), (&converted, &from_st)] {
        succeed(&[
            "predict",
            "--model",
            s(m),
            "--mc",
            "20",
            "--seed",
            "5",
            "-o",
            s(out),
            s(&data),
        ]);
    }
    assert_eq!(
        without_timing(&apogee(&from_pt)),
        without_timing(&apogee(&from_st))
    );
}

#[test]
fn normalize_then_predict_normalized_equals_predict_on_files() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let normalized = dir.path().join("normalized.fits");
    let data = test_data("");
    let out = succeed(&["normalize", "--visits", "-o", s(&normalized), s(&data)]);
    assert!(
        stderr(&out).contains("6 spectra, 0 NO_RESULT"),
        "{}",
        stderr(&out)
    );

    let direct = dir.path().join("direct.fits");
    let direct_visits = dir.path().join("direct-visits.fits");
    let via = dir.path().join("via.fits");
    let via_visits = dir.path().join("via-visits.fits");
    succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "20",
        "--seed",
        "3",
        "-o",
        s(&direct),
        "--visits-output",
        s(&direct_visits),
        s(&data),
    ]);
    succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "20",
        "--seed",
        "3",
        "-o",
        s(&via),
        "--visits-output",
        s(&via_visits),
        "--normalized",
        s(&normalized),
    ]);
    assert_eq!(label_bits(&apogee(&direct)), label_bits(&apogee(&via)));
    assert_eq!(
        label_bits(&apogee(&direct_visits)),
        label_bits(&apogee(&via_visits))
    );
    assert_eq!(
        strings(&apogee(&direct), "sdss4_apogee_id"),
        strings(&apogee(&via), "sdss4_apogee_id")
    );
}

#[test]
fn predict_normalized_npy_matches_the_reference() {
    let model = model();
    let fixtures = common::fixtures();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("npy.fits");
    succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "0",
        "-o",
        s(&out),
        "--normalized",
        s(&fixtures.join("inputs_norm_flux.npy")),
    ]);
    let table = apogee(&out);
    assert_eq!(table.rows(), 12);
    let reference = DeterministicReference::load(&model);
    for row in 0..12 {
        reference.assert_row(&table, row, row);
    }
    assert_eq!(ints(&table, "row"), (0..12).collect::<Vec<i64>>());
}

#[test]
fn broken_inputs_become_no_result_rows_and_the_run_goes_on() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let cases = broken_inputs(&inputs);
    for good in [FILE1, FILE2] {
        std::fs::copy(test_data(good), inputs.join(good)).unwrap();
    }
    let out = dir.path().join("stars.fits");
    // A file named directly that exists but cannot be read (a path that does not exist is
    // an error before any work).
    let unreadable = dir.path().join("apStar-unreadable.fits");
    std::fs::write(&unreadable, "not a FITS file\n").unwrap();
    let result = succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "5",
        "--seed",
        "1",
        "-o",
        s(&out),
        s(&inputs),
        s(&unreadable),
    ]);
    let messages = stderr(&result);
    let table = apogee(&out);
    let files = strings(&table, "source_file");
    let flags = ints(&table, "result_flags");
    let teff = floats(&table, "teff");
    let warn = bools(&table, "flag_warn");
    assert_eq!(files.len(), cases.len() + 3, "one row per input file");
    for (what, path) in cases
        .iter()
        .map(|(w, p)| (*w, p.clone()))
        .chain([("unreadable", unreadable)])
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let row = files
            .iter()
            .position(|f| f.ends_with(&name))
            .unwrap_or_else(|| panic!("{what}: no row for {name}"));
        assert_eq!(flags[row] & (1 << 11), 1 << 11, "{what}: NO_RESULT");
        assert!(teff[row].is_nan(), "{what}: NaN labels");
        assert!(warn[row], "{what}: flag_warn");
        assert!(
            messages
                .lines()
                .any(|l| l.starts_with("warning:") && l.contains(&name)),
            "{what}: no warning naming {name} in\n{messages}"
        );
    }
    for good in [FILE1, FILE2] {
        let row = files.iter().position(|f| f.ends_with(good)).unwrap();
        assert_eq!(flags[row] & (1 << 11), 0, "{good} has a result");
        assert!(teff[row].is_finite());
    }
    // Identity known from the header is kept for spectra that could not be prepared.
    let all_nan = files
        .iter()
        .position(|f| f.ends_with("apStar-all-nan.fits"))
        .unwrap();
    assert_eq!(
        strings(&table, "sdss4_apogee_id")[all_nan],
        "2M17335483-2753043"
    );
    assert!(messages.contains(&format!(
        "{} spectra, {} NO_RESULT",
        cases.len() + 3,
        cases.len() + 1
    )));

    // --strict: the first NO_RESULT fails the run and leaves no table.
    let strict_out = dir.path().join("strict.fits");
    let strict = astronn(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "5",
        "--strict",
        "-o",
        s(&strict_out),
        s(&inputs),
    ]);
    assert!(!strict.status.success());
    assert!(stderr(&strict).contains("--strict"), "{}", stderr(&strict));
    assert!(!strict_out.exists());
    // inputs/, apStar-unreadable.fits and stars.fits: no temporary files left.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no temporary files left"
    );
}

#[test]
fn normalize_writes_broken_spectra_as_nan_rows_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let cases = broken_inputs(dir.path());
    let out = dir.path().join("normalized.fits");
    let mut args = vec!["normalize", "-o", s(&out)];
    args.extend(cases.iter().map(|(_, p)| s(p)));
    let result = succeed(&args);
    assert_eq!(
        stderr(&result)
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .count(),
        cases.len()
    );
    let mut reader = astronn::io::normalized::NormalizedReader::open(&out).unwrap();
    assert_eq!(reader.len(), cases.len());
    // Every row, flux and error, is NaN: none of these spectra could be prepared.
    let rows = reader.len();
    for values in [
        reader.read_flux(0, rows).unwrap(),
        reader.read_e_flux(0, rows).unwrap(),
    ] {
        assert_eq!(values.len(), rows * 7514);
        assert!(values.iter().all(|v| v.is_nan()));
    }
}

#[test]
fn without_a_model_the_default_models_run_and_say_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let (stars, dists) = (dir.path().join("stars.fits"), dir.path().join("dist.fits"));
    let data = test_data("");
    let run = succeed(&[
        "predict",
        "--mc",
        "4",
        "-o",
        s(&stars),
        "--dist-output",
        s(&dists),
        s(&data),
    ]);
    let messages = stderr(&run);
    assert_eq!(
        messages.matches("trained on simulated spectra").count(),
        1,
        "{messages}"
    );
    for table in [&stars, &dists] {
        let cards = read_primary_cards(table).unwrap();
        let card = |key: &str| cards.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert!(card("MODEL").starts_with("default:"), "{}", card("MODEL"));
        assert_eq!(card("NOISEMOD"), "default:noise_model_default.json");
    }
    // The default noise model recalibrates the errors, not the labels.
    let table = apogee(&stars);
    assert_eq!(floats(&table, "teff"), floats(&table, "raw_teff"));
    assert_ne!(floats(&table, "e_teff"), floats(&table, "raw_e_teff"));
    // Every raw label is the embedded network's, for the run's seed and each spectrum's
    // own dropout stream (stored as float32).
    let seed: u64 = read_primary_cards(&stars)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "SEED")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let net =
        CensoredBcnn::load(&default_model(ModelKind::AstroNN).unwrap().var_builder()).unwrap();
    for (row, file) in [FILE1, FILE2].into_iter().enumerate() {
        let coadd = prepare_file(&test_data(file), false).remove(0);
        let stream = MaskStream::new(seed, stream_key(&coadd.meta));
        let raw = predict_raw(&net, &coadd.data.unwrap().flux, 4, stream).unwrap();
        for (j, label) in LABELS.iter().enumerate() {
            let written = floats(&table, &format!("raw_{label}"))[row];
            let expected = raw.values[j];
            assert!(
                (written - expected).abs() <= 1e-6 * expected.abs().max(1e-3),
                "{file}: raw_{label} {written} vs {expected}"
            );
        }
    }
}

#[test]
fn missing_model_and_unwritable_output_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stars.fits");
    let data = test_data("");
    let missing = dir.path().join("nowhere.pt");
    let bad_model = astronn(&["predict", "--model", s(&missing), "-o", s(&out), s(&data)]);
    assert!(!bad_model.status.success());
    assert!(
        stderr(&bad_model).contains("nowhere.pt"),
        "{}",
        stderr(&bad_model)
    );
    let not_a_model = astronn(&[
        "predict",
        "--model",
        s(&test_data(FILE1)),
        "-o",
        s(&out),
        s(&data),
    ]);
    assert!(!not_a_model.status.success());
    assert!(
        stderr(&not_a_model).contains("not a model file"),
        "{}",
        stderr(&not_a_model)
    );
    assert!(!out.exists());

    let model = model();
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"x").unwrap();
    let unwritable = blocked.join("stars.fits");
    let result = astronn(&[
        "predict",
        "--model",
        s(&model),
        "-o",
        s(&unwritable),
        s(&data),
    ]);
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("stars.fits"),
        "{}",
        stderr(&result)
    );
    assert!(!stderr(&result).contains("spectra,"), "no work was done");

    let one_sample = astronn(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "1",
        "-o",
        s(&out),
        s(&data),
    ]);
    assert!(!one_sample.status.success());
}

#[test]
fn noise_model_recalibrates_errors_but_not_labels() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let noise = dir.path().join("noise.json");
    std::fs::write(
        &noise,
        r#"{"teff": {"offset": 10.0, "scale": 2.0}, "fe_h": {"offset": 0.01, "scale": 0.5}}"#,
    )
    .unwrap();
    let out = dir.path().join("stars.fits");
    succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "0",
        "--noise-model",
        s(&noise),
        "-o",
        s(&out),
        s(&test_data(FILE1)),
    ]);
    let table = apogee(&out);
    // Stored as float32: the recalibrated error is computed in float64 and then rounded.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-7 * b.abs();
    let raw_e_teff = floats(&table, "raw_e_teff")[0];
    assert!(close(floats(&table, "e_teff")[0], 2.0 * raw_e_teff + 10.0));
    assert!(close(
        floats(&table, "e_fe_h")[0],
        0.5 * floats(&table, "raw_e_fe_h")[0] + 0.01
    ));
    assert_eq!(floats(&table, "e_logg")[0], floats(&table, "raw_e_logg")[0]);
    assert_eq!(floats(&table, "teff")[0], floats(&table, "raw_teff")[0]);
}

#[test]
fn help_describes_every_command() {
    let out = succeed(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "normalize",
        "predict",
        "dist",
        "train",
        "calibrate",
        "convert",
        "info",
        "bench",
    ] {
        assert!(text.contains(command), "{text}");
    }
    let predict = String::from_utf8_lossy(&succeed(&["predict", "--help"]).stdout).into_owned();
    for flag in [
        "--mc",
        "--seed",
        "--noise-model",
        "--visits-output",
        "--normalized",
        "--strict",
    ] {
        assert!(predict.contains(flag), "{predict}");
    }
}

#[test]
fn bench_measures_both_networks_end_to_end_and_training() {
    let out = succeed(&[
        "bench",
        "--mc",
        "4",
        "--spectra",
        "6",
        "--files",
        "3",
        "--training",
        "--training-spectra",
        "64",
        test_data("").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "AstroNN network alone",
        "AstroNNDist network alone",
        "predict end to end (AstroNN) ",
        "predict end to end (AstroNN + AstroNNDist)",
        "training, batch 64",
        "training, batch 256",
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no `{line}` in {text}"));
        let rate: f64 = row[44..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no rate in `{row}`"));
        assert!(rate > 0.0 && rate.is_finite(), "{row}");
    }
    assert!(text.contains("\nCPU features: AVX2 "), "{text}");
    // The limit is the better of the two product rates, and the networks are a share of it.
    let gflops = |prefix: &str| -> f64 {
        let row = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {text}"));
        let words: Vec<&str> = row.split_whitespace().collect();
        words[words.len() - 2].parse().unwrap()
    };
    let dense_1 = gflops("float32 product [4, 7512] × [7512, 192], one per thread");
    let square = gflops("float32 product [2048, 2048] × [2048, 2048], all threads");
    assert!(dense_1 > 0.0 && square > 0.0, "{text}");
    assert_eq!(gflops("product limit"), dense_1.max(square));
    let network = text
        .lines()
        .find(|l| l.starts_with("AstroNN network alone"))
        .unwrap();
    let share: f64 = network
        .split(" GFLOP/s = ")
        .nth(1)
        .and_then(|rest| rest.split(" % of the product limit").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no share of the limit in `{network}`"));
    assert!(share > 0.0, "{network}");
}

/// Writes `values` (rows of 7514 float64) as a `.npy` file.
fn write_npy(path: &Path, values: &[f64]) {
    let rows = values.len() / 7514;
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, 7514), }}");
    // Magic (6), version (2) and length (2) come first; the whole header ends in a newline
    // at a multiple of 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn normalized_rows_with_non_finite_values_become_no_result_rows() {
    let dir = tempfile::tempdir().unwrap();
    let real = prepare_file(&test_data(FILE2), false)
        .remove(0)
        .data
        .unwrap()
        .flux;
    let mut partly = real.clone();
    partly[100] = f64::NAN;
    partly[5000] = f64::INFINITY;
    let values = [real.clone(), vec![f64::NAN; 7514], partly].concat();
    let npy = dir.path().join("spectra.npy");
    write_npy(&npy, &values);
    let (stars, dists) = (dir.path().join("stars.fits"), dir.path().join("dist.fits"));
    let run = succeed(&[
        "predict",
        "--mc",
        "2",
        "--seed",
        "3",
        "--normalized",
        s(&npy),
        "-o",
        s(&stars),
        "--dist-output",
        s(&dists),
    ]);
    let messages = stderr(&run);
    for (row, reason) in [
        (1, "no normalized flux (the spectrum could not be prepared)"),
        (2, "normalized flux has 2 non-finite pixels"),
    ] {
        assert!(
            messages.contains(&format!(
                "spectra.npy row {row}: {reason}; written as NO_RESULT"
            )),
            "{messages}"
        );
    }
    let table = apogee(&stars);
    let flags = ints(&table, "result_flags");
    assert_eq!(flags[1..], [1 << 11, 1 << 11]);
    assert_eq!(flags[0] & (1 << 11), 0);
    let teff = floats(&table, "teff");
    assert!(teff[0].is_finite() && teff[1].is_nan() && teff[2].is_nan());
    let dist_flags = ints(&apogee(&dists), "result_flags");
    assert_eq!(dist_flags[0] & (1 << 11), 0);
    assert!(
        dist_flags[1..].iter().all(|f| f & (1 << 11) != 0),
        "{dist_flags:?}"
    );
}

#[test]
fn visits_that_cannot_be_prepared_are_no_result_rows_of_the_visit_table() {
    let dir = tempfile::tempdir().unwrap();
    let all_nan = broken_inputs(dir.path())
        .into_iter()
        .find(|(what, _)| *what == "all NaN")
        .unwrap()
        .1;
    let unreadable = dir.path().join("apStar-unreadable.fits");
    std::fs::write(&unreadable, "not a FITS file\n").unwrap();
    let good = test_data(FILE2);
    let (stars, visits) = (
        dir.path().join("stars.fits"),
        dir.path().join("visits.fits"),
    );
    let run = succeed(&[
        "predict",
        "--mc",
        "2",
        "--seed",
        "3",
        "-o",
        s(&stars),
        "--visits-output",
        s(&visits),
        s(&all_nan),
        s(&good),
        s(&unreadable),
    ]);
    let messages = stderr(&run);
    let table = apogee(&visits);
    let files = strings(&table, "source_file");
    let flags = ints(&table, "result_flags");
    let teff = floats(&table, "teff");
    let summary: Vec<_> = files
        .iter()
        .zip(ints(&table, "visit"))
        .zip(&flags)
        .map(|((f, v), flag)| format!("{f} visit {v}: {flag}"))
        .collect();
    // The all-NaN file's three visits, then the good file's one, then the unreadable file.
    assert_eq!(ints(&table, "visit"), [1, 2, 3, 1, 0], "{summary:?}");
    for row in [0, 1, 2, 4] {
        assert_eq!(flags[row], 1 << 11, "{summary:?}");
        assert!(teff[row].is_nan());
    }
    assert_eq!(flags[3] & (1 << 11), 0);
    assert!(teff[3].is_finite());
    assert!(
        messages.contains("apStar-all-nan.fits row 2 (visit 1)"),
        "{messages}"
    );
}
