//! astroNN's model folders against astroNN 1.1.0's own `predict` on them
//! (`tests/data/astronn_models`, made by `scripts/astronn_reference.py`; see its
//! PROVENANCE.md): the deterministic pass to 1e−4 of each label's std (relative 1e−4 for
//! AstroNNDist's L_fakemag), MC means and errors within 5 standard errors. The folders hold
//! every class astronn runs (ApogeeBCNNCensored, ApogeeBCNN of any outputs and either output
//! activation, ApogeeCNN), dropout rates 0, 0.2 and 0.3, a convolution shape other than
//! Astra's, and labels normalisation mode 3s (labels through the logit).

mod common;

use astronn::io::model_file::{ModelFile, ModelFormat, ModelKind};
use astronn::io::npy::NpyArray;
use astronn::models::{censored_network, dist_network, generic_network};
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::predict_raw;
use astronn::nn::network::BayesianNetwork;
use common::mc::{assert_mc_matches, McCase};
use std::path::{Path, PathBuf};

/// The committed folders and the kind each holds.
const FOLDERS: [(&str, ModelKind); 12] = [
    ("censored_dict", ModelKind::AstroNN),
    ("censored_dropout0", ModelKind::AstroNN),
    ("censored_keras3", ModelKind::AstroNN),
    ("censored_list", ModelKind::AstroNN),
    ("dist_dict", ModelKind::AstroNNDist),
    ("dist_list_mode0", ModelKind::AstroNNDist),
    ("bcnn_paper22", ModelKind::Generic),
    ("bcnn_ages", ModelKind::Generic),
    ("bcnn25_dropout02", ModelKind::Generic),
    ("bcnn_conv_shapes", ModelKind::Generic),
    ("cnn", ModelKind::Generic),
    ("bcnn_mode3s", ModelKind::Generic),
];

fn models_dir() -> PathBuf {
    common::test_data("astronn_models")
}

