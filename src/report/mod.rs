//! Validation reports: how well a result table (`astronn predict` or `astronn dist`)
//! reproduces a reference catalog of true labels (a simulation, or a catalog such as
//! ASPCAP), written as Markdown, CSV and PNG figures.
//!
//! - [`join`](mod@join) reads both files and matches rows by star;
//! - [`stats`] computes the metrics (bias, robust scatter, scatter over the Cramér–Rao
//!   bound, width of the error-normalised residuals, fractional distance errors);
//! - [`range`] compares the errors of stars outside a model's training range with those of
//!   stars inside it, in SNR bins;
//! - [`summary`] writes `summary.md` and `summary.csv`, [`figures`] the PNG figures.

pub mod figures;
pub mod join;
pub mod range;
pub mod run;
pub mod stats;
pub mod summary;

use crate::nn::censored::LABELS;
use crate::{Error, Result};
use join::{join, JoinSpec, Joined};
use range::{compare_errors, LabelRanges, RangeComparison, RangeStar, RANGE_LABELS};
use stats::{fractional_metrics, label_metrics, FractionalMetrics, LabelMetrics, Sample};
use std::path::{Path, PathBuf};

/// One label (or distance) over the matched rows: a [`Sample`] per row, usable or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// Column name (`teff`, `dist`, `L_fakemag`).
    pub name: String,
    /// One per matched row, in row order.
    pub samples: Vec<Sample>,
}

/// The star sets every metric is computed for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StarSet {
    /// Every matched row.
    All,
    /// Rows with SNR ≥ the threshold.
    SnrAtLeast(f64),
}

impl StarSet {
    /// The name used in the summaries: `all`, `snr>=100`.
    pub fn name(&self) -> String {
        match self {
            StarSet::All => "all".into(),
            StarSet::SnrAtLeast(min) => format!("snr>={min}"),
        }
    }

    fn contains(&self, snr: f64) -> bool {
        match self {
            StarSet::All => true,
            StarSet::SnrAtLeast(min) => snr >= *min,
        }
    }
}

/// A label's metrics for one star set.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRow {
    /// Label.
    pub label: String,
    /// Star set.
    pub set: StarSet,
    /// Metrics.
    pub metrics: LabelMetrics,
}

/// A distance-like quantity's fractional metrics for one star set.
#[derive(Debug, Clone, PartialEq)]
pub struct FractionalRow {
    /// `dist` or `L_fakemag`.
    pub quantity: String,
    /// Star set.
    pub set: StarSet,
    /// Metrics.
    pub metrics: FractionalMetrics,
}

/// The out-of-training-range section.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSection {
    /// The model the ranges come from.
    pub model: String,
    /// The ranges.
    pub ranges: LabelRanges,
    /// Stars judged (true Teff, log g or [Fe/H] known) and how many are out of range.
    pub judged: usize,
    /// Out-of-range stars.
    pub out_of_range: usize,
    /// One comparison per error column (`e_teff`, `e_logg`).
    pub comparisons: Vec<RangeComparison>,
}

/// Everything a report says.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The result table.
    pub result: PathBuf,
    /// The reference catalog.
    pub truth: PathBuf,
    /// Rows in the result, NO_RESULT rows, rows without a reference, matched rows.
    pub counts: Counts,
    /// Where the SNR came from (`result`, `reference`), if anywhere.
    pub snr_source: Option<&'static str>,
    /// The star sets.
    pub sets: [StarSet; 2],
    /// Per label and star set.
    pub labels: Vec<LabelRow>,
    /// Per distance-like quantity and star set.
    pub fractional: Vec<FractionalRow>,
    /// The out-of-range check, when a model was given.
    pub range: Option<RangeSection>,
}

/// Row counts of the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Rows in the result table.
    pub result_rows: usize,
    /// NO_RESULT rows (left out).
    pub no_result: usize,
    /// Rows whose star the reference does not list.
    pub unmatched: usize,
    /// Matched rows.
    pub matched: usize,
    /// Distinct stars in the reference.
    pub truth_stars: usize,
}

