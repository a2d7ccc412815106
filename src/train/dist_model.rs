//! AstroNNDist (SPEC §5) as trainable parameters with a differentiable forward pass.
//!
//! The same full-spectrum trunk as the censored network
//! ([`crate::train::network`]: conv1 → relu → drop → conv2 → relu → max-pool → flatten →
//! drop → dense_1 → relu → drop), then l4 = relu(dense_2(l3)) without dropout,
//! output = softplus(dense_output(l4)) and log-variance = dense_var(l4). Parameter names and
//! shapes are the Astra checkpoint's (`dense_2` [64, 192], `dense_output` and `dense_var`
//! [1, 64]), so a saved model loads through [`crate::nn::dist::DistBcnn`]. The softplus is
//! a custom operation whose forward is the inference network's own
//! [`crate::nn::bcnn::softplus`] and whose backward is the exact derivative, the logistic
//! function (candle has no softplus, and the stable form max(x, 0) + ln(1 + e^−|x|) built
//! from tape operations has the wrong gradient at 0).
//!
//! The single label is L_fakemag, scaled by `labels_std` without a mean offset; the loss,
//! optimiser, schedule, L2 term, initialisation and dropout are the censored network's
//! (SPEC §9). AstroNNDist has no stop-gradient and no max-norm constraint.

use crate::io::model_file::ModelKind;
use crate::nn::bcnn::softplus;
use crate::nn::conv_shape::ConvShape;
use crate::nn::dist::DistBcnn;
use crate::nn::dropout::DropoutRate;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::nn::trunk::DENSE_1_WIDTH;
use crate::train::network::{dense, units, Dense, Parameters, TrainableNetwork, TrainableTrunk};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;

/// The label AstroNNDist is trained on: the Ks-band pseudo-luminosity, as Astra's column
/// calls it.
pub const DIST_LABELS: [&str; 1] = ["L_fakemag"];

/// Width of `dense_2`, the hidden layer of the distance head, in Astra's network (a loaded
/// model's is its own).
const DENSE_2_WIDTH: usize = 64;

/// AstroNNDist's trainable parameters and its differentiable forward pass.
pub struct TrainableDist {
    parameters: Parameters,
    trunk: TrainableTrunk,
    dense_2: Dense,
    output: Dense,
    log_variance: Dense,
}

impl TrainableDist {
    /// The network dropping out at `rate` (Astra's 0.3 as created), so that its masks are
    /// those of the inference network of a model trained at that rate.
    pub fn with_dropout_rate(mut self, rate: DropoutRate) -> Self {
        self.trunk = self.trunk.with_dropout_rate(rate);
        self
    }

    /// The network with its parameters off the tape: gradients flow to the input only (for
    /// Jacobians), and no parameter gradient is computed.
    pub(crate) fn frozen(&self) -> TrainableDist {
        TrainableDist {
            parameters: self.parameters.clone(),
            trunk: self.trunk.frozen(),
            dense_2: self.dense_2.frozen(),
            output: self.output.frozen(),
            log_variance: self.log_variance.frozen(),
        }
    }
}

impl TrainableDist {
    /// The network with convolutions of `shape` and `dense_1` and `dense_2` of the given
    /// widths, every parameter zero.
    fn zeros(
        dtype: DType,
        shape: ConvShape,
        dense_1: usize,
        dense_2: usize,
    ) -> Result<TrainableDist> {
        let (varmap, vb) = Parameters::builder(dtype);
        Ok(TrainableDist {
            trunk: TrainableTrunk::new(&vb, shape, dense_1)?,
            dense_2: dense(&vb, dense_1, dense_2, "dense_2")?,
            output: dense(&vb, dense_2, 1, "dense_output")?,
            log_variance: dense(&vb, dense_2, 1, "dense_var")?,
            parameters: Parameters::new(varmap, dtype)?,
        })
    }
}

impl std::fmt::Debug for TrainableDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainableDist")
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

impl TrainableNetwork for TrainableDist {
    type Inference = DistBcnn;
    const KIND: ModelKind = ModelKind::AstroNNDist;
    const LABELS: &'static [&'static str] = &DIST_LABELS;
    const LABEL_OFFSET: bool = false;

    /// A freshly initialised network ([`Parameters::initialise`]).
    fn new(dtype: DType, seed: u64) -> Result<TrainableDist> {
        let net = TrainableDist::zeros(dtype, ConvShape::ASTRA, DENSE_1_WIDTH, DENSE_2_WIDTH)?;
        net.parameters.initialise(seed)?;
        Ok(net)
    }

    fn from_model(tensors: &HashMap<String, Tensor>) -> Result<TrainableDist> {
        let net = TrainableDist::zeros(
            DType::F32,
            ConvShape::of(tensors)?,
            units(tensors, "dense_1")?,
            units(tensors, "dense_2")?,
        )?;
        net.set_parameters(tensors)?;
        Ok(net)
    }

    fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Self {
        self.trunk = self.trunk.with_arithmetic(arithmetic);
        self
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn inference(tensors: HashMap<String, Tensor>) -> Result<DistBcnn> {
        DistBcnn::load(&VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu))
    }

    /// The forward pass of SPEC §5 (`[b, 1]` output and log-variance), masks drawn in the
    /// inference path's order (conv1 output, flattened conv2 output, dense_1 output).
    fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<(Tensor, Tensor)> {
        let x = x.to_dtype(self.parameters.dtype())?;
        let l3 = self.trunk.forward(&x, dropout)?;
        let l4 = self.dense_2.forward(&l3)?.relu()?;
        Ok((
            softplus_op(&self.output.forward(&l4)?)?,
            self.log_variance.forward(&l4)?,
        ))
    }
}

