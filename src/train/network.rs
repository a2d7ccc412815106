//! What the [`crate::train::Trainer`] needs from a network, and the pieces both trainable
//! networks share: the parameter store (Astra's names, sorted, in a candle [`VarMap`]),
//! the full-spectrum trunk with its differentiable forward pass, dense layers and dropout.
//!
//! [`TrainableNetwork`] is implemented by [`crate::train::model::TrainableCensored`]
//! (AstroNN, SPEC §4) and [`crate::train::dist_model::TrainableDist`] (AstroNNDist,
//! SPEC §5); the trainer, its checkpoints and its determinism are the same for both.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::model_file::ModelKind;
use crate::nn::conv_grad::{conv_trunk, TrunkMasks};
use crate::nn::conv_pool;
use crate::nn::conv_shape::ConvShape;
use crate::nn::dense_grad::{bf16_linear, linear};
use crate::nn::dropout::DropoutRate;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::random::{normal, stream};
use crate::train::config::TrainConfig;
use crate::train::data::Normalisation;
use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::HashMap;

/// Standard deviation of the initial weights (astroNN's `RandomNormal(0, 0.05)`).
pub const INIT_STD: f64 = 0.05;

/// Whether parameter `name` is a weight (regularised and initialised randomly) rather than a
/// bias: astroNN puts its L2 term on the kernels only.
pub fn is_weight(name: &str) -> bool {
    name.ends_with(".weight")
}

/// A network's trainable parameters: candle [`Var`]s under Astra's names.
#[derive(Clone)]
pub struct Parameters {
    varmap: VarMap,
    /// Parameter names, sorted: the order of initialisation, L2 sums and optimiser state.
    names: Vec<String>,
    dtype: DType,
}

impl std::fmt::Debug for Parameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameters")
            .field("names", &self.names)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

impl Parameters {
    /// An empty store of parameters of `dtype`, and a builder that creates them (zeros).
    pub fn builder(dtype: DType) -> (VarMap, VarBuilder<'static>) {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
        (varmap, vb)
    }

    /// The store of the parameters a builder from [`Parameters::builder`] created.
    pub fn new(varmap: VarMap, dtype: DType) -> Result<Parameters> {
        let mut names: Vec<String> = varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("parameter map lock poisoned".into()))?
            .keys()
            .cloned()
            .collect();
        names.sort();
        Ok(Parameters {
            varmap,
            names,
            dtype,
        })
    }

    /// astroNN's initialisation: every weight drawn from N(0, 0.05) from the run's seeded
    /// stream, in sorted-name order; every bias zero (Keras's default bias initialiser).
    pub fn initialise(&self, seed: u64) -> Result<()> {
        let mut rng = stream(seed, "init", 0);
        for (name, var) in self.vars() {
            if is_weight(&name) {
                let values: Vec<f64> = (0..var.elem_count())
                    .map(|_| INIT_STD * normal(&mut rng))
                    .collect();
                let init =
                    Tensor::from_vec(values, var.shape(), &Device::Cpu)?.to_dtype(self.dtype)?;
                var.set(&init)?;
            }
        }
        Ok(())
    }

    /// The parameters by Astra's names, sorted by name.
    pub fn vars(&self) -> Vec<(String, Var)> {
        let Ok(map) = self.varmap.data().lock() else {
            return Vec::new();
        };
        self.names
            .iter()
            .filter_map(|name| map.get(name).map(|var| (name.clone(), var.clone())))
            .collect()
    }

    /// The parameter called `name`, if there is one.
    pub fn var(&self, name: &str) -> Option<Var> {
        self.varmap.data().lock().ok()?.get(name).cloned()
    }

    /// The parameters' dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Sets every parameter from `tensors` (Astra's names; other entries are ignored), as
    /// when resuming from a checkpoint. Every parameter must be present with its shape.
    pub fn set(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
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

    /// The parameters (copied, as f32) and the normalisation (f64: `input_mean`,
    /// `labels_std`, and `labels_mean` when `with_labels_mean`; `input_std` and
    /// `labels_error_std` only where they differ from Astra's conventions, as a model
    /// fine-tuned from an astroNN folder keeps them) under Astra's names.
    pub fn model_tensors(
        &self,
        norm: &Normalisation,
        with_labels_mean: bool,
    ) -> Result<HashMap<String, Tensor>> {
        let cpu = Device::Cpu;
        let mut tensors = HashMap::new();
        for (name, var) in self.vars() {
            tensors.insert(name, var.as_tensor().to_dtype(DType::F32)?.copy()?);
        }
        let vector = |v: &[f64]| Tensor::from_vec(v.to_vec(), v.len(), &cpu);
        tensors.insert("input_mean".into(), vector(&norm.input_mean)?);
        if with_labels_mean {
            tensors.insert("labels_mean".into(), vector(&norm.labels_mean)?);
        }
        tensors.insert("labels_std".into(), vector(&norm.labels_std)?);
        if norm.input_std.iter().any(|&s| s != 1.0) {
            tensors.insert("input_std".into(), vector(&norm.input_std)?);
        }
        if norm.labels_error_std != norm.labels_std {
            tensors.insert("labels_error_std".into(), vector(&norm.labels_error_std)?);
        }
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
}

/// A dense layer `y = x Wᵀ + b` (`W` `[out, in]`, as PyTorch stores it) whose backward
/// pass is [`linear`]'s, or [`bf16_linear`]'s in bfloat16 arithmetic.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    weight: Tensor,
    bias: Tensor,
    arithmetic: Arithmetic,
}

