//! The full-spectrum branch's convolution and pooling as candle custom operations with
//! exact backward passes, for training (inference uses [`crate::nn::conv`] and the fused
//! kernel of [`crate::nn::conv_pool`]).
//!
//! - candle 0.11's own `conv1d` backward is wrong on the CPU: the kernel gradient is
//!   computed as a `conv1d` whose kernel is a transposed (non-contiguous) view, and the CPU
//!   im2col path copies such a kernel to a contiguous buffer but then multiplies with the
//!   original storage (huggingface/candle#3836, open). [`same_conv1d`] computes
//!   `Conv1d(padding="same")` with direct loops instead (the layers have 1–4 channels, too
//!   few for a matrix product to pay).
//! - candle's `max` backward sends the gradient to every element equal to the maximum, so a
//!   pooling window with tied values (a conv2 window over all-zero, dropped-out inputs
//!   outputs its bias four times) passes it on four times. [`relu_max_pool_flatten`] routes
//!   it to the first maximum only, as PyTorch's `MaxPool1d` does.
//! - Dropout after relu is fused into [`relu_dropout`] and [`relu_max_pool_flatten`]: one
//!   graph node and one pass instead of three, which matters on tensors this large.
//!
//! The loops run parallel over the batch with every sum in a fixed order, so results do not
//! depend on the thread count. Gradients are checked against finite differences in the
//! tests of `crate::train`.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;
use std::sync::Arc;

