//! Prediction runs: every spectrum of a source through AstroNN, AstroNNDist or both in one
//! pass (each spectrum read and normalized once), rows appended to the tables in input order.

use crate::io::model_file::ModelKind;
use crate::io::normalized::SpectrumMeta;
use crate::nn::dropout::{spectrum_key, MaskStream};
use crate::nn::mc::{predict_raw_each, RawLabels};
use crate::nn::network::BayesianNetwork;
use crate::pipeline::astronn::{AstroNNJob, AstroNNPredictor, AstroNNRow};
use crate::pipeline::catalogs::StarCatalogs;
use crate::pipeline::dist::{DistJob, DistPredictor, DistRow};
use crate::pipeline::prepare::Prepared;
use crate::pipeline::source::{Chunk, SpectrumSource};
use crate::pipeline::timing::Timing;
use crate::{Error, Result};
use rayon::prelude::*;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Instant;

/// Settings shared by the networks of a run.
#[derive(Debug, Clone, Copy)]
pub struct PredictOptions {
    /// MC-dropout samples per spectrum; 0 for a deterministic pass.
    pub mc: usize,
    /// Seed of the dropout masks (each spectrum and network has its own stream from it).
    pub seed: u64,
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
    /// Spectra processed.
    pub spectra: usize,
    /// Spectra flagged NO_RESULT.
    pub no_result: usize,
    /// Visit spectra of a normalized input left out because no visit table was asked for.
    pub skipped_visits: usize,
    /// Stars (coadds) the Source catalog does not list: they keep their header's values.
    pub missing_sources: usize,
}

/// The networks a run applies, with their tables. At least one is present.
pub struct Jobs {
    /// AstroNN labels for coadds (and visits, if it has a visit table).
    pub astronn: Option<AstroNNJob>,
    /// AstroNNDist distances for coadds.
    pub dist: Option<DistJob>,
    /// Catalogs replacing the header's values of the stars they list.
    pub catalogs: StarCatalogs,
}

/// Distinguishes the dropout streams of the two networks for the same spectrum.
const DIST_STREAM: u64 = 0x6469_7374; // "dist"

/// The dropout-mask stream of a network (`kind`) for the spectrum of stream key `key`
/// ([`stream_key`]): every use of a network on a spectrum (predictions, Jacobians) draws
/// from it.
pub fn dropout_stream(seed: u64, key: u64, kind: ModelKind) -> MaskStream {
    match kind {
        ModelKind::AstroNN => MaskStream::new(seed, key),
        ModelKind::AstroNNDist => MaskStream::new(seed, key ^ DIST_STREAM),
    }
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

/// Describes a spectrum for messages: file, row and visit.
pub fn describe(meta: &SpectrumMeta) -> String {
    match (meta.kind.as_str(), meta.row) {
        (_, -1) => meta.source_file.clone(),
        ("visit", row) => format!("{} row {row} (visit {})", meta.source_file, meta.visit),
        (_, row) => format!("{} row {row}", meta.source_file),
    }
}

/// What one spectrum gave: the rows of each network, and why it failed if it did.
pub struct Outcome {
    /// The AstroNN row (a NO_RESULT row on failure), when AstroNN ran.
    pub astronn: Option<AstroNNRow>,
    /// The AstroNNDist row, when AstroNNDist ran (never for a visit).
    pub dist: Option<DistRow>,
    /// The spectrum (as [`describe`] gives it) and the reason, when a network failed.
    pub failure: Option<(String, String)>,
}

/// Runs one network (of `kind`, which picks the spectra's dropout streams) on a group of
/// prepared spectra, timing it: each spectrum's result (`Err` holds the reason) and its
/// share of the time.
fn run_network(
    net: &dyn BayesianNetwork,
    kind: ModelKind,
    group: &[&Prepared<Vec<f64>>],
    options: &PredictOptions,
) -> Vec<(std::result::Result<RawLabels, String>, f64)> {
    let start = Instant::now();
    let (ready, streams): (Vec<&[f64]>, Vec<MaskStream>) = group
        .iter()
        .filter_map(|spectrum| {
            let flux = spectrum.data.as_deref().ok()?;
            Some((
                flux,
                dropout_stream(options.seed, stream_key(&spectrum.meta), kind),
            ))
        })
        .unzip();
    let mut results = predict_raw_each(net, &ready, options.mc, streams)
        .map(Vec::into_iter)
        .map_err(|e| format!("network failed: {e}"));
    let share = start.elapsed().as_secs_f64() / ready.len().max(1) as f64;
    group
        .iter()
        .map(|spectrum| match (&spectrum.data, &mut results) {
            (Err(reason), _) => (Err(reason.clone()), 0.0),
            (Ok(_), Ok(raws)) => {
                let raw = raws.next().expect("a result per spectrum with data");
                (finite(raw), share)
            }
            (Ok(_), Err(reason)) => (Err(reason.clone()), share),
        })
        .collect()
}

/// The raw labels, refused when any value or error is not finite.
fn finite(raw: RawLabels) -> std::result::Result<RawLabels, String> {
    if raw.values.iter().chain(&raw.errors).any(|v| !v.is_finite()) {
        return Err("the network's output is not finite".to_string());
    }
    Ok(raw)
}

/// The networks of a run without their tables (shared by the worker threads).
pub struct Predictors<'a> {
    /// AstroNN, for coadds and visits.
    pub astronn: Option<&'a AstroNNPredictor>,
    /// AstroNNDist, for coadds.
    pub dist: Option<&'a DistPredictor>,
}

