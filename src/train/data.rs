//! The training set in memory and its normalisation (SPEC §9).
//!
//! Labels are standardised with the set's mean and standard deviation, computed over the
//! present values only (AstroNNDist's L_fakemag is only divided by its standard deviation:
//! its inference has no mean offset); spectra have the set's mean spectrum subtracted.
//! These constants become the trained model's `labels_mean`, `labels_std` and `input_mean`,
//! so prediction undoes exactly what training did.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::censored::LABELS;
use crate::nn::scaling::{McVariance, Scaling};
use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// astroNN's magic number for a missing label.
pub const MISSING_LABEL: f64 = -9999.0;

/// Whether a label value means "missing": NaN (or any non-finite value) or −9999.
pub fn is_missing(value: f64) -> bool {
    !value.is_finite() || value == MISSING_LABEL
}

/// Checks that `flux` (`N × 7514`, every value finite), `labels` label values (`N ×
/// label_names.len()`) and `errors` label errors (as many as labels) fit together, and
/// returns N.
pub fn check_layout(
    label_names: &[&str],
    flux: &[f32],
    labels: usize,
    errors: Option<usize>,
) -> Result<usize> {
    if flux.is_empty() || !flux.len().is_multiple_of(NETWORK_PIXELS) {
        return Err(Error::Invalid(format!(
            "training flux has {} values, not a positive multiple of {NETWORK_PIXELS}",
            flux.len()
        )));
    }
    let (n, width) = (flux.len() / NETWORK_PIXELS, label_names.len());
    if labels != n * width {
        return Err(Error::Invalid(format!(
            "{n} training spectra need {} label values ({width} each: {}), got {labels}",
            n * width,
            label_names.join(", "),
        )));
    }
    if let Some(errors) = errors.filter(|&errors| errors != labels) {
        return Err(Error::Invalid(format!(
            "{errors} label errors for {labels} labels"
        )));
    }
    if let Some(i) = flux.iter().position(|f| !f.is_finite()) {
        return Err(Error::Invalid(format!(
            "training spectrum {} has a non-finite flux at pixel {}",
            i / NETWORK_PIXELS,
            i % NETWORK_PIXELS
        )));
    }
    Ok(n)
}

/// A known label error, or 0 ("unknown") for a missing, negative or non-finite one.
pub fn usable_error(sigma: f64) -> f64 {
    if sigma.is_finite() && sigma > 0.0 && sigma != MISSING_LABEL {
        sigma
    } else {
        0.0
    }
}

/// Spectra and labels for training a network.
///
/// Rows are spectra; the label columns are a network's outputs in network order (the
/// censored network's 22 [`LABELS`], or AstroNNDist's L_fakemag). Flux is held as f32 to
/// halve the memory of large sets (86k spectra are 2.6 GB); the network computes in f32
/// anyway.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    label_names: &'static [&'static str],
    flux: Vec<f32>,
    labels: Vec<f64>,
    label_errors: Option<Vec<f64>>,
}

impl TrainingSet {
    /// A set of `N` spectra for the censored network: `flux` is `N × 7514`
    /// continuum-normalized flux (row-major), `labels` is `N × 22` (NaN or −9999 = missing),
    /// `label_errors` the labels' 1σ errors in the same layout (0, negative, NaN or −9999 =
    /// unknown, treated as 0).
    ///
    /// Refuses an empty set, mismatched lengths, non-finite flux and a set without a single
    /// present label.
    pub fn new(flux: Vec<f32>, labels: Vec<f64>, label_errors: Option<Vec<f64>>) -> Result<Self> {
        TrainingSet::with_labels(&LABELS, flux, labels, label_errors)
    }

