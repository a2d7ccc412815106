//! Jacobians ∂label/∂pixel against PyTorch autograd of Astra's networks
//! (`scripts/jacobian_reference.py`, committed under `tests/data/jacobian_reference`), the
//! censoring of the element branches, and the MC-mean Jacobian.

mod common;

use astronn::apogee::grid::NETWORK_PIXELS;
use astronn::io::model_file::ModelFile;
use astronn::io::npy::NpyArray;
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::predict_raw;
use astronn::pipeline::jacobian::JacobianNetwork;
use candle_core::{DType, Tensor};
use common::Reference;
use std::path::PathBuf;

/// Agreement with PyTorch, relative to the largest element of each label's row.
const TOLERANCE: f64 = 1e-4;

fn reference_array(name: &str) -> Vec<f64> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jacobian_reference");
    NpyArray::read(&dir.join(name)).unwrap().data
}

fn reference_rows() -> Vec<usize> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jacobian_reference");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap() as usize)
        .collect()
}

fn spectrum(reference: &Reference, row: usize) -> &[f64] {
    &reference.inputs[row * NETWORK_PIXELS..(row + 1) * NETWORK_PIXELS]
}

/// Asserts each label row of `ours` within [`TOLERANCE`] of the row's largest |element|.
fn assert_rows_match(ours: &[f32], theirs: &[f64], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    for (j, (a, b)) in ours
        .chunks(NETWORK_PIXELS)
        .zip(theirs.chunks(NETWORK_PIXELS))
        .enumerate()
    {
        let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{what} label {j}: the reference row is zero");
        let worst = a
            .iter()
            .zip(b)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0f64, f64::max);
        assert!(
            worst <= TOLERANCE * scale,
            "{what} label {j}: worst difference {worst:.3e} of row maximum {scale:.3e}"
        );
    }
}

fn check_network(checkpoint: &str, name: &str) {
    let reference = Reference::load();
    let model = ModelFile::load(&reference.dir.join(checkpoint)).unwrap();
    let net = JacobianNetwork::from_model(&model).unwrap();
    let values = reference_array(&format!("{name}_label.npy"));
    let log_variance = reference_array(&format!("{name}_log_variance.npy"));
    let per_spectrum = net.labels().len() * NETWORK_PIXELS;
    for (k, &row) in reference_rows().iter().enumerate() {
        let jacobian = net
            .spectrum(spectrum(&reference, row), 0, MaskStream::new(1, 0), k == 0)
            .unwrap();
        let want = &values[k * per_spectrum..(k + 1) * per_spectrum];
        assert_rows_match(&jacobian.labels, want, &format!("{name} row {row}"));
        if let Some(ours) = &jacobian.log_variance {
            assert_rows_match(
                ours,
                &log_variance,
                &format!("{name} log-variance row {row}"),
            );
        }
    }
}

#[test]
fn the_censored_networks_jacobian_matches_pytorch() {
    check_network("astronn_bcnn_censored.pt", "astronn");
}

#[test]
fn the_distance_networks_jacobian_matches_pytorch() {
    check_network("astronn_dist_bcnn.pt", "dist");
}

/// With the shared full-spectrum inputs of the element heads cut (their weights zero), an
/// element label reads only its branch: its Jacobian is exactly zero outside the element's
/// window and not zero inside.
#[test]
fn element_branches_read_only_their_windows() {
    let reference = Reference::load();
    let mut model = ModelFile::load(&reference.dir.join("astronn_bcnn_censored.pt")).unwrap();
    for i in 0..19 {
        for head in ["elem_dense_out", "elem_dense_var"] {
            let key = format!("{head}.{i}.weight");
            let w = &model.tensors[&key];
            let (_, inputs) = w.dims2().unwrap();
            let keep: Vec<f32> = (0..inputs).map(|c| f32::from(c < inputs - 5)).collect();
            let keep = Tensor::from_vec(keep, (1, inputs), w.device()).unwrap();
            let cut = w
                .to_dtype(DType::F32)
                .unwrap()
                .broadcast_mul(&keep)
                .unwrap();
            model.tensors.insert(key, cut);
        }
    }
    let net = JacobianNetwork::from_model(&model).unwrap();
    let jacobian = net
        .spectrum(spectrum(&reference, 0), 0, MaskStream::new(1, 0), false)
        .unwrap();
    let labels = net.labels();
    let mut checked = 0;
    for i in 0..19 {
        let window: Vec<u8> = model.tensors[&format!("aspcap_masks.{i}")]
            .to_dtype(DType::U8)
            .unwrap()
            .to_vec1()
            .unwrap();
        // The label of branch i (teff, logg and fe_h come from the trunk).
        let label = astronn::nn::censored::branch_output(i);
        let row = &jacobian.labels[label * NETWORK_PIXELS..(label + 1) * NETWORK_PIXELS];
        let outside = row
            .iter()
            .zip(&window)
            .filter(|(_, &w)| w == 0)
            .map(|(v, _)| v.abs())
            .fold(0f32, f32::max);
        assert_eq!(
            outside, 0.0,
            "{}: non-zero outside its window",
            labels[label]
        );
        assert!(
            row.iter().zip(&window).any(|(v, &w)| w != 0 && *v != 0.0),
            "{}: zero inside its window",
            labels[label]
        );
        checked += 1;
    }
    assert_eq!(checked, 19);
}

