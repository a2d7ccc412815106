//! The model a run keeps and where it starts: the saved model is the epoch with the best
//! validation loss (also across a resume), early stopping ends a run after N epochs without
//! a better one, and a run can start from a published model (`--init`: an embedded default
//! model, an astroNN folder) with its normalisation kept or recomputed and chosen
//! parameters frozen bitwise. On the synthetic sets of [`common::training_sets`].

mod common;

use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::models::{censored_network, default_model};
use astronn::nn::network::BayesianNetwork;
use astronn::nn::scaling::Scaling;
use astronn::train::{CensoredTrainer as Trainer, EpochMetrics, Normalisation, TrainConfig};
use candle_core::{Device, Tensor};
use common::training_sets::*;
use std::collections::BTreeMap;
use std::path::Path;

/// A run whose best validation epoch is not its last: at 28× the default learning rate,
/// in batches of 8, it leaves its first epoch's minimum (validation loss 0.60 on
/// 2026-11-29) for losses above 0.7 and does not come back within 12 epochs.
fn unstable_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        lr: 1.4e-2,
        ..config(epochs, 8, 21)
    }
}

/// The epoch (from 1) with the lowest validation loss, the earliest on a tie.
fn best_of(history: &[EpochMetrics]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for m in history {
        let loss = m.val_loss.expect("validated");
        if loss < best.1 {
            best = (m.epoch, loss);
        }
    }
    best
}

/// The parameters and normalisation of a saved model, as bits.
fn saved_fingerprint(path: &Path) -> BTreeMap<String, Vec<u64>> {
    let model = ModelFile::load(path).unwrap();
    let mut prints = fingerprint(&model.tensors);
    prints.retain(|name, _| !name.starts_with("adam.") && !name.starts_with("best."));
    prints
}

#[test]
fn the_saved_model_is_the_best_validation_epoch_not_the_last() {
    let bases = bases();
    let (set, _) = synthetic_set(&bases, 48);
    let dir = tempfile::tempdir().unwrap();
    let epoch_file = |e: usize| dir.path().join(format!("epoch-{e}.safetensors"));
    let mut trainer = one_thread(|| {
        let mut trainer = Trainer::new(set, unstable_config(8)).unwrap();
        while !trainer.is_finished() {
            trainer.run_epoch().unwrap();
            trainer.checkpoint(&epoch_file(trainer.epoch())).unwrap();
        }
        trainer
    });
    let history: Vec<f64> = trainer
        .history()
        .iter()
        .map(|m| m.val_loss.unwrap())
        .collect();
    eprintln!("validation losses: {history:?}");
    let (best, loss) = best_of(trainer.history());
    assert_eq!(trainer.best_epoch(), Some((best, loss)));
    assert!(
        best < 8,
        "the run must pass its best for the test to mean something: {history:?}"
    );

    let saved = dir.path().join("model.safetensors");
    trainer.save_model(&saved, BTreeMap::new()).unwrap();
    let model = ModelFile::load(&saved).unwrap();
    assert_eq!(model.metadata["saved_epoch"], best.to_string());
    assert_eq!(model.metadata["best_epoch"], best.to_string());
    assert_eq!(model.metadata["epochs"], "8");
    assert_eq!(model.metadata["best_val_loss"], loss.to_string());
    // Bitwise the model of the best epoch (its checkpoint), not the last one.
    let prints = saved_fingerprint(&saved);
    let of_epoch = |e: usize| {
        let mut p = saved_fingerprint(&epoch_file(e));
        p.retain(|name, _| prints.contains_key(name));
        p
    };
    assert_eq!(prints, of_epoch(best));
    assert_ne!(prints, of_epoch(8));
    let last = dir.path().join("last.safetensors");
    trainer.save_last_model(&last, BTreeMap::new()).unwrap();
    assert_eq!(saved_fingerprint(&last), of_epoch(8));
    assert_eq!(ModelFile::load(&last).unwrap().metadata["saved_epoch"], "8");
    trainer = Trainer::resume(&epoch_file(8), trainer_set(&bases), unstable_config(8)).unwrap();
    assert_eq!(trainer.best_epoch(), Some((best, loss)));
}

