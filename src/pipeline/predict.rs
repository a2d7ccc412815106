//! `predict`: AstroNN labels for every spectrum of a run, written as Astra's
//! `astraAllStarAstroNN` / `astraAllVisitAstroNN` tables.

use crate::io::normalized::SpectrumMeta;
use crate::io::table::{AstraTableWriter, ColumnData, ColumnSpec};
use crate::nn::dropout::{spectrum_key, MaskStream};
use crate::nn::mc::predict_raw;
use crate::nn::network::BayesianNetwork;
use crate::pipeline::columns::{flag_columns, identity_columns, identity_data, label_columns};
use crate::pipeline::flags::{
    astronn_flag_bad, astronn_flag_warn, astronn_flags, FlagInputs, NO_RESULT,
};
use crate::pipeline::noise::NoiseModel;
use crate::pipeline::prepare::Prepared;
use crate::pipeline::source::SpectrumSource;
use crate::{Error, Result};
use rayon::prelude::*;
use std::time::Instant;

/// Settings of a prediction run.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// MC-dropout samples per spectrum; 0 for a deterministic pass.
    pub mc: usize,
    /// Seed of the dropout masks (each spectrum has its own stream derived from it).
    pub seed: u64,
    /// Error recalibration applied after prediction.
    pub noise_model: Option<NoiseModel>,
    /// Fail on the first spectrum without a result instead of writing a NO_RESULT row.
    pub strict: bool,
}

/// Receives a run's warnings and progress (the CLI draws them; tests collect them).
pub trait Observer: Sync {
    /// A spectrum could not be processed; the run goes on.
    fn warn(&self, message: &str);
    /// `units` more progress units (files or spectra) and `spectra` more spectra are done.
    fn advance(&self, units: usize, spectra: usize);
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Rows written (all tables).
    pub spectra: usize,
    /// Rows flagged NO_RESULT.
    pub no_result: usize,
    /// Visit spectra of a normalized input left out because no visit table was asked for.
    pub skipped_visits: usize,
}

/// Labels of one spectrum, after and before the noise model.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelResult {
    pub values: Vec<f64>,
    pub errors: Vec<f64>,
    pub raw_values: Vec<f64>,
    pub raw_errors: Vec<f64>,
}

/// One output row: identity, labels (None: NO_RESULT), flags and time.
#[derive(Debug, Clone)]
pub struct SpectrumResult {
    pub meta: SpectrumMeta,
    pub labels: Option<LabelResult>,
    pub flags: u32,
    pub t_elapsed: f64,
}

/// The tables a prediction run writes.
pub struct PredictTables {
    /// Coadded spectra (`astraAllStarAstroNN`).
    pub coadds: AstraTableWriter,
    /// Visit spectra (`astraAllVisitAstroNN`), when asked for.
    pub visits: Option<AstraTableWriter>,
}

/// Columns of an AstroNN table with these labels.
pub fn astronn_columns(labels: &[String], visits: bool) -> Vec<ColumnSpec> {
    let mut columns = identity_columns(visits);
    columns.extend(label_columns(labels));
    columns.extend(flag_columns());
    columns
}

/// Column data of AstroNN rows, matching [`astronn_columns`].
pub fn astronn_data(results: &[SpectrumResult], labels: usize, visits: bool) -> Vec<ColumnData> {
    let mut data = identity_data(results.iter().map(|r| &r.meta), visits);
    let pick = |f: fn(&LabelResult) -> &Vec<f64>, j: usize| {
        ColumnData::F64(
            results
                .iter()
                .map(|r| r.labels.as_ref().map_or(f64::NAN, |l| f(l)[j]))
                .collect(),
        )
    };
    for j in 0..labels {
        data.push(pick(|l| &l.values, j));
        data.push(pick(|l| &l.errors, j));
    }
    for j in 0..labels {
        data.push(pick(|l| &l.raw_values, j));
        data.push(pick(|l| &l.raw_errors, j));
    }
    data.push(ColumnData::I32(
        results.iter().map(|r| r.flags as i32).collect(),
    ));
    data.push(ColumnData::Bool(
        results.iter().map(|r| astronn_flag_warn(r.flags)).collect(),
    ));
    data.push(ColumnData::Bool(
        results.iter().map(|r| astronn_flag_bad(r.flags)).collect(),
    ));
    data.push(ColumnData::F64(
        results.iter().map(|r| r.t_elapsed).collect(),
    ));
    data
}

