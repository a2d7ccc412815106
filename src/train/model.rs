//! The censored network as trainable parameters with a differentiable forward pass.
//!
//! Inference runs [`crate::nn::censored::CensoredBcnn`], whose conv2 is a fused,
//! non-differentiable kernel. Training needs every operation on candle's autograd tape, so
//! this module holds the same parameters (Astra's names and shapes, SPEC §4) as candle
//! `Var`s ([`Parameters`]) and runs the same forward pass with tape operations: candle's
//! matrix products, relu, index-select, concatenation and `detach`, and for the
//! convolutions and relu + max-pool + flatten the custom operations of
//! [`crate::nn::conv_grad`] (which carry their own backward passes; candle's `conv1d`
//! backward is wrong on the CPU; the trunk is shared with AstroNNDist, see
//! [`crate::train::network`]). Dropout masks come from a
//! [`crate::nn::dropout::MaskStream`] in the same order as the inference path, so a model
//! saved from here predicts through `CensoredBcnn` what this forward computes (up to the
//! kernels' summation order).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::apogee::masks::{branch_window, BRANCH_ELEMENTS};
use crate::io::model_file::ModelKind;
use crate::nn::censored::{
    assemble, window_pixels, CensoredBcnn, BRANCH_WIDTHS, DENSE_2_WIDTH, LABELS, SHARED_HIDDEN,
};
use crate::nn::conv_shape::ConvShape;
use crate::nn::dropout::DropoutRate;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::nn::trunk::DENSE_1_WIDTH;
use crate::train::adam::max_norm;
use crate::train::config::TrainConfig;
use crate::train::data::Normalisation;
use crate::train::network::{
    dense, drop, units, Dense, Parameters, TrainableNetwork, TrainableTrunk,
};
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;

/// Name of the layer whose weights have the max-norm constraint.
pub const MAX_NORM_LAYER: &str = "dense_aux_fullspec";

/// One element branch's layers and the window pixels it reads.
#[derive(Debug, Clone)]
struct Branch {
    window: Tensor,
    dense1: Dense,
    dense2: Dense,
    out: Dense,
    log_variance: Dense,
}

/// The censored network's trainable parameters and its differentiable forward pass.
pub struct TrainableCensored {
    parameters: Parameters,
    trunk: TrainableTrunk,
    dense_2: Dense,
    teff_logg_feh: Dense,
    teff_logg_feh_log_variance: Dense,
    aux: Dense,
    branches: Vec<Branch>,
    /// Whether teff/logg/fe_h enter the element heads through a stop-gradient (always, except
    /// in the gradient checks, which compare autograd with finite differences of the full
    /// function).
    pub(crate) stop_gradient: bool,
}

impl std::fmt::Debug for TrainableCensored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainableCensored")
            .field("parameters", &self.parameters)
            .field("stop_gradient", &self.stop_gradient)
            .finish_non_exhaustive()
    }
}

/// The censored network's convolution shape and layer widths.
#[derive(Debug, Clone, PartialEq)]
struct Widths {
    conv: ConvShape,
    dense_1: usize,
    dense_2: usize,
    aux: usize,
    /// Each element branch's two dense layers.
    branches: Vec<(usize, usize)>,
}

impl Widths {
    /// Astra's network, the one `train` builds.
    fn astra() -> Widths {
        Widths {
            conv: ConvShape::ASTRA,
            dense_1: DENSE_1_WIDTH,
            dense_2: DENSE_2_WIDTH,
            aux: SHARED_HIDDEN - 3,
            branches: BRANCH_WIDTHS.to_vec(),
        }
    }

    /// A model's shape and widths, from its parameters.
    fn of(tensors: &HashMap<String, Tensor>) -> Result<Widths> {
        Ok(Widths {
            conv: ConvShape::of(tensors)?,
            dense_1: units(tensors, "dense_1")?,
            dense_2: units(tensors, "dense_2")?,
            aux: units(tensors, MAX_NORM_LAYER)?,
            branches: (0..BRANCH_ELEMENTS.len())
                .map(|i| {
                    Ok((
                        units(tensors, &format!("elem_dense1.{i}"))?,
                        units(tensors, &format!("elem_dense2.{i}"))?,
                    ))
                })
                .collect::<Result<_>>()?,
        })
    }
}

