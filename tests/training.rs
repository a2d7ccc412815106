//! Training the censored network and AstroNNDist end to end on CI-sized sets built from the
//! real spectra of `tests/data` ([`common::training_sets`]; no reference fixtures needed):
//! the validation loss falls, the written model loads and predicts as the training forward
//! does, runs are reproducible and resume exactly.

mod common;

use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::nn::censored::CensoredBcnn;
use astronn::nn::dist::DistBcnn;
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::{output_statistics, predict_raw};
use astronn::nn::network::BayesianNetwork;
use astronn::nn::sampling::Dropout;
use astronn::train::{CensoredTrainer as Trainer, DistTrainer, TrainableNetwork};
use candle_core::{DType, Device, Tensor};
use common::training_sets::*;
use std::collections::BTreeMap;

#[test]
fn training_lowers_the_validation_loss_and_writes_a_model_that_predicts() {
    let bases = bases();
    let (set, flux) = synthetic_set(&bases, 320);
    let mut trainer = Trainer::new(set, config(6, 16, 1)).unwrap();
    assert_eq!(trainer.validation_size(), 32);
    let initial = trainer.validate().unwrap().unwrap();
    let mut epochs = Vec::new();
    while !trainer.is_finished() {
        let mut calls = Vec::new();
        let metrics = trainer
            .run_epoch_with_progress(&mut |done| calls.push(done))
            .unwrap();
        assert_eq!(calls.last(), Some(&trainer.train_size()));
        assert_eq!(calls.len(), trainer.train_size().div_ceil(16));
        eprintln!("{}", serde_json::to_string(&metrics).unwrap());
        epochs.push(metrics);
    }
    // The untrained network predicts ~0 with unit variance: loss ≈ ½·(label variance),
    // standardised MAE ≈ 1. Six epochs (108 steps) learn much of the depth dependence.
    let (first, last) = (&epochs[0], &epochs[epochs.len() - 1]);
    let val_losses: Vec<f64> = epochs.iter().map(|m| m.val_loss.unwrap()).collect();
    assert!(
        val_losses.windows(2).all(|w| w[1] < w[0]) && val_losses[0] < initial.loss,
        "validation loss {} → {val_losses:?}",
        initial.loss
    );
    let (mae0, mae) = (
        initial.mae_standardized.unwrap(),
        last.val_mae_standardized.unwrap(),
    );
    eprintln!(
        "observed: validation loss ratio {:.3}, standardised MAE ratio {:.3}",
        val_losses[5] / initial.loss,
        mae / mae0
    );
    // Regression guards tuned to what this set gives, not derived: on 2026-11-29 the ratios
    // were 0.308 (loss) and 0.646 (MAE).
    assert!(val_losses[5] < 0.7 * initial.loss, "{val_losses:?}");
    assert!(mae < 0.9 * mae0, "standardised MAE {mae0} → {mae}");
    assert!(last.train_loss < first.train_loss);
    assert_eq!(last.val_mae.len(), LABELS);
    assert!(last.val_mae.iter().all(|m| m.is_some_and(f64::is_finite)));
    assert!(epochs
        .iter()
        .all(|m| m.lr == 5e-4 && m.spectra_per_second > 0.0));

    // The model file loads in the inference path and predicts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trained.safetensors");
    let extra = BTreeMap::from([("command_line".to_string(), "astronn train …".to_string())]);
    trainer.save_model(&path, extra).unwrap();
    let model = ModelFile::load(&path).unwrap();
    assert_eq!(model.kind, ModelKind::AstroNN);
    assert_eq!(model.metadata["epochs"], "6");
    assert_eq!(model.metadata["train.seed"], "1");
    assert_eq!(model.metadata["command_line"], "astronn train …");
    assert!(model.metadata["labels"].starts_with("[\"teff\",\"logg\""));
    assert!(model.metadata.contains_key("final_val_loss"));
    let net = CensoredBcnn::load(&model.var_builder()).unwrap();
    let raw = predict_raw(&net, &flux[..PIXELS], 20, MaskStream::new(1, 0)).unwrap();
    assert!(raw.values.iter().chain(&raw.errors).all(|v| v.is_finite()));

    // Its deterministic output is the training forward's with dropout off.
    let norm = trainer.normalisation();
    for row in [0, 7, 300] {
        let spectrum = &flux[row * PIXELS..(row + 1) * PIXELS];
        let stats = output_statistics(&net, spectrum, 0, MaskStream::new(0, 0)).unwrap();
        let x: Vec<f32> = spectrum
            .iter()
            .zip(&norm.input_mean)
            .map(|(f, m)| (f - m) as f32)
            .collect();
        let x = Tensor::from_vec(x, (1, PIXELS), &Device::Cpu).unwrap();
        let (y, s) = trainer.model().forward(&x, &mut Dropout::Off).unwrap();
        let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let s = s.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for j in 0..LABELS {
            let tolerance = 1e-5 * (1.0 + f64::from(y[j].abs()));
            assert!(
                (stats.mean[j] - f64::from(y[j])).abs() < tolerance,
                "{row} {j}"
            );
            let lv = stats.mean_log_variance[j] - f64::from(s[j]);
            assert!(lv.abs() < 1e-5 * (1.0 + f64::from(s[j].abs())), "{row} {j}");
        }
    }
}

