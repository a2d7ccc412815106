//! Which pixels drive each label: the Jacobian ∂label/∂pixel of a network with respect to
//! the 7514 normalized-flux pixels, as astroNN's `model.jacobian` gives it.
//!
//! The network runs as its differentiable (training) forward pass, built from the model's
//! parameters, with the spectrum as a variable on candle's tape; one backward pass per label
//! gives that label's row. With MC dropout the rows are the mean of the per-sample Jacobians,
//! masks drawn from the spectrum's own stream in the order `predict` draws them, so a seed
//! gives the same result whatever the thread count.

use crate::apogee::grid::{CHIPS, LOG_LAMBDA_START, LOG_LAMBDA_STEP, NETWORK_PIXELS};
use crate::io::header_card::{CardValue, HeaderCard};
use crate::io::model_file::{ModelFile, ModelKind};
use crate::io::normalized::{PlaneImage, SpectraFileWriter};
use crate::nn::dropout::MaskStream;
use crate::nn::mc::SAMPLES_PER_BATCH;
use crate::nn::network::BayesianNetwork;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::Scaling;
use crate::pipeline::predict::{describe, dropout_stream, stream_key, Observer};
use crate::pipeline::predictor::{checked_rows, normalized_row_problem, ArrayRows};
use crate::pipeline::source::SpectrumSource;
use crate::train::network::TrainableNetwork;
use crate::train::plain_model::DifferentiablePlain;
use crate::train::{TrainableCensored, TrainableDist};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use rayon::prelude::*;
use std::path::Path;

/// A network whose outputs can be differentiated with respect to its input spectrum.
pub struct JacobianNetwork {
    kind: ModelKind,
    net: Differentiable,
    labels: Vec<String>,
    scaling: Scaling,
}

/// The differentiable forward pass of a network.
enum Differentiable {
    AstroNN(TrainableCensored),
    Dist(TrainableDist),
    Plain(DifferentiablePlain),
}

/// A spectrum's Jacobians, row-major `[labels, 7514]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jacobian {
    /// ∂label/∂pixel in label units per unit of normalized flux.
    pub labels: Vec<f32>,
    /// ∂(predictive log-variance, normalised units)/∂pixel, when asked for.
    pub log_variance: Option<Vec<f32>>,
}

impl JacobianNetwork {
    /// The network of `model`, with its parameters, windows and normalisation.
    pub fn from_model(model: &ModelFile) -> Result<Self> {
        let invalid = |e: candle_core::Error| {
            Error::file(&model.path, format!("cannot differentiate the model: {e}"))
        };
        let rate = model.dropout_rate()?;
        let (net, inference): (Differentiable, Box<dyn BayesianNetwork>) = match model.kind {
            ModelKind::AstroNN => {
                let mut net = TrainableCensored::from_model(&model.tensors)
                    .map_err(invalid)?
                    .with_dropout_rate(rate);
                // Neither Astra's network nor astroNN's at inference (its StopGrad acts in training
                // only) stops the gradient: the Jacobian is of the whole function.
                net.stop_gradient = false;
                let inference = crate::models::censored_network(model)?;
                (Differentiable::AstroNN(net.frozen()), Box::new(inference))
            }
            ModelKind::AstroNNDist => {
                let net = TrainableDist::from_model(&model.tensors)
                    .map_err(invalid)?
                    .with_dropout_rate(rate);
                let inference = crate::models::dist_network(model)?;
                (Differentiable::Dist(net.frozen()), Box::new(inference))
            }
            ModelKind::Generic => {
                let net = DifferentiablePlain::from_model(model)?;
                let inference = crate::models::generic_network(model)?;
                (Differentiable::Plain(net), Box::new(inference))
            }
        };
        Ok(JacobianNetwork {
            kind: model.kind,
            net,
            labels: inference.label_names(),
            scaling: inference.scaling().clone(),
        })
    }

    /// The labels, in row order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The dropout-mask stream of the spectrum of stream key `key`: the one `predict` uses
    /// for this network.
    pub fn stream(&self, seed: u64, key: u64) -> MaskStream {
        dropout_stream(seed, key, self.kind)
    }