fn reference(folder: &str, name: &str) -> NpyArray {
    let path = models_dir().join("reference").join(folder).join(name);
    NpyArray::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The normalized spectra astroNN predicted, one row each.
fn inputs() -> Vec<Vec<f64>> {
    let array = reference("", "inputs.npy");
    let (_, pixels) = array.as_matrix().unwrap();
    array.data.chunks(pixels).map(<[f64]>::to_vec).collect()
}

fn network(model: &ModelFile) -> Box<dyn BayesianNetwork> {
    match model.kind {
        ModelKind::AstroNN => Box::new(censored_network(model).unwrap()),
        ModelKind::AstroNNDist => Box::new(dist_network(model).unwrap()),
        ModelKind::Generic => Box::new(generic_network(model).unwrap()),
    }
}

fn load(folder: &str) -> (ModelFile, Box<dyn BayesianNetwork>) {
    let model = ModelFile::load(&models_dir().join(folder)).unwrap_or_else(|e| panic!("{e}"));
    let net = network(&model);
    (model, net)
}

/// Row `row` of an `n × labels` reference array.
fn row(array: &NpyArray, row: usize) -> &[f64] {
    let labels = array.data.len() / array.shape[0];
    &array.data[row * labels..(row + 1) * labels]
}

#[test]
fn every_folder_loads_as_its_kind_with_astronns_conventions() {
    for (folder, kind) in FOLDERS {
        let (model, net) = load(folder);
        assert_eq!(model.kind, kind, "{folder}");
        assert_eq!(model.format, ModelFormat::AstroNNFolder);
        assert_eq!(model.metadata["mc_variance"], "population", "{folder}");
        assert!(
            model.metadata["astronn_version"].starts_with("1."),
            "{folder}"
        );
        assert_eq!(
            net.scaling().mc_variance,
            astronn::nn::scaling::McVariance::Population
        );
    }
}

#[test]
fn deterministic_passes_match_astronn() {
    let spectra = inputs();
    for (folder, kind) in FOLDERS {
        let (_, net) = load(folder);
        let values = reference(folder, "det_pred.npy");
        // An ApogeeCNN has no predictive error: astroNN gives none, ours are NaN.
        let errors = net
            .is_bayesian()
            .then(|| reference(folder, "det_predictive_err.npy"));
        let std = net.scaling().labels_std.clone();
        assert_eq!(std.len(), values.shape[1], "{folder}");
        for (i, flux) in spectra.iter().enumerate() {
            let raw = predict_raw(net.as_ref(), flux, 0, MaskStream::new(0, 0)).unwrap();
            for (j, scale) in std.iter().enumerate() {
                let (ours, theirs) = (raw.values[j], row(&values, i)[j]);
                let tolerance = match kind {
                    ModelKind::AstroNN | ModelKind::Generic => 1e-4 * scale,
                    ModelKind::AstroNNDist => 1e-4 * theirs.abs(),
                };
                assert!(
                    (ours - theirs).abs() <= tolerance,
                    "{folder} spectrum {i} label {j}: {ours} vs astroNN {theirs}"
                );
                let Some(errors) = &errors else {
                    assert!(raw.errors[j].is_nan(), "{folder}: {:?}", raw.errors);
                    continue;
                };
                let (ours, theirs) = (raw.errors[j], row(errors, i)[j]);
                assert!(
                    (ours - theirs).abs() <= 1e-4 * theirs,
                    "{folder} spectrum {i} label {j}: error {ours} vs astroNN {theirs}"
                );
            }
        }
    }
}

/// astroNN's MC runs of 100 samples of a reference array `name`: `{name}_runs.npy`
/// (`runs × spectra × labels`) where the script repeated them, else the one run of
/// `{name}.npy` (the Keras 3 folder's, whose MC takes ~10 min a run).
fn mc_runs(folder: &str, name: &str) -> NpyArray {
    let dir = models_dir().join("reference").join(folder);
    let repeated = dir.join(format!("{name}_runs.npy"));
    if repeated.is_file() {
        return NpyArray::read(&repeated).unwrap();
    }
    let mut single = NpyArray::read(&dir.join(format!("{name}.npy"))).unwrap();
    single.shape.insert(0, 1);
    single
}

/// astroNN's MC statistics of one spectrum, pooled over its runs of 100 samples each, in
/// the network's standardised units.
fn pooled_case(
    folder: &str,
    spectrum: usize,
    net: &dyn BayesianNetwork,
) -> (McCase, Vec<f64>, Vec<f64>) {
    let (pred, model_err, predictive_err) = (
        mc_runs(folder, "mc_pred"),
        mc_runs(folder, "mc_model_err"),
        mc_runs(folder, "mc_predictive_err"),
    );
    let (n_runs, n_spectra, labels) = (pred.shape[0], pred.shape[1], pred.shape[2]);
    let at = |a: &NpyArray, r: usize, j: usize| a.data[(r * n_spectra + spectrum) * labels + j];
    let s = net.scaling();
    let per_label = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..labels).map(f).collect() };
    let mean_of = |f: &dyn Fn(usize, usize) -> f64, j: usize| -> f64 {
        (0..n_runs).map(|r| f(r, j)).sum::<f64>() / n_runs as f64
    };
    // The mean output astroNN's label is made from (its logit for labels mode 3s).
    let standard = |r: usize, j: usize| {
        let label = (at(&pred, r, j) - s.labels_mean[j]) / s.labels_std[j];
        s.labels_transform.inverse(label)
    };
    let mean = per_label(&|j| mean_of(&standard, j));
    // Pooled population variance: the runs' mean variance plus the variance of their means.
    let variance = per_label(&|j| {
        let within = mean_of(
            &|r, j| (at(&model_err, r, j) / s.labels_error_std[j]).powi(2),
            j,
        );
        let between = mean_of(&|r, j| (standard(r, j) - mean[j]).powi(2), j);
        within + between
    });
    let mean_log_variance = per_label(&|j| {
        mean_of(
            &|r, j| {
                (at(&predictive_err, r, j) / s.labels_error_std[j])
                    .powi(2)
                    .ln()
            },
            j,
        )
    });
    let values = per_label(&|j| mean_of(&|r, j| at(&pred, r, j), j));
    // astroNN's total error: sqrt(predictive² + model²).
    let errors = per_label(&|j| {
        mean_of(
            &|r, j| at(&model_err, r, j).hypot(at(&predictive_err, r, j)),
            j,
        )
    });
    let case = McCase {
        row: spectrum,
        samples: (100 * n_runs) as f64,
        mean,
        variance,
        mean_log_variance,
    };
    (case, values, errors)
}

