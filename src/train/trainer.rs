//! Training runs: epochs of shuffled mini-batches with dropout on, Adam, the plateau
//! schedule, validation through the inference path, checkpoints that resume exactly, and
//! the trained model written as our native model file. The [`Trainer`] is generic over the
//! network ([`TrainableNetwork`]): [`CensoredTrainer`] trains AstroNN, [`DistTrainer`]
//! AstroNNDist.
//!
//! Everything random (initial weights, validation split, each epoch's shuffle, each step's
//! dropout masks) is drawn from streams keyed by the seed and the epoch or step number, so
//! the "random generator position" of a run is its epoch and step counters: a checkpoint
//! holds those, the parameters, Adam's moments and step, and the schedule's state, and a run
//! resumed from it continues bit for bit as the uninterrupted run would (with the same
//! thread count: candle's matrix products may split their sums by thread).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::model_file::{ModelFile, ModelFormat, MC_VARIANCE_KEY};
use crate::nn::dropout::{DropoutRate, DROPOUT_RATE};
use crate::nn::network::BayesianNetwork;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::{LabelsTransform, Scaling};
use crate::random::{shuffle, stream};
use crate::train::adam::Adam;
use crate::train::config::TrainConfig;
use crate::train::data::{Normalisation, TrainingSet};
use crate::train::dist_model::TrainableDist;
use crate::train::freeze::frozen_parameters;
use crate::train::loss::{censored_loss, spectrum_losses, LabelTargets};
use crate::train::model::TrainableCensored;
use crate::train::network::{is_weight, TrainableNetwork};
use crate::train::schedule::ReduceLrOnPlateau;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

/// Reads a number written by serde_json, where a non-finite value became `null`, as NaN.
fn number_or_nan<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// What one epoch did, for progress lines and the metrics file (serialises to JSON; a
/// non-finite number, as a diverged loss, is written as `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean over the epoch's training spectra of the optimised loss (data loss with dropout
    /// on, plus the L2 term), in standardised units.
    #[serde(deserialize_with = "number_or_nan")]
    pub train_loss: f64,
    /// Validation loss (dropout off, plus the L2 term); `None` without a validation set.
    pub val_loss: Option<f64>,
    /// Validation mean absolute error per label, in the labels' own units, in label order
    /// ([`TrainingSet::label_names`]); `None` for a label no validation spectrum has.
    pub val_mae: Vec<Option<f64>>,
    /// astroNN's validation MAE in standardised units: per spectrum the mean over its
    /// present labels, averaged over spectra. The schedule monitors it.
    pub val_mae_standardized: Option<f64>,
    /// Learning rate used during the epoch.
    #[serde(deserialize_with = "number_or_nan")]
    pub lr: f64,
    /// Wall time of the epoch, validation included.
    #[serde(deserialize_with = "number_or_nan")]
    pub seconds: f64,
    /// Training spectra per second of the training part of the epoch.
    #[serde(deserialize_with = "number_or_nan")]
    pub spectra_per_second: f64,
}

/// The network's performance on the validation spectra.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// Mean loss over the spectra (dropout off) plus the L2 term.
    pub loss: f64,
    /// Mean absolute error per label, in the labels' units (`None`: no spectrum has it).
    pub mae: Vec<Option<f64>>,
    /// astroNN's masked MAE in standardised units (`None`: no spectrum has labels).
    pub mae_standardized: Option<f64>,
}

/// Metadata marking a model file as a training checkpoint (value: the format version).
const CHECKPOINT_KEY: &str = "checkpoint.format";

/// A training run of network `N`.
#[derive(Debug)]
pub struct Trainer<N: TrainableNetwork> {
    set: TrainingSet,
    config: TrainConfig,
    norm: Normalisation,
    /// Standardised labels (NaN where missing) and errors (0 where unknown), `N × labels`.
    labels: Vec<f64>,
    errors: Vec<f64>,
    train_rows: Vec<usize>,
    val_rows: Vec<usize>,
    model: N,
    /// Names of the parameters the optimiser updates (all but the frozen ones).
    trained: Vec<String>,
    /// The L2 term of the frozen weights (they do not change, so it is a constant).
    frozen_l2: f64,
    adam: Adam,
    schedule: ReduceLrOnPlateau,
    epoch: usize,
    step: u64,
    history: Vec<EpochMetrics>,
    best: Option<BestEpoch>,
    data_sha256: String,
    /// Where the starting weights came from (`parent`, `parent_sha256`, …), for metadata.
    lineage: BTreeMap<String, String>,
}

