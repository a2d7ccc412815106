//! A training run as a library run: [`TrainSpec`] holds what the CLI's flags (and a notebook's
//! keyword arguments) say, [`TrainRun::prepare`] checks all of it before any work,
//! [`TrainRun::read`] reads the spectra and joins them with their labels, and
//! [`Training::run`] trains epoch by epoch, writing a checkpoint and the metrics after each, and
//! writes the model. A [`TrainObserver`] is told what happens; the faces only draw it.

use crate::io::inputs::expand_inputs;
use crate::io::labels::{FakemagCatalog, LabelCatalog, LabelColumns, TrainingLabels};
use crate::io::model_file::{hex, ModelFile, ModelKind};
use crate::io::temp::{refuse_to_replace, write_atomically, TempPath};
use crate::models::ModelSpec;
use crate::nn::censored::LABELS;
use crate::nn::precision::{Arithmetic, Precision};
use crate::pipeline::predict::Observer;
use crate::pipeline::run::{FILES_PER_CHUNK, SPECTRA_PER_CHUNK};
use crate::pipeline::run_info::utc_timestamp;
use crate::pipeline::source::SpectrumSource;
use crate::pipeline::training_set::{collect_training_set, JoinSummary, LabelledSpectra};
use crate::train::config::TrainConfig;
use crate::train::data::TrainingSet;
use crate::train::selection::{Selection, SelectionOutcome};
use crate::train::trainer::{EpochMetrics, Trainer};
use crate::train::{TrainableCensored, TrainableDist, TrainableNetwork};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

/// The epoch whose model a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SavedEpoch {
    /// The epoch with the lowest validation loss (the last one without a validation set).
    #[default]
    Best,
    /// The last epoch.
    Last,
}

impl FromStr for SavedEpoch {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "best" => Ok(SavedEpoch::Best),
            "last" => Ok(SavedEpoch::Last),
            _ => Err(format!("unknown epoch '{s}' to save (choose best or last)")),
        }
    }
}

/// Where a run's training spectra come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainInputs {
    /// apStar files, directories of them and `@list` files (their coadds).
    ApStar(Vec<String>),
    /// A file of normalized spectra written by `normalize`.
    Normalized(PathBuf),
    /// Normalized spectra with their labels (a notebook's arrays): no catalog is read.
    Arrays(LabelledSpectra),
}

/// Everything a training run needs, as plain data (the CLI's `train` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    /// The network trained.
    pub kind: ModelKind,
    /// The spectra.
    pub inputs: TrainInputs,
    /// The label catalog (AstroNN's labels, or AstroNNDist's parallaxes and photometry):
    /// needed by files, refused with arrays, which hold their labels.
    pub catalog: Option<PathBuf>,
    /// How the catalog's columns are named.
    pub columns: LabelColumns,
    /// The model file written.
    pub output: PathBuf,
    /// Per-epoch checkpoints (default: `OUTPUT.checkpoints`).
    pub checkpoint_dir: Option<PathBuf>,
    /// Per-epoch metrics, JSON (default: `OUTPUT.metrics.json`).
    pub metrics: Option<PathBuf>,
    /// A checkpoint of an earlier run with the same data and settings to continue from.
    pub resume: Option<PathBuf>,
    /// A model to fine-tune (any model `predict` reads, or `default`).
    pub init: Option<PathBuf>,
    /// With `init`: the normalisation computed from the new training set.
    pub renormalize: bool,
    /// The catalog selection preset (`dr19-astronn`, `dr19-dist`).
    pub select: Option<String>,
    /// A selection expression, applied after `select`.
    pub where_expr: Option<String>,
    /// Epochs, batch size, learning rate, validation fraction, seed, frozen parameters and
    /// early stopping; its arithmetic is replaced by what `precision` gives on this CPU.
    pub config: TrainConfig,
    /// The arithmetic asked for.
    pub precision: Precision,
    /// Which epoch's model is written.
    pub save: SavedEpoch,
    /// The command line recorded in the model's metadata.
    pub command_line: String,
    /// Whether an existing model file may be replaced.
    pub overwrite: bool,
}

