//! What the MC-dropout engine needs from a network.

use crate::nn::sampling::Dropout;
use crate::nn::scaling::Scaling;
use candle_core::{Result, Tensor};

/// A Bayesian network predicting labels and their log-variances from a normalized spectrum.
pub trait BayesianNetwork: Send + Sync {
    /// Output label names, in output order.
    fn label_names(&self) -> Vec<String>;

    /// How inputs are standardised and outputs become labels and errors.
    fn scaling(&self) -> &Scaling;

    /// Runs the network on inputs `x` `[b, 7514]` (already standardised), each repeated
    /// `samples` times with the given dropout: outputs and log-variances `[b·samples, labels]`.
    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)>;
}
