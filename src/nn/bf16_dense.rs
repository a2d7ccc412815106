//! A dense layer whose matrix product runs in bfloat16 with float32 accumulation
//! (`--precision bf16`, for `dense_1`, the networks' largest product).
//!
//! Inputs and weights are rounded to bfloat16 ([`to_bf16`](crate::nn::bf16::to_bf16));
//! each output is a float32 sum of their products taken pair by pair in input order, as
//! `VDPBF16PS` adds them ([`dot_pair`]), then the float32 bias. The native kernel runs
//! `VDPBF16PS` (AVX512-BF16); the emulated one runs [`dot_pair`] through the same tiles, so
//! both sum the same products in the same order.

use crate::cpu::CpuFeatures;
use crate::nn::bf16::{dot_pair, pair};
use crate::nn::precision::Bf16Kernel;
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// Outputs per vector: one column block.
const LANES: usize = 16;
/// Input rows a tile computes together.
const TILE_ROWS: usize = 4;
/// Column blocks a tile computes together: with [`TILE_ROWS`], 16 accumulators.
const TILE_BLOCKS: usize = 4;
/// Columns of a tile.
const TILE_COLUMNS: usize = TILE_BLOCKS * LANES;
/// Row tiles one parallel task computes, sharing its columns' weights in cache.
const TILES_PER_TASK: usize = 5;

/// `y = x Wᵀ + b` with `W` in bfloat16, packed for the kernel.
#[derive(Debug, Clone)]
pub struct Bf16Linear {
    /// Weight pairs by column block: block `k` holds, for each input pair `p`, 16 dwords,
    /// dword `i` being ([`pair`]) the weights of inputs 2p and 2p + 1 to output 16k + i.
    /// Blocks are padded to a multiple of [`TILE_BLOCKS`] with zero weights.
    packed: Vec<u32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    kernel: Bf16Kernel,
}

impl Bf16Linear {
    /// The layer of transposed weights `weight_t` (`[inputs, outputs]`, row-major) and
    /// `bias`, computed by `kernel`.
    pub fn new(
        weight_t: &[f32],
        bias: Vec<f32>,
        inputs: usize,
        outputs: usize,
        kernel: Bf16Kernel,
    ) -> Self {
        Self::from_fn(inputs, bias, kernel, |input, output| {
            weight_t[input * outputs + output]
        })
    }

    /// The layer of `inputs` inputs and `bias.len()` outputs whose weight from input `i` to
    /// output `o` is `weight(i, o)`, computed by `kernel`. The native kernel on a CPU without
    /// AVX512-BF16 runs emulated (the same arithmetic), never an illegal instruction.
    pub fn from_fn(
        inputs: usize,
        bias: Vec<f32>,
        kernel: Bf16Kernel,
        weight: impl Fn(usize, usize) -> f32,
    ) -> Self {
        let kernel = match kernel {
            Bf16Kernel::Native if !CpuFeatures::detect().runs_native_bf16() => Bf16Kernel::Emulated,
            kernel => kernel,
        };
        let outputs = bias.len();
        let pairs = inputs.div_ceil(2);
        let blocks = outputs.div_ceil(TILE_COLUMNS) * TILE_BLOCKS;
        let at = |input: usize, output: usize| {
            if input < inputs && output < outputs {
                weight(input, output)
            } else {
                0.0
            }
        };
        let mut packed = Vec::with_capacity(blocks * pairs * LANES);
        for block in 0..blocks {
            for p in 0..pairs {
                for lane in 0..LANES {
                    let output = block * LANES + lane;
                    packed.push(pair(at(2 * p, output), at(2 * p + 1, output)));
                }
            }
        }
        Bf16Linear {
            packed,
            bias,
            inputs,
            outputs,
            kernel,
        }
    }