impl Dense {
    /// The layer with its parameters off the tape (no gradients computed for them).
    pub(crate) fn frozen(&self) -> Dense {
        Dense {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            arithmetic: self.arithmetic,
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.arithmetic {
            Arithmetic::Float32 => linear(x, &self.weight, &self.bias),
            Arithmetic::Bfloat16(kernel) => bf16_linear(x, &self.weight, &self.bias, kernel),
        }
    }
}

/// A dense layer `[out, in]` whose parameters (`{name}.weight`, `{name}.bias`) the builder
/// creates.
pub(crate) fn dense(vb: &VarBuilder, inputs: usize, outputs: usize, name: &str) -> Result<Dense> {
    let vb = vb.pp(name);
    Ok(Dense {
        weight: vb.get((outputs, inputs), "weight")?,
        bias: vb.get(outputs, "bias")?,
        arithmetic: Arithmetic::Float32,
    })
}

/// The number of units of dense layer `layer` in a model's tensors (its bias's length).
pub(crate) fn units(tensors: &HashMap<String, Tensor>, layer: &str) -> Result<usize> {
    tensors
        .get(&format!("{layer}.bias"))
        .map(Tensor::elem_count)
        .ok_or_else(|| candle_core::Error::Msg(format!("parameter {layer}.bias is missing")))
}

/// Inverted dropout on `t` at `rate` with the next mask of `dropout` (identity when off).
pub(crate) fn drop(t: &Tensor, dropout: &mut Dropout, rate: DropoutRate) -> Result<Tensor> {
    match dropout.mask(t.elem_count(), rate) {
        None => Ok(t.clone()),
        Some(mask) => {
            let mask = Tensor::from_vec(mask, t.shape(), t.device())?.to_dtype(t.dtype())?;
            t.mul(&mask)
        }
    }
}

/// The full-spectrum branch (`conv1`, `conv2`, `dense_1`) of any convolution shape with a
/// differentiable forward pass: the convolutions, relu, dropout and max-pool are the one
/// custom operation of [`crate::nn::conv_grad`] (candle's `conv1d` backward is wrong on the
/// CPU).
#[derive(Debug, Clone)]
pub(crate) struct TrainableTrunk {
    /// `conv1` and `conv2` (weight, bias).
    conv1: (Tensor, Tensor),
    conv2: (Tensor, Tensor),
    dense_1: Dense,
    shape: ConvShape,
    /// The rate of every dropout layer of the network (Astra's 0.3 as created).
    dropout_rate: DropoutRate,
}

impl TrainableTrunk {
    /// Creates the trunk's parameters through `vb` under Astra's names: convolutions of
    /// `shape`, `dense_1` of `width` units.
    pub(crate) fn new(vb: &VarBuilder, shape: ConvShape, width: usize) -> Result<TrainableTrunk> {
        let conv = |c_in: usize, c_out: usize, name: &str| -> Result<(Tensor, Tensor)> {
            let vb = vb.pp(name);
            Ok((
                vb.get((c_out, c_in, shape.kernel), "weight")?,
                vb.get(c_out, "bias")?,
            ))
        };
        let features = shape.features(NETWORK_PIXELS);
        Ok(TrainableTrunk {
            conv1: conv(1, shape.conv1_channels, "conv1")?,
            conv2: conv(shape.conv1_channels, shape.conv2_channels, "conv2")?,
            dense_1: dense(vb, features, width, "dense_1")?,
            shape,
            dropout_rate: DropoutRate::ASTRA,
        })
    }

