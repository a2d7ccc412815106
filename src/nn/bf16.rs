//! bfloat16 numbers and dot products as x86's AVX512-BF16 instructions define them
//! (Intel's instruction reference for `VCVTNEPS2BF16` and `VDPBF16PS`), written out in
//! software: the emulated kernel of `--precision bf16-emulated` and the definition the
//! native kernel is tested against.

/// A float32 rounded to bfloat16 as `VCVTNEPS2BF16` rounds it: to nearest, ties to even;
/// zeros and denormals become a zero of the same sign; infinities stay; a NaN stays a
/// (quiet) NaN.
pub fn to_bf16(x: f32) -> u16 {
    // Written with selects rather than early returns so that loops over it vectorize.
    let bits = x.to_bits();
    let exponent = bits & 0x7F80_0000;
    let truncated = bits >> 16;
    let rounded = bits.wrapping_add(0x7FFF + (truncated & 1)) >> 16;
    let is_nan = bits & 0x7FFF_FFFF > 0x7F80_0000;
    let special = if is_nan {
        truncated | 0x0040
    } else {
        truncated
    };
    let value = if exponent == 0x7F80_0000 {
        special
    } else if exponent == 0 {
        truncated & 0x8000
    } else {
        rounded
    };
    value as u16
}

/// The float32 of the same value as the bfloat16 `b`.
pub fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// Two values as one dword of bfloat16 pairs: `even` (element 2i) in bits 0–15, `odd`
/// (element 2i + 1) in bits 16–31, the layout `VDPBF16PS` reads.
pub fn pair(even: f32, odd: f32) -> u32 {
    u32::from(to_bf16(even)) | u32::from(to_bf16(odd)) << 16
}

/// One lane of `VDPBF16PS`: `acc` plus the product of the odd elements of the pairs `a`
/// and `b`, then plus the product of their even elements, each step a fused multiply-add
/// rounded to nearest float32 (ties to even) with denormal inputs read as zero and a
/// denormal result flushed to zero.
#[inline(always)]
pub fn dot_pair(acc: f32, a: u32, b: u32) -> f32 {
    let odd = fused_step(acc, odd_half(a), odd_half(b));
    fused_step(odd, even_half(a), even_half(b))
}

/// The odd element of a pair, a denormal read as zero.
#[inline(always)]
fn odd_half(pair: u32) -> f32 {
    denormal_as_zero(pair & 0xFFFF_0000)
}

/// The even element of a pair, a denormal read as zero.
#[inline(always)]
fn even_half(pair: u32) -> f32 {
    denormal_as_zero(pair << 16)
}

/// The float32 of `bits`, a denormal (exponent field 0) read as a zero of its sign.
#[inline(always)]
fn denormal_as_zero(bits: u32) -> f32 {
    if bits & 0x7F80_0000 == 0 {
        f32::from_bits(bits & 0x8000_0000)
    } else {
        f32::from_bits(bits)
    }
}

