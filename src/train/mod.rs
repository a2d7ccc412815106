//! Training the censored AstroNN network and AstroNNDist (SPEC §9): the training set and
//! its normalisation, the loss, differentiable forward passes over trainable parameters
//! ([`TrainableNetwork`]: [`model::TrainableCensored`], [`dist_model::TrainableDist`]), Adam
//! with Keras's conventions, the plateau learning-rate schedule, and a [`Trainer`] that runs
//! epochs, validates, checkpoints, resumes exactly and writes the trained model file: the
//! epoch with the best validation loss, optionally stopping early. A run may start from a
//! loaded model (fine-tuning, with [`freeze`]d parameters) and train on the catalog rows a
//! [`selection`] keeps (DR19's presets or a `--where` expression).
//!
//! The recipe is astroNN's; where this implementation has to choose, it does so as follows:
//!
//! - Normalisation is computed over the whole set handed to the trainer (validation rows
//!   included, as astroNN normalises before it splits); a label's std is the population std
//!   of its present values (1 if it has fewer than two distinct values).
//! - The validation split is ⌈fraction · N⌉ spectra drawn with the seed; each epoch's
//!   training order is a seeded shuffle; the last batch of an epoch may be short.
//! - Validation runs with dropout off, through the inference network (astroNN's validation
//!   keeps its MC dropout on); the schedule monitors astroNN's masked MAE on it.
//! - Adam is Keras's (ε = 1e-7 on the un-corrected second moment); the L2 term's gradient is
//!   added in the optimiser, which is the same as adding the term to the loss.
//! - Initial weights are N(0, 0.05) everywhere, including the output heads; biases are 0.
//! - The max-pool gradient goes to the first maximum of a window (PyTorch's rule), and a
//!   spectrum without any present label contributes 0 to the loss (astroNN: NaN).
//! - Dropout keeps a unit with probability 45875/65536 (0.699997), as at prediction.
//! - AstroNNDist's target is L_fakemag = parallax · 10^(0.2·K0) with error
//!   parallax_err · 10^(0.2·K0) ([`crate::io::labels::fakemag_label`]), negative parallaxes
//!   kept; it is divided by its std with no mean offset, as its inference multiplies by
//!   `labels_std` only. The validation MAE is in L_fakemag units.
//! - The best epoch is judged by the validation loss (the L2 term included; a NaN loss
//!   never wins, a tie keeps the earlier epoch); a fine-tuned run's starting point is not a
//!   candidate. A frozen parameter gets no update, no L2 step and no max-norm; its L2 term
//!   still counts in the reported losses.

pub mod adam;
pub mod config;
pub mod data;
pub mod dist_model;
pub mod freeze;
#[cfg(test)]
mod gradcheck;
pub mod loss;
pub mod model;
pub mod network;
pub mod plain_model;
pub mod run;
pub mod schedule;
pub mod selection;
pub mod trainer;

pub use config::TrainConfig;
pub use data::{Normalisation, TrainingSet};
pub use dist_model::TrainableDist;
pub use model::TrainableCensored;
pub use network::TrainableNetwork;
pub use trainer::{CensoredTrainer, DistTrainer, EpochMetrics, Trainer, Validation};