/// The epoch with the lowest validation loss so far and its model tensors.
#[derive(Debug, Clone)]
struct BestEpoch {
    epoch: usize,
    val_loss: f64,
    tensors: HashMap<String, Tensor>,
}

/// Metadata key of the label range a model was trained on: a JSON object mapping each label
/// to `[min, max]` of its training values.
pub const LABEL_RANGE_KEY: &str = "label_range";

/// Prefix of the best epoch's parameters in a checkpoint.
const BEST_PREFIX: &str = "best.";

/// The validation rows (sorted) and training rows (sorted) of `n` spectra: a seeded
/// shuffle, its first ⌈fraction · n⌉ (at most n − 1) rows held out.
fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let held_out = if fraction > 0.0 {
        ((fraction * n as f64).ceil() as usize).min(n.saturating_sub(1))
    } else {
        0
    };
    let mut rows: Vec<usize> = (0..n).collect();
    shuffle(&mut stream(seed, "split", 0), &mut rows);
    let mut val = rows[..held_out].to_vec();
    let mut train = rows[held_out..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (val, train)
}

/// A training run of the censored network (AstroNN).
pub type CensoredTrainer = Trainer<TrainableCensored>;

/// A training run of the distance network (AstroNNDist).
pub type DistTrainer = Trainer<TrainableDist>;

/// The normalisation and MC convention a model file was saved with.
fn model_normalisation<N: TrainableNetwork>(file: &ModelFile) -> Result<Normalisation> {
    let labels = N::LABELS.len();
    let scaling = Scaling::load(&file.var_builder(), NETWORK_PIXELS, labels, N::LABEL_OFFSET)?
        .with_mc_variance(file.mc_variance()?);
    Ok(Normalisation::of_model(&scaling))
}

impl<N: TrainableNetwork> Trainer<N> {
    /// A run on `set` from freshly initialised weights. The set's label columns must be the
    /// network's ([`TrainableNetwork::LABELS`]). The normalisation is computed from the
    /// whole set; the validation split is drawn from the seed.
    pub fn new(set: TrainingSet, config: TrainConfig) -> Result<Trainer<N>> {
        let model = N::new(DType::F32, config.seed)?;
        let norm = Normalisation::with_offset(&set, N::LABEL_OFFSET);
        Self::start(set, config, model, norm, BTreeMap::new())
    }

    /// A run on `set` that starts from the weights of `parent` (any model `predict` loads,
    /// of this network's kind), keeping its architecture and, unless `renormalize`, its
    /// normalisation and conventions (with `renormalize` they are computed from `set`, as
    /// for a new model). The trained model's metadata names the parent and its SHA-256.
    pub fn fine_tune(
        set: TrainingSet,
        config: TrainConfig,
        parent: &ModelFile,
        renormalize: bool,
    ) -> Result<Trainer<N>> {
        let model = Self::parent_network(parent)?;
        let norm = if renormalize {
            Normalisation::with_offset(&set, N::LABEL_OFFSET)
        } else {
            model_normalisation::<N>(parent)?
        };
        let mut lineage = BTreeMap::new();
        lineage.insert("parent".to_string(), parent.path.display().to_string());
        lineage.insert("parent_sha256".to_string(), parent.sha256.clone());
        lineage.insert("parent_format".to_string(), format!("{:?}", parent.format));
        lineage.insert("parent_renormalized".to_string(), renormalize.to_string());
        Self::start(set, config, model, norm, lineage)
    }

