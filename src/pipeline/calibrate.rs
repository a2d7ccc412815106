//! Calibrating the noise model (SPEC §7): per label, the `scale` and `offset` of
//! e = scale · raw_e + offset that make the reported errors match the observed scatter.
//!
//! Two sources of residuals with a known variance are supported, and one maximum-likelihood
//! fit serves both:
//!
//! - repeat visits: two visits of one star measure the same truth, so their difference has
//!   variance e₁² + e₂². Visits of a star are paired consecutively and disjointly ((1,2),
//!   (3,4), …) so that the differences are independent;
//! - a reference catalog of true labels (a simulation, say): prediction − truth has variance
//!   e².
//!
//! The fit keeps scale > 0 and offset ≥ 0.

use crate::io::columns::ColumnData;
use crate::io::table::Table;
use crate::pipeline::noise::Correction;
use crate::pipeline::stats::robust_std;
use crate::report::join::Joined;
use crate::train::data::is_missing;
use crate::{Error, Result};

/// One visit's raw label and error for a star.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitMeasurement {
    /// Star identity (visits of one star share it).
    pub star: String,
    /// Raw label.
    pub value: f64,
    /// Raw error.
    pub raw_error: f64,
}

/// A raw label and error, with the star's true value of the label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TruthMeasurement {
    /// Raw (network) label.
    pub value: f64,
    /// Raw error.
    pub raw_error: f64,
    /// True value (NaN or −9999 when unknown: the measurement is then left out).
    pub truth: f64,
}

/// The fit for one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCalibration {
    /// Label name.
    pub label: String,
    /// Residuals used: visit pairs, or stars compared with their truth.
    pub samples: usize,
    /// Fitted correction.
    pub correction: Correction,
    /// Robust width (1.4826 · MAD) of the residuals over their raw errors: 1 for
    /// well-calibrated errors.
    pub width_before: f64,
    /// The same width with the corrected errors.
    pub width_after: f64,
}

/// Fewest visit pairs for which a label is calibrated.
pub const MIN_PAIRS: usize = 10;

/// Fewest stars with a truth for which a label is calibrated.
pub const MIN_TRUTH_STARS: usize = 20;

/// A difference whose variance is the sum of the squared corrected errors of its terms: a
/// visit pair (two raw errors) or a prediction minus its truth (one raw error).
#[derive(Debug, Clone, Copy)]
struct Residual {
    difference: f64,
    errors: [f64; 2],
    terms: usize,
}

impl Residual {
    fn errors(&self) -> &[f64] {
        &self.errors[..self.terms]
    }
}

/// Pairs consecutive visits of each star, disjointly, in the order given; visits with a
/// non-finite value or a non-positive or non-finite error are left out.
fn visit_pairs(measurements: &[VisitMeasurement]) -> Vec<Residual> {
    let mut by_star: std::collections::BTreeMap<&str, Vec<&VisitMeasurement>> = Default::default();
    for m in measurements {
        if m.value.is_finite() && usable_error(m.raw_error) {
            by_star.entry(&m.star).or_default().push(m);
        }
    }
    by_star
        .values()
        .flat_map(|visits| {
            visits.chunks_exact(2).map(|pair| Residual {
                difference: pair[0].value - pair[1].value,
                errors: [pair[0].raw_error, pair[1].raw_error],
                terms: 2,
            })
        })
        .collect()
}

/// Prediction − truth for the measurements with a finite value, a known truth (finite, not
/// −9999) and a positive finite error.
fn truth_residuals(measurements: &[TruthMeasurement]) -> Vec<Residual> {
    measurements
        .iter()
        .filter(|m| m.value.is_finite() && !is_missing(m.truth) && usable_error(m.raw_error))
        .map(|m| Residual {
            difference: m.value - m.truth,
            errors: [m.raw_error, 0.0],
            terms: 1,
        })
        .collect()
}

fn usable_error(error: f64) -> bool {
    error.is_finite() && error > 0.0
}

