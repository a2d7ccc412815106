//! Training sets for the training tests, built from the real spectra of `tests/data`
//! (no reference fixtures needed), and helpers to compare and run trainings.
//!
//! Each synthetic spectrum is one of the six real spectra with its absorption scaled by a
//! depth factor a ∈ [0.6, 1.4] (1 + a·(flux − 1)) plus 0.5 % noise. Every label is a known
//! smooth function of the spectrum: c_j · a + d_j(base spectrum), so the network can learn
//! it from the line depths. About 8 % of labels are missing (NaN or −9999) and half the
//! labels carry errors. AstroNNDist's set has the same spectra with a luminosity that
//! depends on the depth and the base spectrum, observed as a noisy parallax (see
//! [`synthetic_dist_set`]).

use astronn::io::labels::fakemag_label;
use astronn::pipeline::prepare::prepare_file;
use astronn::train::dist_model::DIST_LABELS;
use astronn::train::{TrainConfig, TrainableNetwork, TrainingSet};
use candle_core::{DType, Tensor};
use std::collections::{BTreeMap, HashMap};

pub const PIXELS: usize = 7514;
pub const LABELS: usize = 22;
/// Real spectra the synthetic ones are made from (see [`bases`]).
pub const BASES: usize = 6;

/// A deterministic uniform draw in [0, 1) from a tiny LCG-free hash (no RNG crate needed).
pub fn uniform(i: u64, j: u64) -> f64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(j.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Base spectra: the six real spectra of `tests/data` (each apStar file's coadd, then its
/// visits), continuum-normalized as `predict` prepares them.
pub fn bases() -> Vec<f64> {
    let mut data = Vec::with_capacity(BASES * PIXELS);
    for name in [
        "apStar-dr17-2M17335483-2753043.fits",
        "apStar-dr17-2M19485057+5005279.fits",
    ] {
        for spectrum in prepare_file(&super::test_data(name), true) {
            data.extend(spectrum.data.expect("a real spectrum normalizes").flux);
        }
    }
    assert_eq!(data.len(), BASES * PIXELS, "six spectra in tests/data");
    data
}

/// A standard normal draw (Box–Muller) from the uniforms `(i, j)` and `(i, j + 1)`.
pub fn gaussian(i: u64, j: u64) -> f64 {
    let u1 = 1.0 - uniform(i, j);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * uniform(i, j + 1)).cos()
}

/// Synthetic spectrum `i`: its base (`i % 6`) with the absorption scaled by a depth
/// a ∈ [0.6, 1.4] plus 0.5 % noise, appended to `flux` and `flux_f64`. Returns (base, a).
pub fn synthetic_spectrum(
    bases: &[f64],
    i: usize,
    flux: &mut Vec<f32>,
    flux_f64: &mut Vec<f64>,
) -> (usize, f64) {
    let k = i % BASES;
    let depth = 0.6 + 0.8 * uniform(i as u64, 0);
    let base = &bases[k * PIXELS..(k + 1) * PIXELS];
    for (p, &b) in base.iter().enumerate() {
        let noise = 0.005 * (uniform(i as u64, 100 + p as u64) - 0.5) * 3.46;
        let value = (1.0 + depth * (b - 1.0) + noise).max(0.0) as f32;
        flux.push(value);
        flux_f64.push(f64::from(value));
    }
    (k, depth)
}

/// `n` synthetic spectra with labels (see the module comment).
pub fn synthetic_set(bases: &[f64], n: usize) -> (TrainingSet, Vec<f64>) {
    let mut flux = Vec::with_capacity(n * PIXELS);
    let mut flux_f64 = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n * LABELS);
    let mut errors = Vec::with_capacity(n * LABELS);
    for i in 0..n {
        let (k, depth) = synthetic_spectrum(bases, i, &mut flux, &mut flux_f64);
        for j in 0..LABELS {
            let slope = 1.0 + j as f64 / 10.0;
            let offset = (k as f64 - 2.5) * (0.2 + 0.05 * (j % 5) as f64);
            let mut value = 4000.0f64.min(100.0 * (j as f64 + 1.0)) * (slope * depth + offset);
            let draw = uniform(i as u64, 50_000 + j as u64);
            if draw < 0.04 {
                value = f64::NAN;
            } else if draw < 0.08 {
                value = -9999.0;
            }
            labels.push(value);
            errors.push(if j % 2 == 0 { 0.02 * value.abs() } else { 0.0 });
        }
    }
    let set = TrainingSet::new(flux, labels, Some(errors)).expect("valid training set");
    (set, flux_f64)
}

