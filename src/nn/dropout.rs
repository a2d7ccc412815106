//! Monte Carlo dropout masks: one independent random stream per spectrum.
//!
//! Every spectrum draws its masks from its own stream, keyed by the run's seed and the
//! spectrum's identity, so a run's results do not depend on thread count, batch size or the
//! order of the inputs. The generator is xoshiro256++ seeded through SplitMix64.

/// Dropout rate of Astra's networks and of the networks `train` builds (SPEC §4).
pub const DROPOUT_RATE: f64 = 0.3;

/// Uniforms a dropout decision draws from: 16 random bits.
const UNIFORMS: f64 = 65536.0;

/// A dropout rate as the masks apply it: a unit is kept when its 16-bit uniform is below
/// round(65536 · (1 − rate)), i.e. at most `keep_max`, one less (a 16-bit comparison, as
/// fast as a constant's), and a kept unit is scaled by 1 / (1 − rate) (inverted dropout).
/// At Astra's 0.3, P(keep) = 45875/65536 = 0.699997, within 3e-6 of 0.7; at rate 0 every
/// unit is kept unscaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutRate {
    rate: f64,
    keep_max: u16,
    keep_scale: f32,
}

impl DropoutRate {
    /// `rate` in [0, 1), with at least one uniform kept (rate < 1 − 2⁻¹⁷).
    pub fn new(rate: f64) -> std::result::Result<DropoutRate, String> {
        let keep_threshold = ((1.0 - rate) * UNIFORMS).round();
        if !(0.0..1.0).contains(&rate) || keep_threshold < 1.0 {
            return Err(format!("a dropout rate must be in [0, 1), not {rate}"));
        }
        Ok(DropoutRate {
            rate,
            keep_max: (keep_threshold - 1.0) as u16,
            keep_scale: (1.0 / (1.0 - rate)) as f32,
        })
    }

    /// The rate of Astra's networks, [`DROPOUT_RATE`] (what [`DropoutRate::new`] gives it).
    pub const ASTRA: DropoutRate = DropoutRate {
        rate: DROPOUT_RATE,
        keep_max: 45874,
        keep_scale: (1.0 / (1.0 - DROPOUT_RATE)) as f32,
    };

    /// The rate.
    pub fn rate(self) -> f64 {
        self.rate
    }

    /// Multiplier of a kept value: 1 / (1 − rate).
    pub fn keep_scale(self) -> f32 {
        self.keep_scale
    }

    /// The multiplier of a unit whose uniform is `u`: 0 or [`Self::keep_scale`].
    #[inline(always)]
    fn multiplier(self, u: u16) -> f32 {
        if u <= self.keep_max {
            self.keep_scale
        } else {
            0.0
        }
    }
}