/// Defines `$name`, which runs `$body` compiled for AVX-512 or AVX2 when the CPU has them
/// (else as compiled for the baseline). The arithmetic is the same on every path (no fused
/// multiply-adds), so results do not depend on the CPU; only the vector width does.
macro_rules! vectorized {
    ($(#[$doc:meta])* fn $name:ident<T>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:ident;) => {
        $(#[$doc])*
        fn $name<T: WithDType>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
                unsafe fn avx512<T: WithDType>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2<T: WithDType>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has these features, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// Contiguous data of a storage, or an error.
fn slice<'a, T: WithDType>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [T]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("same-conv1d needs contiguous inputs".into()))?;
    Ok(&storage.as_slice::<T>()?[start..end])
}

/// Dimensions of a `[a, b, c]` layout.
fn dims3(layout: &Layout) -> Result<(usize, usize, usize)> {
    layout.shape().dims3()
}

/// For tap `k` of a kernel of width `width`: the offset `k − pad_left` at which output
/// position t reads the input, and the output range `[t0, t1)` whose reads stay inside
/// `[0, n)` (the rest read the zero padding); `None` when no read does.
fn tap_range(k: usize, width: usize, n: usize) -> Option<(isize, usize, usize)> {
    let shift = k as isize - ((width - 1) / 2) as isize;
    let t0 = (-shift).max(0) as usize;
    let t1 = (n as isize - shift).clamp(0, n as isize) as usize;
    (t0 < t1).then_some((shift, t0, t1))
}

/// Σ a·b with eight partial sums (so that it vectorises) combined in a fixed order.
#[inline(always)]
fn dot<T: WithDType>(a: &[T], b: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; 8];
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let mut tail = zero;
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
        + tail
}

/// Σ a with eight partial sums combined in a fixed order.
#[inline(always)]
fn total<T: WithDType>(a: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; 8];
    let mut chunks = a.chunks_exact(8);
    for x in &mut chunks {
        for i in 0..8 {
            lanes[i] += x[i];
        }
    }
    let tail = chunks.remainder().iter().fold(zero, |s, &x| s + x);
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
        + tail
}

/// y[b, c, t] = bias[c] + Σ_{ci, k} w[c, ci, k] · x[b, ci, t + k − pad_left].
fn forward<T: WithDType>(
    x: &[T],
    (b, c_in, n): (usize, usize, usize),
    w: &[T],
    bias: &[T],
    width: usize,
) -> Vec<T> {
    let c_out = bias.len();
    let mut y = vec![T::from_f64(0.0); b * c_out * n];
    if n == 0 {
        return y;
    }
    y.par_chunks_mut(c_out * n)
        .enumerate()
        .for_each(|(row, out)| {
            let input = &x[row * c_in * n..(row + 1) * c_in * n];
            forward_row(input, out, n, w, bias, width);
        });
    y
}

vectorized! {
    /// [`forward`] of one row: `input` `[c_in, n]` → `out` `[c_out, n]`.
    fn forward_row<T>(input: &[T], out: &mut [T], n: usize, w: &[T], bias: &[T], width: usize)
        = forward_row_body;
}

#[inline(always)]
fn forward_row_body<T: WithDType>(
    input: &[T],
    out: &mut [T],
    n: usize,
    w: &[T],
    bias: &[T],
    width: usize,
) {
    let c_in = input.len() / n;
    for (c, out_channel) in out.chunks_mut(n).enumerate() {
        out_channel.fill(bias[c]);
        for (ci, in_channel) in input.chunks(n).enumerate() {
            for k in 0..width {
                let weight = w[(c * c_in + ci) * width + k];
                let Some((shift, t0, t1)) = tap_range(k, width, n) else {
                    continue;
                };
                let source = &in_channel[(t0 as isize + shift) as usize..][..t1 - t0];
                for (o, &v) in out_channel[t0..t1].iter_mut().zip(source) {
                    *o += weight * v;
                }
            }
        }
    }
}

/// ∂L/∂x[b, ci, s] = Σ_{c, k} w[c, ci, k] · g[b, c, s − (k − pad_left)].
fn grad_input<T: WithDType>(
    g: &[T],
    (b, c_out, n): (usize, usize, usize),
    w: &[T],
    c_in: usize,
    width: usize,
) -> Vec<T> {
    let mut gx = vec![T::from_f64(0.0); b * c_in * n];
    if n == 0 {
        return gx;
    }
    gx.par_chunks_mut(c_in * n)
        .enumerate()
        .for_each(|(row, out)| {
            let grad = &g[row * c_out * n..(row + 1) * c_out * n];
            grad_input_row(grad, out, n, w, width);
        });
    gx
}

vectorized! {
    /// [`grad_input`] of one row: `grad` `[c_out, n]` → `out` `[c_in, n]` (zeroed).
    fn grad_input_row<T>(grad: &[T], out: &mut [T], n: usize, w: &[T], width: usize)
        = grad_input_row_body;
}

#[inline(always)]
fn grad_input_row_body<T: WithDType>(grad: &[T], out: &mut [T], n: usize, w: &[T], width: usize) {
    let c_in = out.len() / n;
    for (ci, out_channel) in out.chunks_mut(n).enumerate() {
        for (c, grad_channel) in grad.chunks(n).enumerate() {
            for k in 0..width {
                let weight = w[(c * c_in + ci) * width + k];
                // Output t read input t + shift: input s gets gradient from t = s − shift.
                let Some((shift, t0, t1)) = tap_range(k, width, n) else {
                    continue;
                };
                let target = &mut out_channel[(t0 as isize + shift) as usize..][..t1 - t0];
                for (o, &v) in target.iter_mut().zip(&grad_channel[t0..t1]) {
                    *o += weight * v;
                }
            }
        }
    }
}

/// The parameter gradients, packed `[c_out, c_in · k + 1]`: ∂L/∂w[c, ci, k] =
/// Σ_b Σ_t g[b, c, t] · x[b, ci, t + k − pad_left], then ∂L/∂bias[c] = Σ_b Σ_t g[b, c, t].
/// Per-row partial sums in parallel, added in row order.
fn grad_parameters<T: WithDType>(
    x: &[T],
    (b, c_in, n): (usize, usize, usize),
    g: &[T],
    c_out: usize,
    width: usize,
) -> Vec<T> {
    let stride = c_in * width + 1;
    let size = c_out * stride;
    let partials: Vec<Vec<T>> = (0..b)
        .into_par_iter()
        .map(|row| {
            let mut partial = vec![T::from_f64(0.0); size];
            if n > 0 {
                let input = &x[row * c_in * n..(row + 1) * c_in * n];
                let grad = &g[row * c_out * n..(row + 1) * c_out * n];
                grad_parameters_row(input, grad, &mut partial, n, width);
            }
            partial
        })
        .collect();
    let mut sums = vec![T::from_f64(0.0); size];
    for partial in partials {
        for (s, p) in sums.iter_mut().zip(partial) {
            *s += p;
        }
    }
    sums
}

vectorized! {
    /// [`grad_parameters`] of one row, into `packed` `[c_out, c_in · k + 1]`.
    fn grad_parameters_row<T>(input: &[T], grad: &[T], packed: &mut [T], n: usize, width: usize)
        = grad_parameters_row_body;
}

#[inline(always)]
fn grad_parameters_row_body<T: WithDType>(
    input: &[T],
    grad: &[T],
    packed: &mut [T],
    n: usize,
    width: usize,
) {
    let stride = input.len() / n * width + 1;
    for (c, grad_channel) in grad.chunks(n).enumerate() {
        let packed = &mut packed[c * stride..(c + 1) * stride];
        for (ci, in_channel) in input.chunks(n).enumerate() {
            for k in 0..width {
                let Some((shift, t0, t1)) = tap_range(k, width, n) else {
                    continue;
                };
                let source = &in_channel[(t0 as isize + shift) as usize..][..t1 - t0];
                packed[ci * width + k] = dot(&grad_channel[t0..t1], source);
            }
        }
        packed[stride - 1] = total(grad_channel);
    }
}

/// `Conv1d(c_in, c_out, k, padding="same")`: inputs `[b, c_in, n]`, weight
/// `[c_out, c_in, k]` and bias `[c_out]`, output `[b, c_out, n]`.
struct SameConv1d;

impl CustomOp3 for SameConv1d {
    fn name(&self) -> &'static str {
        "same-conv1d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c_in, n) = dims3(l1)?;
        let (c_out, w_in, width) = dims3(l2)?;
        if w_in != c_in || width == 0 || l3.shape().dims() != [c_out] {
            candle_core::bail!(
                "same-conv1d: weight [{c_out}, {w_in}, {width}], bias {:?} for {c_in} input channels",
                l3.shape().dims()
            );
        }
        let storage = match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
                f32::to_cpu_storage_owned(forward(
                    slice::<f32>(s1, l1)?,
                    (b, c_in, n),
                    slice(s2, l2)?,
                    slice(s3, l3)?,
                    width,
                ))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
                f64::to_cpu_storage_owned(forward(
                    slice::<f64>(s1, l1)?,
                    (b, c_in, n),
                    slice(s2, l2)?,
                    slice(s3, l3)?,
                    width,
                ))
            }
            _ => candle_core::bail!("same-conv1d needs f32 or f64 inputs of one dtype"),
        };
        Ok((storage, Shape::from((b, c_out, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (c_out, c_in, width) = w.dims3()?;
        let grad_x = grad.apply_op2_no_bwd(w, &SameConv1dGradInput)?;
        let packed = x.apply_op2_no_bwd(&grad, &SameConv1dGradParameters { width })?;
        let grad_w = packed
            .narrow(1, 0, c_in * width)?
            .contiguous()?
            .reshape((c_out, c_in, width))?;
        let grad_b = packed
            .narrow(1, c_in * width, 1)?
            .contiguous()?
            .reshape(c_out)?;
        Ok((Some(grad_x), Some(grad_w), Some(grad_b)))
    }
}

/// The input gradient of [`SameConv1d`]: (output gradient, weight) → `[b, c_in, n]`.
struct SameConv1dGradInput;

impl CustomOp2 for SameConv1dGradInput {
    fn name(&self) -> &'static str {
        "same-conv1d-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c_out, n) = dims3(l1)?;
        let (w_out, c_in, width) = dims3(l2)?;
        if w_out != c_out {
            candle_core::bail!("same-conv1d: gradient of {c_out} channels, weight of {w_out}");
        }
        let storage = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => f32::to_cpu_storage_owned(grad_input(
                slice::<f32>(s1, l1)?,
                (b, c_out, n),
                slice(s2, l2)?,
                c_in,
                width,
            )),
            (CpuStorage::F64(_), CpuStorage::F64(_)) => f64::to_cpu_storage_owned(grad_input(
                slice::<f64>(s1, l1)?,
                (b, c_out, n),
                slice(s2, l2)?,
                c_in,
                width,
            )),
            _ => candle_core::bail!("same-conv1d needs f32 or f64 inputs of one dtype"),
        };
        Ok((storage, Shape::from((b, c_in, n))))
    }
}

