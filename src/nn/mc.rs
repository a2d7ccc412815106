//! The Monte Carlo dropout engine (SPEC §4, "Prediction"): runs a network's MC samples of
//! one spectrum as one batch, after the mask-independent layers ran once (for a group of
//! spectra together, when the network can share them), and combines them into labels and
//! errors.

use crate::nn::dropout::MaskStream;
use crate::nn::network::BayesianNetwork;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::{McVariance, Scaling};
use candle_core::{Device, Result, Tensor};

/// Per-label statistics of a spectrum's outputs, in the network's standardised units.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputStatistics {
    /// Mean output over the samples (the output itself for a deterministic pass).
    pub mean: Vec<f64>,
    /// Variance of the outputs over the samples (the model's [`McVariance`]; 0 for a
    /// deterministic pass).
    pub variance: Vec<f64>,
    /// Mean predicted log-variance over the samples.
    pub mean_log_variance: Vec<f64>,
}

impl OutputStatistics {
    /// Statistics of `samples` rows of outputs and log-variances (row-major, `labels` wide),
    /// the spread measured with `variance`.
    pub fn from_samples(
        outputs: &[f32],
        log_variances: &[f32],
        labels: usize,
        variance: McVariance,
    ) -> Self {
        let samples = outputs.len() / labels;
        let column_mean = |values: &[f32], j: usize| -> f64 {
            (0..samples)
                .map(|s| f64::from(values[s * labels + j]))
                .sum::<f64>()
                / samples as f64
        };
        let mean: Vec<f64> = (0..labels).map(|j| column_mean(outputs, j)).collect();
        let variance = (0..labels)
            .map(|j| {
                let squares: f64 = (0..samples)
                    .map(|s| (f64::from(outputs[s * labels + j]) - mean[j]).powi(2))
                    .sum();
                variance.of(squares, samples)
            })
            .collect();
        let mean_log_variance = (0..labels).map(|j| column_mean(log_variances, j)).collect();
        OutputStatistics {
            mean,
            variance,
            mean_log_variance,
        }
    }
}

/// Labels and their uncertainties in physical units, before the noise model.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLabels {
    /// transform(mean) · labels_std + labels_mean (the transform is the identity but for
    /// astroNN's labels mode 3s: [`crate::nn::scaling::LabelsTransform`]).
    pub values: Vec<f64>,
    /// sqrt(exp(mean log-variance) + MC variance) · labels_error_std.
    pub errors: Vec<f64>,
    /// sqrt(MC variance) · labels_error_std: the MC-dropout ("model") part of the error,
    /// which AstroNNdist reports as `L_fakemag_model_err` (0 for a deterministic pass).
    pub model_errors: Vec<f64>,
    /// sqrt(exp(mean log-variance)) · labels_error_std: the network's own ("predictive")
    /// part, so that errors² = model_errors² + predictive_errors² (astroNN's
    /// `pred_err['model']` and `pred_err['predictive']`).
    pub predictive_errors: Vec<f64>,
}

impl RawLabels {
    /// The same values without errors (NaN): those of a network with no variance.
    fn without_errors(self) -> Self {
        let nan = vec![f64::NAN; self.values.len()];
        RawLabels {
            errors: nan.clone(),
            model_errors: nan.clone(),
            predictive_errors: nan,
            ..self
        }
    }

    /// De-standardises output statistics with the model's label normalisation.
    pub fn from_statistics(stats: &OutputStatistics, scaling: &Scaling) -> Self {
        let transform = scaling.labels_transform;
        let values = stats
            .mean
            .iter()
            .zip(scaling.labels_mean.iter().zip(&scaling.labels_std))
            .map(|(&m, (offset, scale))| transform.apply(m) * scale + offset)
            .collect();
        let errors = stats
            .mean_log_variance
            .iter()
            .zip(stats.variance.iter().zip(&scaling.labels_error_std))
            .map(|(mlv, (var, scale))| (mlv.exp() + var).sqrt() * scale)
            .collect();
        let model_errors = stats
            .variance
            .iter()
            .zip(&scaling.labels_error_std)
            .map(|(var, scale)| var.sqrt() * scale)
            .collect();
        let predictive_errors = stats
            .mean_log_variance
            .iter()
            .zip(&scaling.labels_error_std)
            .map(|(mlv, scale)| mlv.exp().sqrt() * scale)
            .collect();
        RawLabels {
            values,
            errors,
            model_errors,
            predictive_errors,
        }
    }
}