    /// `[rows, inputs]` → `[rows, outputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, inputs) = x.dims2()?;
        if inputs != self.inputs {
            candle_core::bail!(
                "a bfloat16 dense layer of {} inputs got {inputs}",
                self.inputs
            );
        }
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let output = self.product(&values, rows);
        Tensor::from_vec(output, (rows, self.outputs), x.device())
    }

    /// `x` (`rows × inputs`, row-major) times the weights plus the bias, row-major.
    pub fn product(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let pairs = self.inputs.div_ceil(2);
        let row_tiles = rows.div_ceil(TILE_ROWS);
        let packed_x = pack_rows(x, self.inputs, row_tiles * TILE_ROWS, self.kernel);
        let column_tiles = self.packed.len() / (pairs * TILE_COLUMNS);
        let task_rows = row_tiles.div_ceil(TILES_PER_TASK);
        let tasks: Vec<(usize, usize)> = (0..column_tiles)
            .flat_map(|c| (0..task_rows).map(move |r| (c, r)))
            .collect();
        let results: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(column_tile, task_row)| {
                let first = task_row * TILES_PER_TASK;
                let last = (first + TILES_PER_TASK).min(row_tiles);
                let weights =
                    &self.packed[column_tile * TILE_COLUMNS * pairs..][..TILE_COLUMNS * pairs];
                (first..last)
                    .flat_map(|tile| {
                        let x = &packed_x[tile * TILE_ROWS * pairs..][..TILE_ROWS * pairs];
                        self.tile(x, weights, pairs)
                    })
                    .collect()
            })
            .collect();
        let mut output = vec![0f32; rows * self.outputs];
        for (&(column_tile, task_row), sums) in tasks.iter().zip(&results) {
            let first_row = task_row * TILES_PER_TASK * TILE_ROWS;
            for (i, tile_row) in sums.chunks(TILE_COLUMNS).enumerate() {
                let row = first_row + i;
                if row >= rows {
                    break;
                }
                let first_column = column_tile * TILE_COLUMNS;
                let columns = TILE_COLUMNS.min(self.outputs - first_column);
                let out = &mut output[row * self.outputs + first_column..][..columns];
                let bias = &self.bias[first_column..][..columns];
                for ((o, s), b) in out.iter_mut().zip(tile_row).zip(bias) {
                    *o = s + b;
                }
            }
        }
        output
    }

    /// One tile's sums: [`TILE_ROWS`] rows × [`TILE_COLUMNS`] columns, row-major.
    fn tile(&self, x: &[u32], weights: &[u32], pairs: usize) -> [f32; TILE_ROWS * TILE_COLUMNS] {
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a layer keeps a native kernel only where the CPU has AVX512-BF16
            // (`Bf16Linear::from_fn`), and both slices hold the tile's pairs.
            Bf16Kernel::Native => unsafe { native::tile(x, weights, pairs) },
            _ => emulated_tile(x, weights, pairs),
        }
    }
}

/// [`tile_with`] on [`Emulated`] lanes, with AVX2 where the CPU has it (the emulation's
/// operations are exactly rounded, so the vector build gives the same bits, faster).
fn emulated_tile(x: &[u32], weights: &[u32], pairs: usize) -> [f32; TILE_ROWS * TILE_COLUMNS] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        /// [`tile_with`] compiled for AVX2.
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            x: &[u32],
            weights: &[u32],
            pairs: usize,
        ) -> [f32; TILE_ROWS * TILE_COLUMNS] {
            tile_with(Emulated, x, weights, pairs)
        }
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2(x, weights, pairs) };
    }
    tile_with(Emulated, x, weights, pairs)
}

/// Rows of `x` (`inputs` wide) as bfloat16 pairs, `padded_rows` rows (the extra ones
/// zero), converted by `kernel`'s instructions (the same rounding either way).
fn pack_rows(x: &[f32], inputs: usize, padded_rows: usize, kernel: Bf16Kernel) -> Vec<u32> {
    let pairs = inputs.div_ceil(2);
    let mut packed = vec![0u32; padded_rows * pairs];
    packed
        .par_chunks_mut(pairs.max(1))
        .zip(x.par_chunks(inputs.max(1)))
        .for_each(|(out, row)| match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a layer keeps a native kernel only where the CPU has AVX512-BF16.
            Bf16Kernel::Native => unsafe { native::pack_row(row, out) },
            _ => pack_row(row, out),
        });
    packed
}

