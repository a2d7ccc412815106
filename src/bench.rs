//! Throughput measurements behind `astronn bench`: each network alone (MC inference as
//! `predict` runs it), `predict` end to end from apStar files, and training steps.

use crate::io::model_file::ModelFile;
use crate::nn::bf16_dense::Bf16Linear;
use crate::nn::dropout::MaskStream;
use crate::nn::mc::output_statistics_each;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Bf16Kernel;
use crate::pipeline::predict::group_size;
use crate::train::config::TrainConfig;
use crate::train::data::TrainingSet;
use crate::train::trainer::CensoredTrainer;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use std::time::Instant;

/// One measured throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What was measured.
    pub what: String,
    /// Spectra processed.
    pub spectra: usize,
    /// Wall time.
    pub seconds: f64,
    /// Floating-point operations per spectrum, where known.
    pub flops_per_spectrum: Option<f64>,
}

impl Measurement {
    /// Spectra per second.
    pub fn rate(&self) -> f64 {
        self.spectra as f64 / self.seconds.max(1e-12)
    }

    /// Achieved GFLOP/s, where the work is known.
    pub fn gflops(&self) -> Option<f64> {
        self.flops_per_spectrum.map(|f| f * self.rate() / 1e9)
    }
}

/// Layers computed once per spectrum (before the dropout masks matter).
fn mask_independent(layer: &str) -> bool {
    layer == "conv1" || layer.starts_with("elem_dense1.")
}

/// Floating-point operations of one spectrum's inference with `samples` MC samples (a
/// deterministic pass for 0): 2 per multiply-add of every dense and convolution layer, the
/// mask-independent ones counted once.
pub fn inference_flops(model: &ModelFile, samples: usize, pixels: usize) -> f64 {
    let samples = samples.max(1) as f64;
    model
        .tensors
        .iter()
        .filter_map(|(name, tensor)| {
            let layer = name.strip_suffix(".weight")?;
            let per_pass = match tensor.dims() {
                [out, input] => 2.0 * (out * input) as f64,
                [out, input, kernel] => 2.0 * (out * input * kernel * pixels) as f64,
                _ => return None,
            };
            Some(if mask_independent(layer) {
                per_pass
            } else {
                per_pass * samples
            })
        })
        .sum()
}

/// A float32 matrix product `[rows, inner] × [inner, cols]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductShape {
    pub rows: usize,
    pub inner: usize,
    pub cols: usize,
}

impl ProductShape {
    /// The square product `[n, n] × [n, n]`.
    pub fn square(n: usize) -> Self {
        ProductShape {
            rows: n,
            inner: n,
            cols: n,
        }
    }

    /// The network's dominant product: `dense_1` (`[in, out]` weights) applied to the
    /// `samples` MC samples of one spectrum at once, as inference runs it. `None` for a
    /// model without `dense_1`.
    pub fn dense_1(model: &ModelFile, samples: usize) -> Option<Self> {
        match model.tensors.get("dense_1.weight")?.dims() {
            &[out, input] => Some(ProductShape {
                rows: samples.max(1),
                inner: input,
                cols: out,
            }),
            _ => None,
        }
    }

    /// Floating-point operations of one product (2 per multiply-add).
    pub fn flops(&self) -> f64 {
        2.0 * (self.rows * self.inner * self.cols) as f64
    }
}

impl std::fmt::Display for ProductShape {
    /// `[rows, inner] × [inner, cols]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ProductShape { rows, inner, cols } = self;
        write!(f, "[{rows}, {inner}] × [{inner}, {cols}]")
    }
}

/// How a measured product uses the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductThreads {
    /// Every thread of the pool runs its own product at once, as inference runs one
    /// spectrum per thread.
    OnePerThread,
    /// One product at a time, split over the pool by the matrix-product library.
    Shared,
}

/// A measured matrix-product rate.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRate {
    /// What was measured.
    pub what: String,
    /// The best GFLOP/s of the timed rounds.
    pub gflops: f64,
}

/// Shortest time spent measuring one product rate.
const PRODUCT_SECONDS: f64 = 1.0;

/// Rounds timed per product rate, at least.
const PRODUCT_ROUNDS: usize = 3;

/// The machine's float32 matrix-product rate for `shape`, through candle (the library of
/// the networks' dense layers, and so its kernels for this CPU): the best of several timed
/// rounds.
pub fn product_rate(shape: ProductShape, threads: ProductThreads) -> Result<ProductRate> {
    let device = Device::Cpu;
    let a = Tensor::rand(-1f32, 1f32, (shape.rows, shape.inner), &device)?;
    let b = Tensor::rand(-1f32, 1f32, (shape.inner, shape.cols), &device)?;
    let products = match threads {
        ProductThreads::OnePerThread => rayon::current_num_threads(),
        ProductThreads::Shared => 1,
    };
    let seconds = best_round(|| {
        (0..products)
            .into_par_iter()
            .try_for_each(|_| a.matmul(&b).map(drop))
    })?;
    let spread = match threads {
        ProductThreads::OnePerThread => "one per thread",
        ProductThreads::Shared => "all threads",
    };
    Ok(ProductRate {
        what: format!("float32 product {shape}, {spread}"),
        gflops: shape.flops() * products as f64 / seconds / 1e9,
    })
}

