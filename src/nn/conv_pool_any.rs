//! conv2 of the full-spectrum branch, of any convolution shape, with its input dropout,
//! relu, max-pooling, flattening and output dropout: what [`crate::nn::conv_pool`] fuses for
//! Astra's shape, for the shapes astroNN lets a network choose. Each MC sample row runs as
//! direct loops over whole channels (the fused kernel's register blocking needs the shape at
//! compile time), rows in parallel, and draws its masks exactly as the fused kernel does.

use crate::nn::conv_pool::dropout_masks;
use crate::nn::conv_shape::ConvShape;
use crate::nn::dropout::DropoutRate;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// `Conv1d(c1, c2, k, padding="same")` → relu → `MaxPool1d(p)` → flatten with feature index
/// `pool_position · c2 + channel`, for any [`ConvShape`].
#[derive(Debug, Clone)]
pub struct AnyConvReluPool {
    /// `weight[(c · c1 + ci) · k + tap]`, PyTorch's `[c2, c1, k]` flattened.
    weight: Vec<f32>,
    bias: Vec<f32>,
    shape: ConvShape,
}

impl AnyConvReluPool {
    /// Loads `weight` `[c2, c1, k]` and `bias` `[c2]` of `shape`.
    pub fn load(shape: ConvShape, vb: VarBuilder) -> Result<Self> {
        let (c1, c2, k) = (shape.conv1_channels, shape.conv2_channels, shape.kernel);
        Ok(AnyConvReluPool {
            weight: vb.get((c2, c1, k), "weight")?.flatten_all()?.to_vec1()?,
            bias: vb.get(c2, "bias")?.to_vec1()?,
            shape,
        })
    }

