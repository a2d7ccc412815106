//! Our Monte Carlo dropout statistics against the reference's own MC estimates, with every
//! tolerance derived from the two sample counts.
//!
//! Two independent MC estimates of one quantity differ by a standard error
//! SE = sqrt(s²/n + s²/N), with n our samples, N the reference's and s² the per-sample
//! variance of what is averaged: the output's variance v for the mean output, m4 − v² (m4
//! the output's fourth central moment) for the unbiased variance, and the log-variance's own
//! variance for the mean log-variance. Those spreads are measured here from draws
//! independent of the compared ones. Every comparison allows 5 SE: a false alarm about
//! once in 1.7 million comparisons if the estimates are normal.

use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::{output_statistics, predict_raw, standardize, SAMPLES_PER_BATCH};
use astronn::nn::network::BayesianNetwork;
use astronn::nn::sampling::Dropout;

/// How many standard errors two MC estimates may differ by.
pub const SIGMAS: f64 = 5.0;
/// Draws measuring the spreads behind the standard errors (they only set tolerances).
const SPREAD_SAMPLES: usize = 4000;

/// One reference MC case of the fixtures' manifest.
pub struct McCase {
    /// Input row.
    pub row: usize,
    /// The reference's samples (N).
    pub samples: f64,
    /// Its mean output, unbiased output variance and mean log-variance, per output.
    pub mean: Vec<f64>,
    pub variance: Vec<f64>,
    pub mean_log_variance: Vec<f64>,
}

impl McCase {
    /// The case from its manifest entry.
    pub fn from_manifest(case: &serde_json::Value) -> McCase {
        let vector = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        McCase {
            row: case["input_row"].as_u64().unwrap() as usize,
            samples: case["n_mc"].as_f64().unwrap(),
            mean: vector("mean_output"),
            variance: vector("var_output"),
            mean_log_variance: vector("mean_log_variance"),
        }
    }
}

/// Per-output spreads: output variance, output fourth central moment, log-variance variance.
struct Spread {
    variance: Vec<f64>,
    fourth: Vec<f64>,
    log_variance_variance: Vec<f64>,
}

fn spread<N: BayesianNetwork + ?Sized>(net: &N, flux: &[f64], mut stream: MaskStream) -> Spread {
    let x = standardize(net, flux).unwrap();
    let (mut outputs, mut log_variances) = (Vec::new(), Vec::new());
    let mut labels = 0;
    let mut remaining = SPREAD_SAMPLES;
    while remaining > 0 {
        let batch = remaining.min(SAMPLES_PER_BATCH);
        let (out, log_var) = net
            .forward(&x, batch, &mut Dropout::On(&mut stream))
            .unwrap();
        labels = out.dim(1).unwrap();
        outputs.extend(out.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        log_variances.extend(log_var.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        remaining -= batch;
    }
    let moment = |values: &[f32], j: usize, power: i32| -> (f64, f64) {
        let column: Vec<f64> = values
            .iter()
            .skip(j)
            .step_by(labels)
            .map(|&v| f64::from(v))
            .collect();
        let mean = column.iter().sum::<f64>() / column.len() as f64;
        let central = column.iter().map(|v| (v - mean).powi(power)).sum::<f64>();
        (mean, central / column.len() as f64)
    };
    Spread {
        variance: (0..labels).map(|j| moment(&outputs, j, 2).1).collect(),
        fourth: (0..labels).map(|j| moment(&outputs, j, 4).1).collect(),
        log_variance_variance: (0..labels)
            .map(|j| moment(&log_variances, j, 2).1)
            .collect(),
    }
}

/// Runs `samples` MC passes on the case's input and asserts, per output: the mean output,
/// the output variance and the mean log-variance within [`SIGMAS`] standard errors of the
/// reference's; the label value and its error within the standard errors propagated to them
/// (the error e = σ·sqrt(exp(mlv) + v) moves by σ²·(δv + exp(mlv)·δmlv) / 2e); and the error
/// composed exactly as that formula says, MC variance included. `labels_std` is σ (the
/// errors' own scale where a model has one);
/// `reference_values`/`reference_errors` are the reference's labels and errors.
pub fn assert_mc_matches<N: BayesianNetwork + ?Sized>(
    net: &N,
    flux: &[f64],
    samples: usize,
    case: &McCase,
    reference_values: &[f64],
    reference_errors: &[f64],
) {
    let row = case.row;
    let stream = MaskStream::new(2024, row as u64);
    let stats = output_statistics(net, flux, samples, stream.clone()).unwrap();
    let raw = predict_raw(net, flux, samples, stream).unwrap();
    let spread = spread(net, flux, MaskStream::new(99, row as u64));
    let std = &net.scaling().labels_std;
    let error_std = &net.scaling().labels_error_std;
    let counts = 1.0 / samples as f64 + 1.0 / case.samples;
    for j in 0..stats.mean.len() {
        let v = stats.variance[j];
        let se_mean = (v / samples as f64 + case.variance[j] / case.samples).sqrt();
        let se_variance = ((spread.fourth[j] - spread.variance[j].powi(2)) * counts).sqrt();
        let se_mlv = (spread.log_variance_variance[j] * counts).sqrt();
        let within = |ours: f64, theirs: f64, se: f64, what: &str| {
            assert!(
                (ours - theirs).abs() < SIGMAS * se,
                "row {row} output {j}: {what} {ours} vs {theirs} ({:.1} standard errors of {se})",
                (ours - theirs) / se
            );
        };
        within(stats.mean[j], case.mean[j], se_mean, "MC mean");
        within(v, case.variance[j], se_variance, "MC variance");
        within(
            stats.mean_log_variance[j],
            case.mean_log_variance[j],
            se_mlv,
            "mean log-variance",
        );
        let predictive = stats.mean_log_variance[j].exp();
        let composed = (predictive + v).sqrt() * error_std[j];
        assert!(
            (raw.errors[j] - composed).abs() <= 1e-12 * composed,
            "row {row} output {j}: error {} is not σ·sqrt(exp(mlv) + MC variance) = {composed}",
            raw.errors[j]
        );
        let slope = net.scaling().labels_transform.derivative(stats.mean[j]);
        within(
            raw.values[j],
            reference_values[j],
            se_mean * slope * std[j],
            "label",
        );
        let se_error = error_std[j].powi(2)
            * (se_variance.powi(2) + (predictive * se_mlv).powi(2)).sqrt()
            / (2.0 * raw.errors[j]);
        within(raw.errors[j], reference_errors[j], se_error, "error");
    }
}
