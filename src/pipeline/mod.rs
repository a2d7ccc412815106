//! Runs: from inputs to result tables.
//!
//! `source` delivers chunks of prepared spectra (`prepare` reads and normalizes apStar
//! files); `predict` runs the networks on them: `astronn` (labels, with `flags` and the
//! `noise` model) and `dist` (L_fakemag, with the photometry rules of `distance`), filling
//! tables whose shared columns are in `columns`; `normalize` writes normalized spectra.

pub mod astronn;
pub mod calibrate;
pub mod columns;
pub mod dist;
pub mod distance;
pub mod flags;
pub mod noise;
pub mod normalize;
pub mod predict;
pub mod prepare;
pub mod run_info;
pub mod source;
pub mod stats;
pub mod training_set;
