//! The dense layer `y = x Wᵀ + b` as one candle custom operation, for training.
//!
//! candle builds `x Wᵀ` from a transposed view of the weights, so the weight gradient comes
//! back transposed and is added into the gradient store element by element through strides:
//! for `dense_1` (192 × 15 028 weights) that strided sum was the largest single cost of a
//! training step. [`linear`] computes the weight gradient directly in the weights' own
//! layout, and skips the input gradient when the input is data rather than a result of
//! parameters (the element branches read windows of the spectra).

use crate::nn::bf16_dense::Bf16Linear;
use crate::nn::cpu_data::{slice, Data};
use crate::nn::precision::Bf16Kernel;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType};

/// `x Wᵀ + b` for `x` `[rows, in]`, `weight` `[out, in]` and `bias` `[out]`: `[rows, out]`,
/// differentiable w.r.t. all three. Computed as candle's `Linear` computes it (the same
/// matrix-product call, then the bias).
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, Linear)
}

/// The operation behind [`linear`].
struct Linear;

/// `(rows, inputs, outputs)` of a dense layer's operands `x` `[rows, inputs]`, `weight`
/// `[outputs, inputs]` and `bias` `[outputs]`, or an error naming the operation `op`.
fn linear_shape(
    op: &str,
    x: &Layout,
    weight: &Layout,
    bias: &Layout,
) -> Result<(usize, usize, usize)> {
    let (rows, inputs) = x.shape().dims2()?;
    let (outputs, w_in) = weight.shape().dims2()?;
    if w_in != inputs || bias.shape().dims() != [outputs] {
        candle_core::bail!(
            "{op}: weight [{outputs}, {w_in}], bias {:?} for {inputs} inputs",
            bias.shape().dims()
        );
    }
    Ok((rows, inputs, outputs))
}

