//! Prediction runs: from inputs to result tables.

pub mod noise;
