//! Prediction runs: every spectrum of a source through AstroNN, AstroNNDist and any other
//! astroNN networks in one pass (each spectrum read and normalized once), rows appended to
//! the tables in input order.

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
use crate::products::writer::ProductWriter;
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

/// A network a run applies, with its tables.
pub enum Job {
    /// Labels: AstroNN's, or any other astroNN network's (coadds, and visits if it has a
    /// visit table).
    Labels(Box<AstroNNJob>),
    /// AstroNNDist's distances (coadds).
    Dist(Box<DistJob>),
}

impl Job {
    /// The network and what it runs on.
    fn network(&self) -> JobNetwork<'_> {
        match self {
            Job::Labels(job) => JobNetwork {
                predictor: PredictorRef::Labels(&job.predictor),
                visits: job.visits.is_some(),
            },
            Job::Dist(job) => JobNetwork {
                predictor: PredictorRef::Dist(&job.predictor),
                visits: false,
            },
        }
    }

    /// Appends the rows of a chunk to the job's tables.
    fn write(&mut self, rows: Vec<Row>) -> Result<()> {
        match self {
            Job::Labels(job) => job.write(
                rows.into_iter()
                    .filter_map(|row| match row {
                        Row::Labels(row) => Some(row),
                        Row::Dist(_) => None,
                    })
                    .collect(),
            ),
            Job::Dist(job) => {
                let rows: Vec<DistRow> = rows
                    .into_iter()
                    .filter_map(|row| match row {
                        Row::Dist(row) => Some(row),
                        Row::Labels(_) => None,
                    })
                    .collect();
                job.write(&rows)
            }
        }
    }

    /// The job's tables, to finish.
    pub fn into_tables(self) -> Vec<ProductWriter> {
        match self {
            Job::Labels(job) => {
                let AstroNNJob { coadds, visits, .. } = *job;
                std::iter::once(coadds).chain(visits).collect()
            }
            Job::Dist(job) => vec![job.table],
        }
    }
}

/// The networks a run applies, in order, with their tables. At least one is present.
pub struct Jobs {
    /// The networks.
    pub jobs: Vec<Job>,
    /// Catalogs replacing the header's values of the stars they list.
    pub catalogs: StarCatalogs,
}

/// Distinguishes the dropout streams of the networks for the same spectrum.
const DIST_STREAM: u64 = 0x6469_7374; // "dist"
const GENERIC_STREAM: u64 = 0x6765_6e65; // "gene"

/// The dropout-mask stream of a network (`kind`) for the spectrum of stream key `key`
/// ([`stream_key`]): every use of a network on a spectrum (predictions, Jacobians) draws
/// from it.
pub fn dropout_stream(seed: u64, key: u64, kind: ModelKind) -> MaskStream {
    match kind {
        ModelKind::AstroNN => MaskStream::new(seed, key),
        ModelKind::AstroNNDist => MaskStream::new(seed, key ^ DIST_STREAM),
        ModelKind::Generic => MaskStream::new(seed, key ^ GENERIC_STREAM),
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

/// The row a network gave a spectrum.
pub enum Row {
    /// A labels network's (a NO_RESULT row on failure).
    Labels(AstroNNRow),
    /// AstroNNDist's.
    Dist(DistRow),
}

/// What one spectrum gave: the row of each network that ran on it, and why it failed if it
/// did.
pub struct Outcome {
    /// One entry per network, in order: its row, or `None` when the network does not run
    /// on this spectrum (AstroNNDist and tables without visits on a visit).
    pub rows: Vec<Option<Row>>,
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
    let bayesian = net.is_bayesian();
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
                (finite(raw, bayesian), share)
            }
            (Ok(_), Err(reason)) => (Err(reason.clone()), share),
        })
        .collect()
}

/// The raw labels, refused when any value or (of a Bayesian network, which has them) any
/// error is not finite.
fn finite(raw: RawLabels, bayesian: bool) -> std::result::Result<RawLabels, String> {
    let errors = if bayesian { &raw.errors[..] } else { &[] };
    if raw.values.iter().chain(errors).any(|v| !v.is_finite()) {
        return Err("the network's output is not finite".to_string());
    }
    Ok(raw)
}

/// A network of a run without its tables (shared by the worker threads).
#[derive(Clone, Copy)]
pub enum PredictorRef<'a> {
    /// A labels network.
    Labels(&'a AstroNNPredictor),
    /// AstroNNDist.
    Dist(&'a DistPredictor),
}

/// A network of a run and the spectra it runs on.
#[derive(Clone, Copy)]
pub struct JobNetwork<'a> {
    /// The network.
    pub predictor: PredictorRef<'a>,
    /// Whether it runs on visits as well as coadds.
    pub visits: bool,
}

