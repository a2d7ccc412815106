//! Runs: from inputs to result tables.
//!
//! `source` delivers chunks of prepared spectra (`prepare` reads and normalizes apStar
//! files); `predict` runs the networks on them: `astronn` (labels, with `flags` and the
//! `noise` model) and `dist` (L_fakemag, with the photometry rules of `distance`), filling
//! the DR19 products of [`crate::products`]; `normalize` writes normalized spectra.
//!
//! The API the faces call: [`run::Run`] (a whole run from a [`run::RunSpec`]: inputs,
//! models, catalogs, tables) and [`predictor::Predictor`] (a model applied to spectra held
//! in memory).

pub mod astronn;
pub mod calibrate;
pub mod calibration_run;
pub mod catalogs;
pub mod dist;
pub mod distance;
pub mod flags;
pub mod gaia;
pub mod jacobian;
pub mod merge;
pub mod noise;
pub mod normalize;
pub mod predict;
pub mod predictor;
pub mod prepare;
pub mod run;
pub mod run_info;
pub mod shard;
pub mod source;
pub mod stats;
pub mod timing;
pub mod training_set;
