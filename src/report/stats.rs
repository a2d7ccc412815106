//! The metrics of a validation report: how far predictions lie from the truth, and whether
//! the reported errors describe that distance.

use crate::pipeline::stats::{median, robust_std};
use crate::train::data::is_missing;

/// One star's prediction, truth, reported error and Cramér–Rao bound (NaN when unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Predicted value.
    pub pred: f64,
    /// True (reference) value.
    pub truth: f64,
    /// Reported error of the prediction.
    pub error: f64,
    /// Cramér–Rao bound of the label (same units).
    pub crb: f64,
}

impl Sample {
    /// Whether the prediction is finite and the truth known.
    pub fn usable(&self) -> bool {
        self.pred.is_finite() && !is_missing(self.truth)
    }

    fn residual(&self) -> f64 {
        self.pred - self.truth
    }
}

/// Accuracy and error calibration of one label over a set of stars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelMetrics {
    /// Stars compared.
    pub n: usize,
    /// median(pred − truth).
    pub bias: f64,
    /// Robust std (1.4826 · MAD) of pred − truth.
    pub scatter: f64,
    /// Stars with a positive finite Cramér–Rao bound.
    pub n_crb: usize,
    /// Robust std of (pred − truth) / crb: 1 for an estimator at the bound.
    pub scatter_over_crb: f64,
    /// Median Cramér–Rao bound.
    pub median_crb: f64,
    /// Stars with a positive finite reported error.
    pub n_z: usize,
    /// Robust std of (pred − truth) / error: 1 for well-calibrated errors.
    pub z_width: f64,
}

/// The metrics of the usable samples ([`Sample::usable`]); NaN where no star qualifies.
pub fn label_metrics(samples: &[Sample]) -> LabelMetrics {
    let usable: Vec<&Sample> = samples.iter().filter(|s| s.usable()).collect();
    let residuals: Vec<f64> = usable.iter().map(|s| s.residual()).collect();
    let with_crb: Vec<&&Sample> = usable.iter().filter(|s| positive(s.crb)).collect();
    let over_crb: Vec<f64> = with_crb.iter().map(|s| s.residual() / s.crb).collect();
    let crbs: Vec<f64> = with_crb.iter().map(|s| s.crb).collect();
    let z = z_scores(&usable);
    LabelMetrics {
        n: usable.len(),
        bias: median(&residuals),
        scatter: robust_std(&residuals),
        n_crb: with_crb.len(),
        scatter_over_crb: robust_std(&over_crb),
        median_crb: median(&crbs),
        n_z: z.len(),
        z_width: robust_std(&z),
    }
}

/// (pred − truth) / error of the samples with a positive finite error.
pub fn z_scores(samples: &[&Sample]) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| positive(s.error))
        .map(|s| s.residual() / s.error)
        .collect()
}

fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

/// Accuracy of a positive quantity (distance, L_fakemag) in fractional terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FractionalMetrics {
    /// Stars compared (finite prediction, positive known truth).
    pub n: usize,
    /// median((pred − truth) / truth).
    pub bias: f64,
    /// median(|pred − truth| / truth).
    pub median_abs: f64,
    /// Robust std of (pred − truth) / truth.
    pub scatter: f64,
    /// Stars with a positive finite reported error.
    pub n_z: usize,
    /// Robust std of (pred − truth) / error.
    pub z_width: f64,
}

/// The fractional metrics of the samples with a finite prediction and a positive known
/// truth.
pub fn fractional_metrics(samples: &[Sample]) -> FractionalMetrics {
    let usable: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.usable() && s.truth > 0.0)
        .collect();
    let fractions = fractional_errors(&usable);
    let absolute: Vec<f64> = fractions.iter().map(|f| f.abs()).collect();
    let z = z_scores(&usable);
    FractionalMetrics {
        n: usable.len(),
        bias: median(&fractions),
        median_abs: median(&absolute),
        scatter: robust_std(&fractions),
        n_z: z.len(),
        z_width: robust_std(&z),
    }
}

