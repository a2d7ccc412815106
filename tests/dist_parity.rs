//! AstroNNDist against the references: the network against Astra's PyTorch `ApogeeDistBCNN`
//! on the fixtures' checkpoint and inputs, and the distances against astroNN's
//! `fakemag_to_pc`.

mod common;

use common::mc::{assert_mc_matches, McCase};
use common::Reference;

use astronn::io::model_file::{ModelFile, ModelFormat, ModelKind};
use astronn::nn::dist::{DistBcnn, LABEL};
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::{output_statistics, predict_raw};
use astronn::nn::network::BayesianNetwork;
use astronn::pipeline::distance::{
    astronn_fakemag_to_parallax, astronn_fakemag_to_pc, DistanceResult, ASTRONN_MAGIC_NUMBER,
};
use std::collections::BTreeMap;
use std::path::Path;

const PIXELS: usize = 7514;

fn load_network(path: &Path) -> DistBcnn {
    let model = ModelFile::load(path).unwrap();
    assert_eq!(model.kind, ModelKind::AstroNNDist);
    DistBcnn::load(&model.var_builder()).unwrap()
}

#[test]
fn network_shape_and_normalisation() {
    let reference = Reference::load();
    let net = load_network(&reference.dir.join("astronn_dist_bcnn.pt"));
    assert_eq!(net.label_names(), vec![LABEL.to_string()]);
    assert_eq!(net.scaling().input_mean.len(), PIXELS);
    assert_eq!(net.scaling().labels_mean, vec![0.0]);
    // Stored as float32 in the checkpoint: 104.31 to f32 precision.
    assert!((net.scaling().labels_std[0] - 104.31).abs() < 1e-4);
}

#[test]
fn deterministic_pass_matches_pytorch() {
    let reference = Reference::load();
    let net = load_network(&reference.dir.join("astronn_dist_bcnn.pt"));
    let expected_output = reference.array("dist_det_output.npy");
    let expected_log_var = reference.array("dist_det_log_variance.npy");
    let expected_fakemag = reference.array("dist_det_fakemag.npy");
    let rows = reference.inputs.len() / PIXELS;
    assert_eq!(rows, 12);
    assert_eq!(expected_output.len(), rows);
    assert_eq!(expected_fakemag.len(), rows);
    let std = net.scaling().labels_std[0];
    let (mut worst_output, mut worst_log_var, mut worst_fakemag) = (0f64, 0f64, 0f64);
    for row in 0..rows {
        let flux = &reference.inputs[row * PIXELS..(row + 1) * PIXELS];
        let stats = output_statistics(&net, flux, 0, MaskStream::new(0, 0)).unwrap();
        let raw = predict_raw(&net, flux, 0, MaskStream::new(0, 0)).unwrap();
        let output_diff = (stats.mean[0] - expected_output[row]).abs();
        let log_var_diff = (stats.mean_log_variance[0] - expected_log_var[row]).abs();
        let fakemag_rel = (raw.values[0] - expected_fakemag[row]).abs() / expected_fakemag[row];
        worst_output = worst_output.max(output_diff);
        worst_log_var = worst_log_var.max(log_var_diff);
        worst_fakemag = worst_fakemag.max(fakemag_rel);
        assert!(
            output_diff < 1e-5,
            "row {row}: output {} vs {}",
            stats.mean[0],
            expected_output[row]
        );
        assert!(
            log_var_diff < 1e-5,
            "row {row}: log-variance {} vs {}",
            stats.mean_log_variance[0],
            expected_log_var[row]
        );
        assert!(
            fakemag_rel < 2e-4,
            "row {row}: L_fakemag {} vs {}",
            raw.values[0],
            expected_fakemag[row]
        );
        // The deterministic error is the predictive one alone.
        let expected_error = (expected_log_var[row].exp()).sqrt() * std;
        assert!(
            (raw.errors[0] - expected_error).abs() <= 1e-4 * expected_error,
            "row {row}: L_fakemag_err {} vs {expected_error}",
            raw.errors[0]
        );
    }
    eprintln!(
        "deterministic parity: max |Δoutput| {worst_output:.2e}, max |Δlog-variance| \
         {worst_log_var:.2e}, max relative ΔL_fakemag {worst_fakemag:.2e}"
    );
}

/// MC dropout against the reference's own 20,000-sample estimates (see `common::mc` for how
/// each tolerance follows from the sample counts).
#[test]
fn mc_dropout_statistics_match_pytorch() {
    let reference = Reference::load();
    let net = load_network(&reference.dir.join("astronn_dist_bcnn.pt"));
    let cases = reference.manifest["dist"]["mc_reference"]
        .as_array()
        .unwrap();
    assert!(!cases.is_empty());
    for entry in cases {
        let case = McCase::from_manifest(entry);
        let fakemag = entry["fakemag"].as_f64().unwrap();
        let fakemag_err = entry["fakemag_err"].as_f64().unwrap();
        let flux = &reference.inputs[case.row * PIXELS..(case.row + 1) * PIXELS];
        assert_mc_matches(&net, flux, 20_000, &case, &[fakemag], &[fakemag_err]);
    }
}