    /// A set as [`TrainingSet::new`] makes, with the label columns `label_names` (a
    /// network's outputs, e.g. [`crate::train::dist_model::DIST_LABELS`]): `labels` is
    /// `N × label_names.len()`.
    pub fn with_labels(
        label_names: &'static [&'static str],
        flux: Vec<f32>,
        labels: Vec<f64>,
        label_errors: Option<Vec<f64>>,
    ) -> Result<Self> {
        if label_names.is_empty() {
            return Err(Error::Invalid("a training set needs a label".into()));
        }
        check_layout(
            label_names,
            &flux,
            labels.len(),
            label_errors.as_ref().map(Vec::len),
        )?;
        if labels.iter().all(|&v| is_missing(v)) {
            return Err(Error::Invalid(
                "the training set has no usable label (all are NaN or -9999)".into(),
            ));
        }
        Ok(TrainingSet {
            label_names,
            flux,
            labels,
            label_errors,
        })
    }

    /// Number of spectra.
    pub fn len(&self) -> usize {
        self.flux.len() / NETWORK_PIXELS
    }

    /// Whether the set has no spectra (never true for a constructed set).
    pub fn is_empty(&self) -> bool {
        self.flux.is_empty()
    }

    /// Label names, in the order of the label columns (the network's outputs).
    pub fn label_names(&self) -> &'static [&'static str] {
        self.label_names
    }

    /// Normalized flux of spectrum `i` (panics if `i >= len()`, as slice indexing does).
    pub fn flux(&self, i: usize) -> &[f32] {
        &self.flux[i * NETWORK_PIXELS..(i + 1) * NETWORK_PIXELS]
    }

    /// Labels of spectrum `i`, missing values as given (panics if `i >= len()`).
    pub fn labels(&self, i: usize) -> &[f64] {
        let l = self.label_names.len();
        &self.labels[i * l..(i + 1) * l]
    }

    /// Label errors of spectrum `i` as given, if the set has errors (panics if
    /// `i >= len()`).
    pub fn label_errors(&self, i: usize) -> Option<&[f64]> {
        let l = self.label_names.len();
        self.label_errors
            .as_ref()
            .map(|errors| &errors[i * l..(i + 1) * l])
    }

    /// The smallest and largest present value of each label, in label order (NaN for a
    /// label no spectrum has): the label range a model trained on the set has seen.
    pub fn label_ranges(&self) -> Vec<(f64, f64)> {
        let l = self.label_names.len();
        let mut ranges = vec![(f64::NAN, f64::NAN); l];
        for row in self.labels.chunks(l) {
            for (range, &v) in ranges.iter_mut().zip(row) {
                if !is_missing(v) {
                    range.0 = range.0.min(v);
                    range.1 = range.1.max(v);
                }
            }
        }
        ranges
    }

    /// Number of spectra with each label present, in label order: a label no spectrum has
    /// is not learnt (its head trains on nothing), which a caller may want to report.
    pub fn label_counts(&self) -> Vec<usize> {
        let l = self.label_names.len();
        let mut counts = vec![0; l];
        for row in self.labels.chunks(l) {
            for (count, &v) in counts.iter_mut().zip(row) {
                *count += usize::from(!is_missing(v));
            }
        }
        counts
    }

    /// SHA-256 (hex) of the flux, labels and errors, as little-endian bytes: identifies the
    /// data a checkpoint was trained on, so a run is not resumed on other data.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buffer = Vec::with_capacity(NETWORK_PIXELS * 4);
        for row in self.flux.chunks(NETWORK_PIXELS) {
            buffer.clear();
            buffer.extend(row.iter().flat_map(|v| v.to_le_bytes()));
            hasher.update(&buffer);
        }
        hasher.update(b"labels");
        for v in &self.labels {
            hasher.update(v.to_le_bytes());
        }
        if let Some(errors) = &self.label_errors {
            hasher.update(b"errors");
            for v in errors {
                hasher.update(v.to_le_bytes());
            }
        }
        crate::io::model_file::hex(&hasher.finalize())
    }
}

/// The normalisation a model is trained with (and saved with).
///
/// A model trained from scratch has Astra's conventions (unit `input_std`, errors scaled by
/// `labels_std`, unbiased MC variance); a model fine-tuned from a parent keeps the parent's
/// constants and conventions ([`Normalisation::of_model`]), astroNN folders' included.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    /// Mean normalized spectrum (7514), subtracted from every input.
    pub input_mean: Vec<f64>,
    /// Divides the flux after the mean is subtracted (ones except for astroNN's folders).
    pub input_std: Vec<f64>,
    /// Per-label mean of the present values (0 for a label with none, and for every label
    /// of a normalisation without offset).
    pub labels_mean: Vec<f64>,
    /// Per-label population standard deviation of the present values (1 for a label with
    /// fewer than two distinct values, so that it stays finite).
    pub labels_std: Vec<f64>,
    /// Scales the predicted errors at inference (`labels_std`, except for astroNN's labels
    /// normalisation mode 0; see [`Scaling`]).
    pub labels_error_std: Vec<f64>,
    /// The variance convention of the MC samples at inference.
    pub mc_variance: McVariance,
}

