//! APOGEE_PIXMASK bits: which flagged pixels the preprocessing replaces.

/// Bits of APOGEE_PIXMASK that make astroNN replace a pixel by 1.0 (SPEC §3 step 6):
/// BADPIX, CRPIX, SATPIX, UNFIXABLE, BADDARK, BADFLAT, BADERR, NOSKY and SIG_SKYLINE.
pub const BAD_PIXEL_BITS: [u32; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 12];

/// [`BAD_PIXEL_BITS`] as one mask.
pub const BAD_PIXEL_MASK: u64 = {
    let mut mask = 0u64;
    let mut i = 0;
    while i < BAD_PIXEL_BITS.len() {
        mask |= 1 << BAD_PIXEL_BITS[i];
        i += 1;
    }
    mask
};

/// Whether a pixel with this APOGEE_PIXMASK value is replaced by the preprocessing.
pub fn is_bad(bitmask: u64) -> bool {
    bitmask & BAD_PIXEL_MASK != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pixel_mask_has_the_nine_bits() {
        assert_eq!(BAD_PIXEL_MASK, 0b1_0000_1111_1111);
        assert!(is_bad(1 << 12));
        assert!(is_bad(1 << 7 | 1 << 9));
        // PERSIST_HIGH (9), SIG_TELLURIC (13), etc. are kept.
        assert!(!is_bad(1 << 9 | 1 << 13 | 1 << 14));
    }
}