/// What a training run tells its face (reading progress and unreadable spectra through
/// [`Observer`]).
pub trait TrainObserver: Observer {
    /// Reading the spectra starts: `total` units (files or spectra) named `unit`.
    fn reading(&self, total: usize, unit: &str);
    /// The spectra are read and joined with the catalog.
    fn joined(&self, join: &JoinSummary);
    /// Fine-tuning starts from the model `parent` (its identity), with the parameters
    /// `frozen`, and `validation_loss` on this run's validation spectra.
    fn fine_tuning(&self, parent: &str, frozen: &[String], validation_loss: Option<f64>);
    /// Epoch `epoch` of `epochs` starts over `spectra` training spectra.
    fn epoch_started(&self, epoch: usize, epochs: usize, spectra: usize);
    /// `done` training spectra of the current epoch are done.
    fn step(&self, done: usize);
    /// An epoch ended with `metrics`; `best` when its validation loss is the best so far.
    fn epoch_finished(&self, metrics: &EpochMetrics, epochs: usize, best: bool);
}

/// A run checked and ready to read its spectra.
pub struct TrainRun {
    spec: TrainSpec,
    config: TrainConfig,
    parent: Option<ModelFile>,
    spectra: Spectra,
    checkpoints: PathBuf,
    metrics: PathBuf,
    warnings: Vec<String>,
}

impl TrainRun {
    /// Checks the spec and loads what the run needs (inputs, parent model, catalog,
    /// selection); nothing is trained and no spectrum is read. An existing model file is an
    /// error unless `spec.overwrite`.
    pub fn prepare(mut spec: TrainSpec) -> Result<TrainRun> {
        refuse_to_replace(&[&spec.output], &[], spec.overwrite)?;
        if spec.config.epochs == 0 {
            return Err(Error::Invalid("--epochs must be at least 1".into()));
        }
        let mut warnings = Vec::new();
        // The inputs first: one that does not exist fails before anything is written.
        let files = match &spec.inputs {
            TrainInputs::Normalized(_) | TrainInputs::Arrays(_) => Vec::new(),
            TrainInputs::ApStar(inputs) if inputs.is_empty() => {
                return Err(Error::Invalid(
                    "no inputs: give apStar files, directories, @lists or --normalized".into(),
                ))
            }
            TrainInputs::ApStar(inputs) => {
                let expanded = expand_inputs(inputs)?;
                warnings.extend(expanded.notes());
                expanded.files
            }
        };
        check_label_source(&spec)?;
        // Fail on an unwritable destination before reading anything.
        drop(TempPath::beside(&spec.output, "check")?);
        let checkpoints = spec
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| beside(&spec.output, ".checkpoints"));
        let metrics = spec
            .metrics
            .clone()
            .unwrap_or_else(|| beside(&spec.output, ".metrics.json"));
        let (arithmetic, notice) = Arithmetic::for_this_cpu(spec.precision);
        warnings.extend(notice);
        let config = TrainConfig {
            arithmetic,
            ..spec.config.clone()
        };
        if !config.freeze.is_empty() && spec.init.is_none() && spec.resume.is_none() {
            return Err(Error::Invalid(
                "--freeze keeps a model's weights: it needs --init MODEL (or --resume)".into(),
            ));
        }
        if spec.kind == ModelKind::Generic {
            return Err(not_trainable());
        }
        let parent = match &spec.init {
            Some(path) => Some(ModelSpec::from_arg(Some(path)).load(spec.kind)?),
            None => None,
        };
        match spec.kind {
            ModelKind::AstroNN => {
                Trainer::<TrainableCensored>::check_settings(&config, parent.as_ref())?
            }
            ModelKind::AstroNNDist => {
                Trainer::<TrainableDist>::check_settings(&config, parent.as_ref())?
            }
            ModelKind::Generic => return Err(not_trainable()),
        }
        let spectra = Spectra::prepare(&mut spec, files)?;
        // Last, once everything is checked: a bad argument leaves nothing behind.
        std::fs::create_dir_all(&checkpoints).map_err(|e| Error::io(&checkpoints, e))?;
        Ok(TrainRun {
            spec,
            config,
            parent,
            spectra,
            checkpoints,
            metrics,
            warnings,
        })
    }

    /// Warnings from preparing: files named twice, an arithmetic this CPU cannot run.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// What the catalog selection removed, rule by rule (none without a selection).
    pub fn selection_summary(&self) -> Vec<String> {
        match &self.spectra {
            Spectra::Joined {
                selected: Some(selected),
                ..
            } => selected.summary_lines(),
            _ => Vec::new(),
        }
    }

    /// Reads the spectra, joins them with the catalog and sets up the trainer (a new
    /// network, the fine-tuned parent, or the checkpoint resumed from).
    pub fn read(self, observer: &dyn TrainObserver) -> Result<Training> {
        let TrainRun {
            spec,
            config,
            parent,
            spectra,
            checkpoints,
            metrics,
            ..
        } = self;
        let (set, join) = spectra.read(observer)?;
        observer.joined(&join);
        let parent = parent.as_ref();
        let epochs: Box<dyn Epochs> = match spec.kind {
            ModelKind::AstroNN => Box::new(trainer::<TrainableCensored>(
                &spec, config, parent, set, observer,
            )?),
            ModelKind::AstroNNDist => Box::new(trainer::<TrainableDist>(
                &spec, config, parent, set, observer,
            )?),
            ModelKind::Generic => return Err(not_trainable()),
        };
        Ok(Training {
            metadata: metadata(&spec, &join)?,
            epochs,
            spec,
            checkpoints,
            metrics,
            join,
        })
    }
}

