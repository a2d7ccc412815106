//! Seeded random draws: training's initial weights, validation split, shuffles and dropout
//! masks, and the simulated survey, all come from [`MaskStream`]s keyed by the run's seed and a purpose, so
//! a run is reproducible and can be resumed from any epoch without saving generator state.

use crate::nn::dropout::{spectrum_key, MaskStream};

/// The stream for `purpose` (`"init"`, `"split"`, `"shuffle"`, `"dropout"`) and `index`
/// (epoch, step, …) in a run with `seed`.
pub(crate) fn stream(seed: u64, purpose: &str, index: u64) -> MaskStream {
    MaskStream::new(seed, spectrum_key(purpose, index))
}

/// A uniform integer in `[0, n)` (multiply-shift: bias below n / 2^64).
pub(crate) fn below(stream: &mut MaskStream, n: usize) -> usize {
    ((u128::from(stream.next_u64()) * n as u128) >> 64) as usize
}

/// Shuffles `items` in place (Fisher–Yates).
pub(crate) fn shuffle<T>(stream: &mut MaskStream, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(stream, i + 1));
    }
}

/// A uniform draw in `[0, 1)` with 53 random bits.
pub(crate) fn uniform(stream: &mut MaskStream) -> f64 {
    (stream.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw (Box–Muller, cosine branch).
pub(crate) fn normal(stream: &mut MaskStream) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    // u1 in (0, 1] keeps the logarithm finite; u2 in [0, 1).
    let u1 = ((stream.next_u64() >> 11) as f64 + 1.0) * SCALE;
    let u2 = (stream.next_u64() >> 11) as f64 * SCALE;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut s = stream(3, "init", 0);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| normal(&mut s)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut stream(1, "shuffle", 4), &mut a);
        shuffle(&mut stream(1, "shuffle", 4), &mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