/// `x Wᵀ + b`: `x` `[rows, inputs]`, `w` `[outputs, inputs]`, `bias` `[outputs]`.
fn forward<T: WithDType>(
    x: Data,
    w: Data,
    bias: Data,
    rows: usize,
    inputs: usize,
) -> Result<CpuStorage> {
    let (x, w, bias) = (slice::<T>(x)?, slice::<T>(w)?, slice::<T>(bias)?);
    let outputs = bias.len();
    let mut y = vec![T::from_f64(0.0); rows * outputs];
    if rows * outputs * inputs > 0 {
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: y is [rows, outputs] (row stride outputs), x is [rows, inputs] (row stride
        // inputs) and Wᵀ is read from w [outputs, inputs] (Wᵀ[k, j] = w[j · inputs + k]);
        // every index stays inside the slices whose lengths the caller checked.
        unsafe {
            gemm::gemm(
                rows,
                outputs,
                inputs,
                y.as_mut_ptr(),
                1,
                outputs as isize,
                false,
                x.as_ptr(),
                1,
                inputs as isize,
                w.as_ptr(),
                inputs as isize,
                1,
                T::from_f64(0.0),
                T::from_f64(1.0),
                false,
                false,
                false,
                parallelism,
            );
        }
    }
    for row in y.chunks_mut(outputs.max(1)) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    Ok(T::to_cpu_storage_owned(y))
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "linear"
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
        let (rows, inputs, outputs) = linear_shape(self.name(), l1, l2, l3)?;
        let (x, w, bias) = ((s1, l1), (s2, l2), (s3, l3));
        let storage = match s1.dtype() {
            DType::F32 => forward::<f32>(x, w, bias, rows, inputs)?,
            DType::F64 => forward::<f64>(x, w, bias, rows, inputs)?,
            dtype => candle_core::bail!("linear needs f32 or f64 inputs, not {dtype:?}"),
        };
        Ok((storage, Shape::from((rows, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.detach().contiguous()?;
        let grad_x = if x.track_op() {
            Some(grad.matmul(&w.detach())?)
        } else {
            None
        };
        // Parameters off the tape (a network frozen for Jacobians) need no gradient.
        let grad_w = w
            .track_op()
            .then(|| grad.t()?.matmul(&x.detach()))
            .transpose()?;
        let grad_b = bias.track_op().then(|| grad.sum(0)).transpose()?;
        Ok((grad_x, grad_w, grad_b))
    }
}

/// [`linear`] with its three matrix products in bfloat16 with float32 sums
/// ([`Bf16Linear`], by `kernel`): `x Wᵀ` forward, `grad · W` and `gradᵀ · x` backward, as
/// mixed-precision training runs them; the bias, its gradient and the weights the
/// optimiser updates stay float32. float32 tensors only.
pub fn bf16_linear(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    kernel: Bf16Kernel,
) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        Bf16LinearOp(kernel),
    )
}

/// The operation behind [`bf16_linear`].
struct Bf16LinearOp(Bf16Kernel);

impl Bf16LinearOp {
    /// `a` (`[rows, inner]`, row-major) times `b` given as `b(k, j)` for `k < inner`,
    /// `j < cols`, in bfloat16: `[rows, cols]`.
    fn product(
        &self,
        a: &[f32],
        rows: usize,
        inner: usize,
        cols: usize,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        Bf16Linear::from_fn(inner, vec![0.0; cols], self.0, b).product(a, rows)
    }
}

impl CustomOp3 for Bf16LinearOp {
    fn name(&self) -> &'static str {
        "bf16-linear"
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
        let (rows, inputs, outputs) = linear_shape(self.name(), l1, l2, l3)?;
        if s1.dtype() != DType::F32 {
            candle_core::bail!(
                "bfloat16 training needs float32 tensors, not {:?}",
                s1.dtype()
            );
        }
        let x = slice::<f32>((s1, l1))?;
        let w = slice::<f32>((s2, l2))?;
        let bias = slice::<f32>((s3, l3))?;
        let y = Bf16Linear::from_fn(inputs, bias.to_vec(), self.0, |i, o| w[o * inputs + i])
            .product(x, rows);
        Ok((CpuStorage::F32(y), Shape::from((rows, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, inputs) = x.dims2()?;
        let outputs = w.dim(0)?;
        let grad = grad.detach().contiguous()?;
        let grad_values = grad.flatten_all()?.to_vec1::<f32>()?;
        let device = x.device();
        let grad_x = if x.track_op() {
            let w = w.detach().flatten_all()?.to_vec1::<f32>()?;
            let values = self.product(&grad_values, rows, outputs, inputs, |o, i| {
                w[o * inputs + i]
            });
            Some(Tensor::from_vec(values, (rows, inputs), device)?)
        } else {
            None
        };
        let grad_w = if w.track_op() {
            let x = x.detach().flatten_all()?.to_vec1::<f32>()?;
            let grad_t = grad.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
            let values = self.product(&grad_t, outputs, rows, inputs, |r, i| x[r * inputs + i]);
            Some(Tensor::from_vec(values, (outputs, inputs), device)?)
        } else {
            None
        };
        let grad_b = bias.track_op().then(|| grad.sum(0)).transpose()?;
        Ok((grad_x, grad_w, grad_b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, Var};

    #[test]
    fn matches_candles_linear_forward_and_gradients() {
        let dev = Device::Cpu;
        let w = Var::randn(0f32, 1.0, (7, 300), &dev).unwrap();
        let b = Var::randn(0f32, 1.0, 7, &dev).unwrap();
        let x = Var::randn(0f32, 1.0, (5, 300), &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (5, 7), &dev).unwrap();
        let reference = candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()))
            .forward(x.as_tensor())
            .unwrap();
        let got = linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let largest = |t: Tensor| {
            t.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(largest((&got - &reference).unwrap()), 0.0);
        let ours = (got * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let theirs = (reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&w, &b, &x] {
            let a = ours.get(v.as_tensor()).unwrap();
            let e = theirs.get(v.as_tensor()).unwrap();
            assert_eq!(a.dims(), v.dims());
            assert!(largest((a - e).unwrap()) < 1e-4);
        }
    }

    #[test]
    fn the_bf16_layer_runs_its_three_products_in_bfloat16() {
        let dev = Device::Cpu;
        let (rows, inputs, outputs) = (6, 301, 9);
        let w = Var::randn(0f32, 1.0, (outputs, inputs), &dev).unwrap();
        let b = Var::randn(0f32, 1.0, outputs, &dev).unwrap();
        let x = Var::randn(0f32, 1.0, (rows, inputs), &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (rows, outputs), &dev).unwrap();
        let kernel = Bf16Kernel::Emulated;
        let got = bf16_linear(x.as_tensor(), w.as_tensor(), b.as_tensor(), kernel).unwrap();
        // Forward: the inference layer's bfloat16 product, bit for bit.
        let (wv, xv, rv) = (
            w.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            x.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            r.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        let bias = b.as_tensor().to_vec1::<f32>().unwrap();
        let forward = Bf16Linear::from_fn(inputs, bias, kernel, |i, o| wv[o * inputs + i]);
        assert_eq!(
            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            forward.product(&xv, rows)
        );
        // Backward: grad_x = r · W and grad_w = rᵀ · x, each a bfloat16 product.
        let grads = (got * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let as_vec = |v: &Var| {
            grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let zeros = |n: usize| vec![0f32; n];
        let grad_x = Bf16Linear::from_fn(outputs, zeros(inputs), kernel, |o, i| wv[o * inputs + i])
            .product(&rv, rows);
        assert_eq!(as_vec(&x), grad_x);
        let r_t: Vec<f32> = (0..outputs)
            .flat_map(|o| (0..rows).map(move |row| (o, row)))
            .map(|(o, row)| rv[row * outputs + o])
            .collect();
        let grad_w =
            Bf16Linear::from_fn(rows, zeros(inputs), kernel, |row, i| xv[row * inputs + i])
                .product(&r_t, outputs);
        assert_eq!(as_vec(&w), grad_w);
        // And all of them close to float32's (bfloat16 keeps 8 bits: products within 2⁻⁸).
        let reference = linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let f32_grads = (reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&w, &b, &x] {
            let a = as_vec(v);
            let e = f32_grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let scale = e.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (p, q) in a.iter().zip(&e) {
                assert!((p - q).abs() <= 0.05 * scale, "{p} against {q}");
            }
        }
    }

    #[test]
    fn data_inputs_get_no_gradient() {
        let dev = Device::Cpu;
        let w = Var::randn(0f32, 1.0, (3, 4), &dev).unwrap();
        let b = Var::randn(0f32, 1.0, 3, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 4), &dev).unwrap();
        let grads = linear(&x, w.as_tensor(), b.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(grads.get(&x).is_none());
        assert!(grads.get(w.as_tensor()).is_some());
    }
}
