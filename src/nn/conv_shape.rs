//! The convolution shape of the full-spectrum branch ([`ConvShape`]): what astroNN lets a
//! network choose (`filternum`, `filterlen`, `pool_length`), read from a model's parameter
//! shapes. The trunk ([`crate::nn::trunk`]) runs Astra's shape with the fused kernel and any
//! other with the generic stage.

use crate::apogee::grid::NETWORK_PIXELS;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;

/// The convolution shape of the full-spectrum branch: astroNN's `filternum` (the two
/// convolutions' output channels), `filterlen` (both kernels' width) and `pool_length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Output channels of `conv1` (its input is the spectrum, one channel).
    pub conv1_channels: usize,
    /// Output channels of `conv2`.
    pub conv2_channels: usize,
    /// Kernel width of both convolutions.
    pub kernel: usize,
    /// Max-pooling window (and stride) after `conv2`.
    pub pool: usize,
}

impl ConvShape {
    /// Astra's networks (astroNN's defaults), the shape the fused conv2 kernel runs.
    pub const ASTRA: ConvShape = ConvShape {
        conv1_channels: 2,
        conv2_channels: 4,
        kernel: 8,
        pool: 4,
    };

    /// Features after conv2, pooling (the incomplete last window dropped) and flattening,
    /// for inputs of `pixels` positions: ⌊pixels / pool⌋ · conv2 channels.
    pub const fn features(&self, pixels: usize) -> usize {
        pixels / self.pool * self.conv2_channels
    }

    /// The shape of a model's parameters behind `vb` (see [`ConvShape::of`]).
    pub fn load(vb: &VarBuilder) -> Result<ConvShape> {
        let dims = |layer: &str| -> Result<Vec<usize>> {
            Ok(vb.pp(layer).get_unchecked("weight")?.dims().to_vec())
        };
        ConvShape::from_dims(&dims("conv1")?, &dims("conv2")?, &dims("dense_1")?)
    }

    /// The shape of a model's parameters: channels and kernel width from `conv1.weight`
    /// `[c1, 1, k]` and `conv2.weight` `[c2, c1, k]`, the pool length from the features
    /// `dense_1.weight` `[width, features]` reads (an error unless exactly one pool length
    /// gives them).
    pub fn of(tensors: &HashMap<String, Tensor>) -> Result<ConvShape> {
        let dims = |layer: &str| -> Result<Vec<usize>> {
            let name = format!("{layer}.weight");
            match tensors.get(&name) {
                Some(weight) => Ok(weight.dims().to_vec()),
                None => candle_core::bail!("parameter {name} is missing"),
            }
        };
        ConvShape::from_dims(&dims("conv1")?, &dims("conv2")?, &dims("dense_1")?)
    }

    /// The shape of weights of dimensions `conv1`, `conv2` and `dense_1`, checked for
    /// agreement.
    fn from_dims(conv1: &[usize], conv2: &[usize], dense_1: &[usize]) -> Result<ConvShape> {
        let &[conv1_channels, 1, kernel] = conv1 else {
            candle_core::bail!("conv1's weight is {conv1:?}, not [channels, 1, kernel width]");
        };
        let &[conv2_channels, conv2_inputs, conv2_kernel] = conv2 else {
            candle_core::bail!("conv2's weight is {conv2:?}, not [channels, inputs, kernel width]");
        };
        if (conv2_inputs, conv2_kernel) != (conv1_channels, kernel) {
            candle_core::bail!(
                "conv2's weight {conv2:?} does not fit conv1's {conv1:?}: conv2 must read \
                 conv1's {conv1_channels} channels with its kernel width {kernel}"
            );
        }
        if conv1_channels == 0 || conv2_channels == 0 || kernel == 0 {
            candle_core::bail!("the convolutions' weights {conv1:?} and {conv2:?} are empty");
        }
        let &[_, inputs] = dense_1 else {
            candle_core::bail!("dense_1's weight is {dense_1:?}, not [width, features]");
        };
        Ok(ConvShape {
            conv1_channels,
            conv2_channels,
            kernel,
            pool: pool_length(inputs, conv2_channels, NETWORK_PIXELS)?,
        })
    }
}

/// The pool length p ≥ 1 with ⌊pixels / p⌋ · `channels` = `inputs` (`channels` > 0), or an
/// error when none or several give them: pooling over long windows leaves so few that
/// neighbouring lengths give the same count.
fn pool_length(inputs: usize, channels: usize, pixels: usize) -> Result<usize> {
    let windows = inputs / channels;
    // ⌊pixels / p⌋ = windows exactly for pixels / (windows + 1) < p ≤ pixels / windows.
    let (first, last) = if windows == 0 || !inputs.is_multiple_of(channels) {
        (1, 0)
    } else {
        (pixels / (windows + 1) + 1, pixels / windows)
    };
    let reads = format!("dense_1 reads {inputs} features, which");
    match last.checked_sub(first) {
        Some(0) => Ok(first),
        None => candle_core::bail!("{reads} no pool length gives for {channels} conv2 channels"),
        Some(1) => candle_core::bail!(
            "{reads} pool lengths {first} and {last} both give; astronn cannot tell them apart"
        ),
        Some(_) => candle_core::bail!(
            "{reads} pool lengths {first} to {last} all give; astronn cannot tell them apart"
        ),
    }
}