/// `acc + a · b` rounded once to float32, a denormal result flushed to a zero of its sign.
/// The product of two bfloat16 values (8 significant bits each) is exact in float64; the
/// float64 sum is exact too unless one term is below 2⁻²⁹ of the other, and then it lies
/// far from any point where float32 rounding changes, so rounding it to float32 rounds
/// the exact sum, as the fused instruction does.
#[inline(always)]
fn fused_step(acc: f32, a: f32, b: f32) -> f32 {
    let sum = (f64::from(acc) + f64::from(a) * f64::from(b)) as f32;
    if sum.is_subnormal() {
        f32::from_bits(sum.to_bits() & 0x8000_0000)
    } else {
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_bf16_is_to_nearest_with_ties_to_even() {
        // bfloat16 keeps 7 fraction bits: near 1 its spacing is 2⁻⁷.
        let step = 2f32.powi(-7);
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // Halfway between 1 and 1 + 2⁻⁷: ties to the even neighbour, 1.
        assert_eq!(from_bf16(to_bf16(1.0 + step / 2.0)), 1.0);
        // Halfway between 1 + 2⁻⁷ (odd) and 1 + 2·2⁻⁷ (even): up.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.5 * step)), 1.0 + 2.0 * step);
        // Just above halfway rounds up, just below rounds down.
        assert_eq!(
            from_bf16(to_bf16(1.0 + step / 2.0 + 2f32.powi(-20))),
            1.0 + step
        );
        assert_eq!(from_bf16(to_bf16(1.0 + step / 2.0 - 2f32.powi(-20))), 1.0);
        assert_eq!(from_bf16(to_bf16(-3.0)), -3.0);
        // π: 0x40490FDB → 0x4049 (the dropped bits 0x0FDB are below half).
        assert_eq!(to_bf16(std::f32::consts::PI), 0x4049);
        // The largest float32 rounds up to infinity; infinities stay.
        assert_eq!(from_bf16(to_bf16(f32::MAX)), f32::INFINITY);
        assert_eq!(from_bf16(to_bf16(f32::NEG_INFINITY)), f32::NEG_INFINITY);
    }

    #[test]
    fn zeros_and_denormals_become_signed_zeros_and_nan_stays_nan() {
        assert_eq!(to_bf16(0.0), 0x0000);
        assert_eq!(to_bf16(-0.0), 0x8000);
        assert_eq!(to_bf16(f32::from_bits(1)), 0x0000);
        assert_eq!(to_bf16(-f32::from_bits(0x007F_FFFF)), 0x8000);
        // The smallest normal float32 survives.
        assert_eq!(from_bf16(to_bf16(f32::MIN_POSITIVE)), f32::MIN_POSITIVE);
        let nan = from_bf16(to_bf16(f32::from_bits(0x7F80_0001)));
        assert!(nan.is_nan());
    }

    #[test]
    fn a_pair_holds_the_even_element_low() {
        let p = pair(1.0, -2.0);
        assert_eq!(p & 0xFFFF, 0x3F80);
        assert_eq!(p >> 16, 0xC000);
    }

    #[test]
    fn the_dot_step_adds_the_odd_product_first() {
        // Odd product −1, even product 2⁻²⁴, acc 1: odd first gives 1 − 1 = 0, then
        // 0 + 2⁻²⁴ exactly; even first would give 1 + 2⁻²⁴ → 1 (a tie, to even), then 0.
        let tiny = 2f32.powi(-12);
        let a = pair(tiny, -1.0);
        let b = pair(tiny, 1.0);
        assert_eq!(dot_pair(1.0, a, b), 2f32.powi(-24));
    }

    #[test]
    fn each_step_rounds_to_nearest_with_ties_to_even() {
        // float32's spacing at 2 is 2⁻²². acc = 2 + 2⁻²² (odd last bit) plus the product
        // 2⁻¹² · 2⁻¹¹ = 2⁻²³ is a tie: to the even neighbour 2 + 2⁻²¹.
        let acc = 2.0 + 2f32.powi(-22);
        let a = pair(0.0, 2f32.powi(-12));
        let b = pair(0.0, 2f32.powi(-11));
        assert_eq!(dot_pair(acc, a, b), 2.0 + 2f32.powi(-21));
        // From 2 (even last bit) the same tie stays at 2.
        assert_eq!(dot_pair(2.0, a, b), 2.0);
        // A little more than half rounds up.
        let c = pair(0.0, 2f32.powi(-11) * 1.5);
        assert_eq!(dot_pair(2.0, a, c), 2.0 + 2f32.powi(-22));
    }

    #[test]
    fn denormal_results_are_flushed() {
        // 2⁻⁶³ · 2⁻⁶³ = 2⁻¹²⁶ is normal; 2⁻⁶⁴ · 2⁻⁶³ = 2⁻¹²⁷ is denormal: flushed to a zero
        // of its sign (in the even step, the last: the odd step's +0 came first).
        let a = pair(0.0, 2f32.powi(-63));
        assert_eq!(dot_pair(0.0, a, a), f32::MIN_POSITIVE);
        let flushed = dot_pair(0.0, pair(2f32.powi(-63), 0.0), pair(-2f32.powi(-64), 0.0));
        assert_eq!(flushed, 0.0);
        assert!(flushed.is_sign_negative());
        // A flushed −0 from the odd step plus the even step's +0 is +0 (round to nearest).
        let plus = dot_pair(0.0, pair(0.0, 2f32.powi(-63)), pair(0.0, -2f32.powi(-64)));
        assert!(plus == 0.0 && plus.is_sign_positive());
    }

    #[test]
    fn matches_exact_arithmetic_on_random_pairs() {
        // Sums of products of small integers scaled by powers of two are exact in float32
        // when they stay below 2²⁴ units: the emulation must reproduce them exactly.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 255) as f32 - 127.0
        };
        let mut acc = 0f32;
        let mut exact = 0f64;
        for _ in 0..200 {
            let (a0, a1, b0, b1) = (next(), next(), next(), next());
            acc = dot_pair(acc, pair(a0, a1), pair(b0, b1));
            exact += f64::from(a0 * b0 + a1 * b1);
        }
        assert_eq!(f64::from(acc), exact);
    }
}
