//! The settings of a training run ([`TrainConfig`]), apart from the trainer: the networks'
//! weight constraints read them too, and the trainer runs those networks.

use crate::nn::precision::Arithmetic;
use crate::train::schedule::PlateauSettings;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Settings of a training run. [`Default`] gives astroNN's recipe (SPEC §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to train (the run is finished when this many are done).
    pub epochs: usize,
    /// Spectra per optimiser step (astroNN: 64; the DR17 runs used 256).
    pub batch_size: usize,
    /// Initial learning rate (5e-4).
    pub lr: f64,
    /// Fraction of the set held out for validation (0.1), rounded up to whole spectra.
    pub val_fraction: f64,
    /// Seed of the initial weights, split, shuffles and dropout masks.
    pub seed: u64,
    /// L2 factor on the weights (5e-9), added to the loss as factor · Σ w².
    pub l2: f64,
    /// Max-norm of each output unit's weights in `dense_aux_fullspec` (0.5; the censored
    /// network only).
    pub max_norm: f64,
    /// The learning-rate schedule.
    pub plateau: PlateauSettings,
    /// Spectra per validation forward pass (memory only; results do not depend on it).
    pub eval_batch_size: usize,
    /// Parameters kept fixed (`--freeze`: `conv`, `trunk` or patterns; see
    /// [`crate::train::freeze`]).
    pub freeze: Vec<String>,
    /// Stop after this many epochs without a better validation loss (`None`: run every
    /// epoch).
    pub early_stop: Option<usize>,
    /// Arithmetic of `dense_1`'s products in training steps (`--precision`): bfloat16 is
    /// mixed precision, with float32 weights, optimiser and every other layer. Validation
    /// losses are computed in float32 whatever it is, so runs compare.
    #[serde(default)]
    pub arithmetic: Arithmetic,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 50,
            batch_size: 64,
            lr: 5e-4,
            val_fraction: 0.1,
            seed: 0,
            l2: 5e-9,
            max_norm: 0.5,
            plateau: PlateauSettings::default(),
            eval_batch_size: 256,
            freeze: Vec::new(),
            early_stop: None,
            arithmetic: Arithmetic::Float32,
        }
    }
}

impl TrainConfig {
    /// Checks the settings before a run starts or resumes.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid(msg));
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("the batch size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "the learning rate must be positive, not {}",
                self.lr
            ));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!(
                "the validation fraction must be in [0, 1), not {}",
                self.val_fraction
            ));
        }
        if !(self.l2 >= 0.0 && self.max_norm > 0.0) {
            return bad("the L2 factor must be ≥ 0 and the max-norm positive".into());
        }
        match self.early_stop {
            Some(0) => return bad("--early-stop needs at least 1 epoch".into()),
            Some(_) if self.val_fraction == 0.0 => {
                return bad("--early-stop needs a validation set (--val-fraction > 0)".into())
            }
            _ => {}
        }
        Ok(())
    }

    /// The settings that decide a run's results, as exact strings (Rust prints floats so
    /// that they parse back to the same value), for checkpoints.
    pub(crate) fn result_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("batch_size", self.batch_size.to_string()),
            ("lr", self.lr.to_string()),
            ("val_fraction", self.val_fraction.to_string()),
            ("seed", self.seed.to_string()),
            ("l2", self.l2.to_string()),
            ("max_norm", self.max_norm.to_string()),
            ("plateau.factor", self.plateau.factor.to_string()),
            ("plateau.patience", self.plateau.patience.to_string()),
            ("plateau.min_delta", self.plateau.min_delta.to_string()),
            ("plateau.min_lr", self.plateau.min_lr.to_string()),
            ("freeze", self.freeze.join(",")),
            ("precision", self.arithmetic.header_value().to_string()),
        ]
    }
}