#[test]
fn same_seed_and_one_thread_give_a_bitwise_identical_model() {
    let bases = bases();
    let train = |seed: u64| {
        let (set, _) = synthetic_set(&bases, 40);
        one_thread(|| {
            let mut trainer = Trainer::new(set, config(2, 16, seed)).unwrap();
            while !trainer.is_finished() {
                trainer.run_epoch().unwrap();
            }
            model_fingerprint(&trainer)
        })
    };
    let first = train(3);
    assert_eq!(first, train(3));
    assert_ne!(first, train(4));
}

#[test]
fn a_resumed_run_ends_with_the_uninterrupted_runs_model() {
    let bases = bases();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("epoch1.safetensors");
    let (set, _) = synthetic_set(&bases, 40);
    let (uninterrupted, history) = one_thread(|| {
        let mut trainer = Trainer::new(set.clone(), config(3, 16, 5)).unwrap();
        while !trainer.is_finished() {
            trainer.run_epoch().unwrap();
            if trainer.epoch() == 1 {
                trainer.checkpoint(&checkpoint).unwrap();
            }
        }
        (model_fingerprint(&trainer), trainer.history().to_vec())
    });
    let resumed = one_thread(|| {
        let mut trainer = Trainer::resume(&checkpoint, set.clone(), config(3, 16, 5)).unwrap();
        assert_eq!(trainer.epoch(), 1);
        assert_eq!(trainer.history().len(), 1);
        while !trainer.is_finished() {
            trainer.run_epoch().unwrap();
        }
        assert_eq!(trainer.history()[2].val_loss, history[2].val_loss);
        model_fingerprint(&trainer)
    });
    assert_eq!(uninterrupted, resumed);

    // A checkpoint is also a model file the inference path loads.
    let model = ModelFile::load(&checkpoint).unwrap();
    assert!(CensoredBcnn::load(&model.var_builder()).is_ok());

    // Settings that change the results, or other data, are refused.
    let other = Trainer::resume(&checkpoint, set, config(3, 8, 5));
    assert!(other.unwrap_err().to_string().contains("batch_size"));
    let (different, _) = synthetic_set(&bases, 41);
    let other = Trainer::resume(&checkpoint, different, config(3, 16, 5));
    assert!(other.unwrap_err().to_string().contains("other data"));
}

