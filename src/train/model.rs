//! The censored network as trainable parameters with a differentiable forward pass.
//!
//! Inference runs [`crate::nn::censored::CensoredBcnn`], whose conv2 is a fused,
//! non-differentiable kernel. Training needs every operation on candle's autograd tape, so
//! this module holds the same parameters (Astra's names and shapes, SPEC §4) as candle
//! [`Var`]s in a [`VarMap`] and runs the same forward pass with tape operations: candle's
//! matrix products, relu, index-select, concatenation and `detach`, and for the
//! convolutions and relu + max-pool + flatten the custom operations of
//! [`crate::nn::conv_grad`] (which carry their own backward passes; candle's `conv1d`
//! backward is wrong on the CPU). Dropout masks come from a
//! [`crate::nn::dropout::MaskStream`] in the same order as the inference path, so a model
//! saved from here predicts through `CensoredBcnn` what this forward computes (up to the
//! kernels' summation order).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::apogee::masks::{branch_window, BRANCH_ELEMENTS};
use crate::nn::censored::{assemble, BRANCH_WIDTHS, DENSE_2_WIDTH, SHARED_HIDDEN};
use crate::nn::conv_grad::{relu_max_pool_flatten, same_conv1d};
use crate::nn::conv_pool::{C_OUT as CONV2_CHANNELS, POOL};
use crate::nn::sampling::Dropout;
use crate::nn::trunk::{CONV1_CHANNELS, DENSE_1_WIDTH, FLAT_FEATURES, KERNEL};
use crate::train::data::Normalisation;
use crate::train::random::{normal, stream};
use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{Linear, VarBuilder, VarMap};
use std::collections::HashMap;

/// Standard deviation of the initial weights (astroNN's `RandomNormal(0, 0.05)`).
pub const INIT_STD: f64 = 0.05;

/// Name of the layer whose weights have the max-norm constraint.
pub const MAX_NORM_LAYER: &str = "dense_aux_fullspec";

/// Whether parameter `name` is a weight (regularised and initialised randomly) rather than a
/// bias: astroNN puts its L2 term on the kernels only.
pub fn is_weight(name: &str) -> bool {
    name.ends_with(".weight")
}

/// One element branch's layers and the window pixels it reads.
#[derive(Debug, Clone)]
struct Branch {
    window: Tensor,
    dense1: Linear,
    dense2: Linear,
    out: Linear,
    log_variance: Linear,
}

/// The censored network's trainable parameters and its differentiable forward pass.
pub struct TrainableCensored {
    varmap: VarMap,
    /// Parameter names, sorted: the order of initialisation, L2 sums and optimiser state.
    names: Vec<String>,
    dtype: DType,
    /// `conv1` and `conv2` (weight, bias).
    conv1: (Tensor, Tensor),
    conv2: (Tensor, Tensor),
    dense_1: Linear,
    dense_2: Linear,
    teff_logg_feh: Linear,
    teff_logg_feh_log_variance: Linear,
    aux: Linear,
    branches: Vec<Branch>,
    /// Whether teff/logg/fe_h enter the element heads through a stop-gradient (always, except
    /// in the gradient checks, which compare autograd with finite differences of the full
    /// function).
    pub(crate) stop_gradient: bool,
}

impl std::fmt::Debug for TrainableCensored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainableCensored")
            .field("parameters", &self.names)
            .field("dtype", &self.dtype)
            .field("stop_gradient", &self.stop_gradient)
            .finish_non_exhaustive()
    }
}

/// A dense layer `[out, in]` whose parameters live in the var map.
fn dense(vb: &VarBuilder, inputs: usize, outputs: usize, name: &str) -> Result<Linear> {
    let vb = vb.pp(name);
    Ok(Linear::new(
        vb.get((outputs, inputs), "weight")?,
        Some(vb.get(outputs, "bias")?),
    ))
}