    /// Outputs and log-variances (`[rows, labels]`, normalised units) of inputs `x`.
    fn forward(&self, x: &Tensor, dropout: &mut Dropout) -> Result<(Tensor, Tensor)> {
        Ok(match &self.net {
            Differentiable::AstroNN(net) => net.forward(x, dropout)?,
            Differentiable::Dist(net) => net.forward(x, dropout)?,
            Differentiable::Plain(net) => net.forward(x, dropout)?,
        })
    }

    /// The Jacobians of one normalized spectrum: a deterministic pass for `samples` = 0, else
    /// the mean over `samples` MC-dropout samples with masks from `stream`; with
    /// `log_variance`, also the log-variance's.
    pub fn spectrum(
        &self,
        normalized_flux: &[f64],
        samples: usize,
        mut stream: MaskStream,
        log_variance: bool,
    ) -> Result<Jacobian> {
        if normalized_flux.len() != NETWORK_PIXELS {
            return Err(Error::Invalid(format!(
                "a normalized spectrum has {NETWORK_PIXELS} pixels, not {}",
                normalized_flux.len()
            )));
        }
        let x = self.scaling.standardize(normalized_flux);
        let sums = if samples == 0 {
            self.deterministic(&x, log_variance)?
        } else {
            self.mc_sums(&x, samples, &mut stream, log_variance)?
        };
        let count = samples.max(1) as f64;
        // A label is transform(mean output) · labels_std + labels_mean: the chain rule's
        // factor is the transform's slope at the mean output (1 but for labels mode 3s).
        let transform = self.scaling.labels_transform;
        let label_scale =
            |j: usize| self.scaling.labels_std[j] * transform.derivative(sums.outputs[j] / count);
        // d/d flux = d/d input ÷ input_std (per pixel), times the output's scale.
        let input_std = &self.scaling.input_std;
        let scale = |sums: Vec<f64>, per_label: &dyn Fn(usize) -> f64| -> Vec<f32> {
            sums.chunks(NETWORK_PIXELS)
                .enumerate()
                .flat_map(|(j, row)| {
                    let s = per_label(j) / count;
                    row.iter()
                        .zip(input_std)
                        .map(move |(v, pixel_std)| (v * s / pixel_std) as f32)
                })
                .collect()
        };
        Ok(Jacobian {
            labels: scale(sums.gradients.clone(), &label_scale),
            log_variance: sums.log_variance.map(|sums| scale(sums, &|_| 1.0)),
        })
    }

    /// The deterministic Jacobians in one backward pass per output kind: one copy of `x`
    /// per label, and the sum of each copy's own label (the diagonal) differentiated, so
    /// row j of the input gradient is label j's Jacobian.
    fn deterministic(&self, x: &[f32], log_variance: bool) -> Result<Sums> {
        let labels = self.labels.len();
        let input = self.copies(x, labels)?;
        let (outputs, log_variances) = self.forward(input.as_tensor(), &mut Dropout::Off)?;
        let eye = Tensor::eye(labels, outputs.dtype(), &Device::Cpu)?;
        let gradient = |t: &Tensor| -> Result<Vec<f64>> {
            let grads = (t * &eye)?.sum_all()?.backward()?;
            input_gradient(&grads, &input)?
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1::<f64>()
                .map_err(Error::from)
        };
        let gradients = gradient(&outputs)?;
        let log_variance = log_variance.then(|| gradient(&log_variances)).transpose()?;
        Ok(Sums {
            gradients,
            log_variance,
            outputs: output_sums(&outputs.narrow(0, 0, 1)?)?,
        })
    }

    /// Sums of the per-sample Jacobians over `samples` MC samples, in batches of at most
    /// [`SAMPLES_PER_BATCH`], masks from `stream`.
    fn mc_sums(
        &self,
        x: &[f32],
        samples: usize,
        stream: &mut MaskStream,
        log_variance: bool,
    ) -> Result<Sums> {
        let size = self.labels.len() * NETWORK_PIXELS;
        let mut sums = Sums {
            gradients: vec![0f64; size],
            log_variance: log_variance.then(|| vec![0f64; size]),
            outputs: vec![0f64; self.labels.len()],
        };
        let mut remaining = samples;
        while remaining > 0 {
            let rows = remaining.min(SAMPLES_PER_BATCH);
            let batch = self.batch(x, rows, &mut Dropout::On(stream), log_variance)?;
            add(&mut sums.gradients, &batch.gradients);
            add(&mut sums.outputs, &batch.outputs);
            if let (Some(sums), Some(batch)) = (sums.log_variance.as_mut(), batch.log_variance) {
                add(sums, &batch);
            }
            remaining -= rows;
        }
        Ok(sums)
    }