/// One row as bfloat16 pairs ([`pair`]), an odd last value paired with zero.
fn pack_row(row: &[f32], out: &mut [u32]) {
    let mut two = row.chunks_exact(2);
    for (slot, values) in out.iter_mut().zip(&mut two) {
        *slot = pair(values[0], values[1]);
    }
    if let [last] = two.remainder() {
        out[row.len() / 2] = pair(*last, 0.0);
    }
}

/// The vector operations a tile needs, on 16 float32 accumulator lanes.
trait PairLanes: Copy {
    /// 16 accumulators.
    type Acc: Copy;
    /// Accumulators at zero.
    fn zero(self) -> Self::Acc;
    /// `acc` plus, in lane i, the dot product of weight pair `weights[i]` with the input
    /// pair `x`.
    ///
    /// # Safety
    /// `weights` points at 16 readable dwords.
    unsafe fn dot(self, acc: Self::Acc, weights: *const u32, x: u32) -> Self::Acc;
    /// The lanes' values.
    fn lanes(self, acc: Self::Acc) -> [f32; LANES];
}

/// [`dot_pair`] lane by lane.
#[derive(Clone, Copy)]
struct Emulated;

impl PairLanes for Emulated {
    type Acc = [f32; LANES];

    #[inline(always)]
    fn zero(self) -> Self::Acc {
        [0.0; LANES]
    }

    #[inline(always)]
    unsafe fn dot(self, mut acc: Self::Acc, weights: *const u32, x: u32) -> Self::Acc {
        for (lane, a) in acc.iter_mut().enumerate() {
            *a = dot_pair(*a, *weights.add(lane), x);
        }
        acc
    }

    #[inline(always)]
    fn lanes(self, acc: Self::Acc) -> [f32; LANES] {
        acc
    }
}

/// One tile through `lanes`: for each input pair in order, every row's pair broadcast
/// against every column block's weight pairs. `x` holds [`TILE_ROWS`] rows of `pairs`
/// pairs; `weights` [`TILE_BLOCKS`] blocks of `pairs` × 16.
#[inline(always)]
fn tile_with<L: PairLanes>(
    lanes: L,
    x: &[u32],
    weights: &[u32],
    pairs: usize,
) -> [f32; TILE_ROWS * TILE_COLUMNS] {
    assert!(x.len() >= TILE_ROWS * pairs && weights.len() >= TILE_COLUMNS * pairs);
    let mut acc = [[lanes.zero(); TILE_BLOCKS]; TILE_ROWS];
    for p in 0..pairs {
        for (row, row_acc) in acc.iter_mut().enumerate() {
            let x_pair = x[row * pairs + p];
            for (block, a) in row_acc.iter_mut().enumerate() {
                // SAFETY: block < TILE_BLOCKS and p < pairs, so the 16 dwords lie inside
                // `weights` (checked above).
                *a = unsafe {
                    lanes.dot(
                        *a,
                        weights.as_ptr().add((block * pairs + p) * LANES),
                        x_pair,
                    )
                };
            }
        }
    }
    let mut out = [0f32; TILE_ROWS * TILE_COLUMNS];
    for (row, row_acc) in acc.iter().enumerate() {
        for (block, a) in row_acc.iter().enumerate() {
            out[row * TILE_COLUMNS + block * LANES..][..LANES].copy_from_slice(&lanes.lanes(*a));
        }
    }
    out
}

