//! AstroNNDist's Bayesian CNN (Astra's `ApogeeDistBCNN`, SPEC §5): the full-spectrum branch
//! of the abundance network followed by a small dense head predicting the Ks-band
//! pseudo-luminosity `L_fakemag = 10^(0.2·M_Ks + 2)` and its log-variance.
//!
//! The network predicts a standardised value; `L_fakemag = mean · labels_std` with no offset,
//! so [`labels_mean`](crate::nn::scaling::Scaling::labels_mean) is zero and the MC
//! engine's [`RawLabels`](crate::nn::mc::RawLabels) give `L_fakemag` and `L_fakemag_err`
//! directly.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::dense::layer_width;
use crate::nn::dropout::DropoutRate;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::{McVariance, Scaling};
use crate::nn::trunk::SpectrumTrunk;
use candle_core::{Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

/// The network's single output label. Astra's column is `L_fakemag`; the engine's label
/// name is the bare quantity, which the distance pipeline turns into its columns.
pub const LABEL: &str = "fakemag";

/// AstroNNDist's network with its normalisation constants.
#[derive(Debug, Clone)]
pub struct DistBcnn {
    scaling: Scaling,
    trunk: SpectrumTrunk,
    dense_2: Linear,
    output: Linear,
    log_variance: Linear,
}

impl DistBcnn {
    /// Loads the network from Astra's parameter names (SPEC §5): `input_mean`,
    /// `labels_std` (read as f64 whatever its stored type: Astra's checkpoints may keep it as
    /// f32), `conv1`, `conv2`, `dense_1`, `dense_2`, `dense_output` and `dense_var`. The
    /// hidden layers' widths are the parameters' own; the MC convention is Astra's (see
    /// [`DistBcnn::with_mc_variance`]).
    pub fn load(vb: &VarBuilder) -> Result<Self> {
        let trunk = SpectrumTrunk::load(vb)?;
        let dense_2_width = layer_width(vb, "dense_2")?;
        Ok(DistBcnn {
            scaling: Scaling::load(vb, NETWORK_PIXELS, 1, false)?,
            dense_2: linear(trunk.width(), dense_2_width, vb.pp("dense_2"))?,
            output: linear(dense_2_width, 1, vb.pp("dense_output"))?,
            log_variance: linear(dense_2_width, 1, vb.pp("dense_var"))?,
            trunk,
        })
    }

    /// The network with `dense_1`'s product in `arithmetic` (float32 as loaded).
    pub fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Result<Self> {
        self.trunk = self.trunk.with_arithmetic(arithmetic)?;
        Ok(self)
    }

    /// The network with its MC statistics measured with `variance`.
    pub fn with_mc_variance(mut self, variance: McVariance) -> Self {
        self.scaling = self.scaling.with_mc_variance(variance);
        self
    }

    /// The network dropping out at `rate` (Astra's 0.3 as loaded; an astroNN folder's own).
    pub fn with_dropout_rate(mut self, rate: DropoutRate) -> Self {
        self.trunk = self.trunk.with_dropout_rate(rate);
        self
    }
}

/// softplus(x) = ln(1 + eˣ), in the form max(x, 0) + ln(1 + e^−|x|), which neither overflows
/// for large x nor loses the small result for very negative x. NaN stays NaN.
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// [`softplus`] of every element of an f32 tensor. The output layer is one value per
/// sample, so the elementwise map runs on the host.
fn softplus_tensor(t: &Tensor) -> Result<Tensor> {
    let values: Vec<f32> = t
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(softplus)
        .collect();
    Tensor::from_vec(values, t.shape(), t.device())
}

impl BayesianNetwork for DistBcnn {
    fn label_names(&self) -> Vec<String> {
        vec![LABEL.to_string()]
    }

    /// No label offset: `L_fakemag = mean · labels_std` (SPEC §5).
    fn scaling(&self) -> &Scaling {
        &self.scaling
    }

    /// The trunk (dropout after conv1, the flatten and dense_1), then
    /// l4 = relu(dense_2(l3)) without dropout, output = softplus(dense_output(l4)) and
    /// log-variance = dense_var(l4).
    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)> {
        let conv1 = self.trunk.conv1_activations(x)?;
        let l3 = self.trunk.forward_from_conv1(&conv1, samples, dropout)?;
        let l4 = self.dense_2.forward(&l3)?.relu()?;
        Ok((
            softplus_tensor(&self.output.forward(&l4)?)?,
            self.log_variance.forward(&l4)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_is_stable_at_both_ends() {
        assert!((softplus(0.0) - std::f32::consts::LN_2).abs() < 1e-7);
        assert_eq!(softplus(100.0), 100.0);
        assert!(softplus(1e4).is_finite());
        // ln(1 + e^-30) ≈ e^-30 ≈ 9.36e-14: kept, not rounded to 0.
        let tiny = softplus(-30.0);
        assert!((tiny / (-30.0f32).exp() - 1.0).abs() < 1e-5, "{tiny}");
        assert!(softplus(f32::NAN).is_nan());
        for x in [-5.0f32, -1.0, 0.5, 3.0, 15.0] {
            let direct = (1.0 + f64::from(x).exp()).ln();
            assert!((f64::from(softplus(x)) - direct).abs() < 1e-6 * direct.max(1.0));
        }
    }
}