/// The rate of the bfloat16 dense layer of `--precision bf16` ([`Bf16Linear`], by `kernel`)
/// for `shape`, one product per thread at once as inference runs dense_1, timed as
/// [`product_rate`] times.
pub fn bf16_product_rate(shape: ProductShape, kernel: Bf16Kernel) -> Result<ProductRate> {
    let device = Device::Cpu;
    let x = Tensor::rand(-1f32, 1f32, (shape.rows, shape.inner), &device)?;
    let weights: Vec<f32> =
        Tensor::rand(-1f32, 1f32, shape.inner * shape.cols, &device)?.to_vec1()?;
    let layer = Bf16Linear::new(
        &weights,
        vec![0.0; shape.cols],
        shape.inner,
        shape.cols,
        kernel,
    );
    let products = rayon::current_num_threads();
    let seconds = best_round(|| {
        (0..products)
            .into_par_iter()
            .try_for_each(|_| layer.forward(&x).map(drop))
    })?;
    let how = match kernel {
        Bf16Kernel::Native => "AVX512-BF16",
        Bf16Kernel::Emulated => "emulated",
    };
    Ok(ProductRate {
        what: format!("bfloat16 product {shape} ({how}), one per thread"),
        gflops: shape.flops() * products as f64 / seconds / 1e9,
    })
}

/// The shortest time of `round`: one untimed round, then timed rounds for at least
/// [`PRODUCT_SECONDS`] and [`PRODUCT_ROUNDS`] rounds. The best round, not the mean, since
/// it is a limit the networks are compared against.
fn best_round(mut round: impl FnMut() -> candle_core::Result<()>) -> Result<f64> {
    round()?;
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut rounds = 0;
    while rounds < PRODUCT_ROUNDS || start.elapsed().as_secs_f64() < PRODUCT_SECONDS {
        let round_start = Instant::now();
        round()?;
        best = best.min(round_start.elapsed().as_secs_f64());
        rounds += 1;
    }
    Ok(best.max(1e-12))
}

/// Runs `count` spectra (cycling through `spectra`) through `net` with `mc` samples, in
/// groups spread over the thread pool as `predict` does.
pub fn network_throughput(
    what: &str,
    net: &dyn BayesianNetwork,
    spectra: &[Vec<f64>],
    count: usize,
    mc: usize,
    flops_per_spectrum: f64,
) -> Result<Measurement> {
    if spectra.is_empty() {
        return Err(Error::Invalid("no spectra to measure with".into()));
    }
    let start = Instant::now();
    (0..count)
        .into_par_iter()
        .chunks(group_size(count))
        .try_for_each(|group| {
            let fluxes: Vec<&[f64]> = group
                .iter()
                .map(|&i| spectra[i % spectra.len()].as_slice())
                .collect();
            let streams = group
                .iter()
                .map(|&i| MaskStream::new(1, i as u64))
                .collect();
            output_statistics_each(net, &fluxes, mc, streams).map(drop)
        })?;
    Ok(Measurement {
        what: what.to_string(),
        spectra: count,
        seconds: start.elapsed().as_secs_f64(),
        flops_per_spectrum: Some(flops_per_spectrum),
    })
}

/// Training throughput of the censored network at `batch_size`: the second of two epochs
/// over `count` spectra (cycled from `spectra`) with synthetic labels.
pub fn training_throughput(
    spectra: &[Vec<f64>],
    count: usize,
    batch_size: usize,
) -> Result<Measurement> {
    if spectra.is_empty() {
        return Err(Error::Invalid("no spectra to measure with".into()));
    }
    let labels = crate::nn::censored::LABELS.len();
    let mut flux = Vec::with_capacity(count * spectra[0].len());
    let mut values = Vec::with_capacity(count * labels);
    for i in 0..count {
        flux.extend(spectra[i % spectra.len()].iter().map(|&v| v as f32));
        values.extend((0..labels).map(|j| ((i * 31 + j * 7) % 97) as f64 / 97.0));
    }
    let set = TrainingSet::new(flux, values, None)?;
    let config = TrainConfig {
        epochs: 2,
        batch_size,
        val_fraction: 0.0,
        ..TrainConfig::default()
    };
    let mut trainer = CensoredTrainer::new(set, config)?;
    trainer.run_epoch()?;
    let metrics = trainer.run_epoch()?;
    Ok(Measurement {
        what: format!("training, batch {batch_size}"),
        spectra: trainer.train_size(),
        seconds: trainer.train_size() as f64 / metrics.spectra_per_second.max(1e-12),
        flops_per_spectrum: None,
    })
}

/// Jacobians of all labels of `count` spectra (cycling through `spectra`) with `mc` samples
/// (0: deterministic), spread over the thread pool.
pub fn jacobian_throughput(
    net: &crate::pipeline::jacobian::JacobianNetwork,
    spectra: &[Vec<f64>],
    count: usize,
    mc: usize,
) -> Result<Measurement> {
    if spectra.is_empty() {
        return Err(Error::Invalid("no spectra to measure with".into()));
    }
    let start = Instant::now();
    (0..count).into_par_iter().try_for_each(|i| {
        net.spectrum(
            &spectra[i % spectra.len()],
            mc,
            MaskStream::new(1, i as u64),
            false,
        )
        .map(drop)
    })?;
    Ok(Measurement {
        what: format!("Jacobian of every label, mc = {mc}"),
        spectra: count,
        seconds: start.elapsed().as_secs_f64(),
        flops_per_spectrum: None,
    })
}
