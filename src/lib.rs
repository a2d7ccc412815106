//! astronn: the SDSS AstroNN pipelines (APOGEE stellar labels and distances) in Rust.
//!
//! Comments cite the reference semantics as "SPEC §n": section n of `docs/spec.md`.
//!
//! - [`apogee`]: the APOGEE pixel grid, pixel bits, the embedded ASPCAP masks and the
//!   continuum normalization that prepares a spectrum for the networks.
//! - [`cancel`]: stopping a run on request (Ctrl-C, SIGTERM, `KeyboardInterrupt`).
//! - [`cli`]: the command line (`astronn`), flags and messages over the modules below.
//! - [`cluster`]: sharded runs on a Slurm cluster (job arrays, merge, resume).
//! - [`io`]: apStar files, input lists, model files (Astra PyTorch checkpoints and our
//!   safetensors format), normalized-spectrum files and output tables.
//! - [`models`]: the embedded default models (trained on simulated spectra).
//! - [`nn`]: the networks and the Monte Carlo dropout engine.
//! - [`pipeline`]: prediction runs end to end: flags, noise model, tables.
//! - `python` (feature `python`): the Python module `astronn._astronn` (see `python/`).
//! - [`products`]: SDSS DR19's summary products column for column (layouts as data,
//!   header mappings, the writer).
//! - [`report`]: validation reports: results against a reference catalog.
//! - [`runtime`]: process-wide allocator and thread settings (the CLI and Python call them).
//! - [`sim`]: a simulated APOGEE survey with known truth (a test bed, not astrophysics).
//! - [`train`]: training both networks (astroNN's recipe).

pub mod apogee;
pub mod bench;
pub mod cancel;
pub mod cli;
pub mod cluster;
pub mod cpu;
pub mod error;
pub mod io;
pub mod models;
pub mod nn;
pub mod pipeline;
pub mod products;
#[cfg(feature = "python")]
mod python;
pub(crate) mod random;
pub mod report;
pub mod runtime;
pub mod sim;
pub mod timestamp;
pub mod train;

pub use error::{Error, Result};