/// The AVX512-BF16 kernel.
#[cfg(target_arch = "x86_64")]
mod native {
    use super::{tile_with, PairLanes, LANES, TILE_COLUMNS, TILE_ROWS};
    use std::arch::x86_64::{
        __m512, __m512bh, _mm512_cvtne2ps_pbh, _mm512_dpbf16_ps, _mm512_loadu_ps,
        _mm512_set1_epi32, _mm512_setzero_ps, _mm512_storeu_ps,
    };
    use std::mem::transmute;

    /// `vdpbf16ps` lanes.
    #[derive(Clone, Copy)]
    struct Native;

    impl PairLanes for Native {
        type Acc = __m512;

        #[inline(always)]
        fn zero(self) -> __m512 {
            // SAFETY: only reached inside `tile`, compiled with AVX-512.
            unsafe { _mm512_setzero_ps() }
        }

        #[inline(always)]
        unsafe fn dot(self, acc: __m512, weights: *const u32, x: u32) -> __m512 {
            let w: __m512bh = transmute(_mm512_loadu_ps(weights as *const f32));
            let x: __m512bh = transmute(_mm512_set1_epi32(x as i32));
            _mm512_dpbf16_ps(acc, w, x)
        }

        #[inline(always)]
        fn lanes(self, acc: __m512) -> [f32; LANES] {
            let mut out = [0f32; LANES];
            // SAFETY: `out` holds 16 floats; only reached inside `tile`.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
            out
        }
    }

