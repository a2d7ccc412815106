//! conv2 of the full-spectrum branch fused with its input dropout, relu, max-pooling,
//! flattening and output dropout: the hot loop of MC inference. The convolution has too few
//! channels (2 → 4, kernel 8) for a matrix product to pay, so it runs as a register-blocked
//! direct kernel over each MC sample, reading the sample's dropped-out input on the fly.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// Input channels, output channels, kernel width and pooling window of the fused layer.
const C_IN: usize = 2;
pub(crate) const C_OUT: usize = 4;
const KERNEL: usize = 8;
pub(crate) const POOL: usize = 4;
/// Zeros before the input ("same" padding for an even kernel puts the extra one after).
const PAD_LEFT: usize = (KERNEL - 1) / 2;
/// Positions computed together: two pooling windows, eight lanes per output channel.
const BLOCK: usize = 2 * POOL;

/// `Conv1d(2, 4, 8, padding="same")` → relu → `MaxPool1d(4)` → flatten with feature index
/// `pool_position · 4 + channel` (PyTorch's permute-then-flatten).
#[derive(Debug, Clone)]
pub struct ConvReluPool {
    /// `weight[c][ci][k]`.
    weight: [[[f32; KERNEL]; C_IN]; C_OUT],
    bias: [f32; C_OUT],
}

/// Dropout multipliers for one forward pass of [`ConvReluPool`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ConvMasks<'a> {
    /// One multiplier per input value of every output row (`rows × c_in × n`).
    pub input: Option<&'a [f32]>,
    /// One multiplier per output feature of every row.
    pub output: Option<&'a [f32]>,
}