/// (pred − truth) / truth of each sample.
pub fn fractional_errors(samples: &[&Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.residual() / s.truth).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pred: f64, truth: f64, error: f64, crb: f64) -> Sample {
        Sample {
            pred,
            truth,
            error,
            crb,
        }
    }

    #[test]
    fn bias_scatter_and_bound_ratio_of_a_known_sample() {
        // Residuals -2, 0, 1, 3, 10: median 1; deviations 3, 1, 0, 2, 9: MAD 2.
        let samples: Vec<Sample> = [-2.0, 0.0, 1.0, 3.0, 10.0]
            .iter()
            .map(|&r| sample(100.0 + r, 100.0, 1.0, 0.5))
            .collect();
        let m = label_metrics(&samples);
        assert_eq!(m.n, 5);
        assert_eq!(m.bias, 1.0);
        assert!((m.scatter - 2.0 * 1.4826).abs() < 1e-12);
        // Residuals / 0.5 = -4, 0, 2, 6, 20: median 2, deviations 6, 2, 0, 4, 18: MAD 4.
        assert_eq!(m.n_crb, 5);
        assert!((m.scatter_over_crb - 4.0 * 1.4826).abs() < 1e-12);
        assert_eq!(m.median_crb, 0.5);
    }

    #[test]
    fn z_width_is_two_when_residuals_are_twice_the_errors() {
        // pred − truth = ±2·e exactly, alternating sign: |z| = 2 for every star.
        let samples: Vec<Sample> = (0..10)
            .map(|i| {
                let e = 0.1 * f64::from(i + 1);
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                sample(5.0 + sign * 2.0 * e, 5.0, e, f64::NAN)
            })
            .collect();
        let m = label_metrics(&samples);
        // z = ±2, median 0, MAD 2.
        assert!((m.z_width - 2.0 * 1.4826).abs() < 1e-12);
        assert_eq!(m.n_crb, 0);
        assert!(m.scatter_over_crb.is_nan());
        // Errors exactly 2·e on one side: z = 2 for all, width 0, bias 2·e median.
        let one_sided: Vec<Sample> = (1..=3)
            .map(|i| sample(2.0 * f64::from(i), 0.0, f64::from(i), 1.0))
            .collect();
        let m = label_metrics(&one_sided);
        assert_eq!(m.z_width, 0.0);
        assert_eq!(m.bias, 4.0);
    }

    #[test]
    fn unknown_truths_and_non_finite_predictions_are_skipped() {
        let samples = [
            sample(1.0, -9999.0, 1.0, 1.0),
            sample(f64::NAN, 1.0, 1.0, 1.0),
            sample(1.0, f64::NAN, 1.0, 1.0),
            sample(3.0, 1.0, 0.0, -1.0),
        ];
        let m = label_metrics(&samples);
        assert_eq!((m.n, m.bias, m.n_z, m.n_crb), (1, 2.0, 0, 0));
        assert!(m.z_width.is_nan());
    }

    #[test]
    fn fractional_distance_errors() {
        // Fractions +10 %, −20 %, +30 %: median 0.1, |f| median 0.2,
        // deviations 0, 0.3, 0.2: MAD 0.2.
        let samples = [
            sample(1100.0, 1000.0, 50.0, f64::NAN),
            sample(1600.0, 2000.0, 200.0, f64::NAN),
            sample(390.0, 300.0, 45.0, f64::NAN),
            sample(390.0, 0.0, 45.0, f64::NAN),
        ];
        let m = fractional_metrics(&samples);
        assert_eq!(m.n, 3);
        assert!((m.bias - 0.1).abs() < 1e-12);
        assert!((m.median_abs - 0.2).abs() < 1e-12);
        assert!((m.scatter - 0.2 * 1.4826).abs() < 1e-12);
        // z = 2, −2, 2: median 2, deviations 0, 4, 0: MAD 0.
        assert_eq!(m.n_z, 3);
        assert_eq!(m.z_width, 0.0);
    }
}