/// What to compare and where to write.
#[derive(Debug, Clone)]
pub struct ReportOptions<'a> {
    /// Inputs and identifier columns.
    pub join: JoinSpec<'a>,
    /// SNR threshold of the second star set.
    pub snr_min: f64,
    /// A model's name and training ranges, for the out-of-range check.
    pub ranges: Option<(String, LabelRanges)>,
    /// Output directory (created if needed).
    pub output_dir: &'a Path,
}

/// The matched data a report is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// SNR per matched row (NaN when unknown).
    pub snr: Vec<f64>,
    /// Where the SNR came from.
    pub snr_source: Option<&'static str>,
    /// Labels present in both files.
    pub labels: Vec<Quantity>,
    /// `dist` and `L_fakemag`, where both files have them.
    pub fractional: Vec<Quantity>,
}

/// Collects the quantities both files hold from a join.
pub fn comparison(joined: &Joined) -> Comparison {
    let (snr, snr_source) = match (joined.result_column("snr"), joined.truth_column("snr")) {
        (Some(snr), _) => (snr, Some("result")),
        (None, Some(snr)) => (snr, Some("reference")),
        (None, None) => (vec![f64::NAN; joined.len()], None),
    };
    // `name` in the catalog; in the result `result` (`result_error`), or else `name`
    // (`error`) as older tables called it.
    let quantity = |name: &str, error: &str, crb: Option<String>, result: (&str, &str)| {
        let (pred, error) = match joined.result_column(result.0) {
            Some(pred) => (pred, result.1),
            None => (joined.result_column(name)?, error),
        };
        let truth = joined.truth_column(name)?;
        let nan = || vec![f64::NAN; pred.len()];
        let error = joined.result_column(error).unwrap_or_else(nan);
        let crb = crb
            .and_then(|c| joined.truth_column(&c))
            .unwrap_or_else(nan);
        let samples = (0..pred.len())
            .map(|i| Sample {
                pred: pred[i],
                truth: truth[i],
                error: error[i],
                crb: crb[i],
            })
            .collect();
        Some(Quantity {
            name: name.to_string(),
            samples,
        })
    };
    Comparison {
        labels: LABELS
            .iter()
            .filter_map(|l| {
                let error = format!("e_{l}");
                quantity(l, &error, Some(format!("crb_{l}")), (l, &error))
            })
            .collect(),
        // DR19's AstroNNdist calls the network's distance nn_dist.
        fractional: [
            ("dist", "dist_err", ("nn_dist", "nn_dist_err")),
            ("L_fakemag", "L_fakemag_err", ("L_fakemag", "L_fakemag_err")),
        ]
        .iter()
        .filter_map(|(name, error, result)| quantity(name, error, None, *result))
        .collect(),
        snr,
        snr_source,
    }
}

/// The samples of `q` in star set `set`.
fn in_set(q: &Quantity, snr: &[f64], set: StarSet) -> Vec<Sample> {
    q.samples
        .iter()
        .zip(snr)
        .filter(|(_, &snr)| set.contains(snr))
        .map(|(s, _)| *s)
        .collect()
}

/// The out-of-range section: stars judged by their true Teff, log g and [Fe/H].
pub fn range_section(c: &Comparison, model: &str, ranges: &LabelRanges) -> RangeSection {
    let truth = |label: &str, row: usize| {
        c.labels
            .iter()
            .find(|q| q.name == label)
            .map_or(f64::NAN, |q| q.samples[row].truth)
    };
    let out: Vec<Option<bool>> = (0..c.snr.len())
        .map(|row| {
            let values: Vec<(&str, f64)> =
                RANGE_LABELS.iter().map(|&l| (l, truth(l, row))).collect();
            ranges.out_of_range(&values)
        })
        .collect();
    let comparisons = ["teff", "logg"]
        .iter()
        .filter_map(|label| c.labels.iter().find(|q| q.name == *label))
        .map(|q| {
            let stars: Vec<RangeStar> = q
                .samples
                .iter()
                .zip(&c.snr)
                .zip(&out)
                .filter_map(|((s, &snr), out)| {
                    out.map(|out_of_range| RangeStar {
                        snr,
                        error: s.error,
                        out_of_range,
                    })
                })
                .collect();
            compare_errors(&format!("e_{}", q.name), &stars)
        })
        .collect();
    RangeSection {
        model: model.to_string(),
        ranges: ranges.clone(),
        judged: out.iter().flatten().count(),
        out_of_range: out.iter().flatten().filter(|&&o| o).count(),
        comparisons,
    }
}