    /// `rows` copies of `x` as a variable `[rows, 7514]`.
    fn copies(&self, x: &[f32], rows: usize) -> Result<Var> {
        let copies: Vec<f32> = (0..rows).flat_map(|_| x.iter().copied()).collect();
        Ok(Var::from_tensor(&Tensor::from_vec(
            copies,
            (rows, NETWORK_PIXELS),
            &Device::Cpu,
        )?)?)
    }

    /// Sums over `rows` samples (copies of `x` with their own masks) of each output's and
    /// (with `log_variance`) each log-variance's gradient, `[labels, 7514]` in f64, and of
    /// the outputs.
    fn batch(
        &self,
        x: &[f32],
        rows: usize,
        dropout: &mut Dropout,
        log_variance: bool,
    ) -> Result<Sums> {
        let input = self.copies(x, rows)?;
        let (outputs, log_variances) = self.forward(input.as_tensor(), dropout)?;
        let gradients = |t: &Tensor| -> Result<Vec<f64>> {
            let mut rows_summed = Vec::with_capacity(self.labels.len() * NETWORK_PIXELS);
            for j in 0..self.labels.len() {
                let grads = t.narrow(1, j, 1)?.sum_all()?.backward()?;
                let summed = input_gradient(&grads, &input)?
                    .to_dtype(DType::F64)?
                    .sum(0)?
                    .to_vec1::<f64>()?;
                rows_summed.extend(summed);
            }
            Ok(rows_summed)
        };
        let log_variance = log_variance
            .then(|| gradients(&log_variances))
            .transpose()?;
        Ok(Sums {
            gradients: gradients(&outputs)?,
            log_variance,
            outputs: output_sums(&outputs)?,
        })
    }
}

/// Sums over samples of a spectrum's input gradients and outputs.
struct Sums {
    /// Each output's gradient, `[labels, 7514]`.
    gradients: Vec<f64>,
    /// Each log-variance's gradient, when asked for.
    log_variance: Option<Vec<f64>>,
    /// Each output, `[labels]`.
    outputs: Vec<f64>,
}

/// Each column's sum of `outputs` (`[rows, labels]`), in f64.
fn output_sums(outputs: &Tensor) -> Result<Vec<f64>> {
    Ok(outputs
        .detach()
        .to_dtype(DType::F64)?
        .sum(0)?
        .to_vec1::<f64>()?)
}

/// The gradient of the input spectra in `grads`.
fn input_gradient(grads: &candle_core::backprop::GradStore, input: &Var) -> Result<Tensor> {
    grads
        .get(input.as_tensor())
        .cloned()
        .ok_or_else(|| Error::Invalid("the network's output does not depend on its input".into()))
}

/// Adds `values` to `sums` element by element.
fn add(sums: &mut [f64], values: &[f64]) {
    for (s, v) in sums.iter_mut().zip(values) {
        *s += v;
    }
}

/// The Jacobians of spectra held in memory, row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayJacobians {
    /// `[rows, labels, 7514]`, row-major; NaN for a row that cannot be differentiated.
    pub labels: Vec<f32>,
    /// The log-variance's, when asked for (same layout).
    pub log_variance: Option<Vec<f32>>,
    /// One line for each row without a Jacobian, naming the row and the reason.
    pub warnings: Vec<String>,
}