#[test]
fn safetensors_round_trip_keeps_the_outputs() {
    let reference = Reference::load();
    let original = ModelFile::load(&reference.dir.join("astronn_dist_bcnn.pt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dist.safetensors");
    let mut metadata = BTreeMap::new();
    metadata.insert("description".to_string(), "round trip".to_string());
    original.save_safetensors(&path, metadata).unwrap();
    let copy = ModelFile::load(&path).unwrap();
    assert_eq!(copy.kind, ModelKind::AstroNNDist);
    assert_eq!(copy.format, ModelFormat::Safetensors);
    assert_eq!(copy.metadata["description"], "round trip");
    let a = DistBcnn::load(&original.var_builder()).unwrap();
    let b = DistBcnn::load(&copy.var_builder()).unwrap();
    assert_eq!(a.scaling().labels_std, b.scaling().labels_std);
    assert_eq!(a.scaling().input_mean, b.scaling().input_mean);
    for row in [0, 7] {
        let flux = &reference.inputs[row * PIXELS..(row + 1) * PIXELS];
        for samples in [0, 50] {
            let stream = MaskStream::new(11, row as u64);
            let sa = output_statistics(&a, flux, samples, stream.clone()).unwrap();
            let sb = output_statistics(&b, flux, samples, stream).unwrap();
            assert_eq!(sa, sb, "row {row}, {samples} samples");
        }
    }
}

#[test]
fn distances_match_astronn_fakemag_to_pc() {
    let reference = Reference::load();
    let cases = reference.manifest["dist"]["fakemag_to_pc"]
        .as_array()
        .unwrap();
    assert!(cases.len() >= 10);
    let mut magic = 0;
    for (i, case) in cases.iter().enumerate() {
        let get = |key: &str| case[key].as_f64().unwrap();
        let r = DistanceResult::new(
            get("L_fakemag"),
            get("L_fakemag_err"),
            0.5 * get("L_fakemag_err"),
            get("k_mag"),
            get("ebv"),
        );
        let (dist, dist_err) = (get("dist_pc"), get("dist_err_pc"));
        if dist == -9999.0 {
            magic += 1;
            assert!(r.dist.is_nan() && r.dist_err.is_nan(), "case {i}: {r:?}");
            // astroNN's magic number comes from a non-positive L_fakemag, which is never
            // reliable; the parallax is still defined (non-positive).
            assert!(get("L_fakemag") <= 0.0);
            assert!(r.flag_bad());
            assert!(r.parallax <= 0.0, "case {i}: {r:?}");
            continue;
        }
        assert!(
            (r.a_k_mag - get("a_k_mag")).abs() <= 1e-12 * get("a_k_mag").abs().max(1.0),
            "case {i}: a_k_mag {} vs {}",
            r.a_k_mag,
            get("a_k_mag")
        );
        assert!(
            (r.dist - dist).abs() <= 1e-9 * dist,
            "case {i}: dist {} vs {dist}",
            r.dist
        );
        assert!(
            (r.dist_err - dist_err).abs() <= 1e-9 * dist_err,
            "case {i}: dist_err {} vs {dist_err}",
            r.dist_err
        );
        assert!((r.parallax * r.dist - 1000.0).abs() < 1e-9);
        assert!((r.parallax_err / r.parallax - dist_err / dist).abs() < 1e-12);
    }
    assert_eq!(magic, 2);
}

#[test]
fn astronn_conversions_match_fakemag_to_pc_with_its_magic_number() {
    let reference = Reference::load();
    let cases = reference.manifest["dist"]["fakemag_to_pc"]
        .as_array()
        .unwrap();
    for (i, case) in cases.iter().enumerate() {
        let get = |key: &str| case[key].as_f64().unwrap();
        let (l, l_err, mag) = (
            get("L_fakemag"),
            get("L_fakemag_err"),
            get("k_mag_corrected"),
        );
        let (pc, pc_err) = astronn_fakemag_to_pc(l, mag, l_err);
        let (plx, plx_err) = astronn_fakemag_to_parallax(l, mag, l_err);
        let (want, want_err) = (get("dist_pc"), get("dist_err_pc"));
        if want == ASTRONN_MAGIC_NUMBER {
            assert_eq!((pc, pc_err), (want, want_err), "case {i}");
            assert_eq!(plx, ASTRONN_MAGIC_NUMBER, "case {i}");
            continue;
        }
        assert!(
            (pc - want).abs() <= 1e-12 * want,
            "case {i}: {pc} vs {want}"
        );
        assert!((pc_err - want_err).abs() <= 1e-12 * want_err, "case {i}");
        assert!((plx * pc - 1000.0).abs() < 1e-9, "case {i}");
        assert!((plx_err / plx - pc_err / pc).abs() < 1e-12, "case {i}");
    }
    assert_eq!(
        astronn_fakemag_to_pc(100.0, f64::NAN, 1.0),
        (ASTRONN_MAGIC_NUMBER, ASTRONN_MAGIC_NUMBER)
    );
    assert_eq!(
        astronn_fakemag_to_parallax(ASTRONN_MAGIC_NUMBER, 10.0, 1.0).0,
        ASTRONN_MAGIC_NUMBER
    );
}
