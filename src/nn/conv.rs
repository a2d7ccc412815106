//! One-dimensional convolution with PyTorch's `padding="same"` for an even kernel.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// `Conv1d(c_in, c_out, k, padding="same")`: cross-correlation over a zero-padded input,
/// with ⌊(k−1)/2⌋ zeros on the left and the rest on the right (3 and 4 for k = 8).
#[derive(Debug, Clone)]
pub struct Conv1dSame {
    weight: Tensor,
    bias: Tensor,
    pad_left: usize,
    pad_right: usize,
}

impl Conv1dSame {
    /// Loads `weight` `[c_out, c_in, k]` and `bias` `[c_out]`.
    pub fn load(c_in: usize, c_out: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((c_out, c_in, kernel), "weight")?;
        let bias = vb.get(c_out, "bias")?;
        let pad_left = (kernel - 1) / 2;
        Ok(Conv1dSame {
            weight,
            bias,
            pad_left,
            pad_right: kernel - 1 - pad_left,
        })
    }
}

impl Module for Conv1dSame {
    /// `[batch, c_in, length]` → `[batch, c_out, length]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let padded = x.pad_with_zeros(2, self.pad_left, self.pad_right)?;
        let out = padded.conv1d(&self.weight, 0, 1, 1, 1)?;
        out.broadcast_add(&self.bias.reshape((1, (), 1))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    #[test]
    fn same_padding_is_three_left_four_right() {
        let dev = Device::Cpu;
        // A kernel that picks tap k=0 reads x[t-3]; tap 7 reads x[t+4].
        let mut taps = vec![0f32; 8];
        taps[0] = 1.0;
        let mut map = HashMap::new();
        map.insert(
            "weight".to_string(),
            Tensor::from_vec(taps, (1, 1, 8), &dev).unwrap(),
        );
        map.insert(
            "bias".to_string(),
            Tensor::from_vec(vec![0.5f32], 1, &dev).unwrap(),
        );
        let conv =
            Conv1dSame::load(1, 1, 8, VarBuilder::from_tensors(map, DType::F32, &dev)).unwrap();
        let x = Tensor::from_vec(
            (1..=10).map(|v| v as f32).collect::<Vec<_>>(),
            (1, 1, 10),
            &dev,
        )
        .unwrap();
        let y: Vec<f32> = conv
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // y[t] = x[t-3] + 0.5, zero before the start.
        assert_eq!(y, vec![0.5, 0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
    }
}
