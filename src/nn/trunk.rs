//! The full-spectrum branch shared by both networks: two convolutions, max-pooling and
//! the first dense layer (SPEC §4 and §5).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::conv::{max_pool1d, Conv1dSame};
use crate::nn::sampling::Dropout;
use candle_core::{Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

const KERNEL: usize = 8;
const CONV1_CHANNELS: usize = 2;
const CONV2_CHANNELS: usize = 4;
const POOL: usize = 4;

/// Features after pooling and flattening: 4 channels × 1878 positions.
pub const FLAT_FEATURES: usize = CONV2_CHANNELS * (NETWORK_PIXELS / POOL);

/// Width of `dense_1`, the first dense layer of the full-spectrum branch.
pub const DENSE_1_WIDTH: usize = 192;

/// `conv1`, `conv2` and `dense_1` with their activations and dropouts.
#[derive(Debug, Clone)]
pub struct SpectrumTrunk {
    conv1: Conv1dSame,
    conv2: Conv1dSame,
    dense_1: Linear,
}

impl SpectrumTrunk {
    /// Loads `conv1`, `conv2` and `dense_1` from a model's parameters.
    pub fn load(vb: &VarBuilder) -> Result<Self> {
        Ok(SpectrumTrunk {
            conv1: Conv1dSame::load(1, CONV1_CHANNELS, KERNEL, vb.pp("conv1"))?,
            conv2: Conv1dSame::load(CONV1_CHANNELS, CONV2_CHANNELS, KERNEL, vb.pp("conv2"))?,
            dense_1: linear(FLAT_FEATURES, DENSE_1_WIDTH, vb.pp("dense_1"))?,
        })
    }

    /// relu(conv1(x)) for inputs `[b, 7514]`: `[b, 2, 7514]`. It does not depend on the
    /// dropout masks, so MC inference computes it once per spectrum.
    pub fn conv1_activations(&self, x: &Tensor) -> Result<Tensor> {
        self.conv1.forward(&x.unsqueeze(1)?)?.relu()
    }

    /// From conv1's activations (one row per sample) to `dense_1`'s dropped-out activations:
    /// drop → conv2 → relu → max-pool → flatten (position-major) → drop → dense_1 → relu →
    /// drop. Output `[rows, 192]`.
    pub fn forward_from_conv1(&self, conv1: &Tensor, dropout: &mut Dropout) -> Result<Tensor> {
        let h1 = dropout.apply(conv1)?;
        let h2 = self.conv2.forward(&h1)?.relu()?;
        let pooled = max_pool1d(&h2, POOL)?;
        let rows = pooled.dim(0)?;
        let flat = pooled
            .transpose(1, 2)?
            .contiguous()?
            .reshape((rows, FLAT_FEATURES))?;
        let flat = dropout.apply(&flat)?;
        let l3 = self.dense_1.forward(&flat)?.relu()?;
        dropout.apply(&l3)
    }
}