/// The most spectra a worker runs through a network together: enough to read the
/// mask-independent layers' weights once for several spectra
/// ([`BayesianNetwork::forward_each`]), few enough to keep every thread busy.
const MAX_GROUP: usize = 8;

/// The group size for `spectra` spectra: at most [`MAX_GROUP`], and at least two groups per
/// worker thread when there are enough spectra. Results do not depend on it.
pub(crate) fn group_size(spectra: usize) -> usize {
    (spectra / (2 * rayon::current_num_threads())).clamp(1, MAX_GROUP)
}

/// Runs the networks on prepared spectra, in groups in parallel over the thread pool; the
/// outcomes are in the spectra's order. A stop request ([`crate::cancel`]) skips the groups
/// not yet started and is an [`crate::Error::Cancelled`].
pub fn predict_spectra(
    spectra: Vec<Prepared<Vec<f64>>>,
    predictors: &Predictors,
    options: &PredictOptions,
) -> Result<Vec<Outcome>> {
    let outcomes = spectra
        .par_chunks(group_size(spectra.len()))
        .flat_map_iter(|group| {
            if crate::cancel::requested() {
                Vec::new()
            } else {
                process(group, predictors, options)
            }
        })
        .collect();
    crate::cancel::check()?;
    Ok(outcomes)
}

/// Runs each network on a group of spectra (AstroNNDist on its coadds only).
fn process(
    group: &[Prepared<Vec<f64>>],
    jobs: &Predictors,
    options: &PredictOptions,
) -> Vec<Outcome> {
    let everyone: Vec<&Prepared<Vec<f64>>> = group.iter().collect();
    let coadds: Vec<&Prepared<Vec<f64>>> = group.iter().filter(|s| !s.meta.is_visit()).collect();
    let mut astronn = jobs.astronn.map(|job| {
        let results = run_network(job.network(), ModelKind::AstroNN, &everyone, options);
        (job, results.into_iter())
    });
    let mut dist = jobs.dist.map(|job| {
        let results = run_network(job.network(), ModelKind::AstroNNDist, &coadds, options);
        (job, results.into_iter())
    });
    group
        .iter()
        .map(|spectrum| {
            let mut failure = None;
            let mut note = |reason: &String| {
                failure.get_or_insert_with(|| (describe(&spectrum.meta), reason.clone()));
            };
            let timing = |network| Timing {
                network,
                overhead: spectrum.seconds,
            };
            let astronn = astronn.as_mut().map(|(job, results)| {
                let (outcome, network) = results.next().expect("a result per spectrum");
                match outcome {
                    Ok(raw) => job.row(spectrum.meta.clone(), raw, timing(network)),
                    Err(reason) => {
                        note(&reason);
                        AstroNNRow::no_result(spectrum.meta.clone(), timing(network))
                    }
                }
            });
            let dist = dist
                .as_mut()
                .filter(|_| !spectrum.meta.is_visit())
                .map(|(job, results)| {
                    let (outcome, network) = results.next().expect("a result per coadd");
                    match outcome {
                        Ok(raw) => job.row(spectrum.meta.clone(), &raw, timing(network)),
                        Err(reason) => {
                            note(&reason);
                            job.no_result(spectrum.meta.clone(), timing(network))
                        }
                    }
                });
            Outcome {
                astronn,
                dist,
                failure,
            }
        })
        .collect()
}

