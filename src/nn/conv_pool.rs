//! conv2 of the full-spectrum branch fused with its input dropout, relu, max-pooling,
//! flattening and output dropout: the hot loop of MC inference. The convolution has too few
//! channels (2 → 4, kernel 8) for a matrix product to pay, so it runs as a register-blocked
//! direct kernel over each MC sample. Each sample draws its own two dropout masks from a
//! [`WideMaskStream`] into a per-thread buffer that stays in cache, so no mask ever goes
//! through memory.

use crate::nn::conv_shape::ConvShape;
use crate::nn::dropout::{DropoutRate, WideMaskStream};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Input channels, output channels, kernel width and pooling window of the fused layer.
const C_IN: usize = 2;
const C_OUT: usize = 4;
const KERNEL: usize = 8;
const POOL: usize = 4;
/// Zeros before the input ("same" padding for an even kernel puts the extra one after).
const PAD_LEFT: usize = (KERNEL - 1) / 2;
/// The widest block of positions a kernel computes at once (eight pooling windows).
const MAX_BLOCK: usize = 32;

/// `Conv1d(2, 4, 8, padding="same")` → relu → `MaxPool1d(4)` → flatten with feature index
/// `pool_position · 4 + channel` (PyTorch's permute-then-flatten).
#[derive(Debug, Clone)]
pub struct ConvReluPool {
    /// `weight[c][ci][k]`.
    weight: [[[f32; KERNEL]; C_IN]; C_OUT],
    bias: [f32; C_OUT],
}

/// The larger of `a` and `b`, written as the comparison x86's `maxps` makes, so that it
/// compiles to that one instruction: `f32::max` also promises to ignore a NaN, which costs
/// a compare and a blend per lane (the convolution's values are never NaN: a spectrum
/// with a NaN pixel gives no result before it reaches the network).
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Per-thread buffers of one row: the zero-padded, dropped-out input and the two masks.
#[derive(Default)]
struct RowScratch {
    padded: Vec<f32>,
    input_mask: Vec<f32>,
    output_mask: Vec<f32>,
}

/// The dropout masks of one MC sample (input, then output multipliers) drawn from `seed`,
/// in the order the fused kernel draws them.
#[inline(always)]
fn draw_row_masks(row: RowDropout, input_mask: &mut [f32], output_mask: &mut [f32]) {
    let mut stream = WideMaskStream::new(row.seed);
    stream.fill_multipliers(input_mask, row.rate);
    stream.fill_multipliers(output_mask, row.rate);
}

/// [`draw_row_masks`] with the AVX2 fill (the same bits).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn draw_row_masks_avx2(row: RowDropout, input_mask: &mut [f32], output_mask: &mut [f32]) {
    let mut stream = WideMaskStream::new(row.seed);
    stream.fill_multipliers_avx2(input_mask, row.rate);
    stream.fill_multipliers_avx2(output_mask, row.rate);
}

/// How one MC sample row drops out: its masks' seed and the layer's rate.
#[derive(Debug, Clone, Copy)]
struct RowDropout {
    seed: u64,
    rate: DropoutRate,
}