impl Default for DropoutRate {
    fn default() -> Self {
        DropoutRate::ASTRA
    }
}

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

    /// A dropout mask of `n` multipliers at `rate`: 0 for a dropped unit, the rate's keep
    /// scale for a kept one.
    pub fn mask(&mut self, n: usize, rate: DropoutRate) -> Vec<f32> {
        let mut out = vec![0f32; n];
        let keep = |u: u16| rate.multiplier(u);
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

/// Generators stepped together by [`WideMaskStream`]: 8 × 64 bits, one 512-bit register.
const WIDE_LANES: usize = 8;

/// Dropout decisions one step of a [`WideMaskStream`] yields: four 16-bit uniforms per lane.
pub const WIDE_STEP: usize = 4 * WIDE_LANES;

/// A fast stream of dropout multipliers for one MC sample of a large layer: eight
/// independent xoshiro256++ generators, seeded through SplitMix64 from one 64-bit seed and
/// stepped together so that the compiler vectorises them. The hot convolution draws its
/// masks from one of these per sample, seeded from the spectrum's [`MaskStream`], which keeps
/// results independent of threads and batching. Every decision uses 16 random bits, as
/// [`MaskStream::mask`] does.
#[derive(Debug, Clone)]
pub struct WideMaskStream {
    /// `state[word][lane]`.
    state: [[u64; WIDE_LANES]; 4],
}

impl WideMaskStream {
    /// The stream seeded with `seed`.
    pub fn new(seed: u64) -> WideMaskStream {
        let mut sm = seed;
        let mut state = [[0u64; WIDE_LANES]; 4];
        for lane in 0..WIDE_LANES {
            for word in state.iter_mut() {
                word[lane] = splitmix64(&mut sm);
            }
        }
        WideMaskStream { state }
    }

    /// One xoshiro256++ step of every lane.
    #[inline(always)]
    fn next(&mut self) -> [u64; WIDE_LANES] {
        let [s0, s1, s2, s3] = &mut self.state;
        let mut result = [0u64; WIDE_LANES];
        for lane in 0..WIDE_LANES {
            result[lane] = (s0[lane].wrapping_add(s3[lane]))
                .rotate_left(23)
                .wrapping_add(s0[lane]);
            let t = s1[lane] << 17;
            s2[lane] ^= s0[lane];
            s3[lane] ^= s1[lane];
            s1[lane] ^= s2[lane];
            s0[lane] ^= s3[lane];
            s2[lane] ^= t;
            s3[lane] = s3[lane].rotate_left(45);
        }
        result
    }

    /// Fills `out` with dropout multipliers at `rate` (0 or its keep scale), [`WIDE_STEP`]
    /// per step; a partial last step discards its unused draws. Inlined so that it is
    /// vectorised for the caller's target features.
    #[inline(always)]
    pub fn fill_multipliers(&mut self, out: &mut [f32], rate: DropoutRate) {
        for chunk in out.chunks_mut(WIDE_STEP) {
            let bits = self.next();
            let uniforms: [u16; WIDE_STEP] =
                std::array::from_fn(|i| (bits[i / 4] >> (16 * (i % 4))) as u16);
            for (value, &u) in chunk.iter_mut().zip(&uniforms) {
                *value = rate.multiplier(u);
            }
        }
    }

    /// [`Self::fill_multipliers`] written in AVX2 intrinsics, with the same results bit for
    /// bit: the eight generators' state stays in eight registers for the whole fill, where
    /// the compiler's AVX2 build of the generic code kept it in memory and compared the
    /// uniforms in 128-bit halves (mask drawing was 40 % of conv2's time on Zen 3).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn fill_multipliers_avx2(&mut self, out: &mut [f32], rate: DropoutRate) {
        use std::arch::x86_64::*;
        /// `x` rotated left by `R` bits in each 64-bit lane (`L` = 64 − `R`).
        #[inline(always)]
        unsafe fn rotate_left<const R: i32, const L: i32>(x: __m256i) -> __m256i {
            _mm256_or_si256(_mm256_slli_epi64::<R>(x), _mm256_srli_epi64::<L>(x))
        }
        // state[word] as lanes 0–3 and 4–7.
        let load = |word: &[u64; WIDE_LANES], half: usize| {
            _mm256_loadu_si256(word[4 * half..].as_ptr().cast())
        };
        let mut state: [[__m256i; 2]; 4] =
            std::array::from_fn(|w| [load(&self.state[w], 0), load(&self.state[w], 1)]);
        // u ≤ keep_max  ⇔  min(u, keep_max) = u, for unsigned 16 bits.
        let below = _mm256_set1_epi16(rate.keep_max as i16);
        let scale = _mm256_set1_ps(rate.keep_scale);
        for chunk in out.chunks_mut(WIDE_STEP) {
            let mut values = [0f32; WIDE_STEP];
            for half in 0..2 {
                let [s0, s1, s2, s3] = [
                    state[0][half],
                    state[1][half],
                    state[2][half],
                    state[3][half],
                ];
                let result = _mm256_add_epi64(rotate_left::<23, 41>(_mm256_add_epi64(s0, s3)), s0);
                let t = _mm256_slli_epi64::<17>(s1);
                let s2 = _mm256_xor_si256(s2, s0);
                let s3 = _mm256_xor_si256(s3, s1);
                let s1 = _mm256_xor_si256(s1, s2);
                let s0 = _mm256_xor_si256(s0, s3);
                let s2 = _mm256_xor_si256(s2, t);
                let s3 = rotate_left::<45, 19>(s3);
                [
                    state[0][half],
                    state[1][half],
                    state[2][half],
                    state[3][half],
                ] = [s0, s1, s2, s3];
                // The 4 lanes' results as 16 uniforms, in memory order (lane-major, low bits
                // first), as the generic code reads them.
                let kept = _mm256_cmpeq_epi16(_mm256_min_epu16(result, below), result);
                for quarter in 0..2 {
                    let kept_16 = if quarter == 0 {
                        _mm256_castsi256_si128(kept)
                    } else {
                        _mm256_extracti128_si256::<1>(kept)
                    };
                    let kept_32 = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(kept_16));
                    let multipliers = _mm256_and_ps(kept_32, scale);
                    _mm256_storeu_ps(values[16 * half + 8 * quarter..].as_mut_ptr(), multipliers);
                }
            }
            chunk.copy_from_slice(&values[..chunk.len()]);
        }
        for (w, word) in state.iter().enumerate() {
            for (half, lanes) in word.iter().enumerate() {
                _mm256_storeu_si256(self.state[w][4 * half..].as_mut_ptr().cast(), *lanes);
            }
        }
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

    const ASTRA: DropoutRate = DropoutRate::ASTRA;

    #[test]
    fn keep_fraction_is_seven_tenths() {
        let mut stream = MaskStream::new(42, 7);
        let n = 4_000_000;
        let kept = stream.mask(n, ASTRA).iter().filter(|&&m| m > 0.0).count();
        let fraction = kept as f64 / n as f64;
        // Binomial standard error is 2.3e-4; allow 5 sigma.
        assert!((fraction - 0.7).abs() < 1.2e-3, "{fraction}");
        assert!((f64::from(ASTRA.keep_max + 1) / 65536.0 - 0.7).abs() < 1e-4);
    }

    /// Astra's rate as its own constants and as any other rate is computed, bit for bit.
    #[test]
    fn astras_rate_is_the_general_rule_at_three_tenths() {
        assert_eq!(DropoutRate::new(DROPOUT_RATE).unwrap(), ASTRA);
    }

    #[test]
    fn other_rates_keep_their_fraction_and_scale() {
        for (rate, threshold) in [(0.0, 65536), (0.2, 52429), (0.5, 32768), (0.9, 6554)] {
            let dropout = DropoutRate::new(rate).unwrap();
            assert_eq!(u32::from(dropout.keep_max) + 1, threshold, "{rate}");
            let mask = MaskStream::new(3, 1).mask(1_000_000, dropout);
            let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / 1e6;
            assert!((kept - (1.0 - rate)).abs() < 5.0 * 5e-4, "{rate}: {kept}");
            assert!(mask
                .iter()
                .all(|&m| m == 0.0 || m == (1.0 / (1.0 - rate)) as f32));
        }
        let none = MaskStream::new(3, 1).mask(1000, DropoutRate::new(0.0).unwrap());
        assert!(
            none.iter().all(|&m| m == 1.0),
            "rate 0 keeps every unit unscaled"
        );
        for bad in [-0.1, 1.0, 0.999_999_9, f64::NAN] {
            assert!(DropoutRate::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kept_units_are_scaled_by_one_over_keep_probability() {
        let mask = MaskStream::new(1, 1).mask(1000, ASTRA);
        assert!(mask.iter().all(|&m| m == 0.0 || m == ASTRA.keep_scale));
        assert!((ASTRA.keep_scale - 1.0 / 0.7).abs() < 1e-6);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a = MaskStream::new(5, spectrum_key("apStar-a.fits", 0)).mask(5000, ASTRA);
        let b = MaskStream::new(5, spectrum_key("apStar-a.fits", 0)).mask(5000, ASTRA);
        let c = MaskStream::new(5, spectrum_key("apStar-a.fits", 1)).mask(5000, ASTRA);
        let d = MaskStream::new(6, spectrum_key("apStar-a.fits", 0)).mask(5000, ASTRA);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        // Masks of different streams agree on ~0.58 of units, as independent draws do.
        let agree = a.iter().zip(&c).filter(|(x, y)| x == y).count() as f64 / 5000.0;
        assert!((agree - 0.58).abs() < 0.05, "{agree}");
    }

    fn wide_mask(seed: u64, n: usize) -> Vec<f32> {
        let mut mask = vec![f32::NAN; n];
        WideMaskStream::new(seed).fill_multipliers(&mut mask, ASTRA);
        mask
    }

    /// The AVX2 fill is the generic fill, bit for bit, whole steps and a partial last one,
    /// and leaves the stream in the same state.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_fill_gives_the_generic_fills_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: nothing to compare");
            return;
        }
        let rates = [
            ASTRA,
            DropoutRate::new(0.0).unwrap(),
            DropoutRate::new(0.2).unwrap(),
        ];
        for ((seed, n), rate) in [(3u64, 7514), (4, 32), (5, 1), (6, 1000)]
            .into_iter()
            .zip(rates.into_iter().cycle())
        {
            let mut generic = WideMaskStream::new(seed);
            let mut vector = generic.clone();
            for _ in 0..2 {
                let mut expected = vec![f32::NAN; n];
                generic.fill_multipliers(&mut expected, rate);
                let mut got = vec![f32::NAN; n];
                // SAFETY: the CPU has AVX2, checked above.
                unsafe { vector.fill_multipliers_avx2(&mut got, rate) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&expected), "seed {seed}, {n} values");
            }
            assert_eq!(vector.state, generic.state);
        }
    }

    #[test]
    fn wide_streams_keep_seven_tenths_of_units() {
        let n = 4_000_003;
        let mask = wide_mask(17, n);
        assert!(mask.iter().all(|&m| m == 0.0 || m == ASTRA.keep_scale));
        let fraction = mask.iter().filter(|&&m| m > 0.0).count() as f64 / n as f64;
        assert!((fraction - 0.7).abs() < 1.2e-3, "{fraction}");
    }

    #[test]
    fn wide_streams_are_reproducible_distinct_and_uncorrelated() {
        let a = wide_mask(5, 100_000);
        assert_eq!(a, wide_mask(5, 100_000));
        let b = wide_mask(6, 100_000);
        let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / 1e5;
        assert!((agree - 0.58).abs() < 0.01, "{agree}");
        // Neighbours within a lane's word, across lanes and across steps are independent.
        for lag in [1, 4, WIDE_STEP] {
            let both = a
                .iter()
                .zip(&a[lag..])
                .filter(|(x, y)| **x > 0.0 && **y > 0.0)
                .count() as f64
                / (a.len() - lag) as f64;
            assert!((both - 0.49).abs() < 0.01, "lag {lag}: {both}");
        }
    }

    #[test]
    fn wide_stream_lanes_are_independent_generators() {
        // Lane 0's first uniforms are those of a scalar xoshiro256++ seeded the same way.
        let mut sm = 99u64;
        let mut scalar = MaskStream {
            state: std::array::from_fn(|_| splitmix64(&mut sm)),
        };
        let mut wide = WideMaskStream::new(99);
        for _ in 0..3 {
            assert_eq!(wide.next()[0], scalar.next_u64());
        }
    }

    #[test]
    fn consecutive_draws_are_uncorrelated() {
        let mask = MaskStream::new(9, 3).mask(200_000, ASTRA);
        let both = mask.windows(2).filter(|w| w[0] > 0.0 && w[1] > 0.0).count() as f64
            / (mask.len() - 1) as f64;
        assert!((both - 0.49).abs() < 0.01, "{both}");
    }
}
