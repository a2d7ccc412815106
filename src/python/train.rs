//! Training from Python: keyword arguments as a [`TrainSpec`], the run's events to an optional
//! Python callable, its report as a dict ([`crate::train::run`] does the work, as for `astronn
//! train`).

use crate::io::labels::LabelColumns;
use crate::pipeline::predict::Observer;
use crate::pipeline::training_set::{JoinSummary, LabelledSpectra};
use crate::python::arrays::contiguous;
use crate::python::calls::run_released;
use crate::python::model::parse_kind;
use crate::train::config::TrainConfig;
use crate::train::run::{
    training_labels, TrainInputs, TrainObserver, TrainReport, TrainRun, TrainSpec,
};
use crate::train::trainer::EpochMetrics;
use numpy::PyReadonlyArray2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Trains a network as `astronn train` does (the same spec, the same library run) and returns
/// `(report, warnings, notes)`: notes are what the CLI prints without `-q` (the selection's
/// counts, the join's, the fine-tuned model's validation loss). `progress`, when given, is
/// called as `progress(event, a, b, metrics)`: `("reading", units_done, units_total, None)`,
/// `("epoch", spectra_done, spectra_total, None)` and `("epoch_finished", epoch, epochs,
/// metrics)` with the epoch's metrics as a dict (`best` added).
#[pyfunction]
#[pyo3(signature = (inputs, catalog, output, *, kind="astronn", normalized=None, flux=None, labels=None, labels_err=None, id_column=None, label_columns=None, init=None, renormalize=false, freeze=Vec::new(), select=None, where_expr=None, epochs=None, batch_size=None, learning_rate=None, validation=None, seed=None, early_stop=None, precision="f32", save="best", checkpoint_dir=None, metrics=None, resume=None, threads=None, progress=None, command_line=String::new(), overwrite=false))]
#[allow(clippy::too_many_arguments)]
pub fn train<'py>(
    py: Python<'py>,
    inputs: Vec<String>,
    catalog: Option<PathBuf>,
    output: PathBuf,
    kind: &str,
    normalized: Option<PathBuf>,
    flux: Option<PyReadonlyArray2<'py, f64>>,
    labels: Option<PyReadonlyArray2<'py, f64>>,
    labels_err: Option<PyReadonlyArray2<'py, f64>>,
    id_column: Option<String>,
    label_columns: Option<BTreeMap<String, String>>,
    init: Option<PathBuf>,
    renormalize: bool,
    freeze: Vec<String>,
    select: Option<String>,
    where_expr: Option<String>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    validation: Option<f64>,
    seed: Option<u64>,
    early_stop: Option<usize>,
    precision: &str,
    save: &str,
    checkpoint_dir: Option<PathBuf>,
    metrics: Option<PathBuf>,
    resume: Option<PathBuf>,
    threads: Option<usize>,
    progress: Option<PyObject>,
    command_line: String,
    overwrite: bool,
) -> PyResult<(Bound<'py, PyDict>, Vec<String>, Vec<String>)> {
    let defaults = TrainConfig::default();
    let defaults_columns = LabelColumns::default();
    let spec = TrainSpec {
        kind: parse_kind(kind)?,
        inputs: match (normalized, flux) {
            (_, Some(flux)) => TrainInputs::Arrays(labelled_spectra(&flux, labels, labels_err)?),
            (Some(path), None) => TrainInputs::Normalized(path),
            (None, None) => TrainInputs::ApStar(inputs),
        },
        catalog,
        columns: LabelColumns {
            id: id_column.unwrap_or(defaults_columns.id),
            overrides: label_columns.unwrap_or_default(),
        },
        output,
        checkpoint_dir,
        metrics,
        resume,
        init,
        renormalize,
        select,
        where_expr,
        config: TrainConfig {
            epochs: epochs.unwrap_or(defaults.epochs),
            batch_size: batch_size.unwrap_or(defaults.batch_size),
            lr: learning_rate.unwrap_or(defaults.lr),
            val_fraction: validation.unwrap_or(defaults.val_fraction),
            seed: seed.unwrap_or(defaults.seed),
            freeze,
            early_stop,
            ..defaults
        },
        precision: precision.parse().map_err(PyValueError::new_err)?,
        save: save.parse().map_err(PyValueError::new_err)?,
        command_line,
        overwrite,
    };
    let events = Events {
        warnings: Mutex::new(Vec::new()),
        notes: Mutex::new(Vec::new()),
        progress,
        reading_total: AtomicUsize::new(0),
        epoch_total: AtomicUsize::new(0),
    };
    let report = run_released(py, threads, || {
        let run = TrainRun::prepare(spec)?;
        events
            .lock_warnings()
            .extend(run.warnings().iter().cloned());
        events.lock_notes().extend(run.selection_summary());
        run.read(&events)?.run(&events)
    })?;
    let warnings = events.warnings.into_inner().unwrap_or_default();
    let notes = events.notes.into_inner().unwrap_or_default();
    Ok((report_dict(py, &report)?, warnings, notes))
}

/// The labels a network of `kind` is trained on, in output order: the columns of `train`'s
/// `labels` array.
#[pyfunction]
pub fn label_names(kind: &str) -> PyResult<Vec<&'static str>> {
    Ok(training_labels(parse_kind(kind)?).to_vec())
}

