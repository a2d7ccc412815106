//! The dense layer `y = x Wᵀ + b` as one candle custom operation, for training.
//!
//! candle builds `x Wᵀ` from a transposed view of the weights, so the weight gradient comes
//! back transposed and is added into the gradient store element by element through strides:
//! for `dense_1` (192 × 15 028 weights) that strided sum was the largest single cost of a
//! training step. [`linear`] computes the weight gradient directly in the weights' own
//! layout, and skips the input gradient when the input is data rather than a result of
//! parameters (the element branches read windows of the spectra).

use crate::nn::cpu_data::{slice, Data};
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
        let (rows, inputs) = l1.shape().dims2()?;
        let (outputs, w_in) = l2.shape().dims2()?;
        if w_in != inputs || l3.shape().dims() != [outputs] {
            candle_core::bail!(
                "linear: weight [{outputs}, {w_in}], bias {:?} for {inputs} inputs",
                l3.shape().dims()
            );
        }
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