    /// Checks `config` and, for a run from `parent`, that the network can be built from it
    /// and that `config.freeze` names its parameters: the mistakes a run would otherwise
    /// only find after reading its spectra.
    pub fn check_settings(config: &TrainConfig, parent: Option<&ModelFile>) -> Result<()> {
        config.validate()?;
        let model = match parent {
            Some(parent) => Self::parent_network(parent)?,
            None if config.freeze.is_empty() => return Ok(()),
            None => N::new(DType::F32, config.seed)?,
        };
        let names: Vec<String> = model.vars().into_iter().map(|(name, _)| name).collect();
        frozen_parameters(&config.freeze, &names)?;
        Ok(())
    }

    /// The network of `parent`, which must be of this network's kind.
    fn parent_network(parent: &ModelFile) -> Result<N> {
        if parent.kind != N::KIND {
            return Err(Error::file(
                &parent.path,
                format!(
                    "is a {} model; training {} needs a {} model to start from",
                    parent.kind.name(),
                    N::KIND.name(),
                    N::KIND.name()
                ),
            ));
        }
        // The networks train builds drop at Astra's rate; a parent trained at another one
        // would be fine-tuned as a different network.
        let rate = parent.dropout_rate()?;
        if rate != DropoutRate::ASTRA {
            return Err(Error::file(
                &parent.path,
                format!(
                    "drops out at rate {}; fine-tuning trains at {DROPOUT_RATE} only",
                    rate.rate()
                ),
            ));
        }
        // The networks train builds learn their labels as they are, not their sigmoid.
        if parent.labels_transform()? != LabelsTransform::Identity {
            return Err(Error::file(
                &parent.path,
                "learns its labels through a sigmoid (astroNN's labels mode 3s); fine-tuning \
                 trains on the labels themselves only",
            ));
        }
        N::from_model(&parent.tensors)
            .map_err(|e| Error::file(&parent.path, format!("cannot start training from it: {e}")))
    }

    /// A run of `model` on `set` with `norm`, at epoch 0.
    fn start(
        set: TrainingSet,
        config: TrainConfig,
        model: N,
        norm: Normalisation,
        lineage: BTreeMap<String, String>,
    ) -> Result<Trainer<N>> {
        config.validate()?;
        let model = model.with_arithmetic(config.arithmetic);
        if set.label_names() != N::LABELS {
            return Err(Error::Invalid(format!(
                "the training set's labels ({}) are not those of the {} network ({})",
                set.label_names().join(", "),
                N::KIND.name(),
                N::LABELS.join(", ")
            )));
        }
        let (mut labels, mut errors) = (Vec::new(), Vec::new());
        for i in 0..set.len() {
            norm.standardize_labels(set.labels(i), set.label_errors(i), &mut labels, &mut errors);
        }
        let (val_rows, train_rows) = split(set.len(), config.val_fraction, config.seed);
        let names: Vec<String> = model.vars().into_iter().map(|(name, _)| name).collect();
        let frozen = frozen_parameters(&config.freeze, &names)?;
        let trained: Vec<String> = names.into_iter().filter(|n| !frozen.contains(n)).collect();
        let frozen_l2 = weights_l2(&model.vars(), &frozen, config.l2)?;
        let adam = Adam::new(&trained_vars(&model, &trained));
        let schedule = ReduceLrOnPlateau::new(config.lr, config.plateau);
        let data_sha256 = set.sha256();
        Ok(Trainer {
            set,
            config,
            norm,
            labels,
            errors,
            train_rows,
            val_rows,
            model,
            trained,
            frozen_l2,
            adam,
            schedule,
            epoch: 0,
            step: 0,
            history: Vec::new(),
            best: None,
            data_sha256,
            lineage,
        })
    }

