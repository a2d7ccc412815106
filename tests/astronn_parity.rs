//! The censored network against the reference PyTorch implementation (Astra), on the
//! fixtures' checkpoint and inputs.
#![allow(clippy::needless_range_loop)] // labels are indexed in several arrays at once

mod common;

use common::mc::{assert_mc_matches, McCase};
use common::Reference;

use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::nn::censored::CensoredBcnn;
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::{output_statistics, predict_raw};
use astronn::nn::network::BayesianNetwork;
use std::path::Path;

const PIXELS: usize = 7514;
const LABELS: usize = 22;

fn load_network(path: &Path) -> CensoredBcnn {
    let model = ModelFile::load(path).unwrap();
    assert_eq!(model.kind, ModelKind::AstroNN);
    CensoredBcnn::load(&model.var_builder()).unwrap()
}

#[test]
fn deterministic_pass_matches_pytorch() {
    let reference = Reference::load();
    let net = load_network(&reference.dir.join("astronn_bcnn_censored.pt"));
    let expected_output = reference.array("bcnn_det_output.npy");
    let expected_log_var = reference.array("bcnn_det_log_variance.npy");
    let expected_pred = reference.array("bcnn_det_pred.npy");
    let std = net.scaling().labels_std.to_vec();
    let rows = reference.inputs.len() / PIXELS;
    assert_eq!(rows, 12);
    for row in 0..rows {
        let flux = &reference.inputs[row * PIXELS..(row + 1) * PIXELS];
        let stats = output_statistics(&net, flux, 0, MaskStream::new(0, 0)).unwrap();
        let raw = predict_raw(&net, flux, 0, MaskStream::new(0, 0)).unwrap();
        for j in 0..LABELS {
            let k = row * LABELS + j;
            assert!(
                (stats.mean[j] - expected_output[k]).abs() < 1e-5,
                "row {row} label {j}: output {} vs {}",
                stats.mean[j],
                expected_output[k]
            );
            assert!(
                (raw.values[j] - expected_pred[k]).abs() <= 2e-4 * std[j],
                "row {row} label {j}: label {} vs {}",
                raw.values[j],
                expected_pred[k]
            );
            assert!(
                (stats.mean_log_variance[j] - expected_log_var[k]).abs() < 1e-5,
                "row {row} label {j}: log-variance {} vs {}",
                stats.mean_log_variance[j],
                expected_log_var[k]
            );
            let expected_error = expected_log_var[k].exp().sqrt() * std[j];
            assert!(
                (raw.errors[j] - expected_error).abs() <= 1e-3 * expected_error,
                "row {row} label {j}: error {} vs {expected_error}",
                raw.errors[j]
            );
        }
    }
}

/// MC dropout against the reference's own 20,000-sample estimates (see `common::mc` for how
/// each tolerance follows from the sample counts): mean output, MC variance, mean
/// log-variance, labels and errors, and the error composed with the MC variance.
#[test]
fn mc_dropout_statistics_match_pytorch() {
    let reference = Reference::load();
    let net = load_network(&reference.dir.join("astronn_bcnn_censored.pt"));
    let cases = reference.manifest["bcnn"]["mc_reference"]
        .as_array()
        .unwrap();
    assert!(!cases.is_empty());
    for entry in cases {
        let case = McCase::from_manifest(entry);
        let vector = |key: &str| -> Vec<f64> {
            entry[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let flux = &reference.inputs[case.row * PIXELS..(case.row + 1) * PIXELS];
        assert_mc_matches(
            &net,
            flux,
            20_000,
            &case,
            &vector("pred"),
            &vector("pred_err"),
        );
    }
}