/// The trainer of network `N` for `set`: a new network, the fine-tuned `parent`, or the
/// checkpoint `spec` resumes from.
fn trainer<N: TrainableNetwork>(
    spec: &TrainSpec,
    config: TrainConfig,
    parent: Option<&ModelFile>,
    set: TrainingSet,
    observer: &dyn TrainObserver,
) -> Result<Trainer<N>> {
    Ok(match (&spec.resume, parent) {
        (Some(checkpoint), _) => Trainer::<N>::resume(checkpoint, set, config)?,
        (None, Some(parent)) => {
            let trainer = Trainer::<N>::fine_tune(set, config, parent, spec.renormalize)?;
            let loss = trainer.validate()?.map(|v| v.loss);
            observer.fine_tuning(&parent.identity(), &trainer.frozen(), loss);
            trainer
        }
        (None, None) => Trainer::<N>::new(set, config)?,
    })
}

/// The metadata the model file gets beside the trainer's: the run and its catalog. (Spectra
/// given as arrays have no catalog: the model's `spectra_sha256` covers their labels too.)
fn metadata(spec: &TrainSpec, join: &JoinSummary) -> Result<BTreeMap<String, String>> {
    let mut metadata = BTreeMap::from([
        ("command_line".into(), spec.command_line.clone()),
        ("training_spectra".into(), join.joined.to_string()),
    ]);
    if let Some(catalog) = &spec.catalog {
        let bytes = std::fs::read(catalog).map_err(|e| Error::io(catalog, e))?;
        let columns = &spec.columns;
        metadata.extend([
            ("label_catalog".into(), catalog.display().to_string()),
            ("label_catalog_sha256".into(), hex(&Sha256::digest(&bytes))),
            ("label_id_column".into(), columns.id.clone()),
            (
                "label_columns".into(),
                serde_json::to_string(&columns.overrides)
                    .map_err(|e| Error::Invalid(e.to_string()))?,
            ),
        ]);
    }
    Ok(metadata)
}

/// Where a run's spectra and labels come from, once checked.
enum Spectra {
    /// Files whose spectra are joined with a catalog's labels, maybe restricted to a
    /// selection of its stars.
    Joined {
        source: SpectrumSource,
        catalog: Box<dyn TrainingLabels>,
        selected: Option<SelectionOutcome>,
    },
    /// Arrays, made a training set already.
    Given(TrainingSet, JoinSummary),
}

impl Spectra {
    /// Loads the catalog and selection of a run on `files` (or on a normalized file), or
    /// makes the arrays a training set (taking them from `spec`, so that they are not held
    /// twice); checked by [`check_label_source`] first.
    fn prepare(spec: &mut TrainSpec, files: Vec<PathBuf>) -> Result<Spectra> {
        let catalog_path = match (&mut spec.inputs, &spec.catalog) {
            (TrainInputs::Arrays(arrays), _) => {
                let arrays = std::mem::take(arrays);
                let (set, join) = arrays.training_set(training_labels(spec.kind))?;
                return Ok(Spectra::Given(set, join));
            }
            (_, Some(path)) => path,
            (_, None) => return Err(Error::Invalid("training needs a label catalog".into())),
        };
        let selection = selection(spec)?;
        let catalog: Box<dyn TrainingLabels> = match spec.kind {
            ModelKind::AstroNN => {
                Box::new(LabelCatalog::load(catalog_path, &LABELS, &spec.columns)?)
            }
            ModelKind::AstroNNDist => Box::new(FakemagCatalog::load(catalog_path, &spec.columns)?),
            ModelKind::Generic => return Err(not_trainable()),
        };
        let selected = selection
            .map(|selection| selection.apply(catalog_path, &spec.columns.id))
            .transpose()?;
        let source = match &spec.inputs {
            TrainInputs::Normalized(path) => SpectrumSource::normalized(path, SPECTRA_PER_CHUNK)?,
            _ => SpectrumSource::apstar(files, false, FILES_PER_CHUNK),
        };
        Ok(Spectra::Joined {
            source,
            catalog,
            selected,
        })
    }