    /// Continues the run saved in checkpoint `path` (see [`Trainer::checkpoint`]) on the same
    /// `set`: its weights, normalisation, optimiser, schedule, best epoch and parent.
    /// `config` must agree with the checkpoint's settings except `epochs` (which may extend
    /// the run), `early_stop` and `eval_batch_size`; the learning rate continues from the
    /// schedule's state.
    pub fn resume(path: &Path, set: TrainingSet, config: TrainConfig) -> Result<Trainer<N>> {
        let file = ModelFile::load(path)?;
        let meta = &file.metadata;
        if meta.get(CHECKPOINT_KEY).map(String::as_str) != Some("1") {
            return Err(Error::file(
                path,
                "not a training checkpoint (a model file without optimiser state?)",
            ));
        }
        if file.kind != N::KIND {
            return Err(Error::file(
                path,
                format!(
                    "the checkpoint trains a {} network, not {}",
                    file.kind.name(),
                    N::KIND.name()
                ),
            ));
        }
        let get = |key: &str| -> Result<&String> {
            meta.get(&format!("checkpoint.{key}"))
                .ok_or_else(|| Error::file(path, format!("checkpoint lacks checkpoint.{key}")))
        };
        fn parse<T: std::str::FromStr>(path: &Path, key: &str, text: &str) -> Result<T> {
            text.parse()
                .map_err(|_| Error::file(path, format!("checkpoint.{key} is not valid: {text}")))
        }
        for (key, value) in config.result_settings() {
            // Checkpoints from before `--freeze` and `--precision` existed froze nothing
            // and trained in float32.
            let stored = match get(&format!("config.{key}")) {
                Err(_) if key == "freeze" => "",
                Err(_) if key == "precision" => "float32",
                stored => stored?.as_str(),
            };
            if stored != value {
                return Err(Error::Invalid(format!(
                    "{}: the checkpoint was made with {key} = {stored}, not {value}",
                    path.display()
                )));
            }
        }
        let model = N::from_model(&file.tensors).map_err(|e| Error::file(path, e.to_string()))?;
        let norm = model_normalisation::<N>(&file)?;
        let lineage = meta
            .iter()
            .filter(|(key, _)| key.starts_with("parent"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let mut trainer = Self::start(set, config, model, norm, lineage)?;
        if *get("data_sha256")? != trainer.data_sha256 {
            return Err(Error::Invalid(format!(
                "{}: the checkpoint was trained on other data (its data SHA-256 differs)",
                path.display()
            )));
        }
        let vars = trained_vars(&trainer.model, &trainer.trained);
        let adam_step: u64 = parse(path, "adam_step", get("adam_step")?)?;
        trainer.adam = Adam::from_tensors(&vars, &file.tensors, adam_step)?;
        trainer.schedule.lr = parse(path, "lr", get("lr")?)?;
        trainer.schedule.best = parse(path, "best", get("best")?)?;
        trainer.schedule.wait = parse(path, "wait", get("wait")?)?;
        trainer.epoch = parse(path, "epoch", get("epoch")?)?;
        trainer.step = parse(path, "step", get("step")?)?;
        trainer.history = serde_json::from_str(get("history")?)
            .map_err(|e| Error::file(path, format!("checkpoint history: {e}")))?;
        if let Ok(epoch) = get("best_epoch") {
            let best: HashMap<String, Tensor> = file
                .tensors
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(BEST_PREFIX)?.to_string(), v.clone())))
                .collect();
            let network =
                N::from_model(&best).map_err(|e| Error::file(path, format!("best epoch: {e}")))?;
            trainer.best = Some(BestEpoch {
                epoch: parse(path, "best_epoch", epoch)?,
                val_loss: parse(path, "best_val_loss", get("best_val_loss")?)?,
                tensors: network.model_tensors(&trainer.norm)?,
            });
        }
        Ok(trainer)
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs done so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Whether the run is over: `config.epochs` epochs are done, or early stopping has
    /// seen `config.early_stop` epochs without a better validation loss.
    pub fn is_finished(&self) -> bool {
        self.epoch >= self.config.epochs || self.stopped_early()
    }

    /// Whether early stopping ended the run before `config.epochs`.
    pub fn stopped_early(&self) -> bool {
        match (self.config.early_stop, &self.best) {
            (Some(patience), Some(best)) => self.epoch - best.epoch >= patience,
            _ => false,
        }
    }

    /// The epoch with the lowest validation loss so far and that loss (`None` before the
    /// first validated epoch, or without a validation set).
    pub fn best_epoch(&self) -> Option<(usize, f64)> {
        self.best.as_ref().map(|b| (b.epoch, b.val_loss))
    }