/// The set of [`the_saved_model_is_the_best_validation_epoch_not_the_last`].
fn trainer_set(bases: &[f64]) -> astronn::train::TrainingSet {
    synthetic_set(bases, 48).0
}

#[test]
fn early_stopping_ends_the_run_after_n_epochs_without_a_better_loss() {
    let bases = bases();
    let run = |early_stop: Option<usize>| {
        let config = TrainConfig {
            early_stop,
            ..unstable_config(12)
        };
        one_thread(|| {
            let mut trainer = Trainer::new(trainer_set(&bases), config).unwrap();
            while !trainer.is_finished() {
                trainer.run_epoch().unwrap();
            }
            trainer
        })
    };
    let full = run(None);
    let stopped = run(Some(2));
    let (best, _) = best_of(&full.history()[..stopped.epoch()]);
    assert!(stopped.stopped_early());
    assert_eq!(stopped.epoch(), best + 2, "{:?}", stopped.history());
    assert!(stopped.epoch() < 12);
    // Until it stops, the run is the full run, and the epochs after its best are no better.
    for (a, b) in stopped.history().iter().zip(full.history()) {
        assert_eq!(a.val_loss, b.val_loss);
    }
    let best_loss = full.history()[best - 1].val_loss.unwrap();
    assert!(stopped.history()[best..]
        .iter()
        .all(|m| m.val_loss.unwrap() >= best_loss));
    assert!(!full.stopped_early());
}

#[test]
fn a_run_without_validation_cannot_stop_early() {
    let bases = bases();
    let config = TrainConfig {
        val_fraction: 0.0,
        early_stop: Some(3),
        ..unstable_config(2)
    };
    let message = Trainer::new(trainer_set(&bases), config)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("--early-stop needs a validation set"),
        "{message}"
    );
}

#[test]
fn fine_tuning_starts_from_the_parent_and_freezes_the_convolutions_bitwise() {
    let bases = bases();
    let parent = default_model(ModelKind::AstroNN).unwrap();
    let config = TrainConfig {
        freeze: vec!["conv".into()],
        ..config(1, 16, 3)
    };
    let mut trainer = Trainer::fine_tune(trainer_set(&bases), config, &parent, false).unwrap();
    assert_eq!(
        trainer.frozen(),
        ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]
    );
    // The parent's weights and normalisation: the run starts where the parent is.
    let start = fingerprint(&trainer.model_file(Path::new("x")).unwrap().tensors);
    let parent_prints = fingerprint(&parent.tensors);
    for (name, bits) in &start {
        assert_eq!(Some(bits), parent_prints.get(name), "{name}");
    }
    trainer.run_epoch().unwrap();
    let after = fingerprint(&trainer.model_file(Path::new("x")).unwrap().tensors);
    for name in ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"] {
        assert_eq!(after[name], parent_prints[name], "{name} must stay bitwise");
    }
    for name in ["dense_1.weight", "dense_aux_fullspec.weight"] {
        assert_ne!(after[name], parent_prints[name], "{name} must train");
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("tuned.safetensors");
    trainer.save_model(&saved, BTreeMap::new()).unwrap();
    let model = ModelFile::load(&saved).unwrap();
    assert_eq!(model.metadata["parent_sha256"], parent.sha256);
    assert_eq!(
        model.metadata["parent"],
        "default:astronn_default.safetensors"
    );
    assert_eq!(model.metadata["parent_renormalized"], "false");
    assert_eq!(model.metadata["train.freeze"], "conv");
}

