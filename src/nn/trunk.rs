//! The full-spectrum branch shared by both networks: two convolutions, max-pooling and
//! the first dense layer (SPEC §4 and §5).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::conv::Conv1dSame;
use crate::nn::conv_pool::ConvReluPool;
use crate::nn::dense::{layer_width, TransposedLinear};
use crate::nn::dropout::DropoutRate;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Kernel width of both convolutions.
pub(crate) const KERNEL: usize = 8;
/// Output channels of `conv1`.
pub(crate) const CONV1_CHANNELS: usize = 2;

/// Features after conv2, pooling and flattening: 4 channels × 1878 positions.
pub const FLAT_FEATURES: usize = ConvReluPool::features(NETWORK_PIXELS);

/// Width of `dense_1`, the first dense layer of the full-spectrum branch, in Astra's networks
/// (the ones `train` builds); a loaded model's width is its parameters' own.
pub const DENSE_1_WIDTH: usize = 192;

/// `conv1`, `conv2` and `dense_1` with their activations and dropouts.
#[derive(Debug, Clone)]
pub struct SpectrumTrunk {
    conv1: Conv1dSame,
    conv2: ConvReluPool,
    dense_1: TransposedLinear,
    width: usize,
    dropout_rate: DropoutRate,
}

impl SpectrumTrunk {
    /// Loads `conv1`, `conv2` and `dense_1` (of the width the parameters have).
    pub fn load(vb: &VarBuilder) -> Result<Self> {
        let width = layer_width(vb, "dense_1")?;
        Ok(SpectrumTrunk {
            conv1: Conv1dSame::load(1, CONV1_CHANNELS, KERNEL, vb.pp("conv1"))?,
            conv2: ConvReluPool::load(vb.pp("conv2"))?,
            dense_1: TransposedLinear::load(FLAT_FEATURES, width, vb.pp("dense_1"))?,
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

    /// relu(conv1(x)) for inputs `[b, 7514]`: `[b, 2, 7514]`. It does not depend on the
    /// dropout masks, so MC inference computes it once per spectrum.
    pub fn conv1_activations(&self, x: &Tensor) -> Result<Tensor> {
        self.conv1.forward(&x.unsqueeze(1)?)?.relu()
    }

    /// From conv1's activations (`[b, 2, 7514]`, one row per input) to `dense_1`'s
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
