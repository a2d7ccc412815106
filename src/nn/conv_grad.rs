//! The full-spectrum branch's convolutions, relu, dropout and pooling as one candle custom
//! operation with an exact backward pass, for training (inference uses
//! [`crate::nn::conv`] and the fused kernel of [`crate::nn::conv_pool`]).
//!
//! - candle 0.11's own `conv1d` backward is wrong on the CPU: the kernel gradient is
//!   computed as a `conv1d` whose kernel is a transposed (non-contiguous) view, and the CPU
//!   im2col path copies such a kernel to a contiguous buffer but then multiplies with the
//!   original storage (huggingface/candle#3836, open). The convolutions here are direct
//!   loops instead (the layers have 1–4 channels, too few for a matrix product to pay).
//! - candle's `max` backward sends the gradient to every element equal to the maximum, so a
//!   pooling window with tied values (a conv2 window over all-zero, dropped-out inputs
//!   outputs its bias four times) passes it on four times. The pooling here routes it to
//!   the first maximum only, as PyTorch's `MaxPool1d` does.
//! - [`conv_trunk`] is one graph node from the spectra to the flattened features: the
//!   intermediate activations (`[b, 2, n]` and `[b, 4, n]`) never become tensors of the
//!   tape, and the backward pass runs spectrum by spectrum with its gradients in cache. As a
//!   chain of separate operations, candle's bookkeeping (a zeroed gradient per node, then a
//!   sum) cost more than the arithmetic.
//!
//! The loops run parallel over the batch with every sum in a fixed order, so results do not
//! depend on the thread count. Gradients are checked against finite differences in the
//! tests of `crate::train`.

use crate::nn::cpu_data::{slice, Data};
use crate::nn::sums::{dot, total};
use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Storage, Tensor, WithDType,
};
use rayon::prelude::*;
use std::sync::Mutex;

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

/// For tap `k` of a kernel of width `width`: the offset `k − pad_left` at which output
/// position t reads the input, and the output range `[t0, t1)` whose reads stay inside
/// `[0, n)` (the rest read the zero padding); `None` when no read does.
fn tap_range(k: usize, width: usize, n: usize) -> Option<(isize, usize, usize)> {
    let shift = k as isize - ((width - 1) / 2) as isize;
    let t0 = (-shift).max(0) as usize;
    let t1 = (n as isize - shift).clamp(0, n as isize) as usize;
    (t0 < t1).then_some((shift, t0, t1))
}

