//! `astronn train`: join spectra with labels (AstroNN's, or AstroNNDist's L_fakemag from
//! parallaxes and photometry), train with per-epoch progress, checkpoints and metrics, and
//! write the model.

use crate::cli::args::{NetworkKind, SavedEpoch, TrainArgs};
use crate::cli::models::arithmetic;
use crate::cli::plural::count;
use crate::cli::progress::Progress;
use crate::io::inputs::expand_inputs;
use crate::io::labels::{FakemagCatalog, LabelCatalog, LabelColumns, TrainingLabels};
use crate::io::model_file::{ModelFile, ModelKind};
use crate::io::temp::TempPath;
use crate::models::ModelSpec;
use crate::nn::censored::LABELS;
use crate::pipeline::run::{FILES_PER_CHUNK, SPECTRA_PER_CHUNK};
use crate::pipeline::run_info::utc_timestamp;
use crate::pipeline::source::SpectrumSource;
use crate::pipeline::training_set::collect_training_set;
use crate::train::config::TrainConfig;
use crate::train::selection::Selection;
use crate::train::trainer::Trainer;
use crate::train::{TrainableCensored, TrainableDist, TrainableNetwork};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `OUTPUT` with `suffix` appended to its file name.
fn beside(output: &Path, suffix: &str) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Writes `text` to `path` through a temporary file.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let temp = TempPath::beside(path, "tmp")?;
    std::fs::write(temp.path(), text)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(path)?;
    Ok(())
}

/// Runs `astronn train`: `--kind astronn` reads the labels of [`LabelCatalog`], `--kind
/// dist` the parallaxes and photometry of [`FakemagCatalog`] (its columns renamed with the
/// same `--label NAME=COLUMN` overrides).
pub fn train(args: TrainArgs, command_line: &str, quiet: bool, overwrite: bool) -> Result<()> {
    crate::io::temp::refuse_to_replace(&[&args.output], &[], overwrite)?;
    match args.kind {
        NetworkKind::Astronn => train_network::<TrainableCensored>(args, command_line, quiet),
        NetworkKind::Dist => train_network::<TrainableDist>(args, command_line, quiet),
    }
}

/// The label catalog of network `N`: AstroNN labels or AstroNNDist parallaxes, by its kind.
fn load_labels<N: TrainableNetwork>(
    args: &TrainArgs,
    columns: &LabelColumns,
) -> Result<Box<dyn TrainingLabels>> {
    Ok(match N::KIND {
        ModelKind::AstroNN => Box::new(LabelCatalog::load(&args.catalog, &LABELS, columns)?),
        ModelKind::AstroNNDist => Box::new(FakemagCatalog::load(&args.catalog, columns)?),
    })
}