    /// The trunk dropping out at `rate`, as the inference network of a model trained at
    /// that rate does.
    pub(crate) fn with_dropout_rate(mut self, rate: DropoutRate) -> TrainableTrunk {
        self.dropout_rate = rate;
        self
    }

    /// The rate of the network's dropout layers.
    pub(crate) fn dropout_rate(&self) -> DropoutRate {
        self.dropout_rate
    }

    /// The trunk with `dense_1`'s products in `arithmetic` (float32 as created).
    pub(crate) fn with_arithmetic(mut self, arithmetic: Arithmetic) -> TrainableTrunk {
        self.dense_1.arithmetic = arithmetic;
        self
    }

    /// The trunk with its parameters off the tape.
    pub(crate) fn frozen(&self) -> TrainableTrunk {
        let off = |(w, b): &(Tensor, Tensor)| (w.detach(), b.detach());
        TrainableTrunk {
            conv1: off(&self.conv1),
            conv2: off(&self.conv2),
            dense_1: self.dense_1.frozen(),
            shape: self.shape,
            dropout_rate: self.dropout_rate,
        }
    }

    /// l3 `[b, width]` for inputs `x` `[b, 7514]` (already of the parameters' dtype):
    /// conv1 → relu → drop → conv2 → relu → max-pool → flatten → drop → dense_1 → relu →
    /// drop, masks drawn in this order at the trunk's rate, as
    /// [`crate::nn::trunk::SpectrumTrunk`] draws them.
    pub(crate) fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<Tensor> {
        let (rows, n) = x.dims2()?;
        let masks = dropout.row_seeds(rows).map(|seeds| {
            let (conv1, features) =
                conv_pool::dropout_masks(&seeds, self.shape, n, self.dropout_rate);
            TrunkMasks { conv1, features }
        });
        let conv1 = (&self.conv1.0, &self.conv1.1);
        let conv2 = (&self.conv2.0, &self.conv2.1);
        let flat = conv_trunk(x, conv1, conv2, self.shape.pool, masks)?;
        drop(
            &self.dense_1.forward(&flat)?.relu()?,
            dropout,
            self.dropout_rate,
        )
    }
}

/// A network the [`crate::train::Trainer`] can train: its parameters, its differentiable
/// forward pass, what it is saved as, and the inference network a saved model loads into.
pub trait TrainableNetwork: Sized + std::fmt::Debug {
    /// The inference network a saved model is loaded as (validation runs through it).
    type Inference: BayesianNetwork;

    /// The model kind written to the model file.
    const KIND: ModelKind;

    /// Output label names, in output order (the training set's label columns).
    const LABELS: &'static [&'static str];

    /// Whether labels are standardised with a mean offset (`labels_mean`); without one a
    /// label is only divided by its std, as AstroNNDist's `L_fakemag = output · labels_std`
    /// requires.
    const LABEL_OFFSET: bool;

    /// A freshly initialised network with parameters of `dtype` (f32 for training; f64 for
    /// the gradient checks), weights drawn from the stream of `seed`
    /// ([`Parameters::initialise`]).
    fn new(dtype: DType, seed: u64) -> Result<Self>;

    /// The network of a model's tensors: its convolution shape and layer widths (a loaded
    /// model chooses them, as astroNN's folders do) and its parameters, as f32, dropping out
    /// at Astra's rate.
    fn from_model(tensors: &HashMap<String, Tensor>) -> Result<Self>;

    /// The trainable parameters.
    fn parameters(&self) -> &Parameters;

    /// The network with `dense_1`'s three products (forward, and both gradients) in
    /// `arithmetic` (`--precision`; float32 as created).
    fn with_arithmetic(self, arithmetic: Arithmetic) -> Self;

    /// Outputs and log-variances (`[b, labels]` each, standardised units) for inputs `x`
    /// `[b, 7514]` (flux − input_mean), with dropout as given, masks drawn in the inference
    /// network's order.
    fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<(Tensor, Tensor)>;