#[test]
fn mc_statistics_match_astronns() {
    let spectra = inputs();
    for (folder, _) in FOLDERS {
        let (model, net) = load(folder);
        if !net.is_bayesian() {
            assert_mc_is_deterministic(folder, net.as_ref(), &spectra);
            continue;
        }
        if model.dropout_rate().unwrap().rate() == 0.0 {
            assert_mc_without_dropout_matches(folder, net.as_ref(), &spectra);
            continue;
        }
        for (i, flux) in spectra.iter().enumerate() {
            let (case, values, errors) = pooled_case(folder, i, net.as_ref());
            assert_mc_matches(net.as_ref(), flux, 1000, &case, &values, &errors);
        }
    }
}

/// Without dropout every MC sample is the deterministic pass: astroNN's MC statistics have
/// no spread to compare in standard errors (its MC model error is float32 rounding, under
/// 1e-6 of a label's scale), so the MC means and errors are compared as the deterministic
/// pass is, and both model errors must be nil.
fn assert_mc_without_dropout_matches(
    folder: &str,
    net: &dyn BayesianNetwork,
    spectra: &[Vec<f64>],
) {
    let values = reference(folder, "mc_pred.npy");
    let errors = reference(folder, "mc_total_err.npy");
    let model_errors = reference(folder, "mc_model_err.npy");
    let (std, error_std) = (&net.scaling().labels_std, &net.scaling().labels_error_std);
    for (i, flux) in spectra.iter().enumerate() {
        let raw = predict_raw(net, flux, 100, MaskStream::new(2024, i as u64)).unwrap();
        for j in 0..std.len() {
            let (ours, theirs) = (raw.values[j], row(&values, i)[j]);
            assert!(
                (ours - theirs).abs() <= 1e-4 * std[j],
                "{folder} spectrum {i} label {j}: MC mean {ours} vs astroNN {theirs}"
            );
            let (ours, theirs) = (raw.errors[j], row(&errors, i)[j]);
            assert!(
                (ours - theirs).abs() <= 1e-4 * theirs,
                "{folder} spectrum {i} label {j}: MC error {ours} vs astroNN {theirs}"
            );
            let nil = 1e-6 * error_std[j];
            assert!(raw.model_errors[j] <= nil && row(&model_errors, i)[j] <= nil);
        }
    }
}

/// An ApogeeCNN has no MC dropout (astroNN's plain `Dropout` is off at inference): asked
/// for MC samples, it gives its deterministic values and NaN errors.
fn assert_mc_is_deterministic(folder: &str, net: &dyn BayesianNetwork, spectra: &[Vec<f64>]) {
    for (i, flux) in spectra.iter().enumerate() {
        let once = predict_raw(net, flux, 0, MaskStream::new(0, 0)).unwrap();
        let mc = predict_raw(net, flux, 100, MaskStream::new(2024, i as u64)).unwrap();
        assert_eq!(mc.values, once.values, "{folder} spectrum {i}");
        assert!(mc.errors.iter().chain(&mc.model_errors).all(|e| e.is_nan()));
    }
}

/// Outputs are named as DR19's columns where DR19 has one, whichever way astroNN spelled
/// the target, else in plain lower case.
#[test]
fn outputs_are_named_as_dr19_columns() {
    let astronn_labels: Vec<String> = astronn::nn::censored::LABELS
        .iter()
        .map(|l| l.to_string())
        .collect();
    let (_, paper) = load("bcnn_paper22");
    assert_eq!(paper.label_names(), astronn_labels);
    let (_, ages) = load("bcnn_ages");
    assert_eq!(ages.label_names(), ["age", "mass"]);
    let (_, cnn) = load("cnn");
    assert_eq!(cnn.label_names(), ["teff", "logg", "fe_h"]);
    let (_, default_targets) = load("bcnn25_dropout02");
    let names = default_targets.label_names();
    assert_eq!(
        names[..6],
        ["teff", "logg", "m_h", "alpha_m", "c_h", "c_1_h"]
    );
    assert_eq!(names[17], "ti_2_h");
    assert_eq!(names[24], "L_fakemag");
}