/// The stream key of a spectrum: its source file's name (not directory) and row, so results
/// do not depend on where files live, their order, or how the run is split.
pub fn stream_key(meta: &SpectrumMeta) -> u64 {
    let name = std::path::Path::new(&meta.source_file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    spectrum_key(&name, meta.row as u64)
}

/// Where the flag rules find their labels.
struct FlagLabels {
    teff: usize,
    logg: usize,
    fe_h: usize,
}

impl FlagLabels {
    fn find(labels: &[String]) -> Result<Self> {
        let index = |name: &str| {
            labels.iter().position(|l| l == name).ok_or_else(|| {
                Error::Invalid(format!(
                    "the model has no '{name}' output, needed for flags"
                ))
            })
        };
        Ok(FlagLabels {
            teff: index("teff")?,
            logg: index("logg")?,
            fe_h: index("fe_h")?,
        })
    }

    fn flags(&self, values: &[f64], errors: &[f64]) -> u32 {
        astronn_flags(FlagInputs {
            teff: values[self.teff],
            e_teff: errors[self.teff],
            logg: values[self.logg],
            e_logg: errors[self.logg],
            fe_h: values[self.fe_h],
            e_fe_h: errors[self.fe_h],
        })
    }
}

/// Predicts one prepared spectrum; failures become NO_RESULT with the reason.
fn predict_one(
    net: &dyn BayesianNetwork,
    labels: &[String],
    flag_labels: &FlagLabels,
    spectrum: Prepared<Vec<f64>>,
    options: &PredictOptions,
) -> (SpectrumResult, Option<String>) {
    let start = Instant::now();
    let outcome = spectrum.data.and_then(|flux| {
        let stream = MaskStream::new(options.seed, stream_key(&spectrum.meta));
        let raw = predict_raw(net, &flux, options.mc, stream)
            .map_err(|e| format!("network failed: {e}"))?;
        if raw.values.iter().chain(&raw.errors).any(|v| !v.is_finite()) {
            return Err("the network's output is not finite".to_string());
        }
        Ok(raw)
    });
    let t_elapsed = spectrum.seconds + start.elapsed().as_secs_f64();
    match outcome {
        Ok(raw) => {
            let errors = labels
                .iter()
                .zip(&raw.errors)
                .map(|(label, &e)| match &options.noise_model {
                    Some(model) => model.apply(label, e),
                    None => e,
                })
                .collect();
            let flags = flag_labels.flags(&raw.values, &raw.errors);
            let result = LabelResult {
                values: raw.values.clone(),
                errors,
                raw_values: raw.values,
                raw_errors: raw.errors,
            };
            (
                SpectrumResult {
                    meta: spectrum.meta,
                    labels: Some(result),
                    flags,
                    t_elapsed,
                },
                None,
            )
        }
        Err(reason) => (
            SpectrumResult {
                meta: spectrum.meta,
                labels: None,
                flags: NO_RESULT,
                t_elapsed,
            },
            Some(reason),
        ),
    }
}

/// Describes a spectrum for messages: file, row and visit.
pub fn describe(meta: &SpectrumMeta) -> String {
    match (meta.kind.as_str(), meta.row) {
        (_, -1) => meta.source_file.clone(),
        ("visit", row) => format!("{} row {row} (visit {})", meta.source_file, meta.visit),
        (_, row) => format!("{} row {row}", meta.source_file),
    }
}

/// Runs AstroNN on every spectrum of `source`, appending rows to `tables` in input order.
pub fn run_predict(
    net: &dyn BayesianNetwork,
    source: &mut SpectrumSource,
    tables: &mut PredictTables,
    options: &PredictOptions,
    observer: &dyn Observer,
) -> Result<RunSummary> {
    let labels = net.label_names();
    let flag_labels = FlagLabels::find(&labels)?;
    let mut summary = RunSummary::default();
    while let Some(chunk) = source.next_chunk()? {
        let (wanted, skipped): (Vec<_>, Vec<_>) = chunk
            .spectra
            .into_iter()
            .partition(|s| s.meta.kind != "visit" || tables.visits.is_some());
        summary.skipped_visits += skipped.len();
        let outcomes: Vec<(SpectrumResult, Option<String>)> = wanted
            .into_par_iter()
            .map(|s| predict_one(net, &labels, &flag_labels, s, options))
            .collect();
        let mut coadds = Vec::new();
        let mut visits = Vec::new();
        for (result, failure) in outcomes {
            if let Some(reason) = failure {
                let message = format!("{}: {reason}", describe(&result.meta));
                if options.strict {
                    return Err(Error::Invalid(format!("{message} (--strict)")));
                }
                observer.warn(&format!("{message}; written as NO_RESULT"));
                summary.no_result += 1;
            }
            if result.meta.kind == "visit" {
                visits.push(result);
            } else {
                coadds.push(result);
            }
        }
        summary.spectra += coadds.len() + visits.len();
        observer.advance(chunk.units, coadds.len() + visits.len());
        tables
            .coadds
            .append(&astronn_data(&coadds, labels.len(), false))?;
        if let Some(writer) = tables.visits.as_mut() {
            writer.append(&astronn_data(&visits, labels.len(), true))?;
        }
    }
    Ok(summary)
}