/// The parameter gradients of [`SameConv1d`]: (input, output gradient) →
/// `[c_out, c_in · k + 1]` (weight gradient, then bias gradient, per output channel).
struct SameConv1dGradParameters {
    width: usize,
}

impl CustomOp2 for SameConv1dGradParameters {
    fn name(&self) -> &'static str {
        "same-conv1d-grad-parameters"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c_in, n) = dims3(l1)?;
        let (g_b, c_out, g_n) = dims3(l2)?;
        if (g_b, g_n) != (b, n) {
            candle_core::bail!("same-conv1d: gradient and input shapes differ");
        }
        let width = self.width;
        let storage = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => f32::to_cpu_storage_owned(grad_parameters(
                slice::<f32>(s1, l1)?,
                (b, c_in, n),
                slice(s2, l2)?,
                c_out,
                width,
            )),
            (CpuStorage::F64(_), CpuStorage::F64(_)) => f64::to_cpu_storage_owned(grad_parameters(
                slice::<f64>(s1, l1)?,
                (b, c_in, n),
                slice(s2, l2)?,
                c_out,
                width,
            )),
            _ => candle_core::bail!("same-conv1d needs f32 or f64 inputs of one dtype"),
        };
        Ok((storage, Shape::from((c_out, c_in * width + 1))))
    }
}

