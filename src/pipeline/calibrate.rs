//! Calibrating the noise model (SPEC §7) from stars observed several times.
//!
//! Two visits of one star measure the same truth, so their difference has variance
//! e₁² + e₂², where e = scale · raw_e + offset is the error the noise model should report.
//! For each label, (scale, offset) maximise the likelihood of the observed visit-to-visit
//! differences. Visits of a star are paired consecutively and disjointly ((1,2), (3,4), …)
//! so that the differences are independent.

use crate::io::table::{ColumnData, Table};
use crate::pipeline::noise::Correction;
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

/// The fit for one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCalibration {
    /// Label name.
    pub label: String,
    /// Visit pairs used.
    pub pairs: usize,
    /// Fitted correction.
    pub correction: Correction,
    /// Robust width (1.4826 · MAD) of the pair differences over their raw errors: 1 for
    /// well-calibrated errors.
    pub width_before: f64,
    /// The same width with the corrected errors.
    pub width_after: f64,
}

/// Fewest pairs for which a label is calibrated.
pub const MIN_PAIRS: usize = 10;

/// A visit pair: difference of the values and the two raw errors.
#[derive(Debug, Clone, Copy)]
struct Pair {
    difference: f64,
    errors: [f64; 2],
}

/// Pairs consecutive visits of each star, disjointly, in the order given; visits with a
/// non-finite value or a non-positive or non-finite error are left out.
fn visit_pairs(measurements: &[VisitMeasurement]) -> Vec<Pair> {
    let mut by_star: std::collections::BTreeMap<&str, Vec<&VisitMeasurement>> = Default::default();
    for m in measurements {
        if m.value.is_finite() && m.raw_error.is_finite() && m.raw_error > 0.0 {
            by_star.entry(&m.star).or_default().push(m);
        }
    }
    by_star
        .values()
        .flat_map(|visits| {
            visits.chunks_exact(2).map(|pair| Pair {
                difference: pair[0].value - pair[1].value,
                errors: [pair[0].raw_error, pair[1].raw_error],
            })
        })
        .collect()
}

/// The variance of a pair's difference under a correction, or `None` where the corrected
/// error of either visit is not positive.
fn pair_variance(pair: &Pair, c: Correction) -> Option<f64> {
    let [a, b] = pair.errors.map(|e| c.apply(e));
    (a > 0.0 && b > 0.0).then_some(a * a + b * b)
}

fn negative_log_likelihood(pairs: &[Pair], c: Correction) -> f64 {
    pairs
        .iter()
        .map(|p| match pair_variance(p, c) {
            Some(v) => 0.5 * (v.ln() + p.difference * p.difference / v),
            None => f64::INFINITY,
        })
        .sum()
}

/// Robust width of the normalised differences under a correction.
fn z_width(pairs: &[Pair], c: Correction) -> f64 {
    let z: Vec<f64> = pairs
        .iter()
        .filter_map(|p| pair_variance(p, c).map(|v| p.difference / v.sqrt()))
        .collect();
    robust_std(&z)
}

/// 1.4826 × the median absolute deviation: the standard deviation for Gaussian data,
/// insensitive to outliers.
pub fn robust_std(values: &[f64]) -> f64 {
    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
        }
    }
    let mut sorted = values.to_vec();
    let center = median(&mut sorted);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    1.4826 * median(&mut deviations)
}

/// Calibrates one label; `None` with fewer than [`MIN_PAIRS`] usable pairs.
pub fn calibrate_label(label: &str, measurements: &[VisitMeasurement]) -> Option<LabelCalibration> {
    let pairs = visit_pairs(measurements);
    if pairs.len() < MIN_PAIRS {
        return None;
    }
    let identity = Correction {
        offset: 0.0,
        scale: 1.0,
    };
    // Start from the scale that matches the raw errors' overall variance, no offset.
    let start_scale = {
        let ratio: f64 = pairs
            .iter()
            .map(|p| p.difference.powi(2) / (p.errors[0].powi(2) + p.errors[1].powi(2)))
            .sum::<f64>()
            / pairs.len() as f64;
        ratio.sqrt()
    };
    let typical_error = {
        let mut errors: Vec<f64> = pairs.iter().flat_map(|p| p.errors).collect();
        errors.sort_by(f64::total_cmp);
        errors[errors.len() / 2]
    };
    let objective = |x: [f64; 2]| {
        negative_log_likelihood(
            &pairs,
            Correction {
                scale: x[0],
                offset: x[1] * typical_error,
            },
        )
    };
    let best = nelder_mead(objective, [start_scale, 0.0], [0.2, 0.2], 2000);
    let correction = Correction {
        scale: best[0],
        offset: best[1] * typical_error,
    };
    Some(LabelCalibration {
        label: label.to_string(),
        pairs: pairs.len(),
        correction,
        width_before: z_width(&pairs, identity),
        width_after: z_width(&pairs, correction),
    })
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

    #[test]
    fn robust_std_of_gaussian_like_values() {
        assert!((robust_std(&[-1.0, 0.0, 1.0]) - 1.4826).abs() < 1e-12);
        assert!(robust_std(&[]).is_nan());
    }
}
