//! Monte Carlo dropout masks: one independent random stream per spectrum.
//!
//! Every spectrum draws its masks from its own stream, keyed by the run's seed and the
//! spectrum's identity, so a run's results do not depend on thread count, batch size or the
//! order of the inputs. The generator is xoshiro256++ seeded through SplitMix64.

/// Dropout rate of both networks (SPEC §4).
pub const DROPOUT_RATE: f64 = 0.3;

/// Multiplier of a kept value under inverted dropout: 1 / (1 − rate).
pub const KEEP_SCALE: f32 = (1.0 / (1.0 - DROPOUT_RATE)) as f32;

/// A kept unit draws a 16-bit uniform below this threshold: P(keep) = 45875/65536 =
/// 0.699997, within 3e-6 of 0.7.
const KEEP_THRESHOLD: u16 = 45875;

/// The random stream of one spectrum.
#[derive(Debug, Clone)]
pub struct MaskStream {
    state: [u64; 4],
}

impl MaskStream {
    /// The stream for spectrum `key` in a run with `seed`.
    pub fn new(seed: u64, key: u64) -> MaskStream {
        let mut sm = seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        let mut state = [0u64; 4];
        for s in state.iter_mut() {
            *s = splitmix64(&mut sm);
        }
        MaskStream { state }
    }

    /// The next 64 random bits of the stream (training also draws its initial weights,
    /// validation split and shuffles from these streams).
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A dropout mask of `n` multipliers: 0 for a dropped unit, [`KEEP_SCALE`] for a kept one.
    pub fn mask(&mut self, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; n];
        let keep = |u: u16| if u < KEEP_THRESHOLD { KEEP_SCALE } else { 0.0 };
        let mut quads = out.chunks_exact_mut(4);
        for quad in &mut quads {
            let bits = self.next_u64();
            for (lane, value) in quad.iter_mut().enumerate() {
                *value = keep((bits >> (16 * lane)) as u16);
            }
        }
        let tail = quads.into_remainder();
        if !tail.is_empty() {
            let bits = self.next_u64();
            for (lane, value) in tail.iter_mut().enumerate() {
                *value = keep((bits >> (16 * lane)) as u16);
            }
        }
        out
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit key for a spectrum, from its source file name and row.
pub fn spectrum_key(source_name: &str, row: u64) -> u64 {
    // FNV-1a: stable across platforms and versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in source_name.bytes().chain(row.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_fraction_is_seven_tenths() {
        let mut stream = MaskStream::new(42, 7);
        let n = 4_000_000;
        let kept = stream.mask(n).iter().filter(|&&m| m > 0.0).count();
        let fraction = kept as f64 / n as f64;
        // Binomial standard error is 2.3e-4; allow 5 sigma.
        assert!((fraction - 0.7).abs() < 1.2e-3, "{fraction}");
        assert!((f64::from(KEEP_THRESHOLD) / 65536.0 - 0.7).abs() < 1e-4);
    }

    #[test]
    fn kept_units_are_scaled_by_one_over_keep_probability() {
        let mask = MaskStream::new(1, 1).mask(1000);
        assert!(mask.iter().all(|&m| m == 0.0 || m == KEEP_SCALE));
        assert!((KEEP_SCALE - 1.0 / 0.7).abs() < 1e-6);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a = MaskStream::new(5, spectrum_key("apStar-a.fits", 0)).mask(5000);
        let b = MaskStream::new(5, spectrum_key("apStar-a.fits", 0)).mask(5000);
        let c = MaskStream::new(5, spectrum_key("apStar-a.fits", 1)).mask(5000);
        let d = MaskStream::new(6, spectrum_key("apStar-a.fits", 0)).mask(5000);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        // Masks of different streams agree on ~0.58 of units, as independent draws do.
        let agree = a.iter().zip(&c).filter(|(x, y)| x == y).count() as f64 / 5000.0;
        assert!((agree - 0.58).abs() < 0.05, "{agree}");
    }

    #[test]
    fn consecutive_draws_are_uncorrelated() {
        let mask = MaskStream::new(9, 3).mask(200_000);
        let both = mask.windows(2).filter(|w| w[0] > 0.0 && w[1] > 0.0).count() as f64
            / (mask.len() - 1) as f64;
        assert!((both - 0.49).abs() < 0.01, "{both}");
    }
}