impl Normalisation {
    /// Constants with Astra's conventions: unit `input_std`, errors scaled by `labels_std`,
    /// unbiased MC variance.
    pub fn new(input_mean: Vec<f64>, labels_mean: Vec<f64>, labels_std: Vec<f64>) -> Self {
        Normalisation {
            input_std: vec![1.0; input_mean.len()],
            labels_error_std: labels_std.clone(),
            input_mean,
            labels_mean,
            labels_std,
            mc_variance: McVariance::default(),
        }
    }

    /// A loaded model's constants and conventions (its inference network's [`Scaling`]),
    /// to train on with them unchanged.
    pub fn of_model(scaling: &Scaling) -> Self {
        Normalisation {
            input_mean: scaling.input_mean.clone(),
            input_std: scaling.input_std.clone(),
            labels_mean: scaling.labels_mean.clone(),
            labels_std: scaling.labels_std.clone(),
            labels_error_std: scaling.labels_error_std.clone(),
            mc_variance: scaling.mc_variance,
        }
    }

    /// The normalisation of a whole training set (validation rows included, as astroNN
    /// normalises before it splits).
    pub fn of(set: &TrainingSet) -> Normalisation {
        Normalisation::with_offset(set, true)
    }

    /// [`Normalisation::of`], with `labels_mean` set to zero when `offset` is false: labels
    /// are then only divided by their std (AstroNNDist: `L_fakemag = output · labels_std`).
    /// The std is the same in both cases (around the mean).
    pub fn with_offset(set: &TrainingSet, offset: bool) -> Normalisation {
        let n = set.len();
        let mut input_mean = vec![0f64; NETWORK_PIXELS];
        for i in 0..n {
            for (sum, &f) in input_mean.iter_mut().zip(set.flux(i)) {
                *sum += f64::from(f);
            }
        }
        for m in &mut input_mean {
            *m /= n as f64;
        }
        let l = set.label_names().len();
        let mut labels_mean = vec![0f64; l];
        let mut labels_std = vec![1f64; l];
        for j in 0..l {
            let present: Vec<f64> = (0..n)
                .map(|i| set.labels(i)[j])
                .filter(|&v| !is_missing(v))
                .collect();
            if present.is_empty() {
                continue;
            }
            let mean = present.iter().sum::<f64>() / present.len() as f64;
            let var =
                present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / present.len() as f64;
            if offset {
                labels_mean[j] = mean;
            }
            if var.sqrt().is_finite() && var > 0.0 {
                labels_std[j] = var.sqrt();
            }
        }
        Normalisation::new(input_mean, labels_mean, labels_std)
    }

    /// Writes the network input of a spectrum: (flux − input_mean) / input_std, computed in
    /// f64 and rounded to f32 (as [`Scaling::standardize`] does at prediction).
    pub(crate) fn standardize_flux(&self, flux: &[f32], out: &mut [f32]) {
        let constants = self.input_mean.iter().zip(&self.input_std);
        for ((o, &f), (m, s)) in out.iter_mut().zip(flux).zip(constants) {
            *o = ((f64::from(f) - m) / s) as f32;
        }
    }

