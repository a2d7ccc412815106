//! astroNN's plain networks (`ApogeeBCNN` of any outputs, `ApogeeCNN`;
//! [`crate::nn::bcnn::ApogeeBcnn`]) with a differentiable forward pass, for their Jacobians.
//! They are run, not trained: the parameters are a model's, off the tape, and the forward
//! pass is the inference network's — the trunk, l4 = relu(dense_2(l3)), the output layer
//! through its activation (softplus as [`softplus_op`], whose backward is exact), and the
//! log-variance layer (zeros for an `ApogeeCNN`, which also never drops out).

use crate::io::model_file::ModelFile;
use crate::nn::bcnn::OutputActivation;
use crate::nn::conv_shape::ConvShape;
use crate::nn::sampling::Dropout;
use crate::train::dist_model::softplus_op;
use crate::train::network::{dense, units, Dense, Parameters, TrainableTrunk};
use candle_core::{DType, Module, Result, Tensor};

/// A plain network's forward pass, differentiable with respect to its input.
pub struct DifferentiablePlain {
    trunk: TrainableTrunk,
    dense_2: Dense,
    output: Dense,
    log_variance: Option<Dense>,
    activation: OutputActivation,
}

impl DifferentiablePlain {
    /// The network of `model` (a [`crate::io::model_file::ModelKind::Generic`] model): its
    /// shapes, parameters, output activation and dropout rate.
    pub fn from_model(model: &ModelFile) -> crate::Result<DifferentiablePlain> {
        let tensors = &model.tensors;
        let invalid = |e: candle_core::Error| crate::Error::file(&model.path, e.to_string());
        let activation = model.output_activation()?;
        let rate = model.dropout_rate()?;
        let build = || -> Result<DifferentiablePlain> {
            let (varmap, vb) = Parameters::builder(DType::F32);
            let width_1 = units(tensors, "dense_1")?;
            let width_2 = units(tensors, "dense_2")?;
            let outputs = units(tensors, "dense_output")?;
            let trunk = TrainableTrunk::new(&vb, ConvShape::of(tensors)?, width_1)?;
            let net = DifferentiablePlain {
                trunk: trunk.with_dropout_rate(rate),
                dense_2: dense(&vb, width_1, width_2, "dense_2")?,
                output: dense(&vb, width_2, outputs, "dense_output")?,
                log_variance: tensors
                    .contains_key("dense_var.weight")
                    .then(|| dense(&vb, width_2, outputs, "dense_var"))
                    .transpose()?,
                activation,
            };
            Parameters::new(varmap, DType::F32)?.set(tensors)?;
            Ok(net.frozen())
        };
        build().map_err(invalid)
    }

    /// The network with its parameters off the tape: gradients flow to the input only.
    fn frozen(&self) -> DifferentiablePlain {
        DifferentiablePlain {
            trunk: self.trunk.frozen(),
            dense_2: self.dense_2.frozen(),
            output: self.output.frozen(),
            log_variance: self.log_variance.as_ref().map(Dense::frozen),
            activation: self.activation,
        }
    }

    /// Outputs and log-variances (`[b, outputs]`, standardised units) of inputs `x`
    /// `[b, 7514]`, masks drawn in the inference network's order; an `ApogeeCNN` never
    /// drops out.
    pub fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<(Tensor, Tensor)> {
        let l3 = match self.log_variance {
            Some(_) => self.trunk.forward(x, dropout)?,
            None => self.trunk.forward(x, &mut Dropout::Off)?,
        };
        let l4 = self.dense_2.forward(&l3)?.relu()?;
        let raw = self.output.forward(&l4)?;
        let output = match self.activation {
            OutputActivation::Linear => raw,
            OutputActivation::Softplus => softplus_op(&raw)?,
        };
        let log_variance = match &self.log_variance {
            Some(layer) => layer.forward(&l4)?,
            None => output.zeros_like()?,
        };
        Ok((output, log_variance))
    }
}