/// The report of a comparison (no files written).
pub fn build_report(
    joined: &Joined,
    c: &Comparison,
    snr_min: f64,
    ranges: Option<&(String, LabelRanges)>,
) -> Report {
    let sets = [StarSet::All, StarSet::SnrAtLeast(snr_min)];
    let labels = c
        .labels
        .iter()
        .flat_map(|q| {
            sets.map(|set| LabelRow {
                label: q.name.clone(),
                set,
                metrics: label_metrics(&in_set(q, &c.snr, set)),
            })
        })
        .collect();
    let fractional = c
        .fractional
        .iter()
        .flat_map(|q| {
            sets.map(|set| FractionalRow {
                quantity: q.name.clone(),
                set,
                metrics: fractional_metrics(&in_set(q, &c.snr, set)),
            })
        })
        .collect();
    Report {
        result: joined.result_path.clone(),
        truth: joined.truth_path.clone(),
        counts: Counts {
            result_rows: joined.result_rows,
            no_result: joined.no_result,
            unmatched: joined.unmatched,
            matched: joined.len(),
            truth_stars: joined.truth_stars,
        },
        snr_source: c.snr_source,
        sets,
        labels,
        fractional,
        range: ranges.map(|(model, r)| range_section(c, model, r)),
    }
}

/// Reads, compares, and writes `summary.md`, `summary.csv` and the figures into the output
/// directory. Returns the report and the files written.
pub fn run_report(options: &ReportOptions) -> Result<(Report, Vec<PathBuf>)> {
    let joined = join(&options.join)?;
    if joined.is_empty() {
        return Err(Error::Invalid(format!(
            "no row of {} matches a star of {} (identifier columns '{}' and '{}')",
            options.join.result.display(),
            options.join.truth.display(),
            options.join.result_id,
            options.join.truth_id
        )));
    }
    let c = comparison(&joined);
    if c.labels.is_empty() && c.fractional.is_empty() {
        return Err(Error::Invalid(format!(
            "{} and {} have no label, dist or L_fakemag column in common",
            options.join.result.display(),
            options.join.truth.display()
        )));
    }
    let report = build_report(&joined, &c, options.snr_min, options.ranges.as_ref());
    let dir = options.output_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = vec![
        write_file(&dir.join("summary.md"), &summary::markdown(&report))?,
        write_file(&dir.join("summary.csv"), &summary::csv(&report))?,
    ];
    written.extend(draw_figures(dir, &c)?);
    Ok((report, written))
}

fn write_file(path: &Path, text: &str) -> Result<PathBuf> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    Ok(path.to_path_buf())
}

/// The figures the comparison has data for.
fn draw_figures(dir: &Path, c: &Comparison) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if !c.labels.is_empty() {
        written.push(figures::one_to_one(dir, &c.labels)?);
        if c.snr_source.is_some() {
            written.push(figures::residual_vs_snr(dir, &c.labels, &c.snr)?);
        }
        let with_errors: Vec<Quantity> = c
            .labels
            .iter()
            .filter(|q| q.samples.iter().any(|s| s.error.is_finite()))
            .cloned()
            .collect();
        if !with_errors.is_empty() {
            written.push(figures::zscore_hist(dir, &with_errors)?);
        }
        let kiel = kiel_panels(c);
        if !kiel.is_empty() {
            written.push(figures::kiel(dir, &kiel)?);
        }
    }
    if let Some(dist) = c.fractional.iter().find(|q| q.name == "dist") {
        written.push(figures::distance_error(dir, dist)?);
    }
    Ok(written)
}