#[test]
fn dist_training_lowers_the_validation_loss_and_writes_a_model_that_predicts() {
    let bases = bases();
    let (set, flux, negative) = synthetic_dist_set(&bases, 320);
    assert!(negative >= 5, "{negative} negative parallaxes");
    // labels_std is the population std of the present targets; there is no mean offset.
    let present: Vec<f64> = (0..set.len())
        .map(|i| set.labels(i)[0])
        .filter(|v| !v.is_nan())
        .collect();
    assert_eq!(present.len(), 312);
    let mean = present.iter().sum::<f64>() / present.len() as f64;
    let std =
        (present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / present.len() as f64).sqrt();
    let mut trainer = DistTrainer::new(set, config(6, 16, 1)).unwrap();
    assert_eq!(trainer.normalisation().labels_mean, vec![0.0]);
    assert!((trainer.normalisation().labels_std[0] - std).abs() < 1e-9 * std);
    let initial = trainer.validate().unwrap().unwrap();
    let mut epochs = Vec::new();
    while !trainer.is_finished() {
        let metrics = trainer.run_epoch().unwrap();
        eprintln!("{}", serde_json::to_string(&metrics).unwrap());
        epochs.push(metrics);
    }
    let last = &epochs[epochs.len() - 1];
    let val_losses: Vec<f64> = epochs.iter().map(|m| m.val_loss.unwrap()).collect();
    assert!(
        val_losses[0] < initial.loss,
        "{} → {val_losses:?}",
        initial.loss
    );
    let (mae0, mae) = (initial.mae[0].unwrap(), last.val_mae[0].unwrap());
    eprintln!(
        "observed: validation loss ratio {:.3}, L_fakemag MAE ratio {:.3}",
        val_losses[5] / initial.loss,
        mae / mae0
    );
    // Regression guards tuned to what this set gives, not derived: on 2026-11-29 the ratios
    // were 0.228 (loss) and 0.500 (MAE).
    assert!(
        val_losses[5] < 0.5 * initial.loss,
        "{} → {val_losses:?}",
        initial.loss
    );
    assert!(mae < 0.6 * mae0, "L_fakemag MAE {mae0} → {mae}");
    assert_eq!(last.val_mae.len(), 1);
    assert!(last.train_loss < epochs[0].train_loss);

    // The model file is an AstroNNDist model that the inference network loads.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dist.safetensors");
    trainer.save_model(&path, BTreeMap::new()).unwrap();
    let model = ModelFile::load(&path).unwrap();
    assert_eq!(model.kind, ModelKind::AstroNNDist);
    assert_eq!(model.metadata["labels"], "[\"L_fakemag\"]");
    assert_eq!(model.metadata["epochs"], "6");
    assert_eq!(model.tensors["labels_std"].dtype(), DType::F64);
    assert_eq!(model.tensors["input_mean"].dtype(), DType::F64);
    assert!(!model.tensors.contains_key("labels_mean"));
    let net = DistBcnn::load(&model.var_builder()).unwrap();
    assert_eq!(
        net.scaling().labels_std,
        &trainer.normalisation().labels_std[..]
    );

    // It has learnt how the luminosity depends on the spectrum, not only its mean: the
    // deterministic L_fakemag follows the true one.
    let (mut predicted, mut truth) = (Vec::new(), Vec::new());
    for i in 0..320 {
        let spectrum = &flux[i * PIXELS..(i + 1) * PIXELS];
        let raw = predict_raw(&net, spectrum, 0, MaskStream::new(0, 0)).unwrap();
        predicted.push(raw.values[0]);
        truth.push(true_luminosity(i % BASES, 0.6 + 0.8 * uniform(i as u64, 0)));
    }
    let r = correlation(&predicted, &truth);
    eprintln!("observed: correlation with the true L_fakemag {r:.3}");
    // A regression guard tuned to what this set gives, not derived (0.784 on 2026-11-29).
    assert!(r > 0.6, "correlation with the true L_fakemag {r}");

    // Its deterministic output (twice: deterministic) is the training forward's with
    // dropout off.
    let norm = trainer.normalisation();
    for row in [0, 7, 300] {
        let spectrum = &flux[row * PIXELS..(row + 1) * PIXELS];
        let stats = output_statistics(&net, spectrum, 0, MaskStream::new(0, 0)).unwrap();
        let again = output_statistics(&net, spectrum, 0, MaskStream::new(9, 9)).unwrap();
        assert_eq!(stats.mean[0].to_bits(), again.mean[0].to_bits());
        let x: Vec<f32> = spectrum
            .iter()
            .zip(&norm.input_mean)
            .map(|(f, m)| (f - m) as f32)
            .collect();
        let x = Tensor::from_vec(x, (1, PIXELS), &Device::Cpu).unwrap();
        let (y, s) = trainer.model().forward(&x, &mut Dropout::Off).unwrap();
        let y = f64::from(y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]);
        let s = f64::from(s.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]);
        assert!((stats.mean[0] - y).abs() < 1e-5 * (1.0 + y.abs()), "{row}");
        assert!((stats.mean_log_variance[0] - s).abs() < 1e-5 * (1.0 + s.abs()));
    }
}