impl TrainableCensored {
    /// A freshly initialised network with parameters of `dtype` (f32 for training; f64 for
    /// the gradient checks): every weight drawn from N(0, 0.05) (astroNN's initialiser) from
    /// the run's seeded stream, in sorted-name order; every bias zero (Keras's default bias
    /// initialiser).
    pub fn new(dtype: DType, seed: u64) -> Result<TrainableCensored> {
        let net = TrainableCensored::zeros(dtype)?;
        let mut rng = stream(seed, "init", 0);
        for (name, var) in net.vars() {
            if is_weight(&name) {
                let values: Vec<f64> = (0..var.elem_count())
                    .map(|_| INIT_STD * normal(&mut rng))
                    .collect();
                let init = Tensor::from_vec(values, var.shape(), &Device::Cpu)?.to_dtype(dtype)?;
                var.set(&init)?;
            }
        }
        Ok(net)
    }

    /// The network with every parameter zero.
    fn zeros(dtype: DType) -> Result<TrainableCensored> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
        let branches = (0..BRANCH_ELEMENTS.len())
            .map(|i| {
                let window: Vec<u32> = branch_window(i)
                    .iter()
                    .enumerate()
                    .filter(|(_, &inside)| inside)
                    .map(|(pixel, _)| pixel as u32)
                    .collect();
                let width = window.len();
                let (d1, d2) = BRANCH_WIDTHS[i];
                Ok(Branch {
                    window: Tensor::from_vec(window, width, &Device::Cpu)?,
                    dense1: dense(&vb, width, d1, &format!("elem_dense1.{i}"))?,
                    dense2: dense(&vb, d1, d2, &format!("elem_dense2.{i}"))?,
                    out: dense(&vb, d2 + SHARED_HIDDEN, 1, &format!("elem_dense_out.{i}"))?,
                    log_variance: dense(
                        &vb,
                        d2 + SHARED_HIDDEN,
                        1,
                        &format!("elem_dense_var.{i}"),
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let conv = |c_in: usize, c_out: usize, name: &str| -> Result<(Tensor, Tensor)> {
            let vb = vb.pp(name);
            Ok((
                vb.get((c_out, c_in, KERNEL), "weight")?,
                vb.get(c_out, "bias")?,
            ))
        };
        let conv1 = conv(1, CONV1_CHANNELS, "conv1")?;
        let conv2 = conv(CONV1_CHANNELS, CONV2_CHANNELS, "conv2")?;
        let dense_1 = dense(&vb, FLAT_FEATURES, DENSE_1_WIDTH, "dense_1")?;
        let dense_2 = dense(&vb, DENSE_1_WIDTH, DENSE_2_WIDTH, "dense_2")?;
        let teff_logg_feh = dense(&vb, DENSE_2_WIDTH, 3, "dense_teffloggfeh")?;
        let teff_logg_feh_log_variance = dense(&vb, DENSE_2_WIDTH, 3, "dense_teffloggfeh_var")?;
        let aux = dense(&vb, DENSE_2_WIDTH, 2, MAX_NORM_LAYER)?;
        let mut names: Vec<String> = varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("parameter map lock poisoned".into()))?
            .keys()
            .cloned()
            .collect();
        names.sort();
        Ok(TrainableCensored {
            varmap,
            names,
            dtype,
            conv1,
            conv2,
            dense_1,
            dense_2,
            teff_logg_feh,
            teff_logg_feh_log_variance,
            aux,
            branches,
            stop_gradient: true,
        })
    }

    /// The trainable parameters by Astra's names, sorted by name.
    pub fn vars(&self) -> Vec<(String, Var)> {
        let Ok(map) = self.varmap.data().lock() else {
            return Vec::new();
        };
        self.names
            .iter()
            .filter_map(|name| map.get(name).map(|var| (name.clone(), var.clone())))
            .collect()
    }

    /// The parameter called `name`, if the network has one.
    pub fn var(&self, name: &str) -> Option<Var> {
        self.varmap.data().lock().ok()?.get(name).cloned()
    }

    /// The parameters' dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Sets every parameter from `tensors` (Astra's names; other entries are ignored), as
    /// when resuming from a checkpoint. Every parameter must be present with its shape.
    pub fn set_parameters(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.vars() {
            let value = tensors
                .get(&name)
                .ok_or_else(|| candle_core::Error::Msg(format!("parameter {name} is missing")))?;
            if value.dims() != var.dims() {
                candle_core::bail!(
                    "parameter {name} has shape {:?}, expected {:?}",
                    value.dims(),
                    var.dims()
                );
            }
            var.set(&value.to_dtype(self.dtype)?)?;
        }
        Ok(())
    }

    /// The model's tensors under Astra's names, ready for
    /// [`crate::io::model_file::ModelFile`]: the parameters (copied, as f32), the element
    /// windows `aspcap_masks.{i}` (u8) and the normalisation (f64).
    pub fn model_tensors(&self, norm: &Normalisation) -> Result<HashMap<String, Tensor>> {
        let cpu = Device::Cpu;
        let mut tensors = HashMap::new();
        for (name, var) in self.vars() {
            tensors.insert(name, var.as_tensor().to_dtype(DType::F32)?.copy()?);
        }
        for i in 0..BRANCH_ELEMENTS.len() {
            let mask: Vec<u8> = branch_window(i).iter().map(|&b| u8::from(b)).collect();
            tensors.insert(
                format!("aspcap_masks.{i}"),
                Tensor::from_vec(mask, NETWORK_PIXELS, &cpu)?,
            );
        }
        let vector = |v: &[f64]| Tensor::from_vec(v.to_vec(), v.len(), &cpu);
        tensors.insert("input_mean".into(), vector(&norm.input_mean)?);
        tensors.insert("labels_mean".into(), vector(&norm.labels_mean)?);
        tensors.insert("labels_std".into(), vector(&norm.labels_std)?);
        Ok(tensors)
    }

    /// `factor` · Σ w² over the weights (not the biases), on the autograd tape: the L2
    /// regularisation term astroNN adds to the loss (`kernel_regularizer=l2(factor)`).
    /// Training adds its gradient in the optimiser instead ([`crate::train::adam::Adam::update`]).
    pub fn l2_penalty(&self, factor: f64) -> Result<Tensor> {
        let mut total = Tensor::zeros((), self.dtype, &Device::Cpu)?;
        for (name, var) in self.vars() {
            if is_weight(&name) {
                total = (total + var.as_tensor().sqr()?.sum_all()?)?;
            }
        }
        total.affine(factor, 0.0)
    }

    /// Inverted dropout on `t` with the next mask of `dropout` (identity when off).
    fn drop(&self, t: &Tensor, dropout: &mut Dropout) -> Result<Tensor> {
        match dropout.mask(t.elem_count()) {
            None => Ok(t.clone()),
            Some(mask) => {
                let mask = Tensor::from_vec(mask, t.shape(), t.device())?.to_dtype(t.dtype())?;
                t.mul(&mask)
            }
        }
    }

    /// Outputs and log-variances (`[b, 22]` each, standardised units) for inputs `x`
    /// `[b, 7514]` (flux − input_mean), with dropout as given: the forward pass of SPEC §4,
    /// masks drawn in the inference path's order (conv1 output, flattened conv2 output,
    /// dense_1 output, then each branch's two layers).
    pub fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<(Tensor, Tensor)> {
        let x = x.to_dtype(self.dtype)?;
        let (w1, b1) = &self.conv1;
        let h1 = same_conv1d(&x.unsqueeze(1)?, w1, b1)?.relu()?;
        let h1 = self.drop(&h1, dropout)?;
        let (w2, b2) = &self.conv2;
        let flat = relu_max_pool_flatten(&same_conv1d(&h1, w2, b2)?, POOL)?;
        let flat = self.drop(&flat, dropout)?;
        let l3 = self.drop(&self.dense_1.forward(&flat)?.relu()?, dropout)?;
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
        for branch in &self.branches {
            let first = branch.dense1.forward(&x.index_select(&branch.window, 1)?)?;
            let a1 = self.drop(&first.relu()?, dropout)?;
            let a2 = self.drop(&branch.dense2.forward(&a1)?.relu()?, dropout)?;
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
