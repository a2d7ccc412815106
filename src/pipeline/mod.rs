//! Runs: from inputs to result tables.
//!
//! `source` delivers chunks of prepared spectra (`prepare` reads and normalizes apStar
//! files); `predict` runs the network on them and fills the tables described in `columns`;
//! `flags` and `noise` post-process the labels; `normalize` writes normalized spectra.

pub mod columns;
pub mod distance;
pub mod flags;
pub mod noise;
pub mod normalize;
pub mod predict;
pub mod prepare;
pub mod run_info;
pub mod source;
