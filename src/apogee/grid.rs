//! The APOGEE pixel grid (SPEC §1): 8575 apStar pixels, three detector chips, 7514 pixels
//! once the chip gaps are deleted.

/// Pixels in an apStar spectrum.
pub const APSTAR_PIXELS: usize = 8575;

/// Pixels the networks take: the three chips without their gaps.
pub const NETWORK_PIXELS: usize = 7514;

/// log10(λ/Å) of apStar pixel 0.
pub const LOG_LAMBDA_START: f64 = 4.179;

/// Step in log10(λ/Å) between apStar pixels.
pub const LOG_LAMBDA_STEP: f64 = 6e-6;

/// apStar pixel ranges `[start, end)` of the blue, green and red chips.
pub const CHIPS: [std::ops::Range<usize>; 3] = [246..3274, 3585..6080, 6344..8335];

/// Rest-frame wavelength (Å, vacuum) of apStar pixel `i`.
pub fn wavelength(i: usize) -> f64 {
    10f64.powf(LOG_LAMBDA_START + LOG_LAMBDA_STEP * i as f64)
}

/// The chip pixels of an apStar-length array, gaps deleted (7514 values).
pub fn delete_gaps<T: Copy>(apstar: &[T]) -> Vec<T> {
    CHIPS
        .iter()
        .flat_map(|chip| apstar[chip.clone()].iter().copied())
        .collect()
}

/// The inverse of [`delete_gaps`]: a network-grid array (7514 values) on the apStar grid,
/// with `fill` in the gaps.
pub fn insert_gaps<T: Copy>(network: &[T], fill: T) -> Vec<T> {
    let mut apstar = vec![fill; APSTAR_PIXELS];
    let mut values = network.iter();
    for chip in CHIPS {
        for (slot, value) in apstar[chip].iter_mut().zip(&mut values) {
            *slot = *value;
        }
    }
    apstar
}

/// Ranges of each chip within a gap-deleted (7514-pixel) array.
pub fn chip_ranges_without_gaps() -> [std::ops::Range<usize>; 3] {
    let blue = CHIPS[0].len();
    let green = CHIPS[1].len();
    let red = CHIPS[2].len();
    [
        0..blue,
        blue..blue + green,
        blue + green..blue + green + red,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserting_gaps_undoes_deleting_them() {
        let network: Vec<usize> = (0..NETWORK_PIXELS).collect();
        let apstar = insert_gaps(&network, usize::MAX);
        assert_eq!(apstar.len(), APSTAR_PIXELS);
        assert_eq!(delete_gaps(&apstar), network);
        assert_eq!(apstar[0], usize::MAX);
        assert_eq!(apstar[CHIPS[1].start], CHIPS[0].len());
    }

    #[test]
    fn chips_hold_7514_pixels() {
        let total: usize = CHIPS.iter().map(|c| c.len()).sum();
        assert_eq!(total, NETWORK_PIXELS);
        assert_eq!(
            chip_ranges_without_gaps(),
            [0..3028, 3028..5523, 5523..7514]
        );
    }

    #[test]
    fn delete_gaps_keeps_chip_pixels_in_order() {
        let indices: Vec<usize> = (0..APSTAR_PIXELS).collect();
        let kept = delete_gaps(&indices);
        assert_eq!(kept.len(), NETWORK_PIXELS);
        assert_eq!(kept[0], 246);
        assert_eq!(kept[3027], 3273);
        assert_eq!(kept[3028], 3585);
        assert_eq!(kept[7513], 8334);
    }

    #[test]
    fn wavelength_spans_the_h_band() {
        assert!((wavelength(0) - 15100.8).abs() < 0.1);
        assert!((wavelength(8574) - 16999.8).abs() < 0.2);
    }
}
