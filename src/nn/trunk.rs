//! The full-spectrum branch shared by both networks: two convolutions, max-pooling and
//! the first dense layer (SPEC §4 and §5), of any convolution shape astroNN lets a network
//! choose ([`ConvShape`], read from the parameters' shapes).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::conv::Conv1dSame;
use crate::nn::conv_pool::ConvReluPool;
use crate::nn::conv_pool_any::AnyConvReluPool;
use crate::nn::conv_shape::ConvShape;
use crate::nn::dense::{layer_width, TransposedLinear};
use crate::nn::dropout::DropoutRate;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Features after conv2, pooling and flattening in Astra's networks: 4 channels × 1878
/// positions.
pub const FLAT_FEATURES: usize = ConvShape::ASTRA.features(NETWORK_PIXELS);

/// Width of `dense_1`, the first dense layer of the full-spectrum branch, in Astra's networks
/// (the ones `train` builds); a loaded model's width is its parameters' own.
pub const DENSE_1_WIDTH: usize = 192;

/// conv2 with its input dropout, relu, pooling, flattening and output dropout: the fused
/// kernel for Astra's shape (the hot loop of MC inference), the generic stage for any other.
#[derive(Debug, Clone)]
enum Conv2 {
    /// Boxed: its weights are arrays, the generic stage's tensors.
    Fused(Box<ConvReluPool>),
    Any(AnyConvReluPool),
}

impl Conv2 {
    /// Loads conv2's `weight` and `bias` for `shape`.
    fn load(shape: ConvShape, vb: VarBuilder) -> Result<Conv2> {
        Ok(if shape == ConvShape::ASTRA {
            Conv2::Fused(Box::new(ConvReluPool::load(vb)?))
        } else {
            Conv2::Any(AnyConvReluPool::load(shape, vb)?)
        })
    }

    /// [`ConvReluPool::forward`], whichever stage runs it.
    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        row_seeds: Option<&[u64]>,
        rate: DropoutRate,
    ) -> Result<Tensor> {
        match self {
            Conv2::Fused(stage) => stage.forward(x, samples, row_seeds, rate),
            Conv2::Any(stage) => stage.forward(x, samples, row_seeds, rate),
        }
    }
}

/// `conv1`, `conv2` and `dense_1` with their activations and dropouts.
#[derive(Debug, Clone)]
pub struct SpectrumTrunk {
    conv1: Conv1dSame,
    conv2: Conv2,
    dense_1: TransposedLinear,
    shape: ConvShape,
    width: usize,
    dropout_rate: DropoutRate,
}

impl SpectrumTrunk {
    /// Loads `conv1`, `conv2` and `dense_1` of the shape and width the parameters have.
    pub fn load(vb: &VarBuilder) -> Result<Self> {
        let shape = ConvShape::load(vb)?;
        let width = layer_width(vb, "dense_1")?;
        let features = shape.features(NETWORK_PIXELS);
        Ok(SpectrumTrunk {
            conv1: Conv1dSame::load(1, shape.conv1_channels, shape.kernel, vb.pp("conv1"))?,
            conv2: Conv2::load(shape, vb.pp("conv2"))?,
            dense_1: TransposedLinear::load(features, width, vb.pp("dense_1"))?,
            shape,
            width,
            dropout_rate: DropoutRate::ASTRA,
        })
    }

    /// The trunk dropping out at `rate` (Astra's 0.3 as loaded; astroNN lets a network
    /// choose its own).
    pub fn with_dropout_rate(mut self, rate: DropoutRate) -> Self {
        self.dropout_rate = rate;
        self
    }

    /// The rate of the network's dropout layers.
    pub fn dropout_rate(&self) -> DropoutRate {
        self.dropout_rate
    }

    /// The trunk with `dense_1`'s product in `arithmetic`.
    pub fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Result<Self> {
        self.dense_1 = self.dense_1.with_arithmetic(arithmetic)?;
        Ok(self)
    }