/// The network's input for a normalized spectrum ([`Scaling::standardize`]) as a
/// `[1, pixels]` tensor.
pub fn standardize<N: BayesianNetwork + ?Sized>(
    net: &N,
    normalized_flux: &[f64],
) -> Result<Tensor> {
    let x = net.scaling().standardize(normalized_flux);
    let n = x.len();
    Tensor::from_vec(x, (1, n), &Device::Cpu)
}

/// MC samples run through the network together. It bounds memory (a batch's convolution
/// activations) for large `--mc` while keeping the matrix products large; the default of
/// 100 samples is one batch.
pub const SAMPLES_PER_BATCH: usize = 128;

/// Output statistics of one spectrum: a deterministic pass when `samples` is 0, else
/// `samples` MC-dropout passes with masks from `stream`.
pub fn output_statistics<N: BayesianNetwork + ?Sized>(
    net: &N,
    normalized_flux: &[f64],
    samples: usize,
    stream: MaskStream,
) -> Result<OutputStatistics> {
    let mut each = output_statistics_each(net, &[normalized_flux], samples, vec![stream])?;
    Ok(each.remove(0))
}

/// [`output_statistics`] of a group of spectra (`streams[i]` for spectrum i), with the
/// network's mask-independent work shared by the group
/// ([`BayesianNetwork::forward_each`]). Each spectrum's statistics are the same as alone.
pub fn output_statistics_each<N: BayesianNetwork + ?Sized>(
    net: &N,
    normalized_fluxes: &[&[f64]],
    samples: usize,
    mut streams: Vec<MaskStream>,
) -> Result<Vec<OutputStatistics>> {
    let count = normalized_fluxes.len();
    if streams.len() != count {
        candle_core::bail!("{count} spectra but {} mask streams", streams.len());
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let rows = normalized_fluxes
        .iter()
        .map(|flux| standardize(net, flux))
        .collect::<Result<Vec<_>>>()?;
    let x = Tensor::cat(&rows, 0)?;
    let mut outputs = vec![Vec::new(); count];
    let mut log_variances = vec![Vec::new(); count];
    let mut labels = 0;
    let mut append = |group: Vec<(Tensor, Tensor)>| -> Result<()> {
        for ((out, log_var), (outputs, log_variances)) in group
            .into_iter()
            .zip(outputs.iter_mut().zip(log_variances.iter_mut()))
        {
            labels = out.dim(1)?;
            outputs.extend(out.flatten_all()?.to_vec1::<f32>()?);
            log_variances.extend(log_var.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(())
    };
    if samples == 0 {
        let mut off: Vec<Dropout> = (0..count).map(|_| Dropout::Off).collect();
        append(net.forward_each(&x, 1, &mut off)?)?;
    }
    let mut remaining = samples;
    while remaining > 0 {
        let batch = remaining.min(SAMPLES_PER_BATCH);
        let mut on: Vec<Dropout> = streams.iter_mut().map(Dropout::On).collect();
        append(net.forward_each(&x, batch, &mut on)?)?;
        remaining -= batch;
    }
    Ok(outputs
        .iter()
        .zip(&log_variances)
        .map(|(outputs, log_variances)| {
            OutputStatistics::from_samples(
                outputs,
                log_variances,
                labels,
                net.scaling().mc_variance,
            )
        })
        .collect())
}

/// Raw labels and errors of one spectrum (see [`predict_raw_each`]).
pub fn predict_raw<N: BayesianNetwork + ?Sized>(
    net: &N,
    normalized_flux: &[f64],
    samples: usize,
    stream: MaskStream,
) -> Result<RawLabels> {
    let mut each = predict_raw_each(net, &[normalized_flux], samples, vec![stream])?;
    Ok(each.remove(0))
}

/// Raw labels and errors of a group of spectra (see [`output_statistics_each`]). A network
/// that is not Bayesian ([`BayesianNetwork::is_bayesian`]) runs one deterministic pass
/// whatever `samples` asks for, and its errors are NaN.
pub fn predict_raw_each<N: BayesianNetwork + ?Sized>(
    net: &N,
    normalized_fluxes: &[&[f64]],
    samples: usize,
    streams: Vec<MaskStream>,
) -> Result<Vec<RawLabels>> {
    let bayesian = net.is_bayesian();
    let samples = if bayesian { samples } else { 0 };
    Ok(
        output_statistics_each(net, normalized_fluxes, samples, streams)?
            .iter()
            .map(|stats| RawLabels::from_statistics(stats, net.scaling()))
            .map(|raw| if bayesian { raw } else { raw.without_errors() })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_use_unbiased_variance() {
        // Two labels, three samples.
        let outputs = [1.0f32, 10.0, 2.0, 20.0, 3.0, 60.0];
        let log_variances = [0.0f32, 1.0, 0.0, 2.0, 0.0, 3.0];
        let stats =
            OutputStatistics::from_samples(&outputs, &log_variances, 2, McVariance::Unbiased);
        assert_eq!(stats.mean, vec![2.0, 30.0]);
        assert_eq!(stats.variance, vec![1.0, 700.0]);
        assert_eq!(stats.mean_log_variance, vec![0.0, 2.0]);
        let population =
            OutputStatistics::from_samples(&outputs, &log_variances, 2, McVariance::Population);
        assert_eq!(population.variance, vec![2.0 / 3.0, 1400.0 / 3.0]);
    }

    #[test]
    fn raw_labels_combine_predictive_and_mc_variance() {
        let stats = OutputStatistics {
            mean: vec![0.5],
            variance: vec![0.25],
            mean_log_variance: vec![(0.75f64).ln()],
        };
        let scaling = Scaling {
            input_mean: vec![],
            input_std: vec![],
            labels_mean: vec![4000.0],
            labels_std: vec![200.0],
            labels_error_std: vec![200.0],
            mc_variance: McVariance::Unbiased,
            labels_transform: crate::nn::scaling::LabelsTransform::Identity,
        };
        let raw = RawLabels::from_statistics(&stats, &scaling);
        assert_eq!(raw.values, vec![4100.0]);
        assert!((raw.errors[0] - 200.0).abs() < 1e-9);
        // astroNN's labels mode 0: values unscaled, errors scaled.
        let mode0 = Scaling {
            labels_mean: vec![0.0],
            labels_std: vec![1.0],
            labels_error_std: vec![100.0],
            ..scaling
        };
        let raw = RawLabels::from_statistics(&stats, &mode0);
        assert_eq!(raw.values, vec![0.5]);
        assert!((raw.errors[0] - 100.0).abs() < 1e-9);
        assert!((raw.model_errors[0] - 50.0).abs() < 1e-9);
        // sqrt(0.75) · 100: the predictive part; 50² + 86.6² = 100².
        assert!((raw.predictive_errors[0] - 0.75f64.sqrt() * 100.0).abs() < 1e-9);
        // astroNN's labels mode 3s: the logit of the mean, errors as the network gives them.
        let mode3s = Scaling {
            labels_std: vec![1.0],
            labels_error_std: vec![1.0],
            labels_transform: crate::nn::scaling::LabelsTransform::Logit,
            ..mode0
        };
        let raw = RawLabels::from_statistics(&stats, &mode3s);
        assert_eq!(raw.values, vec![0.0], "logit(0.5) = 0");
        assert!((raw.errors[0] - 1.0).abs() < 1e-9);
        let quarter = OutputStatistics {
            mean: vec![0.25],
            ..stats
        };
        let value = RawLabels::from_statistics(&quarter, &mode3s).values[0];
        assert!((value - (1.0f64 / 3.0).ln()).abs() < 1e-12, "{value}");
    }
}