/// relu → max-pool → flatten of one `[c, n]` row into `[(n / pool) · c]`, position-major,
/// each feature times its dropout multiplier (with a mask).
fn pool_forward<T: WithDType>(
    x: &[T],
    c: usize,
    n: usize,
    pool: usize,
    mask: Option<&[f32]>,
    out: &mut [T],
) {
    let zero = T::from_f64(0.0);
    for (j, features) in out.chunks_mut(c).enumerate() {
        for (ch, feature) in features.iter_mut().enumerate() {
            let window = &x[ch * n + j * pool..][..pool];
            *feature = window.iter().fold(zero, |m, &v| if v > m { v } else { m });
        }
    }
    if let Some(mask) = mask {
        for (feature, &m) in out.iter_mut().zip(mask) {
            *feature *= T::from_f64(f64::from(m));
        }
    }
}

/// The input gradient of one row: each feature's gradient goes to the first position of
/// its window holding the window's maximum, if that maximum is positive (relu passes it).
/// The gradient is first multiplied by the feature's dropout multiplier (with a mask).
/// Branch-free: which position wins is data, not control flow.
fn pool_backward<T: WithDType>(
    x: &[T],
    grad: &[T],
    c: usize,
    n: usize,
    pool: usize,
    mask: Option<&[f32]>,
    out: &mut [T],
) {
    let zero = T::from_f64(0.0);
    for (j, features) in grad.chunks(c).enumerate() {
        for (ch, &g) in features.iter().enumerate() {
            let g = match mask {
                Some(mask) => g * T::from_f64(f64::from(mask[j * c + ch])),
                None => g,
            };
            let start = ch * n + j * pool;
            let window = &x[start..start + pool];
            let (mut best, mut maximum) = (0, window[0]);
            for (i, &v) in window.iter().enumerate().skip(1) {
                let better = v > maximum;
                best = if better { i } else { best };
                maximum = if better { v } else { maximum };
            }
            out[start + best] = if maximum > zero { g } else { zero };
        }
    }
}

/// relu → `MaxPool1d(pool)` → flatten → dropout, on `[b, c, n]`.
struct ReluMaxPoolFlatten {
    pool: usize,
    /// Dropout multipliers of the output features (`b × features`), if any.
    mask: Option<Arc<[f32]>>,
}

impl ReluMaxPoolFlatten {
    /// Row `row`'s multipliers.
    fn row_mask(&self, row: usize, features: usize) -> Option<&[f32]> {
        self.mask
            .as_deref()
            .map(|m| &m[row * features..(row + 1) * features])
    }
}