impl TrainableCensored {
    /// The network of shape and layer widths `widths` with every parameter zero.
    fn zeros(dtype: DType, widths: &Widths) -> Result<TrainableCensored> {
        let (varmap, vb) = Parameters::builder(dtype);
        // Each head sees aux and the three shared outputs (teff, logg, fe_h).
        let shared = widths.aux + 3;
        let branches = (0..BRANCH_ELEMENTS.len())
            .map(|i| {
                let window: Vec<u32> = branch_window(i)
                    .iter()
                    .enumerate()
                    .filter(|(_, &inside)| inside)
                    .map(|(pixel, _)| pixel as u32)
                    .collect();
                let width = window.len();
                let (d1, d2) = widths.branches[i];
                Ok(Branch {
                    window: Tensor::from_vec(window, width, &Device::Cpu)?,
                    dense1: dense(&vb, width, d1, &format!("elem_dense1.{i}"))?,
                    dense2: dense(&vb, d1, d2, &format!("elem_dense2.{i}"))?,
                    out: dense(&vb, d2 + shared, 1, &format!("elem_dense_out.{i}"))?,
                    log_variance: dense(&vb, d2 + shared, 1, &format!("elem_dense_var.{i}"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let trunk = TrainableTrunk::new(&vb, widths.conv, widths.dense_1)?;
        let dense_2 = dense(&vb, widths.dense_1, widths.dense_2, "dense_2")?;
        let teff_logg_feh = dense(&vb, widths.dense_2, 3, "dense_teffloggfeh")?;
        let teff_logg_feh_log_variance = dense(&vb, widths.dense_2, 3, "dense_teffloggfeh_var")?;
        let aux = dense(&vb, widths.dense_2, widths.aux, MAX_NORM_LAYER)?;
        Ok(TrainableCensored {
            parameters: Parameters::new(varmap, dtype)?,
            trunk,
            dense_2,
            teff_logg_feh,
            teff_logg_feh_log_variance,
            aux,
            branches,
            stop_gradient: true,
        })
    }
}

impl TrainableCensored {
    /// The network dropping out at `rate` in every layer (Astra's 0.3 as created), so that
    /// its masks are those of the inference network of a model trained at that rate.
    pub fn with_dropout_rate(mut self, rate: DropoutRate) -> Self {
        self.trunk = self.trunk.with_dropout_rate(rate);
        self
    }

    /// The network with its parameters off the tape: gradients flow to the input only (for
    /// Jacobians), and no parameter gradient is computed.
    pub(crate) fn frozen(&self) -> TrainableCensored {
        TrainableCensored {
            parameters: self.parameters.clone(),
            trunk: self.trunk.frozen(),
            dense_2: self.dense_2.frozen(),
            teff_logg_feh: self.teff_logg_feh.frozen(),
            teff_logg_feh_log_variance: self.teff_logg_feh_log_variance.frozen(),
            aux: self.aux.frozen(),
            branches: self
                .branches
                .iter()
                .map(|b| Branch {
                    window: b.window.clone(),
                    dense1: b.dense1.frozen(),
                    dense2: b.dense2.frozen(),
                    out: b.out.frozen(),
                    log_variance: b.log_variance.frozen(),
                })
                .collect(),
            stop_gradient: self.stop_gradient,
        }
    }

    /// Takes each branch's pixel window from a model's `aspcap_masks.{i}` where it has them
    /// (a model's windows may differ from the embedded ASPCAP masks); a window must have as
    /// many pixels as its branch's first layer has inputs.
    pub(crate) fn use_model_windows(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (i, branch) in self.branches.iter_mut().enumerate() {
            let Some(mask) = tensors.get(&format!("aspcap_masks.{i}")) else {
                continue;
            };
            let window = window_pixels(&mask.to_dtype(DType::U8)?.to_vec1::<u8>()?);
            if window.len() != branch.window.elem_count() {
                candle_core::bail!(
                    "aspcap_masks.{i} has {} pixels, elem_dense1.{i} reads {}",
                    window.len(),
                    branch.window.elem_count()
                );
            }
            let width = window.len();
            branch.window = Tensor::from_vec(window, width, &Device::Cpu)?;
        }
        Ok(())
    }
}

impl TrainableNetwork for TrainableCensored {
    type Inference = CensoredBcnn;
    const KIND: ModelKind = ModelKind::AstroNN;
    const LABELS: &'static [&'static str] = &LABELS;
    const LABEL_OFFSET: bool = true;

    /// A freshly initialised network ([`Parameters::initialise`]).
    fn new(dtype: DType, seed: u64) -> Result<TrainableCensored> {
        let net = TrainableCensored::zeros(dtype, &Widths::astra())?;
        net.parameters.initialise(seed)?;
        Ok(net)
    }

    /// Also takes the model's element windows (`TrainableCensored::use_model_windows`).
    fn from_model(tensors: &HashMap<String, Tensor>) -> Result<TrainableCensored> {
        let mut net = TrainableCensored::zeros(DType::F32, &Widths::of(tensors)?)?;
        net.set_parameters(tensors)?;
        net.use_model_windows(tensors)?;
        Ok(net)
    }

    fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Self {
        self.trunk = self.trunk.with_arithmetic(arithmetic);
        self
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    /// The parameters (as f32), the element windows `aspcap_masks.{i}` (u8) and the
    /// normalisation (f64: `input_mean`, `labels_mean`, `labels_std`).
    fn model_tensors(&self, norm: &Normalisation) -> Result<HashMap<String, Tensor>> {
        let mut tensors = self.parameters.model_tensors(norm, true)?;
        for i in 0..BRANCH_ELEMENTS.len() {
            let mask: Vec<u8> = branch_window(i).iter().map(|&b| u8::from(b)).collect();
            tensors.insert(
                format!("aspcap_masks.{i}"),
                Tensor::from_vec(mask, NETWORK_PIXELS, &Device::Cpu)?,
            );
        }
        Ok(tensors)
    }

    fn inference(tensors: HashMap<String, Tensor>) -> Result<CensoredBcnn> {
        CensoredBcnn::load(&VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu))
    }

    /// Keras's max-norm on `dense_aux_fullspec`'s weights (SPEC §9), unless they are frozen.
    fn constrain(&self, config: &TrainConfig, is_trained: &dyn Fn(&str) -> bool) -> Result<()> {
        let name = format!("{MAX_NORM_LAYER}.weight");
        if !is_trained(&name) {
            return Ok(());
        }
        let weight = self
            .parameters
            .var(&name)
            .ok_or_else(|| candle_core::Error::Msg(format!("the network has no {name}")))?;
        max_norm(&weight, config.max_norm)
    }

    /// The forward pass of SPEC §4 (`[b, 22]` outputs and log-variances), masks drawn in the
    /// inference path's order (conv1 output, flattened conv2 output, dense_1 output, then
    /// each branch's two layers).
    fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<(Tensor, Tensor)> {
        let x = x.to_dtype(self.parameters.dtype())?;
        let l3 = self.trunk.forward(&x, dropout)?;
        let l4 = self.dense_2.forward(&l3)?.relu()?;
        let t = self.teff_logg_feh.forward(&l4)?;
        let t_log_variance = self.teff_logg_feh_log_variance.forward(&l4)?;
        let aux = self.aux.forward(&l4)?;
        // The element heads see teff/logg/fe_h through a stop-gradient (SPEC §9).
        let shared = if self.stop_gradient {
            t.detach()
        } else {
            t.clone()
        };
        let hidden = Tensor::cat(&[&aux, &shared], 1)?;
        let mut outputs = Vec::with_capacity(self.branches.len());
        let mut log_variances = Vec::with_capacity(self.branches.len());
        let rate = self.trunk.dropout_rate();
        for branch in &self.branches {
            let first = branch.dense1.forward(&x.index_select(&branch.window, 1)?)?;
            let a1 = drop(&first.relu()?, dropout, rate)?;
            let a2 = drop(&branch.dense2.forward(&a1)?.relu()?, dropout, rate)?;
            let joined = Tensor::cat(&[&a2, &hidden], 1)?;
            outputs.push(branch.out.forward(&joined)?);
            log_variances.push(branch.log_variance.forward(&joined)?);
        }
        Ok((
            assemble(&t, &outputs)?,
            assemble(&t_log_variance, &log_variances)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::dropout::MaskStream;
    use crate::nn::network::BayesianNetwork;
    use crate::train::network::tests::relative_difference;

    #[test]
    fn a_model_of_another_shape_and_rate_is_differentiated_as_inference_runs_it() {
        let shape = ConvShape {
            conv1_channels: 3,
            conv2_channels: 5,
            kernel: 5,
            pool: 3,
        };
        let widths = Widths {
            conv: shape,
            ..Widths::astra()
        };
        let net = TrainableCensored::zeros(DType::F32, &widths).unwrap();
        net.parameters.initialise(3).unwrap();
        for (name, var) in net.vars() {
            if name.ends_with(".bias") {
                let bias = Tensor::randn(0f32, 0.05, var.shape(), &Device::Cpu).unwrap();
                var.set(&bias).unwrap();
            }
        }
        let labels = LABELS.len();
        let norm = Normalisation::new(
            vec![0.0; NETWORK_PIXELS],
            vec![0.0; labels],
            vec![1.0; labels],
        );
        let tensors = net.model_tensors(&norm).unwrap();
        let rate = DropoutRate::new(0.2).unwrap();
        let trainable = TrainableCensored::from_model(&tensors).unwrap();
        let at_rate = TrainableCensored::from_model(&tensors)
            .unwrap()
            .with_dropout_rate(rate);
        let inference = TrainableCensored::inference(tensors)
            .unwrap()
            .with_dropout_rate(rate);
        let x = Tensor::randn(0f32, 0.2, (2, NETWORK_PIXELS), &Device::Cpu).unwrap();
        let stream = || MaskStream::new(5, 6);
        let (y, log_variance) = inference
            .forward(&x, 1, &mut Dropout::On(&mut stream()))
            .unwrap();
        let (y_train, log_variance_train) = at_rate
            .forward(&x, &mut Dropout::On(&mut stream()))
            .unwrap();
        assert_eq!(y_train.dims(), &[2, labels]);
        assert!(relative_difference(&y_train, &y) <= 1e-5);
        assert!(relative_difference(&log_variance_train, &log_variance) <= 1e-5);
        // At Astra's rate every layer's masks differ.
        let (y_astra, _) = trainable
            .forward(&x, &mut Dropout::On(&mut stream()))
            .unwrap();
        assert!(relative_difference(&y_astra, &y) > 1e-3);
    }
}