    /// Reads the spectra (telling `observer` how it goes) and joins them with their labels.
    fn read(self, observer: &dyn TrainObserver) -> Result<(TrainingSet, JoinSummary)> {
        match self {
            Spectra::Joined {
                mut source,
                catalog,
                selected,
            } => {
                observer.reading(source.total_units(), source.unit_name());
                collect_training_set(&mut source, catalog.as_ref(), selected.as_ref(), observer)
            }
            Spectra::Given(set, join) => {
                observer.reading(join.spectra, "spectra");
                observer.advance(join.spectra, join.spectra);
                Ok((set, join))
            }
        }
    }
}

/// The labels a network of `kind` is trained on, in output order (a training set's
/// columns); none for [`ModelKind::Generic`], which is not trained.
pub fn training_labels(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::AstroNN => TrainableCensored::LABELS,
        ModelKind::AstroNNDist => TrainableDist::LABELS,
        ModelKind::Generic => &[],
    }
}

/// Why a [`ModelKind::Generic`] network is not trained.
fn not_trainable() -> Error {
    Error::Invalid(
        "astronn trains AstroNN (ApogeeBCNNCensored) and AstroNNDist networks; an astroNN \
         ApogeeBCNN or ApogeeCNN of other outputs is run, not trained or fine-tuned"
            .into(),
    )
}

/// Files need a label catalog; arrays hold their labels, so a catalog, a selection or
/// catalog column names given with them are an error rather than silently unused.
fn check_label_source(spec: &TrainSpec) -> Result<()> {
    match (&spec.inputs, &spec.catalog) {
        (TrainInputs::Arrays(_), Some(_)) => Err(Error::Invalid(
            "spectra given as arrays hold their labels: a label catalog is not used with them"
                .into(),
        )),
        (TrainInputs::Arrays(_), None)
            if spec.select.is_some()
                || spec.where_expr.is_some()
                || spec.columns != LabelColumns::default() =>
        {
            Err(Error::Invalid(
                "a selection or catalog columns (select, where, id column, label columns) \
                 apply to a label catalog, not to spectra given as arrays"
                    .into(),
            ))
        }
        (TrainInputs::Arrays(_), None) | (_, Some(_)) => Ok(()),
        (_, None) => Err(Error::Invalid(
            "training needs a label catalog (--labels FILE) for its spectra".into(),
        )),
    }
}

/// The catalog selection `select` and `where_expr` ask for (preset rules first), if any; an
/// unknown preset or a bad expression is an error before any data is read.
fn selection(spec: &TrainSpec) -> Result<Option<Selection>> {
    let preset = spec.select.as_deref().map(Selection::preset).transpose()?;
    let filter = spec
        .where_expr
        .as_deref()
        .map(Selection::parse_where)
        .transpose()?;
    Ok(match (preset, filter) {
        (Some(preset), Some(filter)) => Some(preset.and(filter)),
        (preset, filter) => preset.or(filter),
    })
}

/// `output` with `suffix` appended to its file name.
fn beside(output: &Path, suffix: &str) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Every completed epoch's metrics, in order (what the metrics file holds).
    pub history: Vec<EpochMetrics>,
    /// The epoch with the best validation loss, and that loss.
    pub best_epoch: Option<(usize, f64)>,
    /// Whether training stopped early (no better validation loss for `early_stop` epochs).
    pub stopped_early: bool,
    /// The epoch during which a stop request ([`crate::cancel`]) ended the run, if one did.
    pub stopped_during: Option<usize>,
    /// The model file written (none when a stopped run had no best epoch to keep, or saves
    /// the last epoch).
    pub model: Option<PathBuf>,
    /// The metrics file.
    pub metrics: PathBuf,
    /// The checkpoints' directory.
    pub checkpoints: PathBuf,
    /// How the spectra joined the catalog.
    pub join: JoinSummary,
}

/// A run with its spectra read, ready to train.
pub struct Training {
    spec: TrainSpec,
    epochs: Box<dyn Epochs>,
    metadata: BTreeMap<String, String>,
    checkpoints: PathBuf,
    metrics: PathBuf,
    join: JoinSummary,
}

