//! What the MC-dropout engine needs from a network.

use crate::nn::sampling::Dropout;
use candle_core::{Result, Tensor};

/// A Bayesian network predicting labels and their log-variances from a normalized spectrum.
pub trait BayesianNetwork: Send + Sync {
    /// Output label names, in output order.
    fn label_names(&self) -> Vec<String>;

    /// Mean spectrum subtracted from the normalized flux before the network.
    fn input_mean(&self) -> &[f64];

    /// Offset added to the de-standardised output (zeros where the model has none).
    fn labels_mean(&self) -> Vec<f64>;

    /// Scale of the de-standardised output.
    fn labels_std(&self) -> &[f64];

    /// Runs the network on inputs `x` `[b, 7514]` (already standardised), each repeated
    /// `samples` times with the given dropout: outputs and log-variances `[b·samples, labels]`.
    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)>;
}