/// The dropout multipliers the fused kernel draws for rows with `seeds` and inputs of `n`
/// positions at `rate`, for a conv2 of `shape`: input masks (`rows × c1 × n`) and output
/// masks (`rows × features`). The generic conv2 stage and training apply them as tensors, so
/// that their masks are the fused kernel's.
pub(crate) fn dropout_masks(
    seeds: &[u64],
    shape: ConvShape,
    n: usize,
    rate: DropoutRate,
) -> (Vec<f32>, Vec<f32>) {
    let input_len = shape.conv1_channels * n;
    let features = shape.features(n);
    let mut input_masks = vec![0f32; seeds.len() * input_len];
    let mut output_masks = vec![0f32; seeds.len() * features];
    let rows = input_masks
        .chunks_mut(input_len.max(1))
        .zip(output_masks.chunks_mut(features.max(1)));
    for (&seed, (input_mask, output_mask)) in seeds.iter().zip(rows) {
        draw_row_masks(RowDropout { seed, rate }, input_mask, output_mask);
    }
    (input_masks, output_masks)
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

    /// Runs every input row of `x` (`[b, 2, n]`) `samples` times: `[b · samples, (n / 4) · 4]`,
    /// rows of one input adjacent. With `row_seeds` (one per output row), output row r
    /// applies inverted dropout at `rate` to its input and its output with masks drawn from
    /// `row_seeds[r]`; without, there is no dropout.
    pub fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        row_seeds: Option<&[u64]>,
        rate: DropoutRate,
    ) -> Result<Tensor> {
        let (b, c_in, n) = x.dims3()?;
        if c_in != C_IN {
            candle_core::bail!("conv2 expects {C_IN} input channels, got {c_in}");
        }
        let rows = b * samples;
        if row_seeds.is_some_and(|seeds| seeds.len() != rows) {
            candle_core::bail!("conv2 needs one dropout seed per row");
        }
        let inputs = x.flatten_all()?.to_vec1::<f32>()?;
        let features = Self::features(n);
        let input_len = C_IN * n;
        // Written in place without zeroing it first (3 MB a spectrum at mc = 100).
        let total = rows * features;
        let mut output: Vec<f32> = Vec::with_capacity(total);
        output.spare_capacity_mut()[..total]
            .par_chunks_mut(features.max(1))
            .enumerate()
            .for_each(|(row, out)| {
                let input = &inputs[row / samples * input_len..][..input_len];
                let dropout = row_seeds.map(|seeds| RowDropout {
                    seed: seeds[row],
                    rate,
                });
                self.forward_row(input, dropout, out);
            });
        // SAFETY: `forward_row` writes every value of its row, so all `total` are written.
        unsafe { output.set_len(total) };
        Tensor::from_vec(output, (rows, features), x.device())
    }

    /// One row, in reused per-thread buffers, with the widest vector instructions the CPU
    /// has: AVX-512 or AVX2 with fused multiply-adds, else a portable path without them
    /// (whose results differ from the vector paths' in the last bits only).
    fn forward_row(&self, input: &[f32], seed: Option<RowDropout>, out: &mut [MaybeUninit<f32>]) {
        thread_local! {
            static SCRATCH: std::cell::RefCell<RowScratch> = std::cell::RefCell::default();
        }
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            #[cfg(target_arch = "x86_64")]
            {
                if has_avx512_row_features() {
                    // SAFETY: the CPU has every feature the kernel is compiled with.
                    unsafe { self.forward_row_avx512(input, seed, out, scratch) };
                    return;
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    unsafe { self.forward_row_avx2(input, seed, out, scratch) };
                    return;
                }
            }
            self.forward_row_generic::<8, false>(input, seed, out, scratch);
        });
    }

    /// [`Self::forward_row_body`] with the generic mask drawing and block code, as the
    /// compiler builds them for the caller's target features.
    #[inline(always)]
    fn forward_row_generic<const BLOCK: usize, const FUSED: bool>(
        &self,
        input: &[f32],
        seed: Option<RowDropout>,
        out: &mut [MaybeUninit<f32>],
        scratch: &mut RowScratch,
    ) {
        self.forward_row_body(
            input,
            seed,
            out,
            scratch,
            draw_row_masks,
            |channels, start| self.pooled_block::<BLOCK, FUSED>(channels, start),
        )
    }

    /// [`Self::forward_row_generic`] compiled for AVX-512: 32 positions per block.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
    unsafe fn forward_row_avx512(
        &self,
        input: &[f32],
        seed: Option<RowDropout>,
        out: &mut [MaybeUninit<f32>],
        scratch: &mut RowScratch,
    ) {
        self.forward_row_generic::<32, true>(input, seed, out, scratch)
    }

    /// [`Self::forward_row_body`] compiled for AVX2 with FMA, with the AVX2 mask fill and
    /// [`Self::pooled_block_avx2`]: 16 positions per block.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_row_avx2(
        &self,
        input: &[f32],
        seed: Option<RowDropout>,
        out: &mut [MaybeUninit<f32>],
        scratch: &mut RowScratch,
    ) {
        // SAFETY (both closures): this runs inside a function compiled for (and only
        // called on) a CPU with AVX2 and FMA.
        self.forward_row_body(
            input,
            seed,
            out,
            scratch,
            |seed, input_mask, output_mask| unsafe {
                draw_row_masks_avx2(seed, input_mask, output_mask)
            },
            |channels, start| unsafe { self.pooled_block_avx2(channels, start) },
        )
    }

    /// Draws the row's masks with `draw_masks` (given a seed), pads and drops out the input
    /// (its 2 channels of n positions, one after the other), then runs `pooled_block`
    /// (convolution, relu and pooling of `BLOCK` positions from a start position) over the
    /// row, and drops out the output.
    #[inline(always)]
    fn forward_row_body<const BLOCK: usize>(
        &self,
        input: &[f32],
        seed: Option<RowDropout>,
        out: &mut [MaybeUninit<f32>],
        scratch: &mut RowScratch,
        draw_masks: impl Fn(RowDropout, &mut [f32], &mut [f32]),
        pooled_block: impl Fn(&[&[f32]; C_IN], usize) -> [f32; BLOCK],
    ) {
        let n = input.len() / C_IN;
        let features = Self::features(n);
        let padded_len = n + KERNEL - 1 + MAX_BLOCK;
        scratch.padded.resize(C_IN * padded_len, 0.0);
        let masks = seed.map(|seed| {
            scratch.input_mask.resize(C_IN * n, 0.0);
            scratch.output_mask.resize(features, 0.0);
            draw_masks(seed, &mut scratch.input_mask, &mut scratch.output_mask);
            (&scratch.input_mask[..], &scratch.output_mask[..])
        });
        for ci in 0..C_IN {
            let row = &mut scratch.padded[ci * padded_len..(ci + 1) * padded_len];
            row[..PAD_LEFT].fill(0.0);
            row[PAD_LEFT + n..].fill(0.0);
            let channel = &input[ci * n..(ci + 1) * n];
            let target = &mut row[PAD_LEFT..PAD_LEFT + n];
            match masks {
                Some((input_mask, _)) => {
                    for ((t, &v), &m) in target.iter_mut().zip(channel).zip(&input_mask[ci * n..]) {
                        *t = v * m;
                    }
                }
                None => target.copy_from_slice(channel),
            }
        }
        let (first, second) = scratch.padded.split_at(padded_len);
        let channels = [first, second];
        let windows = n / POOL;
        for block in 0..windows.div_ceil(BLOCK / POOL) {
            let first_window = block * BLOCK / POOL;
            let pooled = pooled_block(&channels, block * BLOCK);
            let start = first_window * C_OUT;
            let valid = (windows - first_window).min(BLOCK / POOL) * C_OUT;
            let target = out[start..][..valid].iter_mut().zip(&pooled);
            match masks {
                Some((_, output_mask)) => {
                    for ((value, &pooled), &m) in target.zip(&output_mask[start..]) {
                        value.write(pooled * m);
                    }
                }
                None => {
                    for (value, &pooled) in target {
                        value.write(pooled);
                    }
                }
            }
        }
    }

    /// Convolution (with fused multiply-adds when `FUSED`), relu and max-pooling of the
    /// `BLOCK` positions from `start`, all 4 output channels in registers, flattened.
    #[inline(always)]
    fn pooled_block<const BLOCK: usize, const FUSED: bool>(
        &self,
        channels: &[&[f32]; C_IN],
        start: usize,
    ) -> [f32; BLOCK] {
        Self::relu_pool(&self.convolve_block::<BLOCK, FUSED>(channels, start))
    }

    /// [`Self::pooled_block`] for 16 positions with fused multiply-adds, written in AVX2
    /// intrinsics: the same operations in the same order, so the same bits. The compiler's
    /// version of the generic code kept all 64 broadcast weights live and spilled its
    /// accumulators; here the 8 accumulators and 2 inputs stay in registers and the weights
    /// are broadcast from memory as they are used.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn pooled_block_avx2(&self, channels: &[&[f32]; C_IN], start: usize) -> [f32; 16] {
        use std::arch::x86_64::*;
        let mut acc: [[__m256; 2]; C_OUT] =
            std::array::from_fn(|c| [_mm256_set1_ps(self.bias[c]); 2]);
        for (ci, channel) in channels.iter().enumerate() {
            // The padding after the input makes every block's window exist.
            let window = &channel[start..start + 16 + KERNEL - 1];
            for k in 0..KERNEL {
                let low = _mm256_loadu_ps(window[k..].as_ptr());
                let high = _mm256_loadu_ps(window[k + 8..].as_ptr());
                for (c, lanes) in acc.iter_mut().enumerate() {
                    let w = _mm256_set1_ps(self.weight[c][ci][k]);
                    lanes[0] = _mm256_fmadd_ps(w, low, lanes[0]);
                    lanes[1] = _mm256_fmadd_ps(w, high, lanes[1]);
                }
            }
        }
        // relu_pool's lane-wise maxima (`maxps` is `larger`) and channel choice.
        let zero = _mm256_setzero_ps();
        let mut pooled = [0f32; 16];
        for half in 0..2 {
            let maxima: [__m256; C_OUT] = std::array::from_fn(|c| {
                let relu = _mm256_max_ps(acc[c][half], zero);
                let pairs = _mm256_max_ps(relu, _mm256_permute_ps::<0b10_11_00_01>(relu));
                _mm256_max_ps(pairs, _mm256_permute_ps::<0b01_00_11_10>(pairs))
            });
            let channels_01 = _mm256_blend_ps::<0b0010_0010>(maxima[0], maxima[1]);
            let channels_23 = _mm256_blend_ps::<0b1000_1000>(maxima[2], maxima[3]);
            let flattened = _mm256_blend_ps::<0b1100_1100>(channels_01, channels_23);
            _mm256_storeu_ps(pooled[8 * half..].as_mut_ptr(), flattened);
        }
        pooled
    }

    /// relu and max-pooling of a block's convolution, flattened window-major
    /// (`window · 4 + channel`). Written as lane-wise maxima with partners one and two
    /// lanes away (so every lane of a window holds its maximum) and a per-lane channel
    /// choice, which compile to register shuffles rather than gathers.
    #[inline(always)]
    fn relu_pool<const BLOCK: usize>(acc: &[[f32; BLOCK]; C_OUT]) -> [f32; BLOCK] {
        let window_max = |lanes: &[f32; BLOCK]| -> [f32; BLOCK] {
            let relu: [f32; BLOCK] = std::array::from_fn(|l| larger(lanes[l], 0.0));
            let pairs: [f32; BLOCK] = std::array::from_fn(|l| larger(relu[l], relu[l ^ 1]));
            std::array::from_fn(|l| larger(pairs[l], pairs[l ^ 2]))
        };
        let maxima: [[f32; BLOCK]; C_OUT] = std::array::from_fn(|c| window_max(&acc[c]));
        // Lane 4·window + c of the output is channel c's maximum over that window.
        std::array::from_fn(|l| maxima[l % C_OUT][l])
    }

    /// The convolution (with bias, before relu) at positions `start .. start + BLOCK` for
    /// every output channel: bias + Σ_ci Σ_k w·x, in that order.
    #[inline(always)]
    fn convolve_block<const BLOCK: usize, const FUSED: bool>(
        &self,
        channels: &[&[f32]; C_IN],
        start: usize,
    ) -> [[f32; BLOCK]; C_OUT] {
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
                    for (a, &x) in lanes.iter_mut().zip(&v) {
                        *a = if FUSED { w.mul_add(x, *a) } else { *a + w * x };
                    }
                }
            }
        }
        acc
    }
}