    /// The width of `dense_1`, the trunk's output.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The convolution shape, as the parameters give it.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// relu(conv1(x)) for inputs `[b, 7514]`: `[b, c1, 7514]`. It does not depend on the
    /// dropout masks, so MC inference computes it once per spectrum.
    pub fn conv1_activations(&self, x: &Tensor) -> Result<Tensor> {
        self.conv1.forward(&x.unsqueeze(1)?)?.relu()
    }

    /// From conv1's activations (`[b, c1, 7514]`, one row per input) to `dense_1`'s
    /// dropped-out activations for `samples` MC samples of each input: drop → conv2 → relu →
    /// max-pool → flatten (position-major) → drop → dense_1 → relu → drop. Output
    /// `[b · samples, width]`, samples of one input adjacent.
    pub fn forward_from_conv1(
        &self,
        conv1: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<Tensor> {
        let seeds = dropout.row_seeds(conv1.dim(0)? * samples);
        let flat = self
            .conv2
            .forward(conv1, samples, seeds.as_deref(), self.dropout_rate)?;
        let l3 = self.dense_1.forward(&flat)?.relu()?;
        dropout.apply(&l3, self.dropout_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::dropout::MaskStream;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    /// A shape astroNN allows that is not Astra's: the pool does not divide 7514.
    const OTHER: ConvShape = ConvShape {
        conv1_channels: 3,
        conv2_channels: 5,
        kernel: 5,
        pool: 3,
    };

    /// Random trunk parameters of the given weight shapes (biases to match), `dense_1`
    /// reading `features` into `width` units.
    fn tensors(
        conv1: &[usize],
        conv2: &[usize],
        features: usize,
        width: usize,
    ) -> HashMap<String, Tensor> {
        let dev = Device::Cpu;
        let random = |dims: &[usize], std: f32| Tensor::randn(0f32, std, dims, &dev).unwrap();
        HashMap::from([
            ("conv1.weight".to_string(), random(conv1, 0.5)),
            ("conv1.bias".to_string(), random(&conv1[..1], 0.2)),
            ("conv2.weight".to_string(), random(conv2, 0.5)),
            ("conv2.bias".to_string(), random(&conv2[..1], 0.2)),
            (
                "dense_1.weight".to_string(),
                random(&[width, features], 0.05),
            ),
            ("dense_1.bias".to_string(), random(&[width], 0.2)),
        ])
    }

    /// Random parameters of `shape`.
    fn tensors_of(shape: ConvShape, width: usize) -> HashMap<String, Tensor> {
        let (c1, c2, k) = (shape.conv1_channels, shape.conv2_channels, shape.kernel);
        tensors(
            &[c1, 1, k],
            &[c2, c1, k],
            shape.features(NETWORK_PIXELS),
            width,
        )
    }

    fn builder(tensors: HashMap<String, Tensor>) -> VarBuilder<'static> {
        VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
    }

    /// The message of the error [`ConvShape::of`] gives for `tensors` (without the
    /// backtrace candle may add).
    fn shape_error(tensors: &HashMap<String, Tensor>) -> String {
        let error = ConvShape::of(tensors).unwrap_err().to_string();
        error.lines().next().unwrap().to_string()
    }

    #[test]
    fn astras_shape_and_another_are_read_from_the_parameters() {
        for shape in [ConvShape::ASTRA, OTHER] {
            let tensors = tensors_of(shape, 7);
            assert_eq!(ConvShape::of(&tensors).unwrap(), shape);
            assert_eq!(ConvShape::load(&builder(tensors)).unwrap(), shape);
        }
        assert_eq!(FLAT_FEATURES, 7512);
        assert_eq!(OTHER.features(NETWORK_PIXELS), 2504 * 5);
        assert_eq!(ConvShape::ASTRA.features(23), ConvReluPool::features(23));
    }

    #[test]
    fn a_conv2_that_does_not_fit_conv1_is_an_error() {
        let message = shape_error(&tensors(&[3, 1, 5], &[5, 3, 4], 12520, 7));
        assert!(
            message.contains("conv2's weight [5, 3, 4] does not fit conv1's [3, 1, 5]"),
            "{message}"
        );
        let message = shape_error(&tensors(&[3, 1, 5], &[5, 2, 5], 12520, 7));
        assert!(message.contains("conv1's 3 channels"), "{message}");
    }

    #[test]
    fn a_dense_1_width_that_no_pool_length_or_several_give_is_an_error() {
        let error = |c2: usize, features: usize| {
            shape_error(&tensors(&[3, 1, 5], &[c2, 3, 5], features, 7))
        };
        // ⌊7514 / p⌋ is 3757 at p = 2 and 2504 at p = 3: nothing gives 3000 windows.
        assert_eq!(
            error(5, 15000),
            "dense_1 reads 15000 features, which no pool length gives for 5 conv2 channels"
        );
        // Not a whole number of windows.
        assert!(error(5, 12521).contains("no pool length gives"));
        assert_eq!(
            error(1, 60),
            "dense_1 reads 60 features, which pool lengths 124 and 125 both give; \
             astronn cannot tell them apart"
        );
        assert_eq!(
            error(4, 4),
            "dense_1 reads 4 features, which pool lengths 3758 to 7514 all give; \
             astronn cannot tell them apart"
        );
    }

    #[test]
    fn astras_shape_runs_the_fused_kernel() {
        let vb = builder(tensors_of(ConvShape::ASTRA, 6));
        let trunk = SpectrumTrunk::load(&vb).unwrap();
        assert_eq!(trunk.shape(), ConvShape::ASTRA);
        let x = Tensor::randn(0f32, 1.0, (2, NETWORK_PIXELS), &Device::Cpu).unwrap();
        let conv1 = trunk.conv1_activations(&x).unwrap();
        let got = trunk
            .forward_from_conv1(&conv1, 3, &mut Dropout::On(&mut MaskStream::new(1, 2)))
            .unwrap();
        // The same layers composed by hand, with the fused kernel, give the same bits.
        let mut stream = MaskStream::new(1, 2);
        let mut dropout = Dropout::On(&mut stream);
        let seeds = dropout.row_seeds(6).unwrap();
        let fused = ConvReluPool::load(vb.pp("conv2")).unwrap();
        let flat = fused
            .forward(&conv1, 3, Some(&seeds), DropoutRate::ASTRA)
            .unwrap();
        let dense_1 = TransposedLinear::load(FLAT_FEATURES, 6, vb.pp("dense_1")).unwrap();
        let l3 = dense_1.forward(&flat).unwrap().relu().unwrap();
        let expected = dropout.apply(&l3, DropoutRate::ASTRA).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            let values: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            values.into_iter().map(f32::to_bits).collect()
        };
        assert_eq!(got.dims(), &[6, 6]);
        assert_eq!(bits(&got), bits(&expected));
    }

    #[test]
    fn another_shape_loads_and_runs() {
        let trunk = SpectrumTrunk::load(&builder(tensors_of(OTHER, 6))).unwrap();
        assert_eq!(trunk.shape(), OTHER);
        assert_eq!(trunk.width(), 6);
        let x = Tensor::randn(0f32, 1.0, (2, NETWORK_PIXELS), &Device::Cpu).unwrap();
        let conv1 = trunk.conv1_activations(&x).unwrap();
        assert_eq!(conv1.dims(), &[2, 3, NETWORK_PIXELS]);
        let l3 = trunk
            .forward_from_conv1(&conv1, 4, &mut Dropout::On(&mut MaskStream::new(3, 4)))
            .unwrap();
        assert_eq!(l3.dims(), &[8, 6]);
        // The four samples of an input drop out differently.
        let rows: Vec<Vec<f32>> = l3.to_vec2().unwrap();
        assert_ne!(rows[0], rows[1]);
    }
}