    /// Standardised labels of a spectrum (NaN where missing) and standardised errors (0 where
    /// unknown or the label is missing), appended to `values` and `errors`.
    pub(crate) fn standardize_labels(
        &self,
        labels: &[f64],
        label_errors: Option<&[f64]>,
        values: &mut Vec<f64>,
        errors: &mut Vec<f64>,
    ) {
        for (j, &v) in labels.iter().enumerate() {
            if is_missing(v) {
                values.push(f64::NAN);
                errors.push(0.0);
            } else {
                values.push((v - self.labels_mean[j]) / self.labels_std[j]);
                let sigma = label_errors.map_or(0.0, |e| usable_error(e[j]));
                errors.push(sigma / self.labels_std[j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: Vec<f64>, errors: Option<Vec<f64>>) -> TrainingSet {
        let n = labels.len() / LABELS.len();
        let flux: Vec<f32> = (0..n * NETWORK_PIXELS)
            .map(|i| (i % NETWORK_PIXELS % 7) as f32)
            .collect();
        TrainingSet::new(flux, labels, errors).unwrap()
    }

    #[test]
    fn statistics_ignore_missing_labels() {
        let l = LABELS.len();
        let mut labels = vec![f64::NAN; 3 * l];
        labels[0] = 1.0;
        labels[l] = 3.0;
        labels[2 * l] = MISSING_LABEL;
        labels[1] = 5.0; // one value only: std falls back to 1
        let norm = Normalisation::of(&set(labels, None));
        assert_eq!(norm.labels_mean[0], 2.0);
        assert_eq!(norm.labels_std[0], 1.0);
        assert_eq!(norm.labels_mean[1], 5.0);
        assert_eq!(norm.labels_std[1], 1.0);
        assert_eq!(norm.labels_mean[2], 0.0);
        assert_eq!(norm.input_mean[..3], [0.0, 1.0, 2.0]);
        let s = set(vec![1.0; 2 * LABELS.len()], None);
        assert_eq!(s.label_counts(), vec![2; LABELS.len()]);
    }

    #[test]
    fn label_ranges_skip_missing_values() {
        let l = LABELS.len();
        let mut labels = vec![f64::NAN; 3 * l];
        labels[0] = 4.0;
        labels[l] = -2.5;
        labels[2 * l] = MISSING_LABEL;
        labels[1] = 1.5;
        let ranges = set(labels, None).label_ranges();
        assert_eq!(ranges[0], (-2.5, 4.0));
        assert_eq!(ranges[1], (1.5, 1.5));
        assert!(
            ranges[2].0.is_nan() && ranges[2].1.is_nan(),
            "no value: no range"
        );
    }

    #[test]
    fn errors_are_scaled_by_the_label_std() {
        let l = LABELS.len();
        let mut labels = vec![f64::NAN; 2 * l];
        labels[0] = 0.0;
        labels[l] = 4.0;
        let mut errors = vec![0.0; 2 * l];
        errors[0] = 1.0;
        errors[l] = -9999.0;
        let s = set(labels, Some(errors));
        let norm = Normalisation::of(&s);
        assert_eq!(norm.labels_std[0], 2.0);
        let (mut v, mut e) = (Vec::new(), Vec::new());
        norm.standardize_labels(s.labels(0), s.label_errors(0), &mut v, &mut e);
        norm.standardize_labels(s.labels(1), s.label_errors(1), &mut v, &mut e);
        assert_eq!((v[0], e[0]), (-1.0, 0.5));
        assert_eq!((v[l], e[l]), (1.0, 0.0));
        assert!(v[1].is_nan() && e[1] == 0.0);
    }

    #[test]
    fn without_offset_labels_are_only_scaled_by_their_std() {
        // L_fakemag-like targets, negative ones included: mean 1, std 2 around the mean.
        const NAMES: [&str; 1] = ["L_fakemag"];
        let flux = vec![1.0; 3 * NETWORK_PIXELS];
        let labels = vec![-1.0, 3.0, f64::NAN];
        let set = TrainingSet::with_labels(&NAMES, flux, labels, Some(vec![0.5, 1.0, 1.0]));
        let set = set.unwrap();
        assert_eq!(set.label_names(), &NAMES);
        assert_eq!(set.label_counts(), vec![2]);
        let norm = Normalisation::with_offset(&set, false);
        assert_eq!(
            (norm.labels_mean.clone(), norm.labels_std.clone()),
            (vec![0.0], vec![2.0])
        );
        assert_eq!(Normalisation::of(&set).labels_mean, vec![1.0]);
        let (mut v, mut e) = (Vec::new(), Vec::new());
        for i in 0..3 {
            norm.standardize_labels(set.labels(i), set.label_errors(i), &mut v, &mut e);
        }
        assert_eq!((v[0], v[1], e[0], e[1]), (-0.5, 1.5, 0.25, 0.5));
        assert!(v[2].is_nan() && e[2] == 0.0);
        assert!(TrainingSet::with_labels(&[], vec![1.0; NETWORK_PIXELS], vec![], None).is_err());
    }

    #[test]
    fn refuses_bad_sets() {
        let l = LABELS.len();
        assert!(TrainingSet::new(vec![], vec![], None).is_err());
        assert!(TrainingSet::new(vec![1.0; NETWORK_PIXELS], vec![1.0; l - 1], None).is_err());
        assert!(TrainingSet::new(vec![1.0; NETWORK_PIXELS], vec![f64::NAN; l], None).is_err());
        let mut flux = vec![1.0; NETWORK_PIXELS];
        flux[5] = f32::NAN;
        assert!(TrainingSet::new(flux, vec![1.0; l], None).is_err());
    }
}
