//! An element branch's first dense layer (`elem_dense1.{i}`) on its ASPCAP window's pixels,
//! for several spectra at once.
//!
//! The layer does not depend on the dropout masks, so it runs once per spectrum. On one row
//! it is a matrix–vector product that reads every weight once: C's and N's layers are 256
//! wide on ~3,800-pixel windows, so the 19 branches read 8.3 MB of weights per spectrum for
//! 2 million multiply-adds, which at mc = 100 was 8 % of AstroNN's time, spent waiting on
//! memory (the matrix-product library's matrix–vector kernel). Here each output's weights
//! are read once per group of spectra and reused from cache for every spectrum of the
//! group. Each value is a fixed-order sum (`sums::dot`), so a spectrum gets the same bits
//! whatever group it is computed in.

use crate::nn::sums::dot;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// `x[window] Wᵀ + b` for each row of `x`.
#[derive(Debug, Clone)]
pub struct WindowDense {
    window: Vec<usize>,
    /// One past the window's largest pixel: the input width the layer needs.
    pixels_needed: usize,
    /// `[outputs, window]`, one output's weights contiguous (PyTorch's layout).
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl WindowDense {
    /// Loads PyTorch's `weight` `[outputs, window.len()]` and `bias` `[outputs]` for the
    /// pixels `window` (indices into the network's input).
    pub fn load(window: Vec<usize>, outputs: usize, vb: VarBuilder) -> Result<Self> {
        Ok(WindowDense {
            weight: vb
                .get((outputs, window.len()), "weight")?
                .flatten_all()?
                .to_vec1()?,
            bias: vb.get(outputs, "bias")?.to_vec1()?,
            pixels_needed: window.iter().max().map_or(0, |&last| last + 1),
            window,
        })
    }

    /// The layer's outputs before the relu for each row of `x` (`[rows, pixels]`):
    /// `[rows, outputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, pixels) = x.dims2()?;
        if self.pixels_needed > pixels {
            let last = self.pixels_needed - 1;
            candle_core::bail!("window pixel {last} is past the input's {pixels} pixels");
        }
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let gathered: Vec<Vec<f32>> = values
            .chunks_exact(pixels)
            .map(|row| self.window.iter().map(|&p| row[p]).collect())
            .collect();
        let (outputs, width) = (self.bias.len(), self.window.len());
        let mut out = vec![0f32; rows * outputs];
        // Output-major: one output's weights stay in cache while every row uses them.
        for (j, &bias) in self.bias.iter().enumerate() {
            let weights = &self.weight[j * width..(j + 1) * width];
            for (r, row) in gathered.iter().enumerate() {
                out[r * outputs + j] = dot(row, weights) + bias;
            }
        }
        Tensor::from_vec(out, (rows, outputs), x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{linear, Module, VarMap};

    /// The layer is candle's `Linear` on the window's pixels, to float32 rounding (its sums
    /// run in another order), and a row gets the same bits alone or in a group.
    #[test]
    fn is_a_dense_layer_on_the_window_whatever_the_group() {
        let window: Vec<usize> = (0..300).map(|i| i * 7 % 1000).collect();
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let reference = linear(window.len(), 24, vb.pp("dense")).unwrap();
        map.data().lock().unwrap()["dense.bias"]
            .set(&Tensor::rand(-1f32, 1.0, 24, &Device::Cpu).unwrap())
            .unwrap();
        let layer = WindowDense::load(window.clone(), 24, vb.pp("dense")).unwrap();
        let x = Tensor::randn(0f32, 1.0, (5, 1000), &Device::Cpu).unwrap();
        let ours = layer.forward(&x).unwrap();
        let indices = Tensor::from_vec(
            window.iter().map(|&p| p as u32).collect::<Vec<_>>(),
            window.len(),
            &Device::Cpu,
        )
        .unwrap();
        let theirs = reference
            .forward(&x.index_select(&indices, 1).unwrap())
            .unwrap();
        let (ours, theirs): (Vec<f32>, Vec<f32>) = (
            ours.flatten_all().unwrap().to_vec1().unwrap(),
            theirs.flatten_all().unwrap().to_vec1().unwrap(),
        );
        assert_eq!(ours.len(), 5 * 24);
        assert!(
            theirs.iter().any(|v| v.abs() > 1.0),
            "a real test needs values"
        );
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        for row in 0..5 {
            let alone = layer.forward(&x.narrow(0, row, 1).unwrap()).unwrap();
            let alone: Vec<f32> = alone.flatten_all().unwrap().to_vec1().unwrap();
            let grouped = &ours[row * 24..(row + 1) * 24];
            assert!(alone
                .iter()
                .zip(grouped)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn refuses_a_window_past_the_input() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let layer = WindowDense::load(vec![0, 10], 3, vb.pp("dense")).unwrap();
        let x = Tensor::zeros((1, 10), DType::F32, &Device::Cpu).unwrap();
        let message = layer.forward(&x).unwrap_err().to_string();
        assert!(message.contains("window pixel 10"), "{message}");
    }
}