impl ReluMaxPoolFlatten {
    fn run<T: WithDType>(&self, x: &[T], (b, c, n): (usize, usize, usize)) -> Vec<T> {
        let features = n / self.pool * c;
        let mut y = vec![T::from_f64(0.0); b * features];
        if features == 0 {
            return y;
        }
        y.par_chunks_mut(features)
            .enumerate()
            .for_each(|(row, out)| {
                let input = &x[row * c * n..(row + 1) * c * n];
                pool_forward(input, c, n, self.pool, self.row_mask(row, features), out);
            });
        y
    }
}

impl CustomOp1 for ReluMaxPoolFlatten {
    fn name(&self) -> &'static str {
        "relu-max-pool-flatten"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, n) = dims3(layout)?;
        let storage = match storage {
            CpuStorage::F32(_) => {
                f32::to_cpu_storage_owned(self.run(slice::<f32>(storage, layout)?, (b, c, n)))
            }
            CpuStorage::F64(_) => {
                f64::to_cpu_storage_owned(self.run(slice::<f64>(storage, layout)?, (b, c, n)))
            }
            _ => candle_core::bail!("relu-max-pool-flatten needs f32 or f64 input"),
        };
        Ok((storage, Shape::from((b, n / self.pool * c))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let pool = ReluMaxPoolFlatten {
            pool: self.pool,
            mask: self.mask.clone(),
        };
        Ok(Some(x.apply_op2_no_bwd(&grad, &PoolGrad(pool))?))
    }
}

/// The input gradient of [`ReluMaxPoolFlatten`]: (input, output gradient) → `[b, c, n]`.
struct PoolGrad(ReluMaxPoolFlatten);

impl PoolGrad {
    fn run<T: WithDType>(&self, x: &[T], grad: &[T], (b, c, n): (usize, usize, usize)) -> Vec<T> {
        let pool = &self.0;
        let features = n / pool.pool * c;
        let mut gx = vec![T::from_f64(0.0); b * c * n];
        if c * n == 0 {
            return gx;
        }
        gx.par_chunks_mut(c * n).enumerate().for_each(|(row, out)| {
            let input = &x[row * c * n..(row + 1) * c * n];
            let g = &grad[row * features..(row + 1) * features];
            let mask = pool.row_mask(row, features);
            pool_backward(input, g, c, n, pool.pool, mask, out);
        });
        gx
    }
}

impl CustomOp2 for PoolGrad {
    fn name(&self) -> &'static str {
        "relu-max-pool-flatten-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = dims3(l1)?;
        let (b, c, n) = dims;
        if l2.shape().elem_count() != b * (n / self.0.pool) * c {
            candle_core::bail!("relu-max-pool-flatten: gradient of the wrong size");
        }
        let storage = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                f32::to_cpu_storage_owned(self.run(slice::<f32>(s1, l1)?, slice(s2, l2)?, dims))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                f64::to_cpu_storage_owned(self.run(slice::<f64>(s1, l1)?, slice(s2, l2)?, dims))
            }
            _ => candle_core::bail!("relu-max-pool-flatten needs f32 or f64 inputs of one dtype"),
        };
        Ok((storage, Shape::from(dims)))
    }
}

/// relu → `MaxPool1d(pool)` (the incomplete last window dropped) → flatten position-major,
/// channel-minor: `[b, c, n]` → `[b, (n / pool) · c]` with feature index
/// `pool_position · c + channel`, what [`crate::nn::conv_pool::ConvReluPool`] fuses for
/// inference, then times the dropout multipliers `mask` (`[b, features]`, not
/// differentiated) if given. Differentiable; the gradient of a window goes to its first
/// maximum.
pub fn relu_max_pool_flatten(x: &Tensor, pool: usize, mask: Option<Vec<f32>>) -> Result<Tensor> {
    if pool == 0 {
        candle_core::bail!("pooling window of 0");
    }
    let (b, c, n) = x.dims3()?;
    if mask.as_ref().is_some_and(|m| m.len() != b * (n / pool) * c) {
        candle_core::bail!("relu-max-pool-flatten: dropout mask of the wrong size");
    }
    x.contiguous()?.apply_op1(ReluMaxPoolFlatten {
        pool,
        mask: mask.map(Arc::from),
    })
}