    /// Names of the parameters kept fixed (`config.freeze`).
    pub fn frozen(&self) -> Vec<String> {
        let vars = self.model.vars();
        vars.into_iter()
            .map(|(name, _)| name)
            .filter(|name| !self.trained.contains(name))
            .collect()
    }

    /// Metrics of every epoch done so far (a resumed run includes the earlier ones).
    pub fn history(&self) -> &[EpochMetrics] {
        &self.history
    }

    /// Spectra trained on per epoch (the progress callback counts up to this).
    pub fn train_size(&self) -> usize {
        self.train_rows.len()
    }

    /// Spectra held out for validation.
    pub fn validation_size(&self) -> usize {
        self.val_rows.len()
    }

    /// Label names, in output order.
    pub fn label_names(&self) -> &'static [&'static str] {
        self.set.label_names()
    }

    /// The normalisation the model is trained with.
    pub fn normalisation(&self) -> &Normalisation {
        &self.norm
    }

    /// SHA-256 of the training data (see [`TrainingSet::sha256`]).
    pub fn data_sha256(&self) -> &str {
        &self.data_sha256
    }

    /// The network being trained.
    pub fn model(&self) -> &N {
        &self.model
    }

    /// The learning rate of the next epoch.
    pub fn learning_rate(&self) -> f64 {
        self.schedule.lr
    }

    /// Network inputs `[rows, 7514]` of the given spectra.
    fn inputs(&self, rows: &[usize]) -> Result<Tensor> {
        let pixels = self.norm.input_mean.len();
        let mut x = vec![0f32; rows.len() * pixels];
        for (&row, out) in rows.iter().zip(x.chunks_mut(pixels)) {
            self.norm.standardize_flux(self.set.flux(row), out);
        }
        Ok(Tensor::from_vec(x, (rows.len(), pixels), &Device::Cpu)?)
    }

    /// Standardised targets of the given spectra.
    fn targets(&self, rows: &[usize]) -> Result<LabelTargets> {
        let l = self.set.label_names().len();
        let (mut values, mut errors) = (Vec::new(), Vec::new());
        for &row in rows {
            values.extend_from_slice(&self.labels[row * l..(row + 1) * l]);
            errors.extend_from_slice(&self.errors[row * l..(row + 1) * l]);
        }
        Ok(LabelTargets::new(
            &values,
            Some(&errors),
            l,
            DType::F32,
            &Device::Cpu,
        )?)
    }

    /// Trains one epoch (see [`Trainer::run_epoch_with_progress`]).
    pub fn run_epoch(&mut self) -> Result<EpochMetrics> {
        self.run_epoch_with_progress(&mut |_| {})
    }

    /// Trains one epoch: the training spectra in a seeded shuffled order, in batches of
    /// `batch_size`, each an Adam step on loss + L2 with dropout on, followed by the
    /// network's weight constraints (the censored network's max-norm); then validation and
    /// the schedule. `progress` is called after every batch with the number of training
    /// spectra done in this epoch. A stop request ([`crate::cancel`]) ends the epoch with
    /// [`crate::Error::Cancelled`] before its next batch; the best model so far and the
    /// completed epochs' history stay as they were.
    pub fn run_epoch_with_progress(
        &mut self,
        progress: &mut dyn FnMut(usize),
    ) -> Result<EpochMetrics> {
        let start = Instant::now();
        let lr = self.schedule.lr;
        let mut order = self.train_rows.clone();
        shuffle(
            &mut stream(self.config.seed, "shuffle", self.epoch as u64),
            &mut order,
        );
        let mut loss_sum = 0.0;
        let mut done = 0;
        let vars = trained_vars(&self.model, &self.trained);
        for batch in order.chunks(self.config.batch_size) {
            crate::cancel::check()?;
            let x = self.inputs(batch)?;
            let targets = self.targets(batch)?;
            let mut masks = stream(self.config.seed, "dropout", self.step);
            let (prediction, log_variance) =
                self.model.forward(&x, &mut Dropout::On(&mut masks))?;
            let loss = censored_loss(&prediction, &log_variance, &targets)?;
            let grads = loss.backward()?;
            // The L2 term's gradient is added by the optimiser, which returns its value.
            let penalty = self.adam.update(&vars, &grads, lr, self.config.l2)? + self.frozen_l2;
            self.model
                .constrain(&self.config, &|name| self.trained.iter().any(|t| t == name))?;
            self.step += 1;
            let batch_loss = f64::from(loss.to_scalar::<f32>()?) + penalty;
            loss_sum += batch_loss * batch.len() as f64;
            done += batch.len();
            progress(done);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let validation = self.validate()?;
        if let Some(mae) = validation.as_ref().and_then(|v| v.mae_standardized) {
            self.schedule.end_epoch(mae);
        }
        self.epoch += 1;
        if let Some(v) = &validation {
            self.remember_if_best(v.loss)?;
        }
        let metrics = EpochMetrics {
            epoch: self.epoch,
            train_loss: loss_sum / done.max(1) as f64,
            val_loss: validation.as_ref().map(|v| v.loss),
            val_mae: validation.as_ref().map_or_else(
                || vec![None; self.set.label_names().len()],
                |v| v.mae.clone(),
            ),
            val_mae_standardized: validation.as_ref().and_then(|v| v.mae_standardized),
            lr,
            seconds: start.elapsed().as_secs_f64(),
            spectra_per_second: done as f64 / train_seconds.max(1e-9),
        };
        self.history.push(metrics.clone());
        Ok(metrics)
    }

    /// Keeps the current model as the best one if `val_loss` is lower than every earlier
    /// epoch's (a NaN loss never is; on a tie the earlier epoch stays).
    fn remember_if_best(&mut self, val_loss: f64) -> Result<()> {
        let better = match &self.best {
            None => !val_loss.is_nan(),
            Some(best) => val_loss < best.val_loss,
        };
        if better {
            self.best = Some(BestEpoch {
                epoch: self.epoch,
                val_loss,
                tensors: self.model.model_tensors(&self.norm)?,
            });
        }
        Ok(())
    }

    /// The current network as the inference path builds it from a model file.
    pub fn inference_network(&self) -> Result<N::Inference> {
        Ok(N::inference(self.model.model_tensors(&self.norm)?)?)
    }

    /// The current network on the validation spectra (dropout off, through the inference
    /// path); `None` without a validation set.
    pub fn validate(&self) -> Result<Option<Validation>> {
        if self.val_rows.is_empty() {
            return Ok(None);
        }
        let net = self.inference_network()?;
        let l = self.set.label_names().len();
        let mut loss_sum = 0.0;
        let mut abs_sum = vec![0f64; l];
        let mut abs_count = vec![0usize; l];
        let (mut spectrum_mae_sum, mut spectra_with_labels) = (0.0, 0usize);
        for rows in self.val_rows.chunks(self.config.eval_batch_size) {
            crate::cancel::check()?;
            let (prediction, log_variance) =
                net.forward(&self.inputs(rows)?, 1, &mut Dropout::Off)?;
            let targets = self.targets(rows)?;
            let losses = spectrum_losses(&prediction, &log_variance, &targets)?;
            loss_sum += losses
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?
                .iter()
                .sum::<f64>();
            let predicted = prediction.to_dtype(DType::F64)?.to_vec2::<f64>()?;
            for (&row, y) in rows.iter().zip(&predicted) {
                let truth = &self.labels[row * l..(row + 1) * l];
                let (mut sum, mut count) = (0.0, 0usize);
                for j in 0..l {
                    if truth[j].is_nan() {
                        continue;
                    }
                    let diff = (truth[j] - y[j]).abs();
                    abs_sum[j] += diff * self.norm.labels_std[j];
                    abs_count[j] += 1;
                    sum += diff;
                    count += 1;
                }
                if count > 0 {
                    spectrum_mae_sum += sum / count as f64;
                    spectra_with_labels += 1;
                }
            }
        }
        let l2 = f64::from(
            self.model
                .l2_penalty(self.config.l2)?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?,
        );
        Ok(Some(Validation {
            loss: loss_sum / self.val_rows.len() as f64 + l2,
            mae: abs_sum
                .iter()
                .zip(&abs_count)
                .map(|(&s, &c)| (c > 0).then(|| s / c as f64))
                .collect(),
            mae_standardized: (spectra_with_labels > 0)
                .then(|| spectrum_mae_sum / spectra_with_labels as f64),
        }))
    }

    /// Provenance of the model of epoch `saved_epoch`: label names, epochs, final and best
    /// losses, seed and the other settings, the parent a fine-tuned run started from, the
    /// training data's SHA-256 and the software version.
    pub fn provenance(&self, saved_epoch: usize) -> BTreeMap<String, String> {
        let mut meta = BTreeMap::new();
        let labels: Vec<&str> = self.set.label_names().to_vec();
        meta.insert(
            "labels".into(),
            serde_json::to_string(&labels).unwrap_or_default(),
        );
        let ranges: BTreeMap<&str, [f64; 2]> = labels
            .iter()
            .zip(self.set.label_ranges())
            .filter(|(_, (min, max))| min.is_finite() && max.is_finite())
            .map(|(name, (min, max))| (*name, [min, max]))
            .collect();
        meta.insert(
            LABEL_RANGE_KEY.into(),
            serde_json::to_string(&ranges).unwrap_or_default(),
        );
        meta.insert(
            "trained_by".into(),
            format!("astronn {}", env!("CARGO_PKG_VERSION")),
        );
        meta.insert("epochs".into(), self.epoch.to_string());
        meta.insert("saved_epoch".into(), saved_epoch.to_string());
        if let Some((epoch, loss)) = self.best_epoch() {
            meta.insert("best_epoch".into(), epoch.to_string());
            meta.insert("best_val_loss".into(), loss.to_string());
        }
        meta.insert(MC_VARIANCE_KEY.into(), self.norm.mc_variance.name().into());
        meta.extend(self.lineage.clone());
        if let Some(last) = self.history.last() {
            meta.insert("final_train_loss".into(), last.train_loss.to_string());
            if let Some(v) = last.val_loss {
                meta.insert("final_val_loss".into(), v.to_string());
            }
        }
        for (key, value) in self.config.result_settings() {
            meta.insert(format!("train.{key}"), value);
        }
        meta.insert("train.n_train".into(), self.train_rows.len().to_string());
        meta.insert("train.n_validation".into(), self.val_rows.len().to_string());
        meta.insert("training_data_sha256".into(), self.data_sha256.clone());
        meta
    }

    /// The current (last epoch's) model as an in-memory model file (parameters under
    /// Astra's names, element masks, normalisation, [`Trainer::provenance`] metadata);
    /// `path` is where it will be written.
    pub fn model_file(&self, path: &Path) -> Result<ModelFile> {
        self.file_of(path, self.epoch, self.model.model_tensors(&self.norm)?)
    }

    /// The model of the epoch with the lowest validation loss (the current one when no
    /// epoch was validated), as [`Trainer::model_file`] makes it.
    pub fn best_model_file(&self, path: &Path) -> Result<ModelFile> {
        match &self.best {
            Some(best) => self.file_of(path, best.epoch, best.tensors.clone()),
            None => self.model_file(path),
        }
    }

    fn file_of(
        &self,
        path: &Path,
        epoch: usize,
        tensors: HashMap<String, Tensor>,
    ) -> Result<ModelFile> {
        Ok(ModelFile {
            path: path.to_path_buf(),
            kind: N::KIND,
            format: ModelFormat::Safetensors,
            sha256: String::new(),
            tensors,
            metadata: self.provenance(epoch),
        })
    }

    /// Writes the best epoch's model ([`Trainer::best_model_file`]) as our native model
    /// file, loadable by `predict`, with the provenance metadata plus `extra` (the command
    /// line, input hashes, …). The last epoch's model is in the last checkpoint.
    pub fn save_model(&self, path: &Path, extra: BTreeMap<String, String>) -> Result<()> {
        self.best_model_file(path)?.save_safetensors(path, extra)
    }

    /// Writes the last epoch's model ([`Trainer::model_file`]) as [`Trainer::save_model`]
    /// writes the best one.
    pub fn save_last_model(&self, path: &Path, extra: BTreeMap<String, String>) -> Result<()> {
        self.model_file(path)?.save_safetensors(path, extra)
    }

    /// Writes a checkpoint: the model file (usable by `predict` as it is) plus Adam's
    /// moments and step, the schedule's state, the epoch and step counters (the random
    /// streams' position), the settings, the data's SHA-256, the metrics so far and the best
    /// epoch's parameters (`best.{param}`).
    pub fn checkpoint(&self, path: &Path) -> Result<()> {
        let mut file = self.model_file(path)?;
        file.tensors.extend(self.adam.state_tensors()?);
        if let Some(best) = &self.best {
            for (name, _) in self.model.vars() {
                let tensor = best.tensors.get(&name).ok_or_else(|| {
                    Error::Invalid(format!("the best epoch's model lacks {name}"))
                })?;
                file.tensors
                    .insert(format!("{BEST_PREFIX}{name}"), tensor.clone());
            }
        }
        let mut meta = BTreeMap::new();
        meta.insert(CHECKPOINT_KEY.to_string(), "1".to_string());
        let mut put = |key: &str, value: String| {
            meta.insert(format!("checkpoint.{key}"), value);
        };
        put("epoch", self.epoch.to_string());
        put("step", self.step.to_string());
        put("adam_step", self.adam.step.to_string());
        put("lr", self.schedule.lr.to_string());
        put("best", self.schedule.best.to_string());
        put("wait", self.schedule.wait.to_string());
        put("data_sha256", self.data_sha256.clone());
        if let Some(best) = &self.best {
            put("best_epoch", best.epoch.to_string());
            put("best_val_loss", best.val_loss.to_string());
        }
        put(
            "history",
            serde_json::to_string(&self.history)
                .map_err(|e| Error::Invalid(format!("cannot serialise the metrics: {e}")))?,
        );
        for (key, value) in self.config.result_settings() {
            put(&format!("config.{key}"), value);
        }
        file.save_safetensors(path, meta)
    }
}