/// The variance of a residual under a correction, or `None` where a corrected error is not
/// positive.
fn residual_variance(r: &Residual, c: Correction) -> Option<f64> {
    r.errors().iter().try_fold(0.0, |sum, &e| {
        let corrected = c.apply(e);
        (corrected > 0.0).then_some(sum + corrected * corrected)
    })
}

fn negative_log_likelihood(residuals: &[Residual], c: Correction) -> f64 {
    residuals
        .iter()
        .map(|r| match residual_variance(r, c) {
            Some(v) => 0.5 * (v.ln() + r.difference * r.difference / v),
            None => f64::INFINITY,
        })
        .sum()
}

/// Robust width of the normalised residuals under a correction.
fn z_width(residuals: &[Residual], c: Correction) -> f64 {
    let z: Vec<f64> = residuals
        .iter()
        .filter_map(|r| residual_variance(r, c).map(|v| r.difference / v.sqrt()))
        .collect();
    robust_std(&z)
}

/// Calibrates one label from repeat visits; `None` with fewer than [`MIN_PAIRS`] usable
/// pairs.
pub fn calibrate_label(label: &str, measurements: &[VisitMeasurement]) -> Option<LabelCalibration> {
    let pairs = visit_pairs(measurements);
    (pairs.len() >= MIN_PAIRS).then(|| fit_correction(label, &pairs))
}

/// Calibrates one label against true values; `None` with fewer than [`MIN_TRUTH_STARS`]
/// usable stars.
pub fn calibrate_label_against_truth(
    label: &str,
    measurements: &[TruthMeasurement],
) -> Option<LabelCalibration> {
    let residuals = truth_residuals(measurements);
    (residuals.len() >= MIN_TRUTH_STARS).then(|| fit_correction(label, &residuals))
}

/// The maximum-likelihood correction for non-empty residuals, with scale > 0 and
/// offset ≥ 0 (the simplex searches |scale| and |offset|, so every point it tries is
/// allowed).
fn fit_correction(label: &str, residuals: &[Residual]) -> LabelCalibration {
    let identity = Correction {
        offset: 0.0,
        scale: 1.0,
    };
    // Start from the scale that matches the raw errors' overall variance, no offset.
    let start_scale = {
        let ratio: f64 = residuals
            .iter()
            .map(|r| r.difference.powi(2) / r.errors().iter().map(|e| e * e).sum::<f64>())
            .sum::<f64>()
            / residuals.len() as f64;
        ratio.sqrt()
    };
    let typical_error = {
        let mut errors: Vec<f64> = residuals.iter().flat_map(|r| r.errors().to_vec()).collect();
        errors.sort_by(f64::total_cmp);
        errors[errors.len() / 2]
    };
    let correction = |x: [f64; 2]| Correction {
        scale: x[0].abs(),
        offset: x[1].abs() * typical_error,
    };
    let objective = |x: [f64; 2]| negative_log_likelihood(residuals, correction(x));
    let best = correction(nelder_mead(objective, [start_scale, 0.0], [0.2, 0.2], 2000));
    LabelCalibration {
        label: label.to_string(),
        samples: residuals.len(),
        correction: best,
        width_before: z_width(residuals, identity),
        width_after: z_width(residuals, best),
    }
}

/// The truth measurements of `label` in a joined result and reference (`raw_<label>`,
/// `raw_e_<label>` and the reference's `<label>`); `None` when either side lacks them.
pub fn truth_measurements(joined: &Joined, label: &str) -> Option<Vec<TruthMeasurement>> {
    let values = joined.result_column(&format!("raw_{label}"))?;
    let errors = joined.result_column(&format!("raw_e_{label}"))?;
    let truths = joined.truth_column(label)?;
    Some(
        values
            .into_iter()
            .zip(errors)
            .zip(truths)
            .map(|((value, raw_error), truth)| TruthMeasurement {
                value,
                raw_error,
                truth,
            })
            .collect(),
    )
}

/// The labels of a visit table: every `raw_X` with a `raw_e_X` column.
pub fn table_labels(table: &Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("raw_e_"))
        .filter(|label| table.column(&format!("raw_{label}")).is_some())
        .map(str::to_string)
        .collect()
}