#[test]
fn dist_training_is_reproducible_and_resumes_exactly() {
    let bases = bases();
    let (set, _, _) = synthetic_dist_set(&bases, 40);
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("epoch1.safetensors");
    let train = |seed: u64, save: bool| {
        one_thread(|| {
            let mut trainer = DistTrainer::new(set.clone(), config(3, 16, seed)).unwrap();
            while !trainer.is_finished() {
                trainer.run_epoch().unwrap();
                if save && trainer.epoch() == 1 {
                    trainer.checkpoint(&checkpoint).unwrap();
                }
            }
            model_fingerprint(&trainer)
        })
    };
    let first = train(5, true);
    assert_eq!(first, train(5, false), "same seed, one thread: same model");
    assert_ne!(first, train(6, false));

    let resumed = one_thread(|| {
        let mut trainer = DistTrainer::resume(&checkpoint, set.clone(), config(3, 16, 5)).unwrap();
        assert_eq!(trainer.epoch(), 1);
        while !trainer.is_finished() {
            trainer.run_epoch().unwrap();
        }
        model_fingerprint(&trainer)
    });
    assert_eq!(first, resumed);

    // A checkpoint is a model the inference network loads; the censored trainer refuses it.
    let model = ModelFile::load(&checkpoint).unwrap();
    assert_eq!(model.kind, ModelKind::AstroNNDist);
    assert!(DistBcnn::load(&model.var_builder()).is_ok());
    let (censored_set, _) = synthetic_set(&bases, 40);
    let err = Trainer::resume(&checkpoint, censored_set.clone(), config(3, 16, 5)).unwrap_err();
    assert!(err.to_string().contains("astronn_dist"), "{err}");
    // A set of the other network's labels is refused.
    let err = DistTrainer::new(censored_set, config(3, 16, 5)).unwrap_err();
    assert!(err.to_string().contains("L_fakemag"), "{err}");
}

/// Training throughput (spectra/s) at batch 64 and 256: the second of two epochs over 1024
/// synthetic spectra (no validation). For docs/training.md, "Training throughput":
/// `RAYON_NUM_THREADS=N cargo test --test training training_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn training_throughput() {
    let bases = bases();
    let (set, _) = synthetic_set(&bases, 1024);
    for batch in [64, 256] {
        let mut c = config(2, batch, 1);
        c.val_fraction = 0.0;
        let mut trainer = Trainer::new(set.clone(), c).unwrap();
        trainer.run_epoch().unwrap();
        let metrics = trainer.run_epoch().unwrap();
        report_throughput("AstroNN", batch, &metrics, trainer.train_size());
    }
}

fn report_throughput(
    network: &str,
    batch: usize,
    metrics: &astronn::train::EpochMetrics,
    spectra: usize,
) {
    println!(
        "{network} batch {batch}: {:.0} spectra/s ({spectra} spectra in {:.2} s), \
         RAYON_NUM_THREADS={}",
        metrics.spectra_per_second,
        metrics.seconds,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_default()
    );
}

/// AstroNNDist's training throughput, measured as [`training_throughput`]'s:
/// `RAYON_NUM_THREADS=N cargo test --test training dist_training_throughput -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn dist_training_throughput() {
    let bases = bases();
    let (set, _, _) = synthetic_dist_set(&bases, 1024);
    for batch in [64, 256] {
        let mut c = config(2, batch, 1);
        c.val_fraction = 0.0;
        let mut trainer = DistTrainer::new(set.clone(), c).unwrap();
        trainer.run_epoch().unwrap();
        let metrics = trainer.run_epoch().unwrap();
        report_throughput("AstroNNDist", batch, &metrics, trainer.train_size());
    }
}
