//! The censored network against the reference PyTorch implementation (Astra), on the
//! fixtures' checkpoint and inputs.
#![allow(clippy::needless_range_loop)] // labels are indexed in several arrays at once

mod common;

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
    let Some(reference) = Reference::load() else {
        return;
    };
    let net = load_network(&reference.dir.join("astronn_bcnn_censored.pt"));
    let expected_output = reference.array("bcnn_det_output.npy");
    let expected_log_var = reference.array("bcnn_det_log_variance.npy");
    let expected_pred = reference.array("bcnn_det_pred.npy");
    let std = net.labels_std().to_vec();
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
            let expected_error = expected_log_var[k].exp().sqrt() * std[j];
            assert!(
                (raw.errors[j] - expected_error).abs() <= 1e-3 * expected_error,
                "row {row} label {j}: error {} vs {expected_error}",
                raw.errors[j]
            );
        }
    }
}

#[test]
fn mc_dropout_statistics_match_pytorch() {
    let Some(reference) = Reference::load() else {
        return;
    };
    let net = load_network(&reference.dir.join("astronn_bcnn_censored.pt"));
    let samples = 3000;
    let cases = reference.manifest["bcnn"]["mc_reference"]
        .as_array()
        .unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let row = case["input_row"].as_u64().unwrap() as usize;
        let vector = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let (mean, var) = (vector("mean_output"), vector("var_output"));
        let (pred, pred_err) = (vector("pred"), vector("pred_err"));
        let flux = &reference.inputs[row * PIXELS..(row + 1) * PIXELS];
        let stream = MaskStream::new(2024, row as u64);
        let stats = output_statistics(&net, flux, samples, stream.clone()).unwrap();
        let raw = predict_raw(&net, flux, samples, stream).unwrap();
        let std = net.labels_std();
        for j in 0..LABELS {
            let sigma = (var[j] / samples as f64).sqrt();
            assert!(
                (stats.mean[j] - mean[j]).abs() < 5.0 * sigma,
                "row {row} label {j}: MC mean {} vs {} (sigma {sigma})",
                stats.mean[j],
                mean[j]
            );
            assert!(
                (raw.values[j] - pred[j]).abs() < 5.0 * sigma * std[j],
                "row {row} label {j}: label {} vs {}",
                raw.values[j],
                pred[j]
            );
            assert!(
                (raw.errors[j] - pred_err[j]).abs() < 0.05 * pred_err[j],
                "row {row} label {j}: error {} vs {}",
                raw.errors[j],
                pred_err[j]
            );
            // The MC variance itself is estimated well with this many samples.
            assert!(
                (stats.variance[j] - var[j]).abs() < 0.15 * var[j],
                "row {row} label {j}: MC variance {} vs {}",
                stats.variance[j],
                var[j]
            );
        }
    }
}
