//! The training loss of the Bayesian networks (SPEC §9, astroNN's `mse_var_wrapper` with
//! its magic-number correction).
//!
//! Per label, with prediction y, predicted log-variance s and known label error σ:
//! v = exp(s) + σ², ℓ = ½·((y_true − y)²/v + ln v). Missing labels contribute 0 and the
//! per-spectrum mean over labels is multiplied by (labels / present labels), i.e. each
//! spectrum's loss is the mean over its present labels; the batch loss is the mean over
//! spectra. A spectrum without any present label contributes 0 (astroNN would give NaN).

use crate::train::data::is_missing;
use candle_core::{DType, Device, Result, Tensor};

/// A batch's targets in standardised units, as the tensors the loss reads.
#[derive(Debug, Clone)]
pub struct LabelTargets {
    /// Target values, 0 where missing. `[rows, labels]`.
    values: Tensor,
    /// 1 where the label is present, else 0. `[rows, labels]`.
    present: Tensor,
    /// σ² (0 where unknown or missing). `[rows, labels]`.
    error_variance: Tensor,
    /// 1 / (present labels) per spectrum, 0 for a spectrum without labels. `[rows, 1]`.
    spectrum_weight: Tensor,
}

impl LabelTargets {
    /// Targets from standardised label values (row-major, `labels` wide; NaN or −9999 =
    /// missing) and optional standardised errors σ (0, negative or non-finite = unknown), as
    /// tensors of `dtype`.
    pub fn new(
        values: &[f64],
        errors: Option<&[f64]>,
        labels: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<LabelTargets> {
        if labels == 0 || !values.len().is_multiple_of(labels) {
            candle_core::bail!("{} label values are not rows of {labels}", values.len());
        }
        if errors.is_some_and(|e| e.len() != values.len()) {
            candle_core::bail!("label errors and labels differ in length");
        }
        let rows = values.len() / labels;
        let mut target = Vec::with_capacity(values.len());
        let mut present = Vec::with_capacity(values.len());
        let mut variance = Vec::with_capacity(values.len());
        for (k, &v) in values.iter().enumerate() {
            let missing = is_missing(v);
            target.push(if missing { 0.0 } else { v });
            present.push(if missing { 0.0 } else { 1.0 });
            let sigma = errors.map_or(0.0, |e| e[k]);
            let usable = !missing && sigma.is_finite() && sigma > 0.0;
            variance.push(if usable { sigma * sigma } else { 0.0 });
        }
        let weight: Vec<f64> = present
            .chunks(labels)
            .map(|row| {
                let count: f64 = row.iter().sum();
                if count > 0.0 {
                    1.0 / count
                } else {
                    0.0
                }
            })
            .collect();
        let tensor = |data: Vec<f64>, cols: usize| {
            Tensor::from_vec(data, (rows, cols), device)?.to_dtype(dtype)
        };
        Ok(LabelTargets {
            values: tensor(target, labels)?,
            present: tensor(present, labels)?,
            error_variance: tensor(variance, labels)?,
            spectrum_weight: tensor(weight, 1)?,
        })
    }

    /// Number of spectra.
    pub fn rows(&self) -> usize {
        self.values.dims()[0]
    }
}

/// Each spectrum's loss (`[rows]`): the mean of ℓ over its present labels.
pub fn spectrum_losses(
    prediction: &Tensor,
    log_variance: &Tensor,
    targets: &LabelTargets,
) -> Result<Tensor> {
    let variance = (log_variance.exp()? + &targets.error_variance)?;
    let squared = (&targets.values - prediction)?.sqr()?;
    let per_label = ((squared / &variance)? + variance.log()?)?.affine(0.5, 0.0)?;
    (per_label * &targets.present)?
        .sum_keepdim(1)?
        .mul(&targets.spectrum_weight)?
        .squeeze(1)
}

/// The batch loss (a scalar): the mean over spectra of [`spectrum_losses`].
pub fn censored_loss(
    prediction: &Tensor,
    log_variance: &Tensor,
    targets: &LabelTargets,
) -> Result<Tensor> {
    spectrum_losses(prediction, log_variance, targets)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: &[f64], cols: usize) -> Tensor {
        Tensor::from_vec(values.to_vec(), (values.len() / cols, cols), &Device::Cpu).unwrap()
    }

    fn loss(pred: &[f64], logvar: &[f64], y: &[f64], errors: Option<&[f64]>, cols: usize) -> f64 {
        let targets = LabelTargets::new(y, errors, cols, DType::F64, &Device::Cpu).unwrap();
        censored_loss(&tensor(pred, cols), &tensor(logvar, cols), &targets)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    #[test]
    fn single_label_is_half_squared_error_over_variance_plus_log_variance() {
        // y = 1, ŷ = 3, s = ln 4: ½(4/4 + ln 4) = 0.5 + ln 2.
        let got = loss(&[3.0], &[4f64.ln()], &[1.0], None, 1);
        assert!((got - (0.5 + 2f64.ln())).abs() < 1e-12, "{got}");
        // s = 0: ½(4 + 0) = 2.
        assert!((loss(&[3.0], &[0.0], &[1.0], None, 1) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn label_error_adds_to_the_predicted_variance() {
        // v = exp(0) + 0.5² = 1.25; ℓ = ½(1/1.25 + ln 1.25).
        let expected = 0.5 * (1.0 / 1.25 + 1.25f64.ln());
        let got = loss(&[1.0], &[0.0], &[0.0], Some(&[0.5]), 1);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        // Unknown errors (0, negative, NaN) add nothing.
        for sigma in [0.0, -1.0, f64::NAN] {
            assert!((loss(&[1.0], &[0.0], &[0.0], Some(&[sigma]), 1) - 0.5).abs() < 1e-12);
        }
    }

    #[test]
    fn missing_labels_are_left_out_and_the_mean_is_over_present_labels() {
        // Row 0: labels (0, missing, 2) predicted (1, 50, 2), s = 0: ℓ = (0.5, -, 0);
        // mean over 3 labels × 3/2 = 0.25.
        // Row 1: (missing −9999, 1, missing) predicted (7, 3, 7), s = (0, ln 2, 0):
        // ℓ = ½(4/2 + ln 2); × 3/1 of the mean over 3 = that value.
        // Row 2: nothing present: 0. Batch mean over 3 rows.
        let pred = [1.0, 50.0, 2.0, 7.0, 3.0, 7.0, 1.0, 1.0, 1.0];
        let logvar = [0.0, 0.0, 0.0, 0.0, 2f64.ln(), 0.0, 0.0, 0.0, 0.0];
        let y = [
            0.0,
            f64::NAN,
            2.0,
            -9999.0,
            1.0,
            f64::NAN,
            f64::NAN,
            -9999.0,
            f64::INFINITY,
        ];
        let row1 = 0.5 * (2.0 + 2f64.ln());
        let expected = (0.25 + row1 + 0.0) / 3.0;
        let got = loss(&pred, &logvar, &y, None, 3);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn errors_of_missing_labels_are_ignored() {
        let with = loss(
            &[1.0, 0.0],
            &[0.0, 0.0],
            &[0.0, f64::NAN],
            Some(&[0.0, 3.0]),
            2,
        );
        assert!((with - 0.5).abs() < 1e-12);
    }
}
