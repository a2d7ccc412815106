//! AstroNNDist's Bayesian CNN (Astra's `ApogeeDistBCNN`, SPEC §5): the full-spectrum branch
//! of the abundance network followed by a small dense head predicting the Ks-band
//! pseudo-luminosity `L_fakemag = 10^(0.2·M_Ks + 2)` and its log-variance.
//!
//! The network predicts a standardised value; `L_fakemag = mean · labels_std` with no offset,
//! so [`labels_mean`](crate::nn::scaling::Scaling::labels_mean) is zero and the MC
//! engine's [`RawLabels`](crate::nn::mc::RawLabels) give `L_fakemag` and `L_fakemag_err`
//! directly.

use crate::nn::bcnn::{ApogeeBcnn, OutputActivation};
use crate::nn::dropout::DropoutRate;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::{LabelsTransform, McVariance, Scaling};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// The network's single output label. Astra's column is `L_fakemag`; the engine's label
/// name is the bare quantity, which the distance pipeline turns into its columns.
pub const LABEL: &str = "fakemag";

/// AstroNNDist's network with its normalisation constants: astroNN's `ApogeeBCNN` with one
/// softplus output and its log-variance.
#[derive(Debug, Clone)]
pub struct DistBcnn(ApogeeBcnn);

impl DistBcnn {
    /// Loads the network from Astra's parameter names (SPEC §5): `input_mean`,
    /// `labels_std` (read as f64 whatever its stored type: Astra's checkpoints may keep it as
    /// f32), `conv1`, `conv2`, `dense_1`, `dense_2`, `dense_output` and `dense_var`. The
    /// hidden layers' widths and the convolutions' shapes are the parameters' own; the MC
    /// convention is Astra's (see [`DistBcnn::with_mc_variance`]).
    pub fn load(vb: &VarBuilder) -> Result<Self> {
        if !vb.contains_tensor("dense_var.weight") {
            candle_core::bail!("no dense_var: AstroNNDist predicts its log-variance");
        }
        let net = ApogeeBcnn::load(vb, vec![LABEL.to_string()], OutputActivation::Softplus)?;
        Ok(DistBcnn(net))
    }

    /// The network with `dense_1`'s product in `arithmetic` (float32 as loaded).
    pub fn with_arithmetic(self, arithmetic: Arithmetic) -> Result<Self> {
        Ok(DistBcnn(self.0.with_arithmetic(arithmetic)?))
    }

    /// The network with its MC statistics measured with `variance`.
    pub fn with_mc_variance(self, variance: McVariance) -> Self {
        DistBcnn(self.0.with_mc_variance(variance))
    }

    /// The network with its mean output turned into L_fakemag by `transform`.
    pub fn with_labels_transform(self, transform: LabelsTransform) -> Self {
        DistBcnn(self.0.with_labels_transform(transform))
    }

    /// The network dropping out at `rate` (Astra's 0.3 as loaded; an astroNN folder's own).
    pub fn with_dropout_rate(self, rate: DropoutRate) -> Self {
        DistBcnn(self.0.with_dropout_rate(rate))
    }
}

impl BayesianNetwork for DistBcnn {
    fn label_names(&self) -> Vec<String> {
        self.0.label_names()
    }

    /// No label offset: `L_fakemag = mean · labels_std` (SPEC §5).
    fn scaling(&self) -> &Scaling {
        self.0.scaling()
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
        self.0.forward(x, samples, dropout)
    }
}