vectorized! {
    /// `Conv1d(padding="same")` of one row: `input` `[c_in, n]` → `out` `[c_out, n]`,
    /// out[c, t] = bias[c] + Σ_{ci, k} w[c, ci, k] · input[ci, t + k − pad_left].
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

vectorized! {
    /// The input gradient of one row's convolution: `grad` `[c_out, n]` → `out` `[c_in, n]`
    /// (zeroed), out[ci, s] = Σ_{c, k} w[c, ci, k] · grad[c, s − (k − pad_left)].
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

vectorized! {
    /// The parameter gradients of one row's convolution, packed `[c_out, c_in · k + 1]`:
    /// ∂L/∂w[c, ci, k] = Σ_t grad[c, t] · input[ci, t + k − pad_left], then
    /// ∂L/∂bias[c] = Σ_t grad[c, t].
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

/// The dropout multipliers of [`conv_trunk`]: one per conv1 output (`[b, c1, n]`) and one
/// per output feature (`[b, features]`).
#[derive(Debug, Clone)]
pub struct TrunkMasks {
    pub conv1: Vec<f32>,
    pub features: Vec<f32>,
}

/// conv1 → relu → dropout → conv2 → relu → `MaxPool1d(pool)` (the incomplete last window
/// dropped) → flatten → dropout, for spectra `x` `[b, n]` (one input channel):
/// `[b, (n / pool) · c2]` with feature index `pool_position · c2 + channel`, what
/// [`crate::nn::conv_pool::ConvReluPool`] fuses for inference. Convolutions are
/// `Conv1d(padding="same")` with `(weight [c_out, c_in, k], bias [c_out])`; dropout
/// multiplies by `masks` (not differentiated) when given.
///
/// Differentiable w.r.t. the four parameters; the spectra are data (a tracked `x` is an
/// error in the backward pass). The gradient of a pooling window goes to its first maximum.
pub fn conv_trunk(
    x: &Tensor,
    conv1: (&Tensor, &Tensor),
    conv2: (&Tensor, &Tensor),
    pool: usize,
    masks: Option<TrunkMasks>,
) -> Result<Tensor> {
    let (c1, c_in, width) = conv1.0.dims3()?;
    let (c2, c2_in, width2) = conv2.0.dims3()?;
    if c_in != 1 || c2_in != c1 || width2 != width || width == 0 || pool == 0 {
        candle_core::bail!(
            "conv trunk: conv1 weight {:?}, conv2 weight {:?}, pool {pool}",
            conv1.0.dims(),
            conv2.0.dims()
        );
    }
    let (b, n) = x.dims2()?;
    let features = n / pool * c2;
    if let Some(m) = &masks {
        if m.conv1.len() != b * c1 * n || m.features.len() != b * features {
            candle_core::bail!("conv trunk: dropout masks of the wrong size");
        }
    }
    let op = ConvTrunk {
        shape: TrunkShape {
            c1,
            c2,
            width,
            pool,
        },
        masks,
        saved: Mutex::new(None),
    };
    x.contiguous()?
        .apply_op3(&packed(conv1)?, &packed(conv2)?, op)
}

/// A convolution's weight and bias as one `[c_out, c_in · k + 1]` tensor (on the tape, so
/// that the packed gradient is split back to the two).
fn packed((weight, bias): (&Tensor, &Tensor)) -> Result<Tensor> {
    let (c_out, c_in, width) = weight.dims3()?;
    Tensor::cat(
        &[
            &weight.reshape((c_out, c_in * width))?,
            &bias.reshape((c_out, 1))?,
        ],
        1,
    )
}

/// Weight `[c_out, c_in, k]` (flat) and bias `[c_out]` from packed parameters.
fn unpack<T: WithDType>(packed: &[T], c_out: usize) -> (Vec<T>, Vec<T>) {
    let stride = packed.len() / c_out;
    let mut weight = Vec::with_capacity(c_out * (stride - 1));
    let mut bias = Vec::with_capacity(c_out);
    for row in packed.chunks(stride) {
        weight.extend_from_slice(&row[..stride - 1]);
        bias.push(row[stride - 1]);
    }
    (weight, bias)
}

#[derive(Debug, Clone, Copy)]
struct TrunkShape {
    c1: usize,
    c2: usize,
    width: usize,
    pool: usize,
}

/// The operation behind [`conv_trunk`]; it keeps the activations its backward pass needs.
struct ConvTrunk {
    shape: TrunkShape,
    masks: Option<TrunkMasks>,
    /// conv1's output after relu and dropout (`[b, c1, n]`) and conv2's output (`[b, c2, n]`).
    saved: Mutex<Option<(CpuStorage, CpuStorage)>>,
}

/// Row `row` of `mask` (`len` multipliers per row), if there is a mask.
fn mask_row(mask: Option<&Vec<f32>>, row: usize, len: usize) -> Option<&[f32]> {
    mask.map(|m| &m[row * len..(row + 1) * len])
}

/// relu(v) times its dropout multiplier, in place.
fn relu_dropout<T: WithDType>(values: &mut [T], mask: Option<&[f32]>) {
    let zero = T::from_f64(0.0);
    match mask {
        Some(mask) => {
            for (v, &m) in values.iter_mut().zip(mask) {
                *v = if *v > zero {
                    *v * T::from_f64(f64::from(m))
                } else {
                    zero
                };
            }
        }
        None => {
            for v in values.iter_mut() {
                *v = if *v > zero { *v } else { zero };
            }
        }
    }
}

/// The gradient through [`relu_dropout`], in place: `grad` times the multiplier where the
/// activation `h` (its output) is positive, else 0.
fn relu_dropout_backward<T: WithDType>(grad: &mut [T], h: &[T], mask: Option<&[f32]>) {
    let zero = T::from_f64(0.0);
    match mask {
        Some(mask) => {
            for ((g, &h), &m) in grad.iter_mut().zip(h).zip(mask) {
                *g = if h > zero {
                    *g * T::from_f64(f64::from(m))
                } else {
                    zero
                };
            }
        }
        None => {
            for (g, &h) in grad.iter_mut().zip(h) {
                *g = if h > zero { *g } else { zero };
            }
        }
    }
}

/// Forward outputs: the features and the two saved activations.
struct TrunkForward<T> {
    features: Vec<T>,
    h1: Vec<T>,
    a2: Vec<T>,
}

impl ConvTrunk {
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        (b, n): (usize, usize),
        p1: &[T],
        p2: &[T],
    ) -> TrunkForward<T> {
        let TrunkShape {
            c1,
            c2,
            width,
            pool,
        } = self.shape;
        let features = n / pool * c2;
        let zero = T::from_f64(0.0);
        let mut out = TrunkForward {
            features: vec![zero; b * features],
            h1: vec![zero; b * c1 * n],
            a2: vec![zero; b * c2 * n],
        };
        if n == 0 {
            return out;
        }
        let (w1, b1) = unpack(p1, c1);
        let (w2, b2) = unpack(p2, c2);
        let masks = self.masks.as_ref();
        out.features
            .par_chunks_mut(features.max(1))
            .zip(out.h1.par_chunks_mut(c1 * n))
            .zip(out.a2.par_chunks_mut(c2 * n))
            .enumerate()
            .for_each(|(row, ((flat, h1), a2))| {
                forward_row(&x[row * n..(row + 1) * n], h1, n, &w1, &b1, width);
                relu_dropout(h1, mask_row(masks.map(|m| &m.conv1), row, c1 * n));
                forward_row(h1, a2, n, &w2, &b2, width);
                let mask = mask_row(masks.map(|m| &m.features), row, features);
                pool_forward(a2, c2, n, pool, mask, &mut flat[..features]);
            });
        out
    }

    /// The packed parameter gradients of conv1 and conv2 for the output gradient `grad`:
    /// per-spectrum partial sums in parallel, added in spectrum order; with `p1` (conv1's
    /// packed parameters), also the gradient with respect to the spectra `x` (`[b, n]`).
    #[allow(clippy::too_many_arguments)]
    fn backward<T: WithDType>(
        &self,
        x: &[T],
        (b, n): (usize, usize),
        p1: Option<&[T]>,
        p2: &[T],
        h1: &[T],
        a2: &[T],
        grad: &[T],
    ) -> (Vec<T>, Vec<T>, Option<Vec<T>>) {
        let TrunkShape {
            c1,
            c2,
            width,
            pool,
        } = self.shape;
        let features = n / pool * c2;
        let zero = T::from_f64(0.0);
        let sizes = (c1 * (width + 1), c2 * (c1 * width + 1));
        let (w2, _) = unpack(p2, c2);
        let w1 = p1.map(|p1| unpack(p1, c1).0);
        let masks = self.masks.as_ref();
        let partials: Vec<(Vec<T>, Vec<T>, Vec<T>)> = (0..b)
            .into_par_iter()
            .map_init(
                || (vec![zero; c2 * n], vec![zero; c1 * n]),
                |(grad_a2, grad_h1), row| {
                    let mut partial = (vec![zero; sizes.0], vec![zero; sizes.1], Vec::new());
                    if n == 0 {
                        return partial;
                    }
                    let h1 = &h1[row * c1 * n..(row + 1) * c1 * n];
                    grad_a2.fill(zero);
                    let mask = mask_row(masks.map(|m| &m.features), row, features);
                    let g = &grad[row * features..(row + 1) * features];
                    pool_backward(
                        &a2[row * c2 * n..(row + 1) * c2 * n],
                        g,
                        c2,
                        n,
                        pool,
                        mask,
                        grad_a2,
                    );
                    grad_parameters_row(h1, grad_a2, &mut partial.1, n, width);
                    grad_h1.fill(zero);
                    grad_input_row(grad_a2, grad_h1, n, &w2, width);
                    relu_dropout_backward(
                        grad_h1,
                        h1,
                        mask_row(masks.map(|m| &m.conv1), row, c1 * n),
                    );
                    grad_parameters_row(
                        &x[row * n..(row + 1) * n],
                        grad_h1,
                        &mut partial.0,
                        n,
                        width,
                    );
                    if let Some(w1) = &w1 {
                        partial.2 = vec![zero; n];
                        grad_input_row(grad_h1, &mut partial.2, n, w1, width);
                    }
                    partial
                },
            )
            .collect();
        let mut sums = (vec![zero; sizes.0], vec![zero; sizes.1]);
        let mut grad_x = w1.as_ref().map(|_| Vec::with_capacity(b * n));
        for (p1, p2, gx) in partials {
            for (s, p) in sums.0.iter_mut().zip(p1) {
                *s += p;
            }
            for (s, p) in sums.1.iter_mut().zip(p2) {
                *s += p;
            }
            if let Some(grad_x) = grad_x.as_mut() {
                grad_x.extend(gx);
            }
        }
        (sums.0, sums.1, grad_x)
    }
}

impl ConvTrunk {
    /// [`ConvTrunk::forward`] on storages of `T`: the features, and the activations to save.
    fn forward_storage<T: WithDType>(
        &self,
        x: Data,
        p1: Data,
        p2: Data,
        dims: (usize, usize),
    ) -> Result<(CpuStorage, (CpuStorage, CpuStorage))> {
        let out = self.forward(slice::<T>(x)?, dims, slice(p1)?, slice(p2)?);
        Ok((
            T::to_cpu_storage_owned(out.features),
            (
                T::to_cpu_storage_owned(out.h1),
                T::to_cpu_storage_owned(out.a2),
            ),
        ))
    }

    /// [`ConvTrunk::backward`] on storages of `T` (spectra, packed conv1 and conv2
    /// parameters, output gradient; the saved activations): the packed gradients of conv1
    /// and conv2, and with `input_gradient` the gradient with respect to the spectra.
    fn gradients<T: WithDType>(
        &self,
        [x, p1, p2, grad]: [Data; 4],
        (h1, a2): (&CpuStorage, &CpuStorage),
        (dims, input_gradient): ((usize, usize), bool),
        device: &Device,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (h1, a2) = (h1.as_slice::<T>()?, a2.as_slice::<T>()?);
        let p1 = input_gradient.then(|| slice::<T>(p1)).transpose()?;
        let (g1, g2, gx) =
            self.backward(slice::<T>(x)?, dims, p1, slice(p2)?, h1, a2, slice(grad)?);
        let TrunkShape { c1, c2, width, .. } = self.shape;
        Ok((
            Tensor::from_vec(g1, (c1, width + 1), device)?,
            Tensor::from_vec(g2, (c2, c1 * width + 1), device)?,
            gx.map(|gx| Tensor::from_vec(gx, dims, device))
                .transpose()?,
        ))
    }
}

impl CustomOp3 for ConvTrunk {
    fn name(&self) -> &'static str {
        "conv-trunk"
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
        let (b, n) = l1.shape().dims2()?;
        let TrunkShape {
            c1,
            c2,
            width,
            pool,
        } = self.shape;
        if l2.shape().dims() != [c1, width + 1] || l3.shape().dims() != [c2, c1 * width + 1] {
            candle_core::bail!("conv trunk: packed parameters of the wrong shape");
        }
        let (features, saved) = match s1.dtype() {
            DType::F32 => self.forward_storage::<f32>((s1, l1), (s2, l2), (s3, l3), (b, n))?,
            DType::F64 => self.forward_storage::<f64>((s1, l1), (s2, l2), (s3, l3), (b, n))?,
            dtype => candle_core::bail!("conv trunk needs f32 or f64 inputs, not {dtype:?}"),
        };
        *self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv trunk: lock poisoned".into()))? =
            Some(saved);
        Ok((features, Shape::from((b, n / pool * c2))))
    }

    /// The parameters' gradients, and the spectra's when they are on the tape (a variable,
    /// for Jacobians, or a result of other operations).
    fn bwd(
        &self,
        x: &Tensor,
        p1: &Tensor,
        p2: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let input_gradient = x.track_op();
        let dims = x.dims2()?;
        let grad = grad.contiguous()?;
        let saved = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv trunk: lock poisoned".into()))?;
        let Some((h1, a2)) = saved.as_ref() else {
            candle_core::bail!("conv trunk: backward pass before the forward pass");
        };
        let (x_data, x_layout) = x.storage_and_layout();
        let (p1_data, p1_layout) = p1.storage_and_layout();
        let (p2_data, p2_layout) = p2.storage_and_layout();
        let (grad_data, grad_layout) = grad.storage_and_layout();
        let (
            Storage::Cpu(x_data),
            Storage::Cpu(p1_data),
            Storage::Cpu(p2_data),
            Storage::Cpu(grad_data),
        ) = (&*x_data, &*p1_data, &*p2_data, &*grad_data)
        else {
            candle_core::bail!("conv trunk runs on the CPU only");
        };
        let inputs = [
            (x_data, x_layout),
            (p1_data, p1_layout),
            (p2_data, p2_layout),
            (grad_data, grad_layout),
        ];
        let what = (dims, input_gradient);
        let (g1, g2, gx) = match x_data.dtype() {
            DType::F32 => self.gradients::<f32>(inputs, (h1, a2), what, x.device())?,
            DType::F64 => self.gradients::<f64>(inputs, (h1, a2), what, x.device())?,
            dtype => candle_core::bail!("conv trunk needs f32 or f64 inputs, not {dtype:?}"),
        };
        Ok((gx, Some(g1), Some(g2)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv::Conv1dSame;
    use candle_core::{DType, Device, Module, D};
    use candle_nn::VarBuilder;
    use std::collections::HashMap;

    /// candle's `Conv1d(padding="same")` with the given parameters.
    fn reference_conv(weight: &Tensor, bias: &Tensor) -> Conv1dSame {
        let (c_out, c_in, width) = weight.dims3().unwrap();
        let map = HashMap::from([
            ("weight".to_string(), weight.clone()),
            ("bias".to_string(), bias.clone()),
        ]);
        let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
        Conv1dSame::load(c_in, c_out, width, vb).unwrap()
    }

    #[test]
    fn forward_matches_candles_layers() {
        let dev = Device::Cpu;
        let randn = |shape: &[usize]| Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
        let (w1, b1, w2, b2) = (
            randn(&[2, 1, 8]),
            randn(&[2]),
            randn(&[4, 2, 8]),
            randn(&[4]),
        );
        let (conv1, conv2) = (reference_conv(&w1, &b1), reference_conv(&w2, &b2));
        for n in [1, 5, 301] {
            let x = randn(&[3, n]);
            let a2 = conv2
                .forward(
                    &conv1
                        .forward(&x.unsqueeze(1).unwrap())
                        .unwrap()
                        .relu()
                        .unwrap(),
                )
                .unwrap()
                .relu()
                .unwrap();
            let got = conv_trunk(&x, (&w1, &b1), (&w2, &b2), 2, None).unwrap();
            // Max over windows of 2, the incomplete one dropped, flattened position-major.
            let windows = n / 2;
            assert_eq!(got.dims(), [3, windows * 4]);
            if windows == 0 {
                continue;
            }
            let expected = a2
                .narrow(2, 0, windows * 2)
                .unwrap()
                .reshape((3, 4, windows, 2))
                .unwrap()
                .max(D::Minus1)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .flatten_from(1)
                .unwrap();
            // Relative to the largest value: the two sum their products in other orders, and
            // with random weights activations reach ~20, where f32 steps are 2e-6.
            let largest = expected.abs().unwrap().max_all().unwrap();
            let largest = largest.to_scalar::<f32>().unwrap().max(1.0);
            let diff = (got - expected).unwrap().abs().unwrap().max_all().unwrap();
            let diff = diff.to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5 * largest, "n = {n}: {diff} of {largest}");
        }
    }

    #[test]
    fn pooling_gradient_goes_to_the_first_positive_maximum_only() {
        // Windows: a tie of positive values, all negative, all zero, a single maximum.
        let x = [
            2.0, 2.0, 1.0, 0.0, -1.0, -2.0, -1.0, -3.0, 0.0, 0.0, 0.0, 0.0, 0.5, 3.0, 3.0, 1.0,
        ];
        let mut features = [0.0; 4];
        pool_forward(&x, 1, 16, 4, None, &mut features);
        assert_eq!(features, [2.0, 0.0, 0.0, 3.0]);
        let mut grad = [0.0; 16];
        pool_backward(&x, &[1.0, 1.0, 1.0, 1.0], 1, 16, 4, None, &mut grad);
        let mut expected = [0.0; 16];
        expected[0] = 1.0;
        expected[13] = 1.0;
        assert_eq!(grad, expected);
        // With dropout, the gradient is scaled by the feature's multiplier.
        let mut grad = [0.0; 16];
        pool_backward(
            &x,
            &[1.0; 4],
            1,
            16,
            4,
            Some(&[0.0, 1.0, 1.0, 2.5]),
            &mut grad,
        );
        expected[0] = 0.0;
        expected[13] = 2.5;
        assert_eq!(grad, expected);
    }

    /// Spectra on the tape (as for Jacobians) get their gradient; its values are checked
    /// against finite differences in `crate::train::gradcheck`.
    #[test]
    fn spectra_on_the_tape_get_a_gradient() {
        let dev = Device::Cpu;
        let x = candle_core::Var::randn(0f32, 1.0, (1, 16), &dev).unwrap();
        let (w1, b1) = (
            Tensor::ones((2, 1, 8), DType::F32, &dev).unwrap(),
            Tensor::zeros(2, DType::F32, &dev).unwrap(),
        );
        let (w2, b2) = (
            candle_core::Var::ones((4, 2, 8), DType::F32, &dev).unwrap(),
            Tensor::zeros(4, DType::F32, &dev).unwrap(),
        );
        let y = conv_trunk(x.as_tensor(), (&w1, &b1), (w2.as_tensor(), &b2), 2, None).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(grads.get(x.as_tensor()).unwrap().dims(), [1, 16]);
        assert!(grads.get(w2.as_tensor()).is_some());
    }
}