/// The MC-mean Jacobian: reproducible from its seed; the derivative of `predict`'s MC-mean
/// label with the same dropout masks (finite differences); its noise shrinks as 1/samples;
/// and what is left, its distance from the deterministic Jacobian, is the same for every
/// sample count (dropout's own bias, not noise).
#[test]
fn the_mc_mean_jacobian_converges() {
    let reference = Reference::load();
    let model = ModelFile::load(&reference.dir.join("astronn_bcnn_censored.pt")).unwrap();
    let net = JacobianNetwork::from_model(&model).unwrap();
    let inference = astronn::models::censored_network(&model).unwrap();
    let flux = spectrum(&reference, 0);
    let teff = |samples: usize, seed: u64| -> Vec<f64> {
        let j = net
            .spectrum(flux, samples, MaskStream::new(seed, 7), false)
            .unwrap();
        j.labels[..NETWORK_PIXELS]
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    };
    assert_eq!(teff(8, 3), teff(8, 3), "same seed, same Jacobian");

    // Finite differences of predict's MC-mean Teff (masks do not depend on the input).
    let samples = 32;
    let jacobian = teff(samples, 1);
    let mut pixels: Vec<usize> = (0..NETWORK_PIXELS).collect();
    pixels.sort_by(|&a, &b| jacobian[b].abs().total_cmp(&jacobian[a].abs()));
    let h = 1e-3;
    for &p in &pixels[..5] {
        let teff_at = |delta: f64| {
            let mut x = flux.to_vec();
            x[p] += delta;
            predict_raw(&inference, &x, samples, MaskStream::new(1, 7))
                .unwrap()
                .values[0]
        };
        let numeric = (teff_at(h) - teff_at(-h)) / (2.0 * h);
        assert!(
            (numeric - jacobian[p]).abs() <= 0.02 * jacobian[p].abs(),
            "pixel {p}: MC-mean Jacobian {} vs finite difference {numeric}",
            jacobian[p]
        );
    }

    let squared = |a: &[f64], b: &[f64]| -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
    };
    let deterministic = teff(0, 0);
    let (small, large) = (32, 128);
    let (a_small, b_small) = (teff(small, 1), teff(small, 2));
    let (a_large, b_large) = (teff(large, 1), teff(large, 2));
    // Two independent estimates differ by 2σ²/S per pixel (averaged over the pixels).
    let noise_small = squared(&a_small, &b_small);
    let noise_large = squared(&a_large, &b_large);
    let ratio = noise_small / noise_large;
    // Pixels are correlated (neighbours share convolution taps), so the band around the
    // expected 4 is wide.
    assert!(
        (2.0..8.0).contains(&ratio),
        "noise ratio {ratio:.2}, expected 4"
    );
    // E|J_S − J_det|² = σ²/S + bias²: the bias estimated at both sample counts agrees.
    let bias_small = squared(&a_small, &deterministic) - noise_small / 2.0;
    let bias_large = squared(&a_large, &deterministic) - noise_large / 2.0;
    let power = squared(&deterministic, &vec![0.0; NETWORK_PIXELS]);
    eprintln!(
        "teff: deterministic Jacobian power {power:.3e}; MC noise σ²/S {:.3e} (S = {small}), \
         {:.3e} (S = {large}); dropout bias² {bias_small:.3e}, {bias_large:.3e}",
        noise_small / 2.0,
        noise_large / 2.0
    );
    assert!(
        (bias_small - bias_large).abs() <= 0.15 * bias_large,
        "bias² {bias_small:.3e} (S = {small}) vs {bias_large:.3e} (S = {large})"
    );
}

/// For a trained network (the embedded default model) on a real spectrum, the MC-mean
/// Jacobian stays in the deterministic one's neighbourhood: for Teff, [Mg/H] and [Fe/H] it
/// correlates with it (r > 0.9; measured 0.97–0.98 at 128 samples) and dropout's bias is a
/// small part of its power (< 25 %; measured 10–12 %).
#[test]
fn a_trained_networks_mc_mean_jacobian_stays_near_the_deterministic_one() {
    let model =
        astronn::models::default_model(astronn::io::model_file::ModelKind::AstroNN).unwrap();
    let net = JacobianNetwork::from_model(&model).unwrap();
    let star = astronn::pipeline::prepare::prepare_file(
        &common::test_data("apStar-dr17-2M17335483-2753043.fits"),
        false,
    );
    let flux = star[0].data.as_ref().unwrap().flux.clone();
    let run = |samples: usize, seed: u64| {
        net.spectrum(&flux, samples, MaskStream::new(seed, 1), false)
            .unwrap()
            .labels
    };
    let (deterministic, a, b) = (run(0, 0), run(128, 1), run(128, 2));
    for label in ["teff", "mg_h", "fe_h"] {
        let j = net.labels().iter().position(|l| l == label).unwrap();
        let row = |v: &[f32]| -> Vec<f64> {
            v[j * NETWORK_PIXELS..(j + 1) * NETWORK_PIXELS]
                .iter()
                .map(|&x| f64::from(x))
                .collect()
        };
        let (d, a, b) = (row(&deterministic), row(&a), row(&b));
        let mean_square = |x: &[f64], y: &[f64]| {
            x.iter().zip(y).map(|(p, q)| (p - q).powi(2)).sum::<f64>() / x.len() as f64
        };
        let power = mean_square(&d, &vec![0.0; NETWORK_PIXELS]);
        let bias = mean_square(&a, &d) - mean_square(&a, &b) / 2.0;
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
        let (ma, md) = (mean(&a), mean(&d));
        let cov: f64 = a.iter().zip(&d).map(|(x, y)| (x - ma) * (y - md)).sum();
        let var = |x: &[f64], m: f64| x.iter().map(|v| (v - m).powi(2)).sum::<f64>();
        let r = cov / (var(&a, ma) * var(&d, md)).sqrt();
        assert!(r > 0.9, "{label}: correlation {r:.3}");
        assert!(
            bias < 0.25 * power,
            "{label}: bias² {bias:.3e} of power {power:.3e}"
        );
    }
}
