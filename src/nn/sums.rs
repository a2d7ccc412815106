//! Sums in a fixed order for the hand-written kernels (training's convolutions, the output
//! heads): the same bits on every CPU and thread count, and fast enough that the compiler
//! keeps the partial sums in vector registers.

use candle_core::WithDType;

/// Partial sums of [`dot`] and [`total`]: enough independent chains to keep the adders
/// busy. (They are added in lane order at the end: LLVM keeps the lanes in vector
/// registers only if the combination is that simple.)
pub(crate) const LANES: usize = 32;

/// Σ a·b with [`LANES`] partial sums combined in a fixed order.
#[inline(always)]
pub(crate) fn dot<T: WithDType>(a: &[T], b: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; LANES];
    let len = a.len().min(b.len());
    let (chunks_a, chunks_b) = (a[..len].chunks_exact(LANES), b[..len].chunks_exact(LANES));
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (x, y) in chunks_a.zip(chunks_b) {
        for ((lane, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    let tail = tail_a
        .iter()
        .zip(tail_b)
        .fold(zero, |sum, (&x, &y)| sum + x * y);
    lanes.iter().fold(zero, |sum, &lane| sum + lane) + tail
}

/// Σ a with [`LANES`] partial sums combined in a fixed order.
#[inline(always)]
pub(crate) fn total<T: WithDType>(a: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail = chunks.remainder();
    for x in chunks {
        for (lane, &x) in lanes.iter_mut().zip(x) {
            *lane += x;
        }
    }
    let tail = tail.iter().fold(zero, |sum, &x| sum + x);
    lanes.iter().fold(zero, |sum, &lane| sum + lane) + tail
}
