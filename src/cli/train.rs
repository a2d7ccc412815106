//! `astronn train`: the flags as a [`TrainSpec`], and the run's progress as bars and lines
//! (the run itself is [`crate::train::run`]).

use crate::cli::args::{NetworkKind, TrainArgs};
use crate::cli::progress::Progress;
use crate::io::labels::LabelColumns;
use crate::io::model_file::ModelKind;
use crate::pipeline::predict::Observer;
use crate::pipeline::training_set::JoinSummary;
use crate::train::config::TrainConfig;
use crate::train::run::{SavedEpoch, TrainInputs, TrainObserver, TrainReport, TrainRun, TrainSpec};
use crate::train::trainer::EpochMetrics;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// Runs `astronn train`: `--kind astronn` reads the labels of
/// [`crate::io::labels::LabelCatalog`], `--kind dist` the parallaxes and photometry of
/// [`crate::io::labels::FakemagCatalog`] (its columns renamed with the same `--label
/// NAME=COLUMN` overrides).
pub fn train(args: TrainArgs, command_line: &str, quiet: bool, overwrite: bool) -> Result<()> {
    let save = args.save;
    let run = TrainRun::prepare(spec(args, command_line, overwrite))?;
    for warning in run.warnings() {
        eprintln!("warning: {warning}");
    }
    if !quiet {
        for line in run.selection_summary() {
            eprintln!("train: {line}");
        }
    }
    let bars = Bars {
        quiet,
        reading: Mutex::new(None),
        epoch: Mutex::new(ProgressBar::hidden()),
    };
    let report = run.read(&bars)?.run(&bars)?;
    if let Some(epoch) = report.stopped_during {
        say_stopped(&report, epoch);
        return Err(crate::Error::Cancelled.into());
    }
    if !quiet && save == SavedEpoch::Best {
        say_trained(&report);
    }
    Ok(())
}

/// The run the flags describe.
fn spec(args: TrainArgs, command_line: &str, overwrite: bool) -> TrainSpec {
    TrainSpec {
        kind: match args.kind {
            NetworkKind::Astronn => ModelKind::AstroNN,
            NetworkKind::Dist => ModelKind::AstroNNDist,
        },
        inputs: match args.normalized {
            Some(path) => TrainInputs::Normalized(path),
            None => TrainInputs::ApStar(args.input.inputs),
        },
        catalog: Some(args.catalog),
        columns: LabelColumns {
            id: args.id_column,
            overrides: args.label_columns.into_iter().collect(),
        },
        output: args.output,
        checkpoint_dir: args.checkpoint_dir,
        metrics: args.metrics,
        resume: args.resume,
        init: args.init,
        renormalize: args.renormalize,
        select: args.select,
        where_expr: args.where_expr,
        config: TrainConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            val_fraction: args.val_fraction,
            seed: args.seed,
            freeze: args.freeze,
            early_stop: args.early_stop,
            ..TrainConfig::default()
        },
        precision: args.precision,
        save: args.save,
        command_line: command_line.to_string(),
        overwrite,
    }
}

/// After a stop request: what was kept.
fn say_stopped(report: &TrainReport, epoch: usize) {
    match (&report.model, report.best_epoch) {
        (Some(model), Some((best, loss))) => eprintln!(
            "train: stopped during epoch {epoch}; the model is the best so far, epoch {best} \
             (validation loss {loss:.4}) -> {}",
            model.display()
        ),
        _ => eprintln!(
            "train: stopped during epoch {epoch}; no model written ({} completed epochs: their \
             checkpoints are in {})",
            epoch - 1,
            report.checkpoints.display()
        ),
    }
}

/// After a complete run that saved its best epoch: which epoch the model is, and where
/// everything went.
fn say_trained(report: &TrainReport) {
    let Some(model) = &report.model else { return };
    let epochs = report.history.len();
    if let Some((epoch, loss)) = report.best_epoch {
        let stop = if report.stopped_early {
            format!(
                "stopped early after {} epochs without a better validation loss; ",
                epochs - epoch
            )
        } else {
            String::new()
        };
        eprintln!(
            "train: {stop}the model is epoch {epoch} of {epochs} (validation loss {loss:.4}); \
             the last epoch's is its checkpoint"
        );
    }
    eprintln!(
        "train: model -> {}, metrics -> {}, checkpoints -> {}",
        model.display(),
        report.metrics.display(),
        report.checkpoints.display()
    );
}

/// The progress bars of a run: reading, then one per epoch.
struct Bars {
    quiet: bool,
    reading: Mutex<Option<Progress>>,
    epoch: Mutex<ProgressBar>,
}

impl Bars {
    /// Runs `f` on the reading bar, if there is one.
    fn with_reading(&self, f: impl FnOnce(&Progress)) {
        if let Some(progress) = self
            .reading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            f(progress);
        }
    }
}

impl Observer for Bars {
    fn warn(&self, message: &str) {
        match self
            .reading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(progress) => progress.warn(message),
            None => eprintln!("warning: {message}"),
        }
    }

    fn advance(&self, units: usize, spectra: usize) {
        self.with_reading(|p| p.advance(units, spectra));
    }
}

impl TrainObserver for Bars {
    fn reading(&self, total: usize, unit: &str) {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Progress::new(total, unit, self.quiet));
    }

    fn joined(&self, join: &JoinSummary) {
        self.with_reading(Progress::finish);
        if !self.quiet {
            eprintln!("train: {}", join.describe());
        }
    }

    fn fine_tuning(&self, parent: &str, frozen: &[String], validation_loss: Option<f64>) {
        if self.quiet {
            return;
        }
        if !frozen.is_empty() {
            eprintln!("train: frozen: {}", frozen.join(", "));
        }
        if let Some(loss) = validation_loss {
            eprintln!("epoch 0 ({parent}): validation loss {loss:.4}");
        }
    }

    fn epoch_started(&self, epoch: usize, epochs: usize, spectra: usize) {
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner()) =
            epoch_bar(spectra, epoch, epochs, self.quiet);
    }

    fn step(&self, done: usize) {
        self.epoch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_position(done as u64);
    }

    fn epoch_finished(&self, metrics: &EpochMetrics, epochs: usize, best: bool) {
        self.epoch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish_and_clear();
        if self.quiet {
            return;
        }
        let val = metrics
            .val_loss
            .map_or("-".to_string(), |v| format!("{v:.4}"));
        eprintln!(
            "epoch {}/{epochs}: train loss {:.4}, validation loss {val}{}, lr {:.2e}, {:.0} \
             spectra/s",
            metrics.epoch,
            metrics.train_loss,
            if best { " (best)" } else { "" },
            metrics.lr,
            metrics.spectra_per_second
        );
    }
}

fn epoch_bar(spectra: usize, epoch: usize, epochs: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(spectra as u64);
    let template = format!(
        "epoch {epoch}/{epochs} [{{bar:20}}] {{pos}}/{{len}} spectra, {{per_sec}}, ETA {{eta}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