#[test]
fn json_and_weights_files_name_the_same_model() {
    let folder = models_dir().join("censored_dict");
    let by_folder = ModelFile::load(&folder).unwrap();
    for file in ["astroNN_model_parameter.json", "model_weights.h5"] {
        let by_file = ModelFile::load(&folder.join(file)).unwrap();
        assert_eq!(by_file.sha256, by_folder.sha256, "{file}");
        assert_eq!(by_file.kind, ModelKind::AstroNN);
    }
}

/// A copy of a committed folder in a temporary directory, for breaking.
fn broken_copy(dir: &Path, folder: &str) -> PathBuf {
    let copy = dir.join(folder);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(models_dir().join(folder)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    copy
}

fn edit_json(folder: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = folder.join("astroNN_model_parameter.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
}

fn load_error(folder: &Path) -> String {
    ModelFile::load(folder)
        .err()
        .unwrap_or_else(|| panic!("{} loaded", folder.display()))
        .to_string()
}

#[test]
fn bad_folders_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let unsupported = broken_copy(dir.path(), "censored_dict");
    edit_json(&unsupported, |j| j["id"] = "ApogeeCVAE".into());
    let e = load_error(&unsupported);
    assert!(e.contains("unsupported astroNN class 'ApogeeCVAE'"), "{e}");
    assert!(e.contains("astroNN_model_parameter.json"), "{e}");

    let no_weights = broken_copy(&dir.path().join("w"), "dist_dict");
    std::fs::remove_file(no_weights.join("model_weights.h5")).unwrap();
    let e = load_error(&no_weights);
    assert!(e.contains("without weights: no model_weights.h5"), "{e}");

    let malformed = broken_copy(&dir.path().join("m"), "dist_dict");
    std::fs::write(malformed.join("astroNN_model_parameter.json"), "{\"id\": ").unwrap();
    let e = load_error(&malformed);
    assert!(e.contains("malformed JSON"), "{e}");

    // Hidden sizes that disagree with the weights: the JSON says 20, dense_1 has 16.
    let shapes = broken_copy(&dir.path().join("s"), "censored_list");
    edit_json(&shapes, |j| j["hidden"][0] = 20.into());
    let e = load_error(&shapes);
    assert!(e.contains("hidden"), "{e}");

    // Convolutions that disagree with the JSON: it says kernel 5, the weights have 8.
    let kernel = broken_copy(&dir.path().join("k"), "cnn");
    edit_json(&kernel, |j| j["filterlen"] = 5.into());
    let e = load_error(&kernel);
    assert!(
        e.contains("filterlen 5") && e.contains("conv1.weight"),
        "{e}"
    );

    let pool = broken_copy(&dir.path().join("p"), "bcnn_conv_shapes");
    edit_json(&pool, |j| j["pool_length"] = 4.into());
    let e = load_error(&pool);
    assert!(e.contains("pool_length 4"), "{e}");

    let activation = broken_copy(&dir.path().join("a"), "bcnn_ages");
    edit_json(&activation, |j| j["last_layer_activation"] = "tanh".into());
    let e = load_error(&activation);
    assert!(
        e.contains("last_layer_activation 'tanh' is not supported"),
        "{e}"
    );

    // Mode 3s (sigmoid) is read for the labels (bcnn_mode3s), not for the spectrum.
    let sigmoid = broken_copy(&dir.path().join("3s"), "bcnn_ages");
    edit_json(&sigmoid, |j| j["input_norm_mode"]["input"] = "3s".into());
    let e = load_error(&sigmoid);
    assert!(
        e.contains("input normalisation mode '3s' is not supported"),
        "{e}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = load_error(&empty);
    assert!(e.contains("no astroNN_model_parameter.json"), "{e}");
}

/// The deterministic Jacobian of a folder's network (hidden sizes not Astra's, an input std)
/// is the derivative of its predictions: along the Jacobian's own direction v, the central
/// difference (f(x + h v) − f(x − h v)) / 2h equals J · v.
#[test]
fn jacobians_of_folders_are_the_derivatives_of_their_predictions() {
    use astronn::pipeline::jacobian::JacobianNetwork;
    let flux = &inputs()[0];
    for (folder, _) in FOLDERS {
        let (model, net) = load(folder);
        let jacobian = JacobianNetwork::from_model(&model)
            .unwrap()
            .spectrum(flux, 0, MaskStream::new(0, 0), false)
            .unwrap();
        let pixels = flux.len();
        let label = 0;
        let row: Vec<f64> = jacobian.labels[label * pixels..(label + 1) * pixels]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(norm > 0.0, "{folder}: zero Jacobian");
        // A small step along v; the tolerance allows 2 % for the relus and softplus
        // between x ± h v, and the float32 network output's rounding (a few ulps of the
        // standardised output, over 2h).
        let h = 1e-3;
        let moved = |sign: f64| -> f64 {
            let x: Vec<f64> = flux
                .iter()
                .zip(&row)
                .map(|(f, j)| f + sign * h * j / norm)
                .collect();
            predict_raw(net.as_ref(), &x, 0, MaskStream::new(0, 0))
                .unwrap()
                .values[label]
        };
        let difference = (moved(1.0) - moved(-1.0)) / (2.0 * h);
        let offset = net.scaling().labels_mean[label];
        let rounding = 4.0 * f64::from(f32::EPSILON) * (moved(0.0) - offset).abs() / h;
        assert!(
            (difference - norm).abs() <= 0.02 * norm + rounding,
            "{folder}: directional derivative {difference} vs |J| {norm}"
        );
    }
}

/// A folder's own `dropout_rate` is the rate its MC samples drop out at: at 0 every sample
/// is the deterministic pass (no MC spread); at 0.2 the samples differ from 0.3's; a rate
/// astroNN could not have trained with is a clear error.
#[test]
fn folders_drop_out_at_their_own_rate() {
    let dir = tempfile::tempdir().unwrap();
    let flux = &inputs()[0];
    let with_rate = |name: &str, rate: f64| {
        let folder = broken_copy(&dir.path().join(name), "censored_dict");
        edit_json(&folder, |j| j["dropout_rate"] = rate.into());
        folder
    };
    let rate_0 = ModelFile::load(&with_rate("r0", 0.0)).unwrap();
    assert_eq!(rate_0.metadata["dropout_rate"], "0");
    let net = network(&rate_0);
    let deterministic = predict_raw(net.as_ref(), flux, 0, MaskStream::new(0, 0)).unwrap();
    let mc = predict_raw(net.as_ref(), flux, 20, MaskStream::new(3, 4)).unwrap();
    for (j, (&ours, &once)) in mc.values.iter().zip(&deterministic.values).enumerate() {
        assert!(
            (ours - once).abs() <= 1e-6 * once.abs().max(1.0),
            "label {j}: {ours} vs {once}"
        );
    }
    assert!(
        mc.model_errors.iter().all(|&e| e < 1e-6),
        "{:?}",
        mc.model_errors
    );

    let (_, astra) = load("censored_dict");
    let rate_2 = network(&ModelFile::load(&with_rate("r2", 0.2)).unwrap());
    let at = |net: &dyn BayesianNetwork| predict_raw(net, flux, 50, MaskStream::new(3, 4)).unwrap();
    let (at_2, at_3) = (at(rate_2.as_ref()), at(astra.as_ref()));
    assert_ne!(at_2.values, at_3.values);
    assert_eq!(
        ModelFile::load(&with_rate("r3", 0.3))
            .unwrap()
            .dropout_rate()
            .unwrap(),
        astronn::nn::dropout::DropoutRate::ASTRA
    );

    let e = load_error(&with_rate("r1", 1.0));
    assert!(e.contains("a dropout rate must be in [0, 1), not 1"), "{e}");
}
