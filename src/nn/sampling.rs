//! Dropout in a forward pass: off (the deterministic point output) or Monte Carlo.

use crate::nn::dropout::{DropoutRate, MaskStream};
use candle_core::{Result, Tensor};

/// How dropout layers behave in one forward pass.
pub enum Dropout<'a> {
    /// Dropout off: the network's deterministic output.
    Off,
    /// Inverted dropout at each layer's rate, masks drawn from the given stream in layer
    /// order.
    On(&'a mut MaskStream),
}

impl Dropout<'_> {
    /// Multipliers for `n` units at `rate` (`None` when dropout is off), for layers that
    /// apply dropout themselves.
    pub fn mask(&mut self, n: usize, rate: DropoutRate) -> Option<Vec<f32>> {
        match self {
            Dropout::Off => None,
            Dropout::On(stream) => Some(stream.mask(n, rate)),
        }
    }

    /// One seed per MC sample row (`None` when dropout is off), for layers that draw their
    /// masks with a [`WideMaskStream`](crate::nn::dropout::WideMaskStream) per row.
    pub fn row_seeds(&mut self, rows: usize) -> Option<Vec<u64>> {
        match self {
            Dropout::Off => None,
            Dropout::On(stream) => Some((0..rows).map(|_| stream.next_u64()).collect()),
        }
    }

    /// Applies dropout at `rate` to `t` (every element gets its own draw).
    pub fn apply(&mut self, t: &Tensor, rate: DropoutRate) -> Result<Tensor> {
        match self {
            Dropout::Off => Ok(t.clone()),
            Dropout::On(stream) => {
                let mask = stream.mask(t.elem_count(), rate);
                let mask = Tensor::from_vec(mask, t.shape(), t.device())?;
                t.mul(&mask)
            }
        }
    }
}

/// Repeats each row of `t` (`[b, ...]`) `times` times: `[b·times, ...]`, rows of one input
/// adjacent. Used to run the mask-dependent layers on all MC samples at once.
pub fn repeat_rows(t: &Tensor, times: usize) -> Result<Tensor> {
    if times == 1 {
        return Ok(t.clone());
    }
    let dims = t.dims();
    let mut expanded = vec![dims[0], times];
    expanded.extend_from_slice(&dims[1..]);
    let mut merged = vec![dims[0] * times];
    merged.extend_from_slice(&dims[1..]);
    t.unsqueeze(1)?
        .broadcast_as(expanded)?
        .contiguous()?
        .reshape(merged)
}