/// The Jacobians of `rows` normalized spectra in `flux` (row-major, [`NETWORK_PIXELS`]
/// each), in parallel: `mc` samples (0: deterministic) with each row's dropout stream from
/// `seed` and `rows_info` (the one `predict` gives it). A row with non-finite pixels is NaN,
/// with a warning, as `predict` makes it a NO_RESULT row. A stop request
/// ([`crate::cancel`]) is an [`Error::Cancelled`].
pub fn jacobians_of_arrays(
    net: &JacobianNetwork,
    flux: &[f64],
    rows_info: &ArrayRows,
    mc: usize,
    seed: u64,
    log_variance: bool,
) -> Result<ArrayJacobians> {
    let rows = checked_rows(flux.len(), NETWORK_PIXELS, "normalized flux")?;
    let metas = rows_info.metas(rows)?;
    let results: Vec<std::result::Result<Jacobian, String>> = flux
        .par_chunks(NETWORK_PIXELS)
        .zip(&metas)
        .map(|(row, meta)| match normalized_row_problem(row) {
            _ if crate::cancel::requested() => Err(Error::Cancelled),
            Some(problem) => Ok(Err(problem)),
            None => {
                let stream = net.stream(seed, stream_key(meta));
                net.spectrum(row, mc, stream, log_variance).map(Ok)
            }
        })
        .collect::<Result<_>>()?;
    let per_row = net.labels().len() * NETWORK_PIXELS;
    let mut out = ArrayJacobians {
        labels: Vec::with_capacity(results.len() * per_row),
        log_variance: log_variance.then(|| Vec::with_capacity(results.len() * per_row)),
        warnings: Vec::new(),
    };
    for (result, meta) in results.into_iter().zip(&metas) {
        match result {
            Ok(jacobian) => {
                out.labels.extend(jacobian.labels);
                if let Some(all) = out.log_variance.as_mut() {
                    all.extend(jacobian.log_variance.into_iter().flatten());
                }
            }
            Err(problem) => {
                out.warnings.push(format!(
                    "{}: {problem}; its Jacobian is NaN",
                    describe(meta)
                ));
                out.labels.extend(std::iter::repeat_n(f32::NAN, per_row));
                if let Some(all) = out.log_variance.as_mut() {
                    all.extend(std::iter::repeat_n(f32::NAN, per_row));
                }
            }
        }
    }
    Ok(out)
}

/// Settings of a Jacobian run.
#[derive(Debug, Clone)]
pub struct JacobianOptions {
    /// MC-dropout samples per spectrum (0: deterministic).
    pub mc: usize,
    /// Seed of the dropout masks (each spectrum has its own stream, as in `predict`).
    pub seed: u64,
    /// Also the log-variance's Jacobian (HDU `LOGVAR_JACOBIAN`).
    pub log_variance: bool,
    /// The rows (label indices) to keep, in order; every label when empty.
    pub labels: Vec<usize>,
}

/// Name of the image HDU of label Jacobians.
pub const JACOBIAN_HDU: &str = "JACOBIAN";
/// Name of the image HDU of log-variance Jacobians.
pub const LOG_VARIANCE_HDU: &str = "LOGVAR_JACOBIAN";

/// What a Jacobian run did, with what its figures show.
#[derive(Debug, Clone)]
pub struct JacobianSummary {
    /// Spectra processed, and those without a result (NaN planes).
    pub spectra: usize,
    pub no_result: usize,
    /// The kept labels' names.
    pub labels: Vec<String>,
    /// Mean Jacobian over the spectra with a result, `[labels, 7514]` (empty without any).
    pub mean: Vec<f64>,
    /// The first spectrum's Jacobian, when it has one.
    pub first: Option<Vec<f64>>,
}

/// The header cards of a Jacobian image: unit, labels and the wavelength of each pixel.
fn image_cards(labels: &[String], unit: &str) -> Vec<HeaderCard> {
    let mut cards = vec![
        HeaderCard::new(
            "BUNIT",
            CardValue::Str(unit.into()),
            "per unit normalized flux",
        ),
        HeaderCard::new(
            "LOGLAM0",
            CardValue::F64(LOG_LAMBDA_START),
            "log10(lambda/A) of apStar pixel 0 (vacuum)",
        ),
        HeaderCard::new(
            "DLOGLAM",
            CardValue::F64(LOG_LAMBDA_STEP),
            "log10(lambda/A) step per apStar pixel",
        ),
    ];
    for (k, chip) in CHIPS.iter().enumerate() {
        cards.push(HeaderCard::new(
            format!("CHIP{}", k + 1),
            CardValue::Str(format!("{}:{}", chip.start, chip.end)),
            "apStar pixels of the chip; NAXIS1 runs over the chips in order",
        ));
    }
    for (n, label) in labels.iter().enumerate() {
        cards.push(HeaderCard::new(
            format!("LABEL{}", n + 1),
            CardValue::Str(label.clone()),
            "label of plane row (NAXIS2) n",
        ));
    }
    cards
}