/// The true L_fakemag of a synthetic star of base spectrum `base` and line depth `depth`.
pub fn true_luminosity(base: usize, depth: f64) -> f64 {
    40.0 + 150.0 * (depth - 0.6) + 15.0 * base as f64
}

/// The Pearson correlation of `x` and `y`.
pub fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// `n` synthetic spectra (as [`synthetic_set`]'s) with AstroNNDist targets: a true
/// L_fakemag = 40 + 150·(a − 0.6) + 15·base, seen as a parallax
/// ϖ = L / 10^(0.2·K0) + σ·N(0, 1) through 2MASS photometry: 85 % bright stars (Ks 7–10,
/// σ 0.02–0.04 mas) and 15 % faint ones (Ks 13–14, σ 0.2 mas), some of whose parallaxes are
/// negative; E(B−V) in [0, 0.3], a tenth missing. Every 40th star has no valid Ks magnitude,
/// hence no target. Returns the set ([`fakemag_label`]'s targets), the flux as f64, and the
/// number of negative parallaxes.
pub fn synthetic_dist_set(bases: &[f64], n: usize) -> (TrainingSet, Vec<f64>, usize) {
    let mut flux = Vec::with_capacity(n * PIXELS);
    let mut flux_f64 = Vec::with_capacity(n * PIXELS);
    let (mut labels, mut errors) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut negative = 0;
    for i in 0..n {
        let (k, depth) = synthetic_spectrum(bases, i, &mut flux, &mut flux_f64);
        let luminosity = true_luminosity(k, depth);
        let faint = uniform(i as u64, 60_000) < 0.15;
        let (k_mag, sigma) = if faint {
            (13.0 + uniform(i as u64, 60_001), 0.2)
        } else {
            (
                7.0 + 3.0 * uniform(i as u64, 60_001),
                0.02 + 0.02 * uniform(i as u64, 60_002),
            )
        };
        let ebv = if uniform(i as u64, 60_003) < 0.1 {
            f64::NAN
        } else {
            0.3 * uniform(i as u64, 60_004)
        };
        let k0 = k_mag - 0.3517 * if ebv.is_nan() { 0.0 } else { ebv };
        let parallax = luminosity / 10f64.powf(0.2 * k0) + sigma * gaussian(i as u64, 60_005);
        let k_mag = if i % 40 == 39 { 99.999 } else { k_mag };
        let (value, error) = fakemag_label(parallax, sigma, k_mag, ebv).unwrap_or((f64::NAN, 0.0));
        negative += usize::from(value < 0.0);
        labels.push(value);
        errors.push(error);
    }
    let set = TrainingSet::with_labels(&DIST_LABELS, flux, labels, Some(errors));
    (set.expect("valid training set"), flux_f64, negative)
}

pub fn config(epochs: usize, batch_size: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        seed,
        ..TrainConfig::default()
    }
}

/// Every model tensor's values as bits, for bitwise comparisons.
pub fn fingerprint(tensors: &HashMap<String, Tensor>) -> BTreeMap<String, Vec<u64>> {
    tensors
        .iter()
        .map(|(name, t)| {
            let values = t.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
            let bits = values
                .to_vec1::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            (name.clone(), bits)
        })
        .collect()
}

pub fn model_fingerprint<N: TrainableNetwork>(
    trainer: &astronn::train::Trainer<N>,
) -> BTreeMap<String, Vec<u64>> {
    fingerprint(
        &trainer
            .model()
            .model_tensors(trainer.normalisation())
            .unwrap(),
    )
}

pub fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(f)
}
