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

    /// Whether the network has MC dropout and a predictive variance. One without (astroNN's
    /// `ApogeeCNN`) runs one deterministic pass whatever the samples asked for, and its
    /// errors are NaN ([`crate::nn::mc::predict_raw_each`]).
    fn is_bayesian(&self) -> bool {
        true
    }

    /// Runs the network on inputs `x` `[b, 7514]` (already standardised), each repeated
    /// `samples` times with the given dropout: outputs and log-variances `[b·samples, labels]`.
    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)>;

    /// Runs [`forward`](Self::forward) on each spectrum of `x` (`[g, 7514]`, standardised)
    /// with its own dropout (`dropouts[i]` for row i): entry i holds that spectrum's
    /// outputs and log-variances `[samples, labels]`, the same values `forward` gives on the
    /// spectrum alone. A network overrides it to share work between the spectra of a group.
    fn forward_each(
        &self,
        x: &Tensor,
        samples: usize,
        dropouts: &mut [Dropout],
    ) -> Result<Vec<(Tensor, Tensor)>> {
        check_group(x, dropouts)?;
        dropouts
            .iter_mut()
            .enumerate()
            .map(|(i, dropout)| self.forward(&x.narrow(0, i, 1)?, samples, dropout))
            .collect()
    }
}

/// Refuses a group whose spectra and dropouts differ in number.
pub fn check_group(x: &Tensor, dropouts: &[Dropout]) -> Result<()> {
    let rows = x.dim(0)?;
    if rows != dropouts.len() {
        candle_core::bail!("{rows} spectra but {} dropouts", dropouts.len());
    }
    Ok(())
}
