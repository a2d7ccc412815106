//! A dense layer for large inputs, stored for the matrix product's sake.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// `y = x Wᵀ + b` with `Wᵀ` (`[in, out]`) kept contiguous. The matrix-product library then
/// reads the weights without repacking them on every call, which saves about a fifth of
/// `dense_1`'s time per spectrum (7512 × 192 weights).
#[derive(Debug, Clone)]
pub struct TransposedLinear {
    weight_t: Tensor,
    bias: Tensor,
}

/// The number of outputs of dense layer `layer` (its bias's length): how a loaded model's
/// hidden widths are found.
pub fn layer_width(vb: &VarBuilder, layer: &str) -> Result<usize> {
    vb.pp(layer).get_unchecked("bias")?.dim(0)
}

impl TransposedLinear {
    /// Loads PyTorch's `weight` `[out, in]` and `bias` `[out]`.
    pub fn load(inputs: usize, outputs: usize, vb: VarBuilder) -> Result<Self> {
        Ok(TransposedLinear {
            weight_t: vb.get((outputs, inputs), "weight")?.t()?.contiguous()?,
            bias: vb.get(outputs, "bias")?,
        })
    }

    /// `[rows, in]` → `[rows, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Module};
    use std::collections::HashMap;

    #[test]
    fn matches_a_pytorch_linear_layer() {
        let dev = Device::Cpu;
        let mut map = HashMap::new();
        map.insert(
            "weight".to_string(),
            Tensor::randn(0f32, 1.0, (7, 300), &dev).unwrap(),
        );
        map.insert(
            "bias".to_string(),
            Tensor::randn(0f32, 1.0, 7, &dev).unwrap(),
        );
        let vb = VarBuilder::from_tensors(map, DType::F32, &dev);
        let x = Tensor::randn(0f32, 1.0, (5, 300), &dev).unwrap();
        let expected = candle_nn::linear(300, 7, vb.clone())
            .unwrap()
            .forward(&x)
            .unwrap();
        let got = TransposedLinear::load(300, 7, vb)
            .unwrap()
            .forward(&x)
            .unwrap();
        let difference: f32 = (got - expected)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(difference < 1e-4, "{difference}");
    }
}