/// Computes the Jacobians of every spectrum of `source` (in parallel, in input order) and
/// writes them to `output`: `JACOBIAN` (float32, NAXIS1 = 7514 pixels, NAXIS2 = labels,
/// NAXIS3 = spectra), `LOGVAR_JACOBIAN` when asked for, and `SPECTRA` as `normalize` writes
/// it. A spectrum that cannot be prepared is a NaN plane with a warning.
pub fn run_jacobian(
    source: &mut SpectrumSource,
    net: &JacobianNetwork,
    options: &JacobianOptions,
    output: &Path,
    primary: &[HeaderCard],
    observer: &dyn Observer,
) -> Result<JacobianSummary> {
    let all: Vec<usize> = (0..net.labels().len()).collect();
    let rows = if options.labels.is_empty() {
        &all
    } else {
        &options.labels
    };
    let labels: Vec<String> = rows.iter().map(|&j| net.labels()[j].clone()).collect();
    let plane = |name: &str, unit: &str| PlaneImage {
        name: name.into(),
        plane: vec![NETWORK_PIXELS, labels.len()],
        bitpix: -32,
        cards: image_cards(&labels, unit),
    };
    let mut images = vec![plane(JACOBIAN_HDU, "label")];
    if options.log_variance {
        images.push(plane(LOG_VARIANCE_HDU, "log-variance (normalised units)"));
    }
    let mut writer = SpectraFileWriter::create(output, primary, images)?;
    let per_spectrum = labels.len() * NETWORK_PIXELS;
    let nan = vec![f64::NAN; per_spectrum];
    let keep = |values: &[f32]| -> Vec<f64> {
        rows.iter()
            .flat_map(|&j| values[j * NETWORK_PIXELS..(j + 1) * NETWORK_PIXELS].iter())
            .map(|&v| f64::from(v))
            .collect()
    };
    let mut summary = JacobianSummary {
        spectra: 0,
        no_result: 0,
        labels: labels.clone(),
        mean: vec![0.0; per_spectrum],
        first: None,
    };
    let mut with_result = 0usize;
    while let Some(chunk) = source.next_chunk()? {
        let results: Vec<Result<Jacobian>> = chunk
            .spectra
            .par_iter()
            .map(|s| {
                crate::cancel::check()?;
                let flux = s.data.as_ref().map_err(|r| Error::Invalid(r.clone()))?;
                let stream = net.stream(options.seed, stream_key(&s.meta));
                net.spectrum(flux, options.mc, stream, options.log_variance)
            })
            .collect();
        crate::cancel::check()?;
        for (spectrum, result) in chunk.spectra.iter().zip(results) {
            match result {
                Ok(jacobian) => {
                    let values = keep(&jacobian.labels);
                    let log_variance = jacobian.log_variance.as_deref().map(keep);
                    let mut planes: Vec<&[f64]> = vec![&values];
                    planes.extend(log_variance.as_deref());
                    writer.append(&spectrum.meta, &planes)?;
                    add(&mut summary.mean, &values);
                    with_result += 1;
                    if summary.spectra == 0 {
                        summary.first = Some(values.clone());
                    }
                }
                Err(reason) => {
                    observer.warn(&format!(
                        "{}: {reason}; written as NaN",
                        describe(&spectrum.meta)
                    ));
                    summary.no_result += 1;
                    let planes: Vec<&[f64]> = vec![&nan; 1 + usize::from(options.log_variance)];
                    writer.append(&spectrum.meta, &planes)?;
                }
            }
            summary.spectra += 1;
        }
        observer.advance(chunk.units, chunk.spectra.len());
    }
    writer.finish()?;
    if with_result == 0 {
        summary.mean.clear();
    } else {
        summary
            .mean
            .iter_mut()
            .for_each(|v| *v /= with_result as f64);
    }
    Ok(summary)
}
