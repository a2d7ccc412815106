//! `astronn train --init`: fine-tuning the embedded default model on a new simulated
//! survey starts at the parent's validation loss and does not get worse, `--freeze conv`
//! keeps the convolutions bitwise, the model names its parent; bad fine-tuning options fail
//! before any spectrum is read.

mod common;

use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::models::default_model;
use astronn::train::EpochMetrics;
use common::run::{astronn, s, stderr, succeed};
use std::path::Path;

/// The validation loss `train` prints for the parent before the first epoch.
fn parent_loss(log: &str) -> f64 {
    let line = log
        .lines()
        .find(|l| l.starts_with("epoch 0 ("))
        .unwrap_or_else(|| panic!("no epoch 0 line in:\n{log}"));
    line.rsplit("validation loss ")
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no loss in {line}"))
}

fn simulate(dir: &Path, n: &str, seed: &str) {
    succeed(&[
        "simulate",
        "-q",
        "--n",
        n,
        "--seed",
        seed,
        "--normalized-only",
        "-o",
        s(dir),
    ]);
}

#[test]
fn fine_tuning_the_default_model_starts_at_its_loss_and_keeps_frozen_weights() {
    let dir = tempfile::tempdir().unwrap();
    // A survey the default model never saw (it was trained on seed 1001).
    simulate(dir.path(), "800", "4711");
    let model = dir.path().join("tuned.safetensors");
    let out = succeed(&[
        "train",
        "--init",
        "default",
        "--freeze",
        "conv",
        "--epochs",
        "2",
        "--seed",
        "5",
        "--normalized",
        s(&dir.path().join("normalized.fits")),
        "--labels",
        s(&dir.path().join("labels.fits")),
        "-o",
        s(&model),
    ]);
    let log = stderr(&out);
    eprintln!("{log}");
    assert!(log.contains("train: frozen: conv1.bias, conv1.weight, conv2.bias, conv2.weight"));
    let start = parent_loss(&log);
    let metrics: Vec<EpochMetrics> = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("tuned.safetensors.metrics.json")).unwrap(),
    )
    .unwrap();
    let losses: Vec<f64> = metrics.iter().map(|m| m.val_loss.unwrap()).collect();
    // The default model's own final validation loss on its training survey was −0.68; a
    // network from random weights scores above 0 after one epoch on 720 spectra.
    assert!(
        start < -0.4,
        "the parent's loss {start}: not the default model?"
    );
    // Adam's first steps move every trained weight by about the learning rate, so epoch 1
    // moves a little off the parent: by 0.077 on 2026-11-29 (parent −0.673, epochs −0.596
    // and −0.698).
    assert!(
        (losses[0] - start).abs() < 0.15,
        "epoch 1 ({}) starts from the parent ({start})",
        losses[0]
    );
    let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        best <= start + 0.02,
        "fine-tuning made it worse: {start} → {losses:?}"
    );

    let tuned = ModelFile::load(&model).unwrap();
    let parent = default_model(ModelKind::AstroNN).unwrap();
    for name in ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"] {
        let bits = |m: &ModelFile| {
            let t = m.tensors[name].to_dtype(candle_core::DType::F32).unwrap();
            let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            values.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
        };
        assert_eq!(bits(&tuned), bits(&parent), "{name} is frozen");
    }
    assert_eq!(tuned.metadata["parent_sha256"], parent.sha256);
    assert_eq!(tuned.metadata["train.freeze"], "conv");
    let info = succeed(&["info", s(&model)]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains(&parent.sha256), "{info}");
}

#[test]
fn bad_fine_tuning_options_fail_before_reading_spectra() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here.fits");
    let output = dir.path().join("m.safetensors");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--normalized",
            s(&missing),
            "--labels",
            s(&missing),
            "-o",
            s(&output),
        ];
        args.extend_from_slice(extra);
        let out = astronn(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        stderr(&out)
    };
    let message = run(&["--init", "default", "--freeze", "dense_9"]);
    assert!(
        message.contains("--freeze dense_9 matches no parameter"),
        "{message}"
    );
    assert!(message.contains("dense_aux_fullspec.weight"), "{message}");
    let message = run(&["--freeze", "conv"]);
    assert!(
        message.contains("--freeze keeps a model's weights"),
        "{message}"
    );
    let folder = common::test_data("astronn_models/censored_dict");
    let message = run(&["--kind", "dist", "--init", s(&folder)]);
    assert!(
        message.contains("AstroNN model, but an AstroNNDist model is needed"),
        "{message}"
    );
    let message = run(&["--init", "default", "--early-stop", "0"]);
    assert!(
        message.contains("--early-stop needs at least 1 epoch"),
        "{message}"
    );
    let message = run(&["--renormalize"]);
    assert!(message.contains("--init"), "{message}");
}