    /// [`crate::nn::conv_pool::ConvReluPool::forward`] for this shape: every input row of `x`
    /// (`[b, c1, n]`) `samples` times, `[b · samples, ⌊n / p⌋ · c2]`, rows of one input
    /// adjacent; with `row_seeds`, output row r drops out its input and output at `rate` with
    /// the masks the fused kernel draws from `row_seeds[r]`.
    pub fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        row_seeds: Option<&[u64]>,
        rate: DropoutRate,
    ) -> Result<Tensor> {
        let (b, c_in, n) = x.dims3()?;
        if c_in != self.shape.conv1_channels {
            candle_core::bail!(
                "conv2 expects {} input channels, got {c_in}",
                self.shape.conv1_channels
            );
        }
        let rows = b * samples;
        if row_seeds.is_some_and(|seeds| seeds.len() != rows) {
            candle_core::bail!("conv2 needs one dropout seed per row");
        }
        let inputs = x.flatten_all()?.to_vec1::<f32>()?;
        let input_len = c_in * n;
        let features = self.shape.features(n);
        let mut output = vec![0f32; rows * features];
        output
            .par_chunks_mut(features.max(1))
            .enumerate()
            .for_each(|(row, out)| {
                let input = &inputs[row / samples * input_len..][..input_len];
                let masks =
                    row_seeds.map(|seeds| dropout_masks(&seeds[row..=row], self.shape, n, rate));
                let masks = masks.as_ref().map(|(i, o)| (&i[..], &o[..]));
                self.forward_row(input, masks, out);
            });
        Tensor::from_vec(output, (rows, features), x.device())
    }

    /// One output row: `input` (`[c1, n]`) times its input mask, convolved, relu'd,
    /// max-pooled and flattened into `out`, times its output mask (`masks`: input, output).
    fn forward_row(&self, input: &[f32], masks: Option<(&[f32], &[f32])>, out: &mut [f32]) {
        let n = input.len() / self.shape.conv1_channels;
        let dropped: Vec<f32>;
        let input = match masks {
            Some((input_mask, _)) => {
                dropped = input.iter().zip(input_mask).map(|(v, m)| v * m).collect();
                &dropped[..]
            }
            None => input,
        };
        let mut convolved = vec![0f32; n];
        for c in 0..self.shape.conv2_channels {
            self.convolve(input, c, &mut convolved);
            self.relu_pool(&convolved, c, out);
        }
        if let Some((_, output_mask)) = masks {
            for (value, m) in out.iter_mut().zip(output_mask) {
                *value *= m;
            }
        }
    }

    /// Output channel `c` of the convolution of `input` (`[c1, n]`, zero-padded with
    /// ⌊(k − 1) / 2⌋ zeros before it and the rest after) into `out` (`n`), with bias and
    /// before relu: bias + Σ_ci Σ_tap w · x, in that order.
    fn convolve(&self, input: &[f32], c: usize, out: &mut [f32]) {
        let (n, k) = (out.len(), self.shape.kernel);
        let pad_left = (k - 1) / 2;
        out.fill(self.bias[c]);
        for (ci, channel) in input.chunks(n).enumerate() {
            let taps = &self.weight[(c * self.shape.conv1_channels + ci) * k..][..k];
            for (tap, &w) in taps.iter().enumerate() {
                // Position t reads input t + tap − pad_left; these positions read inside it.
                let first = pad_left.saturating_sub(tap);
                let last = (n + pad_left).saturating_sub(tap).min(n);
                if first >= last {
                    continue;
                }
                let source = &channel[first + tap - pad_left..][..last - first];
                for (o, &v) in out[first..last].iter_mut().zip(source) {
                    *o += w * v;
                }
            }
        }
    }

    /// relu and max-pooling of channel `c`'s convolution over ⌊n / p⌋ windows (the
    /// incomplete last one dropped), written window-major: `out[window · c2 + c]`.
    fn relu_pool(&self, convolved: &[f32], c: usize, out: &mut [f32]) {
        let channels = self.shape.conv2_channels;
        for (window, values) in convolved.chunks_exact(self.shape.pool).enumerate() {
            out[window * channels + c] = values.iter().fold(0f32, |m, &v| m.max(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv_pool::ConvReluPool;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    /// conv2's parameters of `shape`, random, behind a builder.
    fn parameters(shape: ConvShape) -> VarBuilder<'static> {
        let dev = Device::Cpu;
        let (c1, c2, k) = (shape.conv1_channels, shape.conv2_channels, shape.kernel);
        let mut map = HashMap::new();
        let weight = Tensor::randn(0f32, 1.0, (c2, c1, k), &dev).unwrap();
        map.insert("weight".to_string(), weight);
        map.insert(
            "bias".to_string(),
            Tensor::randn(0f32, 0.5, c2, &dev).unwrap(),
        );
        VarBuilder::from_tensors(map, DType::F32, &dev)
    }

    /// The values of an f32 tensor.
    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// The largest difference between `got` and `expected` relative to the largest value of
    /// `expected`; every value must be zero in both or neither.
    fn relative_difference(got: &[f32], expected: &[f32]) -> f32 {
        assert_eq!(got.len(), expected.len());
        let largest = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(largest > 0.0);
        let mut worst = 0f32;
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert_eq!(*g == 0.0, *e == 0.0, "value {i}: {g} vs {e}");
            worst = worst.max((g - e).abs() / largest);
        }
        worst
    }

    /// conv2 → relu → max-pool → flatten of `shape` by direct loops over one input row
    /// (`[c1, n]`), its input and output multiplied by `masks` when given.
    fn direct(
        input: &[f32],
        n: usize,
        (weight, bias): (&[f32], &[f32]),
        shape: ConvShape,
        masks: Option<(&[f32], &[f32])>,
    ) -> Vec<f32> {
        let (c1, c2, k, p) = (
            shape.conv1_channels,
            shape.conv2_channels,
            shape.kernel,
            shape.pool,
        );
        let dropped: Vec<f32> = match masks {
            Some((input_mask, _)) => input.iter().zip(input_mask).map(|(v, m)| v * m).collect(),
            None => input.to_vec(),
        };
        let pad_left = (k - 1) / 2;
        let conv = |c: usize, t: usize| -> f32 {
            let mut sum = bias[c];
            for ci in 0..c1 {
                for tap in 0..k {
                    // Position t reads input t + tap − pad_left; outside [0, n) is padding.
                    let Some(s) = (t + tap).checked_sub(pad_left).filter(|&s| s < n) else {
                        continue;
                    };
                    sum += weight[(c * c1 + ci) * k + tap] * dropped[ci * n + s];
                }
            }
            sum.max(0.0)
        };
        let mut out = Vec::new();
        for window in 0..n / p {
            for c in 0..c2 {
                let pooled = (window * p..(window + 1) * p)
                    .map(|t| conv(c, t))
                    .fold(f32::MIN, f32::max);
                out.push(pooled);
            }
        }
        if let Some((_, output_mask)) = masks {
            out.iter_mut().zip(output_mask).for_each(|(v, m)| *v *= m);
        }
        out
    }

    #[test]
    fn astras_shape_gives_the_fused_kernels_output_and_masks() {
        let vb = parameters(ConvShape::ASTRA);
        let fused = ConvReluPool::load(vb.clone()).unwrap();
        let any = AnyConvReluPool::load(ConvShape::ASTRA, vb).unwrap();
        let n = 7514;
        let x = Tensor::randn(0f32, 1.0, (2, 2, n), &Device::Cpu).unwrap();
        let seeds = [3u64, 1, 4, 1, 5, 9];
        for rate in [None, Some(0.3), Some(0.2)] {
            let rate_or_astra = rate.map_or(DropoutRate::ASTRA, |r| DropoutRate::new(r).unwrap());
            let seeds = rate.map(|_| &seeds[..]);
            let expected = fused.forward(&x, 3, seeds, rate_or_astra).unwrap();
            let got = any.forward(&x, 3, seeds, rate_or_astra).unwrap();
            assert_eq!(got.dims(), &[6, 7512]);
            let (got, expected) = (values(&got), values(&expected));
            let difference = relative_difference(&got, &expected);
            assert!(difference <= 1e-5, "rate {rate:?}: {difference}");
            // The output masks alone zero about `rate` of the outputs.
            if let Some(rate) = rate {
                let zeros = got.iter().filter(|&&v| v == 0.0).count() as f64 / got.len() as f64;
                assert!(
                    zeros >= rate - 0.02,
                    "{zeros} of the outputs are zero at {rate}"
                );
            }
        }
    }

    #[test]
    fn another_shape_matches_direct_loops() {
        let shape = ConvShape {
            conv1_channels: 3,
            conv2_channels: 5,
            kernel: 5,
            pool: 3,
        };
        let vb = parameters(shape);
        let weight = values(&vb.get((5, 3, 5), "weight").unwrap());
        let bias = values(&vb.get(5, "bias").unwrap());
        let stage = AnyConvReluPool::load(shape, vb).unwrap();
        let n = 7514;
        let x = Tensor::randn(0f32, 1.0, (2, 3, n), &Device::Cpu).unwrap();
        let got = stage.forward(&x, 1, None, DropoutRate::ASTRA).unwrap();
        // 2504 windows of 3 (the last 2 pixels fill none) × 5 channels.
        assert_eq!(got.dims(), &[2, 12520]);
        let inputs = values(&x);
        let expected: Vec<f32> = inputs
            .chunks(3 * n)
            .flat_map(|row| direct(row, n, (&weight, &bias), shape, None))
            .collect();
        let difference = relative_difference(&values(&got), &expected);
        assert!(difference <= 1e-5, "{difference}");
    }

    #[test]
    fn each_sample_row_drops_out_with_its_own_masks() {
        // An odd kernel: 4 zeros on either side.
        let shape = ConvShape {
            conv1_channels: 64,
            conv2_channels: 2,
            kernel: 9,
            pool: 5,
        };
        let n = 7514;
        let vb = parameters(shape);
        let weight = values(&vb.get((2, 64, 9), "weight").unwrap());
        let bias = values(&vb.get(2, "bias").unwrap());
        let stage = AnyConvReluPool::load(shape, vb).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 64, n), &Device::Cpu).unwrap();
        let seeds = [21u64, 22, 23, 24, 25, 26];
        let rate = DropoutRate::new(0.2).unwrap();
        let got = stage.forward(&x, 3, Some(&seeds), rate).unwrap();
        assert_eq!(got.dims(), &[6, 1502 * 2]);
        let inputs = values(&x);
        let (input_masks, output_masks) = dropout_masks(&seeds, shape, n, rate);
        let expected: Vec<f32> = (0..6)
            .flat_map(|r| {
                let masks = (
                    &input_masks[r * 64 * n..][..64 * n],
                    &output_masks[r * 3004..][..3004],
                );
                let row = &inputs[r / 3 * 64 * n..][..64 * n];
                direct(row, n, (&weight, &bias), shape, Some(masks))
            })
            .collect();
        let got = values(&got);
        let difference = relative_difference(&got, &expected);
        assert!(difference <= 1e-5, "{difference}");
        // The three samples of an input differ.
        assert_ne!(got[..3004], got[3004..6008]);
    }
}