/// The variables of `model` named in `names`, in the model's (sorted) order.
fn trained_vars<N: TrainableNetwork>(model: &N, names: &[String]) -> Vec<(String, Var)> {
    model
        .vars()
        .into_iter()
        .filter(|(name, _)| names.contains(name))
        .collect()
}

/// `factor` · Σ w² over the weights (not biases) among `vars` named in `names`.
fn weights_l2(vars: &[(String, Var)], names: &[String], factor: f64) -> Result<f64> {
    let mut sum = 0.0;
    for (name, var) in vars {
        if is_weight(name) && names.contains(name) {
            let squares = var.as_tensor().to_dtype(DType::F64)?.sqr()?.sum_all()?;
            sum += squares.to_scalar::<f64>()?;
        }
    }
    Ok(factor * sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_with_a_diverged_loss_round_trip_through_json() {
        let metrics = EpochMetrics {
            epoch: 3,
            train_loss: f64::NAN,
            val_loss: Some(f64::INFINITY),
            val_mae: vec![Some(1.5), None],
            val_mae_standardized: None,
            lr: 5e-4,
            seconds: 2.0,
            spectra_per_second: 100.0,
        };
        let json = serde_json::to_string(&vec![metrics]).unwrap();
        let back: Vec<EpochMetrics> = serde_json::from_str(&json).unwrap();
        assert!(back[0].train_loss.is_nan());
        assert_eq!(back[0].val_loss, None);
        assert_eq!(back[0].val_mae, vec![Some(1.5), None]);
    }

    #[test]
    fn split_holds_out_a_seeded_tenth() {
        let (val, train) = split(95, 0.1, 7);
        assert_eq!(val.len(), 10);
        assert_eq!(train.len(), 85);
        let mut all: Vec<usize> = val.iter().chain(&train).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..95).collect::<Vec<_>>());
        assert_eq!(split(95, 0.1, 7), (val.clone(), train));
        assert_ne!(split(95, 0.1, 8).0, val);
        assert_eq!(split(1, 0.1, 7).0.len(), 0);
        assert_eq!(split(20, 0.0, 7).0.len(), 0);
    }
}