/// relu(x) times the dropout multipliers `mask` (one per element, not differentiated):
/// one pass forward and backward where relu then a product would take several.
pub fn relu_dropout(x: &Tensor, mask: Vec<f32>) -> Result<Tensor> {
    if mask.len() != x.elem_count() {
        candle_core::bail!("relu-dropout: mask of the wrong size");
    }
    x.contiguous()?.apply_op1(ReluDropout(Arc::from(mask)))
}

/// relu → dropout with the given multipliers.
struct ReluDropout(Arc<[f32]>);

impl ReluDropout {
    /// relu(x)·m forward; for the gradient, g·m where x > 0 (`grad` given).
    fn run<T: WithDType>(&self, x: &[T], grad: Option<&[T]>) -> Vec<T> {
        let zero = T::from_f64(0.0);
        let mut out = vec![zero; x.len()];
        out.par_chunks_mut(PARALLEL_CHUNK)
            .enumerate()
            .for_each(|(chunk, out)| {
                let start = chunk * PARALLEL_CHUNK;
                let x = &x[start..start + out.len()];
                let mask = &self.0[start..start + out.len()];
                let source = grad.map_or(x, |g| &g[start..start + out.len()]);
                for (((o, &v), &s), &m) in out.iter_mut().zip(x).zip(source).zip(mask) {
                    *o = if v > zero {
                        s * T::from_f64(f64::from(m))
                    } else {
                        zero
                    };
                }
            });
        out
    }
}

/// Elements per parallel task of elementwise operations.
const PARALLEL_CHUNK: usize = 1 << 16;

impl CustomOp1 for ReluDropout {
    fn name(&self) -> &'static str {
        "relu-dropout"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let storage = match storage {
            CpuStorage::F32(_) => {
                f32::to_cpu_storage_owned(self.run(slice(storage, layout)?, None))
            }
            CpuStorage::F64(_) => {
                f64::to_cpu_storage_owned(self.run(slice(storage, layout)?, None))
            }
            _ => candle_core::bail!("relu-dropout needs f32 or f64 input"),
        };
        Ok((storage, layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(x.apply_op2_no_bwd(
            &grad,
            &ReluDropoutGrad(self.0.clone()),
        )?))
    }
}

/// The input gradient of [`ReluDropout`]: (input, output gradient) → input's shape.
struct ReluDropoutGrad(Arc<[f32]>);

impl CustomOp2 for ReluDropoutGrad {
    fn name(&self) -> &'static str {
        "relu-dropout-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            candle_core::bail!("relu-dropout: gradient and input shapes differ");
        }
        let op = ReluDropout(self.0.clone());
        let storage = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                f32::to_cpu_storage_owned(op.run(slice(s1, l1)?, Some(slice(s2, l2)?)))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                f64::to_cpu_storage_owned(op.run(slice(s1, l1)?, Some(slice(s2, l2)?)))
            }
            _ => candle_core::bail!("relu-dropout needs f32 or f64 inputs of one dtype"),
        };
        Ok((storage, l1.shape().clone()))
    }
}

/// `Conv1d(padding="same")` of `x` `[b, c_in, n]` with `weight` `[c_out, c_in, k]` and
/// `bias` `[c_out]`, differentiable w.r.t. all three.
pub fn same_conv1d(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, SameConv1d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv::Conv1dSame;
    use candle_core::{DType, Device, Module};
    use candle_nn::VarBuilder;
    use std::collections::HashMap;

    #[test]
    fn forward_matches_candles_convolution() {
        let dev = Device::Cpu;
        let weight = Tensor::randn(0f32, 1.0, (4, 2, 8), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1.0, 4, &dev).unwrap();
        let map = HashMap::from([
            ("weight".to_string(), weight.clone()),
            ("bias".to_string(), bias.clone()),
        ]);
        let reference =
            Conv1dSame::load(2, 4, 8, VarBuilder::from_tensors(map, DType::F32, &dev)).unwrap();
        for n in [1, 5, 300] {
            let x = Tensor::randn(0f32, 1.0, (3, 2, n), &dev).unwrap();
            let expected = reference.forward(&x).unwrap();
            let got = same_conv1d(&x, &weight, &bias).unwrap();
            let diff = (got - expected).unwrap().abs().unwrap().max_all().unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-5, "n = {n}");
        }
    }
}