/// The visit measurements of `label` in a visit table (an `astraAllVisitAstroNN` table from
/// `predict --visits-output`): `sdss4_apogee_id`, `raw_<label>`, `raw_e_<label>`.
pub fn table_measurements(table: &Table, label: &str) -> Result<Vec<VisitMeasurement>> {
    let floats = |name: &str| match table.column(name) {
        Some(ColumnData::F64(v)) => Ok(v.clone()),
        Some(ColumnData::F32(v)) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
        _ => Err(Error::Invalid(format!(
            "the visit table has no float column '{name}'"
        ))),
    };
    let stars = match table.column("sdss4_apogee_id") {
        Some(ColumnData::Str(v)) => v.clone(),
        _ => {
            return Err(Error::Invalid(
                "the visit table has no 'sdss4_apogee_id' column".into(),
            ))
        }
    };
    let values = floats(&format!("raw_{label}"))?;
    let errors = floats(&format!("raw_e_{label}"))?;
    Ok(stars
        .into_iter()
        .zip(values.into_iter().zip(errors))
        .map(|(star, (value, raw_error))| VisitMeasurement {
            star,
            value,
            raw_error,
        })
        .collect())
}

/// Minimises `f` over two variables with the Nelder–Mead simplex method.
fn nelder_mead(
    f: impl Fn([f64; 2]) -> f64,
    start: [f64; 2],
    step: [f64; 2],
    iterations: usize,
) -> [f64; 2] {
    let mut simplex = [
        start,
        [start[0] + step[0], start[1]],
        [start[0], start[1] + step[1]],
    ];
    let mut values = simplex.map(&f);
    let combine =
        |a: [f64; 2], b: [f64; 2], t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
    for _ in 0..iterations {
        let mut order = [0, 1, 2];
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        simplex = order.map(|i| simplex[i]);
        values = order.map(|i| values[i]);
        if (values[2] - values[0]).abs() <= 1e-12 * (1.0 + values[0].abs()) {
            break;
        }
        let centroid = combine(simplex[0], simplex[1], 0.5);
        let reflected = combine(centroid, simplex[2], -1.0);
        let f_reflected = f(reflected);
        if f_reflected < values[0] {
            let expanded = combine(centroid, simplex[2], -2.0);
            let f_expanded = f(expanded);
            if f_expanded < f_reflected {
                simplex[2] = expanded;
                values[2] = f_expanded;
            } else {
                simplex[2] = reflected;
                values[2] = f_reflected;
            }
        } else if f_reflected < values[1] {
            simplex[2] = reflected;
            values[2] = f_reflected;
        } else {
            let contracted = combine(centroid, simplex[2], 0.5);
            let f_contracted = f(contracted);
            if f_contracted < values[2] {
                simplex[2] = contracted;
                values[2] = f_contracted;
            } else {
                for i in 1..3 {
                    simplex[i] = combine(simplex[0], simplex[i], 0.5);
                    values[i] = f(simplex[i]);
                }
            }
        }
    }
    simplex[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic Gaussian generator for synthetic visits.
    struct Normal(u64);

    impl Normal {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn sample(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// Stars with 2–5 visits whose reported errors are `raw`, but whose values scatter
    /// with `true_scale · raw + true_offset`.
    fn synthetic_visits(stars: usize, true_scale: f64, true_offset: f64) -> Vec<VisitMeasurement> {
        let mut rng = Normal(42);
        let mut visits = Vec::new();
        for star in 0..stars {
            let truth = 4000.0 + 1000.0 * rng.uniform();
            for _ in 0..2 + star % 4 {
                let raw = 10.0 + 90.0 * rng.uniform();
                let error = true_scale * raw + true_offset;
                visits.push(VisitMeasurement {
                    star: format!("star{star}"),
                    value: truth + error * rng.sample(),
                    raw_error: raw,
                });
            }
        }
        visits
    }

    #[test]
    fn recovers_a_known_scale_and_offset() {
        let visits = synthetic_visits(3000, 1.6, 20.0);
        let fit = calibrate_label("teff", &visits).unwrap();
        assert!((fit.correction.scale - 1.6).abs() < 0.1, "{fit:?}");
        assert!((fit.correction.offset - 20.0).abs() < 6.0, "{fit:?}");
        assert!(fit.width_before > 1.5, "{fit:?}");
        assert!((fit.width_after - 1.0).abs() < 0.05, "{fit:?}");
    }

    #[test]
    fn well_calibrated_errors_stay_unchanged() {
        let visits = synthetic_visits(3000, 1.0, 0.0);
        let fit = calibrate_label("teff", &visits).unwrap();
        assert!((fit.correction.scale - 1.0).abs() < 0.06, "{fit:?}");
        assert!(fit.correction.offset.abs() < 4.0, "{fit:?}");
        assert!((fit.width_before - 1.0).abs() < 0.05, "{fit:?}");
    }

    #[test]
    fn recovers_scale_and_offset_against_the_truth() {
        use crate::random::{normal, stream};
        let mut rng = stream(11, "calibrate-test", 0);
        // [Fe/H]-like errors: raw errors 0.01–0.1 dex, true errors 1.7·raw + 0.01.
        let measurements: Vec<TruthMeasurement> = (0..20_000)
            .map(|i| {
                let raw_error = 0.01 + 0.09 * (i % 1000) as f64 / 1000.0;
                let truth = -0.5 + (i % 7) as f64 * 0.1;
                TruthMeasurement {
                    value: truth + (1.7 * raw_error + 0.01) * normal(&mut rng),
                    raw_error,
                    truth,
                }
            })
            .collect();
        let fit = calibrate_label_against_truth("fe_h", &measurements).unwrap();
        assert_eq!(fit.samples, 20_000);
        assert!((fit.correction.scale / 1.7 - 1.0).abs() < 0.03, "{fit:?}");
        assert!((fit.correction.offset / 0.01 - 1.0).abs() < 0.1, "{fit:?}");
        assert!((fit.width_after - 1.0).abs() < 0.03, "{fit:?}");
    }

    #[test]
    fn truth_fit_keeps_offset_non_negative_and_needs_enough_stars() {
        use crate::random::{normal, stream};
        let mut rng = stream(5, "calibrate-test", 1);
        // Errors too large as reported: the best fit wants a negative offset, which is
        // clamped to 0 (scale then absorbs it).
        let measurements: Vec<TruthMeasurement> = (0..2000)
            .map(|i| {
                let raw_error = 1.0 + (i % 10) as f64;
                TruthMeasurement {
                    value: 0.5 * raw_error * normal(&mut rng),
                    raw_error,
                    truth: 0.0,
                }
            })
            .collect();
        let fit = calibrate_label_against_truth("x", &measurements).unwrap();
        assert!(fit.correction.offset >= 0.0, "{fit:?}");
        assert!(fit.correction.scale > 0.0, "{fit:?}");
        let unusable = TruthMeasurement {
            value: 1.0,
            raw_error: 0.1,
            truth: -9999.0,
        };
        assert!(calibrate_label_against_truth("x", &measurements[..19]).is_none());
        assert!(calibrate_label_against_truth("x", &[unusable; 30]).is_none());
    }

    #[test]
    fn pairs_are_disjoint_and_skip_unusable_visits() {
        let visit = |star: &str, value: f64, raw_error: f64| VisitMeasurement {
            star: star.into(),
            value,
            raw_error,
        };
        let visits = [
            visit("a", 1.0, 0.1),
            visit("b", 5.0, 0.2),
            visit("a", 2.0, 0.1),
            visit("a", 4.0, 0.1),
            visit("b", f64::NAN, 0.2),
            visit("b", 7.0, 0.0),
        ];
        let pairs = visit_pairs(&visits);
        // Star a: (1, 2) paired, 4 left over; star b has one usable visit.
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].difference, -1.0);
        assert!(calibrate_label("x", &visits).is_none());
    }
}