/// Trains network `N` as `args` say.
fn train_network<N: TrainableNetwork>(
    args: TrainArgs,
    command_line: &str,
    quiet: bool,
) -> Result<()> {
    if args.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    // The inputs first: one that does not exist fails before anything is written.
    let files = match &args.normalized {
        Some(_) => Vec::new(),
        None => {
            if args.input.inputs.is_empty() {
                bail!("no inputs: give apStar files, directories, @lists or --normalized");
            }
            let expanded = expand_inputs(&args.input.inputs)?;
            for note in expanded.notes() {
                eprintln!("warning: {note}");
            }
            expanded.files
        }
    };
    // Fail on an unwritable destination before reading anything.
    drop(TempPath::beside(&args.output, "check")?);
    let checkpoints = args
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| beside(&args.output, ".checkpoints"));
    std::fs::create_dir_all(&checkpoints)
        .with_context(|| format!("cannot create {}", checkpoints.display()))?;
    let metrics_path = args
        .metrics
        .clone()
        .unwrap_or_else(|| beside(&args.output, ".metrics.json"));

    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        val_fraction: args.val_fraction,
        seed: args.seed,
        freeze: args.freeze.clone(),
        early_stop: args.early_stop,
        arithmetic: arithmetic(args.precision),
        ..TrainConfig::default()
    };
    if !args.freeze.is_empty() && args.init.is_none() && args.resume.is_none() {
        bail!("--freeze keeps a model's weights: it needs --init MODEL (or --resume)");
    }
    let parent = match &args.init {
        Some(path) => Some(ModelSpec::from_arg(Some(path)).load(N::KIND)?),
        None => None,
    };
    Trainer::<N>::check_settings(&config, parent.as_ref())?;

    let columns = LabelColumns {
        id: args.id_column.clone(),
        overrides: args.label_columns.iter().cloned().collect(),
    };
    let selection = selection(&args)?;
    let catalog = load_labels::<N>(&args, &columns)?;
    let selected = match &selection {
        Some(selection) => {
            let outcome = selection.apply(&args.catalog, &columns.id)?;
            if !quiet {
                for line in outcome.summary_lines() {
                    eprintln!("train: {line}");
                }
            }
            Some(outcome)
        }
        None => None,
    };
    let mut source = match &args.normalized {
        Some(path) => SpectrumSource::normalized(path, SPECTRA_PER_CHUNK)?,
        None => SpectrumSource::apstar(files, false, FILES_PER_CHUNK),
    };
    let reading = Progress::new(source.total_units(), source.unit_name(), quiet);
    let (set, join) =
        collect_training_set(&mut source, catalog.as_ref(), selected.as_ref(), &reading)?;
    reading.finish();
    if !quiet {
        eprintln!(
            "train: {} with labels ({} read, {} not in the catalog, {} not selected, {} \
             without labels, {} unusable)",
            count(join.joined, "spectrum", "spectra"),
            join.spectra,
            join.not_in_catalog,
            join.not_selected,
            join.without_labels,
            join.unusable
        );
    }

    let mut trainer = match (&args.resume, &parent) {
        (Some(checkpoint), _) => Trainer::<N>::resume(checkpoint, set, config)?,
        (None, Some(parent)) => {
            let trainer = Trainer::<N>::fine_tune(set, config, parent, args.renormalize)?;
            if !quiet {
                report_parent(&trainer, parent)?;
            }
            trainer
        }
        (None, None) => Trainer::<N>::new(set, config)?,
    };
    let mut stopped = false;
    while !trainer.is_finished() {
        let epoch = trainer.epoch() + 1;
        let bar = epoch_bar(trainer.train_size(), epoch, args.epochs, quiet);
        let metrics = trainer.run_epoch_with_progress(&mut |done| bar.set_position(done as u64));
        bar.finish_and_clear();
        let metrics = match metrics {
            Err(crate::Error::Cancelled) => {
                stopped = true;
                break;
            }
            other => other?,
        };
        if !quiet {
            let val = metrics
                .val_loss
                .map_or("-".to_string(), |v| format!("{v:.4}"));
            let best = if trainer.best_epoch().map(|(e, _)| e) == Some(epoch) {
                " (best)"
            } else {
                ""
            };
            eprintln!(
                "epoch {epoch}/{}: train loss {:.4}, validation loss {val}{best}, lr {:.2e}, \
                 {:.0} spectra/s",
                args.epochs, metrics.train_loss, metrics.lr, metrics.spectra_per_second
            );
        }
        trainer.checkpoint(&checkpoints.join(format!("epoch-{epoch:03}.safetensors")))?;
        write_atomically(
            &metrics_path,
            &serde_json::to_string_pretty(trainer.history())?,
        )?;
    }

    let mut metadata = BTreeMap::new();
    metadata.insert("command_line".to_string(), command_line.to_string());
    metadata.insert("created".to_string(), utc_timestamp(SystemTime::now()));
    metadata.insert(
        "label_catalog".to_string(),
        args.catalog.display().to_string(),
    );
    metadata.insert(
        "label_catalog_sha256".to_string(),
        file_sha256(&args.catalog)?,
    );
    metadata.insert("label_id_column".to_string(), columns.id.clone());
    metadata.insert(
        "label_columns".to_string(),
        serde_json::to_string(&columns.overrides)?,
    );
    metadata.insert(
        "spectra_sha256".to_string(),
        trainer.data_sha256().to_string(),
    );
    metadata.insert("training_spectra".to_string(), join.joined.to_string());
    if stopped {
        return stop_training(&trainer, &args, metadata, &checkpoints);
    }
    match args.save {
        SavedEpoch::Best => trainer.save_model(&args.output, metadata)?,
        SavedEpoch::Last => trainer.save_last_model(&args.output, metadata)?,
    }
    if !quiet && args.save == SavedEpoch::Best {
        if let Some((epoch, loss)) = trainer.best_epoch() {
            let stop = if trainer.stopped_early() {
                format!(
                    "stopped early after {} epochs without a better validation loss; ",
                    trainer.epoch() - epoch
                )
            } else {
                String::new()
            };
            eprintln!(
                "train: {stop}the model is epoch {epoch} of {} (validation loss {loss:.4}); the \
                 last epoch's is its checkpoint",
                trainer.epoch()
            );
        }
        eprintln!(
            "train: model -> {}, metrics -> {}, checkpoints -> {}",
            args.output.display(),
            metrics_path.display(),
            checkpoints.display()
        );
    }
    Ok(())
}

/// After a stop request during epoch `trainer.epoch() + 1`: keeps the best model so far as
/// the output (with `--save best`), says where the completed epochs' checkpoints are, and
/// returns the stop as the command's error.
fn stop_training<N: TrainableNetwork>(
    trainer: &Trainer<N>,
    args: &TrainArgs,
    metadata: BTreeMap<String, String>,
    checkpoints: &Path,
) -> Result<()> {
    let done = trainer.epoch();
    match (args.save, trainer.best_epoch()) {
        (SavedEpoch::Best, Some((epoch, loss))) => {
            trainer.save_model(&args.output, metadata)?;
            eprintln!(
                "train: stopped during epoch {}; the model is the best so far, epoch {epoch} \
                 (validation loss {loss:.4}) -> {}",
                done + 1,
                args.output.display()
            );
        }
        _ => eprintln!(
            "train: stopped during epoch {}; no model written ({} completed epochs: their \
             checkpoints are in {})",
            done + 1,
            done,
            checkpoints.display()
        ),
    }
    Err(crate::Error::Cancelled.into())
}

/// The catalog selection `--select` and `--where` ask for (preset rules first), if any;
/// an unknown preset or a bad expression is an error here, before any data is read.
fn selection(args: &TrainArgs) -> Result<Option<Selection>> {
    let preset = args.select.as_deref().map(Selection::preset).transpose()?;
    let filter = args
        .where_expr
        .as_deref()
        .map(Selection::parse_where)
        .transpose()?;
    Ok(match (preset, filter) {
        (Some(preset), Some(filter)) => Some(preset.and(filter)),
        (preset, filter) => preset.or(filter),
    })
}

/// Prints how the parent model does on this run's validation spectra, before training:
/// fine-tuning starts from there.
fn report_parent<N: TrainableNetwork>(trainer: &Trainer<N>, parent: &ModelFile) -> Result<()> {
    let frozen = trainer.frozen();
    if !frozen.is_empty() {
        eprintln!("train: frozen: {}", frozen.join(", "));
    }
    if let Some(validation) = trainer.validate()? {
        eprintln!(
            "epoch 0 ({}): validation loss {:.4}",
            parent.identity(),
            validation.loss
        );
    }
    Ok(())
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