/// softplus in f64, in the stable form of [`crate::nn::bcnn::softplus`].
fn softplus_f64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The logistic function 1 / (1 + e^−x), softplus's derivative, without overflow.
fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// softplus as a differentiable candle operation (f32 or f64).
struct Softplus;

impl CustomOp1 for Softplus {
    fn name(&self) -> &'static str {
        "softplus"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("softplus needs a contiguous input".into()))?;
        let storage = match storage {
            CpuStorage::F32(values) => {
                CpuStorage::F32(values[start..end].iter().map(|&x| softplus(x)).collect())
            }
            CpuStorage::F64(values) => CpuStorage::F64(
                values[start..end]
                    .iter()
                    .map(|&x| softplus_f64(x))
                    .collect(),
            ),
            _ => candle_core::bail!("softplus needs f32 or f64 input"),
        };
        Ok((storage, layout.shape().clone()))
    }

    /// ∂softplus(x)/∂x = logistic(x), times the output gradient (on the host: the output
    /// layer is one value per spectrum).
    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let xs = x.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let gs = grad.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        if xs.len() != gs.len() {
            candle_core::bail!("softplus: gradient of the wrong size");
        }
        let dx: Vec<f64> = xs.iter().zip(&gs).map(|(&x, &g)| g * logistic(x)).collect();
        Ok(Some(
            Tensor::from_vec(dx, x.shape(), x.device())?.to_dtype(x.dtype())?,
        ))
    }
}

/// softplus(x) = ln(1 + eˣ) of every element, differentiable; f32 values are exactly those
/// of the inference network's [`crate::nn::bcnn::softplus`].
pub fn softplus_op(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softplus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apogee::grid::NETWORK_PIXELS;
    use crate::nn::dropout::MaskStream;
    use crate::nn::network::BayesianNetwork;
    use crate::train::data::Normalisation;
    use crate::train::network::tests::relative_difference;

    #[test]
    fn logistic_is_stable_and_the_derivative_of_softplus() {
        assert_eq!(logistic(0.0), 0.5);
        assert_eq!(logistic(800.0), 1.0);
        assert_eq!(logistic(-800.0), 0.0);
        for x in [-30.0, -3.0, -0.1, 0.0, 0.7, 12.0] {
            let h = 1e-6;
            let numeric = (softplus_f64(x + h) - softplus_f64(x - h)) / (2.0 * h);
            assert!((numeric - logistic(x)).abs() < 1e-8, "{x}");
        }
    }

    #[test]
    fn f32_softplus_is_the_inference_networks() {
        let values = vec![-40f32, -2.5, 0.0, 0.3, 20.0, 95.0];
        let t = Tensor::from_vec(values.clone(), (3, 2), &Device::Cpu).unwrap();
        let y = softplus_op(&t).unwrap();
        assert_eq!(y.dims(), &[3, 2]);
        let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (x, y) in values.iter().zip(y) {
            assert_eq!(y.to_bits(), softplus(*x).to_bits());
        }
    }

    #[test]
    fn a_model_of_another_shape_and_rate_is_differentiated_as_inference_runs_it() {
        let shape = ConvShape {
            conv1_channels: 3,
            conv2_channels: 5,
            kernel: 5,
            pool: 3,
        };
        let net = TrainableDist::zeros(DType::F32, shape, 12, 8).unwrap();
        net.parameters.initialise(4).unwrap();
        for (name, var) in net.vars() {
            if name.ends_with(".bias") {
                let bias = Tensor::randn(0f32, 0.2, var.shape(), &Device::Cpu).unwrap();
                var.set(&bias).unwrap();
            }
        }
        let norm = Normalisation::new(vec![0.0; NETWORK_PIXELS], vec![0.0], vec![1.0]);
        let tensors = net.model_tensors(&norm).unwrap();
        let rate = DropoutRate::new(0.2).unwrap();
        let trainable = TrainableDist::from_model(&tensors)
            .unwrap()
            .with_dropout_rate(rate);
        let inference = TrainableDist::inference(tensors)
            .unwrap()
            .with_dropout_rate(rate);
        let x = Tensor::randn(0f32, 0.5, (3, NETWORK_PIXELS), &Device::Cpu).unwrap();
        let stream = || MaskStream::new(7, 8);
        let (y, log_variance) = inference
            .forward(&x, 1, &mut Dropout::On(&mut stream()))
            .unwrap();
        let (y_train, log_variance_train) = trainable
            .forward(&x, &mut Dropout::On(&mut stream()))
            .unwrap();
        assert_eq!(y_train.dims(), &[3, 1]);
        assert!(relative_difference(&y_train, &y) <= 1e-5);
        assert!(relative_difference(&log_variance_train, &log_variance) <= 1e-5);
    }
}