/// Whether the CPU has every feature [`ConvReluPool::forward_row_avx512`] is compiled with
/// (`avx512f,avx512bw,avx512vl,fma`): a CPU or virtual machine may have AVX-512F without
/// the others, and the kernel must then not run (a test holds this list to the kernel's).
#[cfg(target_arch = "x86_64")]
fn has_avx512_row_features() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The features named by `#[target_feature(enable = "…")]` just above `fn name` in
    /// this file, and those `is_x86_feature_detected!` checks in the body of `fn check`.
    fn compiled_and_detected(name: &str, check: &str) -> (Vec<String>, Vec<String>) {
        let source = include_str!("conv_pool.rs");
        let at = source.find(&format!("fn {name}(")).expect("kernel");
        let attribute = &source[..at][source[..at].rfind("target_feature(enable = \"").unwrap()..];
        let list = attribute.split('"').nth(1).unwrap();
        let mut compiled: Vec<String> = list.split(',').map(str::to_string).collect();
        let body = &source[source.find(&format!("fn {check}(")).expect("check")..];
        let body = &body[..body.find("\n}\n").unwrap()];
        let mut detected: Vec<String> = body
            .split("is_x86_feature_detected!(\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_string())
            .collect();
        compiled.sort();
        detected.sort();
        (compiled, detected)
    }

    #[test]
    fn the_avx512_kernel_runs_only_where_every_feature_it_is_compiled_with_is_detected() {
        let (compiled, detected) =
            compiled_and_detected("forward_row_avx512", "has_avx512_row_features");
        assert_eq!(compiled, ["avx512bw", "avx512f", "avx512vl", "fma"]);
        assert_eq!(detected, compiled);
    }
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
            let got = fused.forward(&x, 1, None, DropoutRate::ASTRA).unwrap();
            assert_eq!(got.dims(), &[3, n / 4 * 4]);
            assert!(max_difference(&got, &expected) < 1e-5);
        }
    }

    /// A row of `len` values written by `write`, each NaN until written.
    fn written_row(len: usize, write: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
        let mut row = vec![MaybeUninit::new(f32::NAN); len];
        write(&mut row);
        // SAFETY: every value was initialised (to NaN) when the row was made.
        row.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    #[test]
    fn vector_paths_agree_with_the_portable_path() {
        let (fused, _) = layers();
        let n = 7514;
        let input: Vec<f32> = Tensor::randn(0f32, 1.0, 2 * n, &Device::Cpu)
            .unwrap()
            .to_vec1()
            .unwrap();
        let dropouts = [
            None,
            Some(RowDropout {
                seed: 7,
                rate: DropoutRate::ASTRA,
            }),
        ];
        for seed in dropouts {
            let dispatched = written_row(n / 4 * 4, |out| fused.forward_row(&input, seed, out));
            let mut scratch = RowScratch {
                padded: vec![f32::NAN; 2 * (n + KERNEL - 1 + MAX_BLOCK)],
                ..RowScratch::default()
            };
            let portable = written_row(n / 4 * 4, |out| {
                fused.forward_row_generic::<8, false>(&input, seed, out, &mut scratch)
            });
            // Every value is written (the rows start as NaN).
            assert!(dispatched.iter().chain(&portable).all(|v| v.is_finite()));
            // Fused multiply-adds change the last bits only; the masks are the same.
            for (d, p) in dispatched.iter().zip(&portable) {
                assert_eq!(*d == 0.0, *p == 0.0);
                assert!((d - p).abs() <= 1e-5 * p.abs().max(1.0), "{d} vs {p}");
            }
        }
    }

    /// The AVX2 kernel is the generic block with fused multiply-adds, bit for bit.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_kernel_gives_the_generic_kernels_bits() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("no AVX2 with FMA on this CPU: nothing to compare");
            return;
        }
        let (fused, _) = layers();
        let padded: Vec<Vec<f32>> = (0..C_IN)
            .map(|ci| {
                let values = Tensor::randn(0f32, 1.0, 200, &Device::Cpu).unwrap();
                let mut row: Vec<f32> = values.to_vec1().unwrap();
                // A zero and a tie, where the maxima's choice of operand shows.
                row[10 + ci] = 0.0;
                row[20] = row[21];
                row
            })
            .collect();
        let channels = [&padded[0][..], &padded[1][..]];
        for start in [0, 16, 37, 160] {
            // SAFETY: the CPU has AVX2 and FMA, checked above.
            let intrinsics = unsafe { fused.pooled_block_avx2(&channels, start) };
            let generic = fused.pooled_block::<16, true>(&channels, start);
            let bits = |v: &[f32; 16]| v.map(f32::to_bits);
            assert_eq!(bits(&intrinsics), bits(&generic), "block at {start}");
        }
    }

    #[test]
    fn each_sample_gets_its_own_masks() {
        let (fused, conv) = layers();
        let dev = Device::Cpu;
        let n = 64;
        let seeds = [11u64, 12, 13];
        let x = Tensor::randn(0f32, 1.0, (1, 2, n), &dev).unwrap();
        let (input_masks, output_masks) =
            dropout_masks(&seeds, ConvShape::ASTRA, n, DropoutRate::ASTRA);
        let input_mask = Tensor::from_vec(input_masks, (3, 2, n), &dev).unwrap();
        let output_mask = Tensor::from_vec(output_masks, (3, n), &dev).unwrap();
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
        let got = fused
            .forward(&x, 3, Some(&seeds), DropoutRate::ASTRA)
            .unwrap();
        assert!(max_difference(&got, &expected) < 1e-5);
        // The samples differ, and about 30 % of each output is dropped.
        let rows: Vec<Vec<f32>> = got.to_vec2().unwrap();
        assert_ne!(rows[0], rows[1]);
        let dropped = output_mask
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .filter(|&&m| m == 0.0)
            .count();
        assert!((30..=85).contains(&dropped), "{dropped} of 192 dropped");
    }
}