/// The arrays of a training run on arrays: `flux` (N × 7514) as f32, as a normalized file's
/// flux is read, and the labels and their errors (N × L) as given.
fn labelled_spectra(
    flux: &PyReadonlyArray2<'_, f64>,
    labels: Option<PyReadonlyArray2<'_, f64>>,
    labels_err: Option<PyReadonlyArray2<'_, f64>>,
) -> PyResult<LabelledSpectra> {
    let labels =
        labels.ok_or_else(|| PyValueError::new_err("spectra given as flux need labels"))?;
    Ok(LabelledSpectra {
        flux: contiguous(flux, "flux")?
            .iter()
            .map(|&v| v as f32)
            .collect(),
        labels: contiguous(&labels, "labels")?.to_vec(),
        label_errors: labels_err
            .map(|errors| contiguous(&errors, "labels_err").map(<[f64]>::to_vec))
            .transpose()?,
    })
}

/// The report as a dict: `history` (one dict per epoch, as the metrics file), `best_epoch`,
/// `best_loss`, `stopped_early`, `stopped_during`, `model`, `metrics`, `checkpoints`, `join`.
fn report_dict<'py>(py: Python<'py>, report: &TrainReport) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let history = report
        .history
        .iter()
        .map(|m| epoch_dict(py, m))
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("history", history)?;
    out.set_item("best_epoch", report.best_epoch.map(|(e, _)| e))?;
    out.set_item("best_loss", report.best_epoch.map(|(_, l)| l))?;
    out.set_item("stopped_early", report.stopped_early)?;
    out.set_item("stopped_during", report.stopped_during)?;
    out.set_item(
        "model",
        report.model.as_ref().map(|p| p.display().to_string()),
    )?;
    out.set_item("metrics", report.metrics.display().to_string())?;
    out.set_item("checkpoints", report.checkpoints.display().to_string())?;
    out.set_item("join", join_dict(py, &report.join)?)?;
    Ok(out)
}

/// One epoch's metrics as a dict (NaN for a missing number).
fn epoch_dict<'py>(py: Python<'py>, m: &EpochMetrics) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("epoch", m.epoch)?;
    out.set_item("train_loss", m.train_loss)?;
    out.set_item("val_loss", m.val_loss.unwrap_or(f64::NAN))?;
    out.set_item(
        "val_mae",
        m.val_mae
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect::<Vec<_>>(),
    )?;
    out.set_item("lr", m.lr)?;
    out.set_item("seconds", m.seconds)?;
    out.set_item("spectra_per_second", m.spectra_per_second)?;
    Ok(out)
}

/// How the spectra joined the catalog, as a dict.
fn join_dict<'py>(py: Python<'py>, join: &JoinSummary) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("spectra", join.spectra)?;
    out.set_item("joined", join.joined)?;
    out.set_item("not_in_catalog", join.not_in_catalog)?;
    out.set_item("not_selected", join.not_selected)?;
    out.set_item("without_labels", join.without_labels)?;
    out.set_item("unusable", join.unusable)?;
    Ok(out)
}

/// Collects a run's warnings and notes and passes its progress to an optional Python
/// callable.
struct Events {
    warnings: Mutex<Vec<String>>,
    notes: Mutex<Vec<String>>,
    progress: Option<PyObject>,
    reading_total: AtomicUsize,
    epoch_total: AtomicUsize,
}

impl Events {
    fn lock_warnings(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.warnings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_notes(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls the progress callable, if any, with `metrics` made a dict (a failing callable
    /// does not stop the run).
    fn call(&self, event: &str, a: usize, b: usize, metrics: Option<(&EpochMetrics, bool)>) {
        if let Some(callback) = &self.progress {
            Python::with_gil(|py| {
                let metrics = metrics.and_then(|(m, best)| {
                    let dict = epoch_dict(py, m).ok()?;
                    dict.set_item("best", best).ok()?;
                    Some(dict)
                });
                drop(callback.call1(py, (event, a, b, metrics)));
            });
        }
    }
}

impl Observer for Events {
    fn warn(&self, message: &str) {
        self.lock_warnings().push(message.to_string());
    }

    fn advance(&self, units: usize, _spectra: usize) {
        let total = self.reading_total.load(Ordering::Relaxed);
        self.call("reading", units, total, None);
    }
}

impl TrainObserver for Events {
    fn reading(&self, total: usize, _unit: &str) {
        self.reading_total.store(total, Ordering::Relaxed);
    }

    fn joined(&self, join: &JoinSummary) {
        self.lock_notes().push(join.describe());
    }

    fn fine_tuning(&self, parent: &str, frozen: &[String], validation_loss: Option<f64>) {
        let mut notes = self.lock_notes();
        if !frozen.is_empty() {
            notes.push(format!("frozen: {}", frozen.join(", ")));
        }
        if let Some(loss) = validation_loss {
            notes.push(format!("epoch 0 ({parent}): validation loss {loss:.4}"));
        }
    }

    fn epoch_started(&self, _epoch: usize, _epochs: usize, spectra: usize) {
        self.epoch_total.store(spectra, Ordering::Relaxed);
    }

    fn step(&self, done: usize) {
        let total = self.epoch_total.load(Ordering::Relaxed);
        self.call("epoch", done, total, None);
    }

    fn epoch_finished(&self, metrics: &EpochMetrics, epochs: usize, best: bool) {
        self.call(
            "epoch_finished",
            metrics.epoch,
            epochs,
            Some((metrics, best)),
        );
    }
}