impl Training {
    /// Trains the remaining epochs, writing each one's checkpoint and the metrics after it,
    /// then the model. A stop request ends the run during an epoch: the best model so far is
    /// written (with [`SavedEpoch::Best`]) and the report says where it stopped, for the
    /// caller to report the stop.
    pub fn run(mut self, observer: &dyn TrainObserver) -> Result<TrainReport> {
        let epochs = self.spec.config.epochs;
        let mut stopped_during = None;
        while !self.epochs.is_finished() {
            let epoch = self.epochs.epoch() + 1;
            observer.epoch_started(epoch, epochs, self.epochs.train_size());
            let metrics = match self.epochs.run_epoch(&mut |done| observer.step(done)) {
                Err(Error::Cancelled) => {
                    stopped_during = Some(epoch);
                    break;
                }
                other => other?,
            };
            let best = self.epochs.best_epoch().map(|(e, _)| e) == Some(epoch);
            observer.epoch_finished(&metrics, epochs, best);
            self.epochs.checkpoint(
                &self
                    .checkpoints
                    .join(format!("epoch-{epoch:03}.safetensors")),
            )?;
            let history = serde_json::to_string_pretty(self.epochs.history())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            write_atomically(&self.metrics, &history)?;
        }
        let mut metadata = self.metadata;
        metadata.insert("spectra_sha256".into(), self.epochs.data_sha256());
        metadata.insert("created".into(), utc_timestamp(SystemTime::now()));
        let model = match (self.spec.save, stopped_during, self.epochs.best_epoch()) {
            (SavedEpoch::Best, _, Some(_)) | (SavedEpoch::Best, None, None) => {
                self.epochs.save_best(&self.spec.output, metadata)?;
                Some(self.spec.output.clone())
            }
            (SavedEpoch::Last, None, _) => {
                self.epochs.save_last(&self.spec.output, metadata)?;
                Some(self.spec.output.clone())
            }
            _ => None,
        };
        Ok(TrainReport {
            history: self.epochs.history().to_vec(),
            best_epoch: self.epochs.best_epoch(),
            stopped_early: self.epochs.stopped_early(),
            stopped_during,
            model,
            metrics: self.metrics,
            checkpoints: self.checkpoints,
            join: self.join,
        })
    }
}

/// The epoch loop of a [`Trainer`] of either network, as [`Training::run`] drives it.
trait Epochs {
    fn is_finished(&self) -> bool;
    fn epoch(&self) -> usize;
    fn train_size(&self) -> usize;
    fn run_epoch(&mut self, progress: &mut dyn FnMut(usize)) -> Result<EpochMetrics>;
    fn best_epoch(&self) -> Option<(usize, f64)>;
    fn stopped_early(&self) -> bool;
    fn history(&self) -> &[EpochMetrics];
    fn data_sha256(&self) -> String;
    fn checkpoint(&self, path: &Path) -> Result<()>;
    fn save_best(&self, path: &Path, metadata: BTreeMap<String, String>) -> Result<()>;
    fn save_last(&self, path: &Path, metadata: BTreeMap<String, String>) -> Result<()>;
}

impl<N: TrainableNetwork> Epochs for Trainer<N> {
    fn is_finished(&self) -> bool {
        Trainer::is_finished(self)
    }
    fn epoch(&self) -> usize {
        Trainer::epoch(self)
    }
    fn train_size(&self) -> usize {
        Trainer::train_size(self)
    }
    fn run_epoch(&mut self, progress: &mut dyn FnMut(usize)) -> Result<EpochMetrics> {
        self.run_epoch_with_progress(progress)
    }
    fn best_epoch(&self) -> Option<(usize, f64)> {
        Trainer::best_epoch(self)
    }
    fn stopped_early(&self) -> bool {
        Trainer::stopped_early(self)
    }
    fn history(&self) -> &[EpochMetrics] {
        Trainer::history(self)
    }
    fn data_sha256(&self) -> String {
        Trainer::data_sha256(self).to_string()
    }
    fn checkpoint(&self, path: &Path) -> Result<()> {
        Trainer::checkpoint(self, path)
    }
    fn save_best(&self, path: &Path, metadata: BTreeMap<String, String>) -> Result<()> {
        self.save_model(path, metadata)
    }
    fn save_last(&self, path: &Path, metadata: BTreeMap<String, String>) -> Result<()> {
        self.save_last_model(path, metadata)
    }
}