impl JobNetwork<'_> {
    /// Whether the network runs on `meta`'s spectrum.
    fn takes(&self, meta: &SpectrumMeta) -> bool {
        self.visits || !meta.is_visit()
    }

    /// The network's result on each of `group`'s spectra that it takes.
    fn run(
        &self,
        group: &[Prepared<Vec<f64>>],
        options: &PredictOptions,
    ) -> Vec<(std::result::Result<RawLabels, String>, f64)> {
        let taken: Vec<&Prepared<Vec<f64>>> =
            group.iter().filter(|s| self.takes(&s.meta)).collect();
        match self.predictor {
            PredictorRef::Labels(p) => {
                run_network(p.network(), p.network().kind(), &taken, options)
            }
            PredictorRef::Dist(p) => {
                run_network(p.network(), ModelKind::AstroNNDist, &taken, options)
            }
        }
    }

    /// The row of a spectrum from the network's result.
    fn row(
        &self,
        spectrum: &Prepared<Vec<f64>>,
        outcome: std::result::Result<RawLabels, String>,
        timing: Timing,
    ) -> (Row, Option<String>) {
        let meta = spectrum.meta.clone();
        match (self.predictor, outcome) {
            (PredictorRef::Labels(p), Ok(raw)) => (Row::Labels(p.row(meta, raw, timing)), None),
            (PredictorRef::Labels(_), Err(reason)) => (
                Row::Labels(AstroNNRow::no_result(meta, timing)),
                Some(reason),
            ),
            (PredictorRef::Dist(p), Ok(raw)) => (Row::Dist(p.row(meta, &raw, timing)), None),
            (PredictorRef::Dist(p), Err(reason)) => {
                (Row::Dist(p.no_result(meta, timing)), Some(reason))
            }
        }
    }
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
    networks: &[JobNetwork],
    options: &PredictOptions,
) -> Result<Vec<Outcome>> {
    let outcomes = spectra
        .par_chunks(group_size(spectra.len()))
        .flat_map_iter(|group| {
            if crate::cancel::requested() {
                Vec::new()
            } else {
                process(group, networks, options)
            }
        })
        .collect();
    crate::cancel::check()?;
    Ok(outcomes)
}

/// Runs each network on the spectra of a group it takes.
fn process(
    group: &[Prepared<Vec<f64>>],
    networks: &[JobNetwork],
    options: &PredictOptions,
) -> Vec<Outcome> {
    let mut results: Vec<_> = networks
        .iter()
        .map(|network| network.run(group, options).into_iter())
        .collect();
    group
        .iter()
        .map(|spectrum| {
            let mut failure = None;
            let rows = networks
                .iter()
                .zip(results.iter_mut())
                .map(|(network, results)| {
                    if !network.takes(&spectrum.meta) {
                        return None;
                    }
                    let (outcome, seconds) = results.next().expect("a result per spectrum");
                    let timing = Timing {
                        network: seconds,
                        overhead: spectrum.seconds,
                    };
                    let (row, reason) = network.row(spectrum, outcome, timing);
                    if let Some(reason) = reason {
                        failure.get_or_insert_with(|| (describe(&spectrum.meta), reason));
                    }
                    Some(row)
                })
                .collect();
            Outcome { rows, failure }
        })
        .collect()
}

/// Runs the jobs on every spectrum of `source`, appending rows in input order. Visits are
/// processed only when a labels job has a visit table (AstroNNDist is for coadds).
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
    let networks: Vec<JobNetwork> = jobs.jobs.iter().map(Job::network).collect();
    let wants_visits = networks.iter().any(|n| n.visits);
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
    let outcomes = predict_spectra(wanted, &networks, options)?;
    let mut rows: Vec<Vec<Row>> = networks.iter().map(|_| Vec::new()).collect();
    for outcome in outcomes {
        if let Some((spectrum, reason)) = outcome.failure {
            if options.strict {
                return Err(Error::Invalid(format!("{spectrum}: {reason} (--strict)")));
            }
            observer.warn(&format!("{spectrum}: {reason}; written as NO_RESULT"));
            summary.no_result += 1;
        }
        for (rows, row) in rows.iter_mut().zip(outcome.rows) {
            rows.extend(row);
        }
    }
    for (job, rows) in jobs.jobs.iter_mut().zip(rows) {
        job.write(rows)?;
    }
    summary.spectra += spectra;
    observer.advance(chunk.units, spectra);
    Ok(())
}