    /// [`super::pack_row`] with `vcvtne2ps2bf16`, 32 values at a time: its lower 16
    /// results come from its second operand, so that operand takes the first 16 values
    /// and the 16 dwords hold the pairs in order.
    ///
    /// # Safety
    /// The CPU must have AVX512-F and AVX512-BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn pack_row(row: &[f32], out: &mut [u32]) {
        let whole = row.len() / 32;
        for i in 0..whole {
            let first = _mm512_loadu_ps(row.as_ptr().add(32 * i));
            let second = _mm512_loadu_ps(row.as_ptr().add(32 * i + 16));
            let pairs: __m512 = transmute(_mm512_cvtne2ps_pbh(second, first));
            _mm512_storeu_ps(out.as_mut_ptr().add(16 * i) as *mut f32, pairs);
        }
        super::pack_row(&row[32 * whole..], &mut out[16 * whole..]);
    }

    /// [`tile_with`] on `vdpbf16ps`.
    ///
    /// # Safety
    /// The CPU must have AVX512-F and AVX512-BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn tile(
        x: &[u32],
        weights: &[u32],
        pairs: usize,
    ) -> [f32; TILE_ROWS * TILE_COLUMNS] {
        tile_with(Native, x, weights, pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::CpuFeatures;
    use candle_core::Device;

    /// Deterministic values in [−1, 1) with varied exponents.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                unit * 2f32.powi(-((state % 5) as i32))
            })
            .collect()
    }

    /// The definition, output by output: pairs in input order through [`dot_pair`], then
    /// the bias.
    fn reference(w_t: &[f32], bias: &[f32], x: &[f32], rows: usize, inputs: usize) -> Vec<f32> {
        let outputs = bias.len();
        let mut out = Vec::with_capacity(rows * outputs);
        for r in 0..rows {
            for (j, b) in bias.iter().enumerate() {
                let at = |i: usize, m: &[f32], stride: usize, off: usize| {
                    if i < inputs {
                        m[i * stride + off]
                    } else {
                        0.0
                    }
                };
                let mut acc = 0f32;
                for p in 0..inputs.div_ceil(2) {
                    let xp = pair(at(2 * p, x, 1, r * inputs), at(2 * p + 1, x, 1, r * inputs));
                    let wp = pair(at(2 * p, w_t, outputs, j), at(2 * p + 1, w_t, outputs, j));
                    acc = dot_pair(acc, wp, xp);
                }
                out.push(acc + b);
            }
        }
        out
    }

    fn layer_and_input(
        rows: usize,
        inputs: usize,
        outputs: usize,
        kernel: Bf16Kernel,
    ) -> (Bf16Linear, Vec<f32>, Vec<f32>, Vec<f32>) {
        let w_t = values(inputs * outputs, 11);
        let bias = values(outputs, 12);
        let x = values(rows * inputs, 13);
        let layer = Bf16Linear::new(&w_t, bias.clone(), inputs, outputs, kernel);
        (layer, w_t, bias, x)
    }

    #[test]
    fn the_tiled_product_sums_as_the_definition_does_bit_for_bit() {
        // Shapes that fill no tile exactly: odd inputs, rows and outputs off the tiles.
        for (rows, inputs, outputs) in [(7, 37, 21), (4, 2, 64), (23, 301, 70), (1, 1, 1)] {
            let (layer, w_t, bias, x) =
                layer_and_input(rows, inputs, outputs, Bf16Kernel::Emulated);
            let got = layer.product(&x, rows);
            assert_eq!(
                got,
                reference(&w_t, &bias, &x, rows, inputs),
                "{rows}×{inputs}×{outputs}"
            );
        }
    }

    #[test]
    fn the_forward_pass_stays_close_to_float32() {
        let (rows, inputs, outputs) = (9, 500, 40);
        let (layer, w_t, bias, x) = layer_and_input(rows, inputs, outputs, Bf16Kernel::Emulated);
        let got = layer
            .forward(&Tensor::from_vec(x.clone(), (rows, inputs), &Device::Cpu).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for r in 0..rows {
            for j in 0..outputs {
                let terms =
                    (0..inputs).map(|i| f64::from(x[r * inputs + i] * w_t[i * outputs + j]));
                let exact: f64 = terms.clone().sum::<f64>() + f64::from(bias[j]);
                let magnitude: f64 = terms.map(f64::abs).sum();
                // Each factor is within 2⁻⁹ (relative) of its bfloat16: a product within 2⁻⁸.
                let bound = magnitude * 2f64.powi(-8) + 1e-6;
                let error = (f64::from(got[r][j]) - exact).abs();
                assert!(error <= bound, "row {r} column {j}: {error} > {bound}");
            }
        }
    }

    #[test]
    fn a_native_layer_on_a_cpu_without_the_instructions_runs_emulated() {
        let layer = Bf16Linear::new(&[1.0, 2.0], vec![0.5], 2, 1, Bf16Kernel::Native);
        let expected = if CpuFeatures::detect().runs_native_bf16() {
            Bf16Kernel::Native
        } else {
            Bf16Kernel::Emulated
        };
        assert_eq!(layer.kernel, expected);
        assert_eq!(layer.product(&[3.0, 4.0], 1), vec![11.5]);
    }

    #[test]
    fn the_native_kernel_agrees_with_the_definition() {
        if !CpuFeatures::detect().runs_native_bf16() {
            eprintln!("skipped: this CPU has no AVX512-BF16 (the emulated kernel is tested)");
            return;
        }
        let (rows, inputs, outputs) = (23, 7512, 192);
        let (native, w_t, bias, x) = layer_and_input(rows, inputs, outputs, Bf16Kernel::Native);
        let emulated = Bf16Linear::new(&w_t, bias, inputs, outputs, Bf16Kernel::Emulated);
        let a = native.product(&x, rows);
        let b = emulated.product(&x, rows);
        let differing = a.iter().zip(&b).filter(|(p, q)| p != q).count();
        for (r, (p, q)) in a.iter().zip(&b).enumerate() {
            let row = r / outputs;
            let j = r % outputs;
            let magnitude: f32 = (0..inputs)
                .map(|i| (x[row * inputs + i] * w_t[i * outputs + j]).abs())
                .sum();
            // Both sum the same exact products; any difference in rounding stays within
            // float32's summation bound.
            let bound = magnitude * inputs as f32 * f32::EPSILON;
            assert!((p - q).abs() <= bound, "output {r}: {p} against {q}");
        }
        eprintln!(
            "native against emulated: {differing} of {} outputs differ in any bit",
            a.len()
        );
    }
}
