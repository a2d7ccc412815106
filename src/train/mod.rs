//! Training the censored AstroNN network (SPEC §9): the training set and its
//! normalisation, the loss, a differentiable forward pass over trainable parameters, Adam
//! with Keras's conventions, the plateau learning-rate schedule, and a [`Trainer`] that runs
//! epochs, validates, checkpoints, resumes exactly and writes the trained model file.

pub mod adam;
pub mod data;
#[cfg(test)]
mod gradcheck;
pub mod loss;
pub mod model;
mod random;
pub mod schedule;
pub mod trainer;

pub use data::{Normalisation, TrainingSet};
pub use trainer::{EpochMetrics, TrainConfig, Trainer, Validation};