#[test]
fn fine_tuning_keeps_the_parents_normalisation_unless_told_to_renormalize() {
    let bases = bases();
    let parent = default_model(ModelKind::AstroNN).unwrap();
    let kept = Trainer::fine_tune(trainer_set(&bases), config(1, 16, 3), &parent, false).unwrap();
    let input_mean = parent.tensors["input_mean"].to_vec1::<f64>().unwrap();
    let labels_std = parent.tensors["labels_std"].to_vec1::<f64>().unwrap();
    assert_eq!(kept.normalisation().input_mean, input_mean);
    assert_eq!(kept.normalisation().labels_std, labels_std);
    let renormalized =
        Trainer::fine_tune(trainer_set(&bases), config(1, 16, 3), &parent, true).unwrap();
    assert_eq!(
        *renormalized.normalisation(),
        Normalisation::of(&trainer_set(&bases))
    );
    assert_ne!(renormalized.normalisation().input_mean, input_mean);
}

#[test]
fn fine_tuning_an_astronn_folder_keeps_its_widths_and_conventions() {
    let bases = bases();
    let folder = common::test_data("astronn_models/censored_dict");
    let parent = ModelFile::load(&folder).unwrap();
    let mut trainer =
        Trainer::fine_tune(trainer_set(&bases), config(1, 16, 3), &parent, false).unwrap();
    trainer.run_epoch().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("tuned.safetensors");
    trainer.save_model(&saved, BTreeMap::new()).unwrap();
    let model = ModelFile::load(&saved).unwrap();
    for name in ["dense_1.weight", "dense_2.weight"] {
        assert_eq!(
            model.tensors[name].dims(),
            parent.tensors[name].dims(),
            "{name}"
        );
    }
    assert_eq!(scaling(&model), scaling(&parent));
    assert_eq!(model.metadata["mc_variance"], "population");
    assert_eq!(model.metadata["parent_format"], "AstroNNFolder");
}

/// The networks `train` builds drop at Astra's rate: a parent that drops at another one (an
/// astroNN folder trained with `dropout_rate=0`) is refused before any training, naming it.
#[test]
fn fine_tuning_a_network_of_another_dropout_rate_is_refused() {
    let folder = common::test_data("astronn_models/censored_dropout0");
    let parent = ModelFile::load(&folder).unwrap();
    let e = Trainer::check_settings(&config(1, 16, 3), Some(&parent))
        .unwrap_err()
        .to_string();
    assert!(e.contains("censored_dropout0"), "{e}");
    assert!(
        e.contains("drops out at rate 0; fine-tuning trains at 0.3 only"),
        "{e}"
    );
}

/// A network that learnt its labels through a sigmoid (astroNN's labels mode 3s) is run,
/// not fine-tuned: training learns the labels themselves.
#[test]
fn fine_tuning_a_network_of_sigmoid_labels_is_refused() {
    let folder = common::test_data("astronn_models/censored_dict");
    let mut parent = ModelFile::load(&folder).unwrap();
    parent
        .metadata
        .insert("labels_transform".into(), "logit".into());
    let e = Trainer::check_settings(&config(1, 16, 3), Some(&parent))
        .unwrap_err()
        .to_string();
    assert!(e.contains("astroNN's labels mode 3s"), "{e}");
}

/// The normalisation constants and MC convention a model predicts with.
fn scaling(model: &ModelFile) -> Scaling {
    censored_network(model).unwrap().scaling().clone()
}

#[test]
fn fine_tuning_keeps_a_non_unit_input_std() {
    let bases = bases();
    let mut parent = default_model(ModelKind::AstroNN).unwrap();
    let std: Vec<f64> = (0..7514).map(|p| 1.0 + (p % 7) as f64 / 10.0).collect();
    let std = Tensor::from_vec(std, 7514, &Device::Cpu).unwrap();
    parent.tensors.insert("input_std".into(), std);
    let trainer =
        Trainer::fine_tune(trainer_set(&bases), config(1, 16, 3), &parent, false).unwrap();
    let model = trainer.model_file(Path::new("tuned.safetensors")).unwrap();
    assert_eq!(scaling(&model).input_std, scaling(&parent).input_std);
    assert_ne!(scaling(&model).input_std, vec![1.0; 7514]);
}
