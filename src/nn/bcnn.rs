//! astroNN's plain (not censored) networks of APOGEE spectra, with any outputs: the full-
//! spectrum branch ([`SpectrumTrunk`]), then l4 = relu(dense_2(l3)) without dropout and an
//! output layer of one unit per target.
//!
//! - `ApogeeBCNN` (Leung & Bovy 2019; the DR17 VAC's distance and age networks): the output
//!   layer's activation is linear or softplus, and a second layer beside it (`dense_var`)
//!   predicts each output's log-variance. MC dropout runs as in the other networks.
//! - `ApogeeCNN`: no variance layer, and its dropout layers are Keras' plain `Dropout`, off
//!   at inference: one deterministic pass, no error ([`BayesianNetwork::is_bayesian`]).
//!
//! Parameters are Astra's names for AstroNNDist (`dense_output`, `dense_var`), which is this
//! network with one softplus output ([`crate::nn::dist`]).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::dense::layer_width;
use crate::nn::dropout::DropoutRate;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::{LabelsTransform, McVariance, Scaling};
use crate::nn::trunk::SpectrumTrunk;
use candle_core::{Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

/// softplus(x) = ln(1 + eˣ), in the form max(x, 0) + ln(1 + e^−|x|), which neither overflows
/// for large x nor loses the small result for very negative x. NaN stays NaN.
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The activation of the output layer (astroNN's `last_layer_activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputActivation {
    /// None: astroNN's regression default.
    Linear,
    /// softplus(x) = ln(1 + eˣ): positive outputs (L_fakemag, ages, masses).
    Softplus,
}

impl OutputActivation {
    /// The name astroNN and model metadata give it.
    pub fn name(self) -> &'static str {
        match self {
            OutputActivation::Linear => "linear",
            OutputActivation::Softplus => "softplus",
        }
    }

    /// The activation [`OutputActivation::name`] names.
    pub fn from_name(name: &str) -> Option<OutputActivation> {
        match name {
            "linear" => Some(OutputActivation::Linear),
            "softplus" => Some(OutputActivation::Softplus),
            _ => None,
        }
    }

    /// Applies the activation to every element of an f32 tensor.
    fn apply(self, t: Tensor) -> Result<Tensor> {
        match self {
            OutputActivation::Linear => Ok(t),
            OutputActivation::Softplus => {
                let values: Vec<f32> = t
                    .flatten_all()?
                    .to_vec1::<f32>()?
                    .into_iter()
                    .map(softplus)
                    .collect();
                Tensor::from_vec(values, t.shape(), t.device())
            }
        }
    }
}

/// An `ApogeeBCNN` or `ApogeeCNN` with its normalisation constants and output names.
#[derive(Debug, Clone)]
pub struct ApogeeBcnn {
    scaling: Scaling,
    trunk: SpectrumTrunk,
    dense_2: Linear,
    output: Linear,
    /// The log-variance layer; `None` for an `ApogeeCNN`.
    log_variance: Option<Linear>,
    activation: OutputActivation,
    labels: Vec<String>,
}

impl ApogeeBcnn {
    /// Loads the network predicting `labels` (one output each, in order) through
    /// `activation`: the trunk (`conv1`, `conv2`, `dense_1`), `dense_2`, `dense_output` and,
    /// when the parameters hold it, `dense_var` (without it the network is an `ApogeeCNN`).
    /// The normalisation is `input_mean`, `labels_std` and the optional `input_std`,
    /// `labels_mean` (zeros without) and `labels_error_std`.
    pub fn load(
        vb: &VarBuilder,
        labels: Vec<String>,
        activation: OutputActivation,
    ) -> Result<Self> {
        let trunk = SpectrumTrunk::load(vb)?;
        let width = layer_width(vb, "dense_2")?;
        let outputs = labels.len();
        let offset = vb.contains_tensor("labels_mean");
        let log_variance = vb
            .contains_tensor("dense_var.weight")
            .then(|| linear(width, outputs, vb.pp("dense_var")))
            .transpose()?;
        Ok(ApogeeBcnn {
            scaling: Scaling::load(vb, NETWORK_PIXELS, outputs, offset)?,
            dense_2: linear(trunk.width(), width, vb.pp("dense_2"))?,
            output: linear(width, outputs, vb.pp("dense_output"))?,
            log_variance,
            activation,
            labels,
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

    /// The network with its mean outputs turned into labels by `transform` (the identity
    /// as loaded; astroNN's labels mode 3s takes the logit).
    pub fn with_labels_transform(mut self, transform: LabelsTransform) -> Self {
        self.scaling = self.scaling.with_labels_transform(transform);
        self
    }

    /// The network dropping out at `rate` (Astra's 0.3 as loaded).
    pub fn with_dropout_rate(mut self, rate: DropoutRate) -> Self {
        self.trunk = self.trunk.with_dropout_rate(rate);
        self
    }

    /// The output layer's activation.
    pub fn activation(&self) -> OutputActivation {
        self.activation
    }
}

impl BayesianNetwork for ApogeeBcnn {
    fn label_names(&self) -> Vec<String> {
        self.labels.clone()
    }

    fn scaling(&self) -> &Scaling {
        &self.scaling
    }

    fn is_bayesian(&self) -> bool {
        self.log_variance.is_some()
    }

    /// The trunk (dropout after conv1, the flatten and dense_1; never for an `ApogeeCNN`),
    /// then l4 = relu(dense_2(l3)), output = activation(dense_output(l4)) and log-variance =
    /// dense_var(l4) (zeros for an `ApogeeCNN`, whose errors are not defined).
    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)> {
        let conv1 = self.trunk.conv1_activations(x)?;
        let l3 = match self.log_variance {
            Some(_) => self.trunk.forward_from_conv1(&conv1, samples, dropout)?,
            None => self
                .trunk
                .forward_from_conv1(&conv1, samples, &mut Dropout::Off)?,
        };
        let l4 = self.dense_2.forward(&l3)?.relu()?;
        let output = self.activation.apply(self.output.forward(&l4)?)?;
        let log_variance = match &self.log_variance {
            Some(layer) => layer.forward(&l4)?,
            None => output.zeros_like()?,
        };
        Ok((output, log_variance))
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
