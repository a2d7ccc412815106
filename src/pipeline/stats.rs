//! Robust summary statistics shared by the noise-model calibration and the validation
//! report: medians and the MAD-based standard deviation, which outliers barely move.

/// The median of `values` (the mean of the two middle values for an even count); NaN for
/// no values. NaN inputs sort last (by `total_cmp`), so callers filter them first.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// 1.4826 × the median absolute deviation: the standard deviation for Gaussian data,
/// insensitive to outliers. NaN for no values.
pub fn robust_std(values: &[f64]) -> f64 {
    let center = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    1.4826 * median(&deviations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn robust_std_of_known_samples() {
        assert!((robust_std(&[-1.0, 0.0, 1.0]) - 1.4826).abs() < 1e-12);
        // Median 3, absolute deviations 2, 1, 0, 1, 97: MAD 1, outlier ignored.
        assert!((robust_std(&[1.0, 2.0, 3.0, 4.0, 100.0]) - 1.4826).abs() < 1e-12);
        assert!(robust_std(&[]).is_nan());
    }
}