impl ConvReluPool {
    /// Loads `weight` `[4, 2, 8]` and `bias` `[4]`.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let flat: Vec<f32> = vb
            .get((C_OUT, C_IN, KERNEL), "weight")?
            .flatten_all()?
            .to_vec1()?;
        let mut weight = [[[0f32; KERNEL]; C_IN]; C_OUT];
        for (i, w) in flat.into_iter().enumerate() {
            weight[i / (C_IN * KERNEL)][i / KERNEL % C_IN][i % KERNEL] = w;
        }
        let bias_values: Vec<f32> = vb.get(C_OUT, "bias")?.to_vec1()?;
        let mut bias = [0f32; C_OUT];
        bias.copy_from_slice(&bias_values);
        Ok(ConvReluPool { weight, bias })
    }

    /// Output features per row for inputs of `n` positions.
    pub const fn features(n: usize) -> usize {
        n / POOL * C_OUT
    }

    /// Runs every input row of `x` (`[b, 2, n]`) `samples` times, each time with its own
    /// rows of `masks`: `[b · samples, (n / 4) · 4]`, rows of one input adjacent.
    pub fn forward(&self, x: &Tensor, samples: usize, masks: ConvMasks) -> Result<Tensor> {
        let (b, c_in, n) = x.dims3()?;
        if c_in != C_IN {
            candle_core::bail!("conv2 expects {C_IN} input channels, got {c_in}");
        }
        let inputs = x.flatten_all()?.to_vec1::<f32>()?;
        let rows = b * samples;
        let features = Self::features(n);
        let input_len = C_IN * n;
        for (mask, len) in [
            (masks.input, rows * input_len),
            (masks.output, rows * features),
        ] {
            if mask.is_some_and(|m| m.len() != len) {
                candle_core::bail!("conv2 dropout mask has the wrong length");
            }
        }
        let mut output = vec![0f32; rows * features];
        output
            .par_chunks_mut(features.max(1))
            .enumerate()
            .for_each(|(row, out)| {
                let input = &inputs[row / samples * input_len..][..input_len];
                let input_mask = masks.input.map(|m| &m[row * input_len..][..input_len]);
                self.forward_row(input, input_mask, n, out);
                if let Some(mask) = masks.output {
                    for (value, m) in out.iter_mut().zip(&mask[row * features..]) {
                        *value *= m;
                    }
                }
            });
        Tensor::from_vec(output, (rows, features), x.device())
    }

    /// One row, in a reused per-thread buffer, with the widest vector instructions the CPU
    /// has. The arithmetic is the same on every path (no fused multiply-add), so results do
    /// not depend on the CPU.
    fn forward_row(&self, input: &[f32], mask: Option<&[f32]>, n: usize, out: &mut [f32]) {
        thread_local! {
            static PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        PADDED.with(|buffer| {
            let mut padded = buffer.borrow_mut();
            padded.resize(C_IN * (n + KERNEL - 1 + BLOCK), 0.0);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.forward_row_avx2(input, mask, n, out, &mut padded) };
                return;
            }
            self.forward_row_body(input, mask, n, out, &mut padded);
        });
    }

    /// [`Self::forward_row_body`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_row_avx2(
        &self,
        input: &[f32],
        mask: Option<&[f32]>,
        n: usize,
        out: &mut [f32],
        padded: &mut [f32],
    ) {
        self.forward_row_body(input, mask, n, out, padded)
    }

    /// Pads (and drops out) the input into `padded`, then convolves blocks of 8 positions
    /// with all 4 output channels in registers, and pools.
    #[inline(always)]
    fn forward_row_body(
        &self,
        input: &[f32],
        mask: Option<&[f32]>,
        n: usize,
        out: &mut [f32],
        padded: &mut [f32],
    ) {
        let padded_len = n + KERNEL - 1 + BLOCK;
        for ci in 0..C_IN {
            let row = &mut padded[ci * padded_len..(ci + 1) * padded_len];
            row[..PAD_LEFT].fill(0.0);
            row[PAD_LEFT + n..].fill(0.0);
            let channel = &input[ci * n..(ci + 1) * n];
            let target = &mut row[PAD_LEFT..PAD_LEFT + n];
            match mask {
                Some(mask) => {
                    for ((t, &v), &m) in target.iter_mut().zip(channel).zip(&mask[ci * n..]) {
                        *t = v * m;
                    }
                }
                None => target.copy_from_slice(channel),
            }
        }
        let (first, second) = padded.split_at(padded_len);
        let channels = [first, second];
        let windows = n / POOL;
        for block in 0..windows.div_ceil(2) {
            let start = block * BLOCK;
            let mut acc = [[0f32; BLOCK]; C_OUT];
            for (c, lanes) in acc.iter_mut().enumerate() {
                *lanes = [self.bias[c]; BLOCK];
            }
            for (ci, channel) in channels.iter().enumerate() {
                for k in 0..KERNEL {
                    // The padding after the input makes every block's window exist.
                    let v = <[f32; BLOCK]>::try_from(&channel[start + k..start + k + BLOCK])
                        .unwrap_or([0f32; BLOCK]);
                    for (c, lanes) in acc.iter_mut().enumerate() {
                        let w = self.weight[c][ci][k];
                        for (a, x) in lanes.iter_mut().zip(&v) {
                            *a += w * x;
                        }
                    }
                }
            }
            for half in 0..2 {
                let window = 2 * block + half;
                if window >= windows {
                    break;
                }
                for (c, lanes) in acc.iter().enumerate() {
                    let pooled = lanes[half * POOL..(half + 1) * POOL]
                        .iter()
                        .fold(0f32, |m, &v| m.max(v));
                    out[window * C_OUT + c] = pooled;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv::Conv1dSame;
    use candle_core::{DType, Device, Module};
    use std::collections::HashMap;

    /// Max-pooling over the last axis, dropping the incomplete window (PyTorch's rule).
    fn max_pool1d(x: &Tensor, k: usize) -> Tensor {
        let (b, c, n) = x.dims3().unwrap();
        x.narrow(2, 0, n / k * k)
            .unwrap()
            .reshape((b, c, n / k, k))
            .unwrap()
            .max(3)
            .unwrap()
    }

    #[test]
    fn flattened_width_of_a_spectrum_is_7512() {
        assert_eq!(crate::nn::trunk::FLAT_FEATURES, 7512);
    }

    #[test]
    fn max_pool_drops_the_incomplete_window() {
        let x = Tensor::from_vec(
            vec![1f32, 5., 2., 0., -1., -3., 4., 2., 9., 9.],
            (1, 1, 10),
            &Device::Cpu,
        )
        .unwrap();
        let y: Vec<f32> = max_pool1d(&x, 4).flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(y, vec![5.0, 4.0]);
    }

    fn layers() -> (ConvReluPool, Conv1dSame) {
        let dev = Device::Cpu;
        let mut map = HashMap::new();
        map.insert(
            "weight".to_string(),
            Tensor::randn(0f32, 1.0, (4, 2, 8), &dev).unwrap(),
        );
        map.insert(
            "bias".to_string(),
            Tensor::randn(0f32, 0.5, 4, &dev).unwrap(),
        );
        let vb = VarBuilder::from_tensors(map, DType::F32, &dev);
        (
            ConvReluPool::load(vb.clone()).unwrap(),
            Conv1dSame::load(2, 4, 8, vb).unwrap(),
        )
    }

    fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn matches_convolution_relu_pool_and_flatten_done_separately() {
        let (fused, conv) = layers();
        // 7514 positions (the last 2 do not fill a pooling window) and an odd window count.
        for n in [7514, 23] {
            let x = Tensor::randn(0f32, 1.0, (3, 2, n), &Device::Cpu).unwrap();
            let expected = max_pool1d(&conv.forward(&x).unwrap().relu().unwrap(), 4)
                .transpose(1, 2)
                .unwrap()
                .flatten_from(1)
                .unwrap();
            let got = fused.forward(&x, 1, ConvMasks::default()).unwrap();
            assert_eq!(got.dims(), &[3, n / 4 * 4]);
            assert!(max_difference(&got, &expected) < 1e-5);
        }
    }

    #[test]
    fn vector_paths_give_bitwise_identical_results() {
        let (fused, _) = layers();
        let n = 7514;
        let input: Vec<f32> = Tensor::randn(0f32, 1.0, 2 * n, &Device::Cpu)
            .unwrap()
            .to_vec1()
            .unwrap();
        let mask: Vec<f32> = (0..2 * n).map(|i| (i % 3) as f32 * 0.7).collect();
        let mut dispatched = vec![0f32; n / 4 * 4];
        fused.forward_row(&input, Some(&mask), n, &mut dispatched);
        let mut portable = vec![0f32; n / 4 * 4];
        let mut padded = vec![f32::NAN; 2 * (n + KERNEL - 1 + BLOCK)];
        fused.forward_row_body(&input, Some(&mask), n, &mut portable, &mut padded);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&dispatched), bits(&portable));
    }

    #[test]
    fn each_sample_gets_its_own_masks() {
        let (fused, conv) = layers();
        let dev = Device::Cpu;
        let n = 64;
        let x = Tensor::randn(0f32, 1.0, (1, 2, n), &dev).unwrap();
        let input_mask = Tensor::randn(0f32, 1.0, (3, 2, n), &dev).unwrap();
        let output_mask = Tensor::randn(0f32, 1.0, (3, n), &dev).unwrap();
        let repeated = x.broadcast_as((3, 2, n)).unwrap().contiguous().unwrap();
        let expected = max_pool1d(
            &conv
                .forward(&(repeated * &input_mask).unwrap())
                .unwrap()
                .relu()
                .unwrap(),
            4,
        )
        .transpose(1, 2)
        .unwrap()
        .flatten_from(1)
        .unwrap()
        .mul(&output_mask)
        .unwrap();
        let input_values: Vec<f32> = input_mask.flatten_all().unwrap().to_vec1().unwrap();
        let output_values: Vec<f32> = output_mask.flatten_all().unwrap().to_vec1().unwrap();
        let masks = ConvMasks {
            input: Some(&input_values),
            output: Some(&output_values),
        };
        let got = fused.forward(&x, 3, masks).unwrap();
        assert!(max_difference(&got, &expected) < 1e-5);
    }
}