    /// The model's tensors under Astra's names, ready for
    /// [`crate::io::model_file::ModelFile`]: the parameters (as f32), the normalisation
    /// (f64) and whatever else the inference network loads.
    fn model_tensors(&self, norm: &Normalisation) -> Result<HashMap<String, Tensor>> {
        self.parameters().model_tensors(norm, Self::LABEL_OFFSET)
    }

    /// The inference network of the model `tensors` ([`TrainableNetwork::model_tensors`]).
    fn inference(tensors: HashMap<String, Tensor>) -> Result<Self::Inference>;

    /// Weight constraints applied after every optimiser step to the parameters
    /// `is_trained` accepts (a frozen parameter keeps its value bitwise); none by default.
    fn constrain(&self, _config: &TrainConfig, _is_trained: &dyn Fn(&str) -> bool) -> Result<()> {
        Ok(())
    }

    /// The trainable parameters by Astra's names, sorted by name.
    fn vars(&self) -> Vec<(String, Var)> {
        self.parameters().vars()
    }

    /// The parameter called `name`, if the network has one.
    fn var(&self, name: &str) -> Option<Var> {
        self.parameters().var(name)
    }

    /// The parameters' dtype.
    fn dtype(&self) -> DType {
        self.parameters().dtype()
    }

    /// Sets every parameter from `tensors` ([`Parameters::set`]).
    fn set_parameters(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.parameters().set(tensors)
    }

    /// The L2 term on the tape ([`Parameters::l2_penalty`]).
    fn l2_penalty(&self, factor: f64) -> Result<Tensor> {
        self.parameters().l2_penalty(factor)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::nn::dropout::MaskStream;
    use crate::nn::trunk::SpectrumTrunk;

    /// The largest difference between `a` and `b` relative to the largest value of `b` (f32
    /// tensors of one shape; the trainable networks' tests use it too).
    pub(crate) fn relative_difference(a: &Tensor, b: &Tensor) -> f32 {
        let largest: f32 = b.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
        assert!(largest > 0.0);
        let difference: f32 = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        difference / largest
    }

    #[test]
    fn the_trainable_trunk_is_the_inference_trunk_of_another_shape_and_rate() {
        let shape = ConvShape {
            conv1_channels: 3,
            conv2_channels: 5,
            kernel: 5,
            pool: 3,
        };
        let dev = Device::Cpu;
        let random = |dims: &[usize], std: f32| Tensor::randn(0f32, std, dims, &dev).unwrap();
        let tensors = HashMap::from([
            ("conv1.weight".to_string(), random(&[3, 1, 5], 0.5)),
            ("conv1.bias".to_string(), random(&[3], 0.2)),
            ("conv2.weight".to_string(), random(&[5, 3, 5], 0.5)),
            ("conv2.bias".to_string(), random(&[5], 0.2)),
            ("dense_1.weight".to_string(), random(&[6, 12520], 0.05)),
            ("dense_1.bias".to_string(), random(&[6], 0.2)),
        ]);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let rate = DropoutRate::new(0.2).unwrap();
        let inference = SpectrumTrunk::load(&vb).unwrap().with_dropout_rate(rate);
        assert_eq!(inference.shape(), shape);
        let trainable = TrainableTrunk::new(&vb, shape, 6).unwrap();
        let x = random(&[3, NETWORK_PIXELS], 1.0);
        let conv1 = inference.conv1_activations(&x).unwrap();
        let infer = |dropout: &mut Dropout| inference.forward_from_conv1(&conv1, 1, dropout);
        let off = trainable.forward(&x, &mut Dropout::Off).unwrap();
        let difference = relative_difference(&off, &infer(&mut Dropout::Off).unwrap());
        assert!(difference <= 1e-5, "dropout off: {difference}");
        let stream = || MaskStream::new(8, 9);
        let expected = infer(&mut Dropout::On(&mut stream())).unwrap();
        let at_rate = trainable.clone().with_dropout_rate(rate);
        let got = at_rate
            .forward(&x, &mut Dropout::On(&mut stream()))
            .unwrap();
        assert_eq!(got.dims(), &[3, 6]);
        let difference = relative_difference(&got, &expected);
        assert!(difference <= 1e-5, "dropout at 0.2: {difference}");
        // At Astra's rate the masks differ.
        let astra = trainable
            .forward(&x, &mut Dropout::On(&mut stream()))
            .unwrap();
        assert!(relative_difference(&astra, &expected) > 1e-3);
    }
}
