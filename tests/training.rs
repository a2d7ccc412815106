//! Training the censored network end to end on CI-sized sets built from the fixtures' real
//! normalized spectra: the validation loss falls, the written model loads and predicts as
//! the training forward does, runs are reproducible and resume exactly.
//!
//! The set: each synthetic spectrum is one of the six real spectra with its absorption
//! scaled by a depth factor a ∈ [0.6, 1.4] (1 + a·(flux − 1)) plus 0.5 % noise. Every label
//! is a known smooth function of the spectrum: c_j · a + d_j(base spectrum), so the network
//! can learn it from the line depths. About 8 % of labels are missing (NaN or −9999) and
//! half the labels carry errors.

mod common;

use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::io::npy::NpyArray;
use astronn::nn::censored::CensoredBcnn;
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::{output_statistics, predict_raw};
use astronn::nn::sampling::Dropout;
use astronn::train::{CensoredTrainer as Trainer, TrainConfig, TrainableNetwork, TrainingSet};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeMap, HashMap};

const PIXELS: usize = 7514;
const LABELS: usize = 22;
/// Real (not noisy-copy) rows of `inputs_norm_flux.npy`.
const BASES: usize = 6;

/// A deterministic uniform draw in [0, 1) from a tiny LCG-free hash (no RNG crate needed).
fn uniform(i: u64, j: u64) -> f64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(j.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Base spectra: the fixtures' real rows (`None` when the fixtures are absent).
fn bases() -> Option<Vec<f64>> {
    let dir = common::fixtures()?;
    let data = NpyArray::read(&dir.join("inputs_norm_flux.npy")).ok()?.data;
    Some(data[..BASES * PIXELS].to_vec())
}

/// `n` synthetic spectra with labels (see the module comment).
fn synthetic_set(bases: &[f64], n: usize) -> (TrainingSet, Vec<f64>) {
    let mut flux = Vec::with_capacity(n * PIXELS);
    let mut flux_f64 = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n * LABELS);
    let mut errors = Vec::with_capacity(n * LABELS);
    for i in 0..n {
        let k = i % BASES;
        let depth = 0.6 + 0.8 * uniform(i as u64, 0);
        let base = &bases[k * PIXELS..(k + 1) * PIXELS];
        for (p, &b) in base.iter().enumerate() {
            let noise = 0.005 * (uniform(i as u64, 100 + p as u64) - 0.5) * 3.46;
            let value = (1.0 + depth * (b - 1.0) + noise).max(0.0) as f32;
            flux.push(value);
            flux_f64.push(f64::from(value));
        }
        for j in 0..LABELS {
            let slope = 1.0 + j as f64 / 10.0;
            let offset = (k as f64 - 2.5) * (0.2 + 0.05 * (j % 5) as f64);
            let mut value = 4000.0f64.min(100.0 * (j as f64 + 1.0)) * (slope * depth + offset);
            let draw = uniform(i as u64, 50_000 + j as u64);
            if draw < 0.04 {
                value = f64::NAN;
            } else if draw < 0.08 {
                value = -9999.0;
            }
            labels.push(value);
            errors.push(if j % 2 == 0 { 0.02 * value.abs() } else { 0.0 });
        }
    }
    let set = TrainingSet::new(flux, labels, Some(errors)).expect("valid training set");
    (set, flux_f64)
}

fn config(epochs: usize, batch_size: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        seed,
        ..TrainConfig::default()
    }
}

/// Every model tensor's values as bits, for bitwise comparisons.
fn fingerprint(tensors: &HashMap<String, Tensor>) -> BTreeMap<String, Vec<u64>> {
    tensors
        .iter()
        .map(|(name, t)| {
            let values = t.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
            let bits = values
                .to_vec1::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            (name.clone(), bits)
        })
        .collect()
}

fn model_fingerprint(trainer: &Trainer) -> BTreeMap<String, Vec<u64>> {
    fingerprint(
        &trainer
            .model()
            .model_tensors(trainer.normalisation())
            .unwrap(),
    )
}

fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn training_lowers_the_validation_loss_and_writes_a_model_that_predicts() {
    let Some(bases) = bases() else { return };
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
    assert!(val_losses[5] < 0.7 * initial.loss, "{val_losses:?}");
    let (mae0, mae) = (
        initial.mae_standardized.unwrap(),
        last.val_mae_standardized.unwrap(),
    );
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
    let Some(bases) = bases() else { return };
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
    let Some(bases) = bases() else { return };
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

/// Training throughput (spectra/s) at batch 64 and 256: the second of two epochs over 1024
/// synthetic spectra (no validation). For the README:
/// `RAYON_NUM_THREADS=N cargo test --test training training_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn training_throughput() {
    let Some(bases) = bases() else { return };
    let (set, _) = synthetic_set(&bases, 1024);
    for batch in [64, 256] {
        let mut c = config(2, batch, 1);
        c.val_fraction = 0.0;
        let mut trainer = Trainer::new(set.clone(), c).unwrap();
        trainer.run_epoch().unwrap();
        let metrics = trainer.run_epoch().unwrap();
        println!(
            "batch {batch}: {:.0} spectra/s ({} spectra in {:.2} s), RAYON_NUM_THREADS={}",
            metrics.spectra_per_second,
            trainer.train_size(),
            metrics.seconds,
            std::env::var("RAYON_NUM_THREADS").unwrap_or_default()
        );
    }
}