/// Predicted and (when the reference has them) true Teff, log g and [Fe/H].
fn kiel_panels(c: &Comparison) -> Vec<figures::KielPanel<'static>> {
    let find = |name: &str| c.labels.iter().find(|q| q.name == name);
    let (Some(teff), Some(logg)) = (find("teff"), find("logg")) else {
        return Vec::new();
    };
    let fe_h = find("fe_h");
    let side = |title: &'static str, value: fn(&Sample) -> f64| figures::KielPanel {
        title,
        stars: (0..teff.samples.len())
            .map(|i| {
                let fe = fe_h.map_or(f64::NAN, |q| value(&q.samples[i]));
                (value(&teff.samples[i]), value(&logg.samples[i]), fe)
            })
            .filter(|(t, g, _)| t.is_finite() && g.is_finite())
            .collect(),
    };
    let panels = [
        side("predicted", |s| s.pred),
        side("true", |s| {
            if !crate::train::data::is_missing(s.truth) {
                s.truth
            } else {
                f64::NAN
            }
        }),
    ];
    panels.into_iter().filter(|p| !p.stars.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn quantity(name: &str, truth: &[f64], error: &[f64]) -> Quantity {
        Quantity {
            name: name.into(),
            samples: truth
                .iter()
                .zip(error)
                .map(|(&truth, &error)| Sample {
                    pred: truth,
                    truth,
                    error,
                    crb: f64::NAN,
                })
                .collect(),
        }
    }

    #[test]
    fn out_of_range_section_from_true_labels() {
        // Rows 0–2 at SNR 40, rows 3–4 at SNR 300. Row 2 is too hot, row 4 too metal-poor,
        // row 3 has no truth for any range label and is not judged.
        let nan = f64::NAN;
        let c = Comparison {
            snr: vec![40.0, 40.0, 40.0, 300.0, 300.0],
            snr_source: Some("result"),
            labels: vec![
                quantity(
                    "teff",
                    &[4500.0, 4600.0, 7000.0, nan, 4800.0],
                    &[10.0, 30.0, 60.0, 5.0, 9.0],
                ),
                quantity("fe_h", &[0.0, 0.0, 0.0, -9999.0, -3.0], &[0.01; 5]),
            ],
            fractional: vec![],
        };
        let ranges = LabelRanges(BTreeMap::from([
            ("teff".to_string(), [4000.0, 5500.0]),
            ("fe_h".to_string(), [-2.0, 0.5]),
        ]));
        let section = range_section(&c, "m.safetensors", &ranges);
        assert_eq!((section.judged, section.out_of_range), (4, 2));
        // Only e_teff: the comparison has no logg.
        assert_eq!(section.comparisons.len(), 1);
        let teff = &section.comparisons[0];
        assert_eq!(teff.column, "e_teff");
        // SNR 30–50: in-range median 20, out-of-range 60 → ratio 3; SNR 200–500: no
        // in-range star, so row 4 gives no ratio.
        assert_eq!((teff.n_ratios, teff.median_ratio), (1, 3.0));
        assert_eq!((teff.bins[0].n_in, teff.bins[0].n_out), (2, 1));
        assert_eq!((teff.bins[3].n_in, teff.bins[3].n_out), (0, 1));

        let report = Report {
            result: "r.fits".into(),
            truth: "t.csv".into(),
            counts: Counts {
                result_rows: 5,
                no_result: 0,
                unmatched: 0,
                matched: 5,
                truth_stars: 5,
            },
            snr_source: c.snr_source,
            sets: [StarSet::All, StarSet::SnrAtLeast(100.0)],
            labels: vec![],
            fractional: vec![],
            range: Some(section),
        };
        let text = summary::markdown(&report);
        assert!(text.contains("## Out of the training range"), "{text}");
        assert!(text.contains("2 of 4 stars judged"), "{text}");
        assert!(text.contains("= **3.000** (n = 1)"), "{text}");
        assert!(text.contains("| 30–50 | 2 | 1 | 20.00 | 60.00 |"), "{text}");
        assert!(text.contains("| ≥ 500 | 0 | 0 | – | – |"), "{text}");
    }
}