/// Runs the jobs on every spectrum of `source`, appending rows in input order. Visits are
/// processed only when the AstroNN job has a visit table (AstroNNDist is for coadds).
/// Reading and normalization of the next chunk overlap the networks' work on the current
/// one (on another thread, sharing the worker pool); at most three chunks are in memory.
pub fn run_predict(
    source: &mut SpectrumSource,
    jobs: &mut Jobs,
    options: &PredictOptions,
    observer: &dyn Observer,
) -> Result<RunSummary> {
    std::thread::scope(|scope| {
        // One chunk is read and normalized while the networks run on the one before.
        let (sender, chunks) = sync_channel(1);
        scope.spawn(move || read_ahead(source, sender));
        let mut summary = RunSummary::default();
        for chunk in chunks {
            predict_chunk(chunk?, jobs, options, observer, &mut summary)?;
        }
        Ok(summary)
    })
}

/// Sends `source`'s chunks in order until the end, the first error (sent too), or until
/// nobody receives them any more.
fn read_ahead(source: &mut SpectrumSource, sender: SyncSender<Result<Chunk>>) {
    loop {
        let (next, more) = match source.next_chunk() {
            Ok(Some(chunk)) => (Ok(chunk), true),
            Ok(None) => return,
            Err(error) => (Err(error), false),
        };
        if sender.send(next).is_err() || !more {
            return;
        }
    }
}

/// Runs the jobs on one chunk and appends its rows to the tables.
fn predict_chunk(
    chunk: Chunk,
    jobs: &mut Jobs,
    options: &PredictOptions,
    observer: &dyn Observer,
    summary: &mut RunSummary,
) -> Result<()> {
    let wants_visits = jobs.astronn.as_ref().is_some_and(|j| j.visits.is_some());
    let (mut wanted, skipped): (Vec<_>, Vec<_>) = chunk
        .spectra
        .into_iter()
        .partition(|s| !s.meta.is_visit() || wants_visits);
    for spectrum in &mut wanted {
        let applied = jobs.catalogs.apply(&mut spectrum.meta);
        if applied.missing_source && !spectrum.meta.is_visit() {
            summary.missing_sources += 1;
        }
    }
    summary.skipped_visits += skipped.len();
    let spectra = wanted.len();
    let shared = Predictors {
        astronn: jobs.astronn.as_ref().map(|j| &j.predictor),
        dist: jobs.dist.as_ref().map(|j| &j.predictor),
    };
    let outcomes = predict_spectra(wanted, &shared, options)?;
    let mut astronn_rows = Vec::new();
    let mut dist_rows = Vec::new();
    for outcome in outcomes {
        if let Some((spectrum, reason)) = outcome.failure {
            if options.strict {
                return Err(Error::Invalid(format!("{spectrum}: {reason} (--strict)")));
            }
            observer.warn(&format!("{spectrum}: {reason}; written as NO_RESULT"));
            summary.no_result += 1;
        }
        astronn_rows.extend(outcome.astronn);
        dist_rows.extend(outcome.dist);
    }
    if let Some(job) = jobs.astronn.as_mut() {
        job.write(astronn_rows)?;
    }
    if let Some(job) = jobs.dist.as_mut() {
        job.write(&dist_rows)?;
    }
    summary.spectra += spectra;
    observer.advance(chunk.units, spectra);
    Ok(())
}
