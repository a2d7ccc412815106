//! Reading and writing files: inputs, models, normalized spectra and result tables.

pub mod apstar;
pub mod inputs;
pub mod normalized;
pub mod npy;
pub mod pickle;
pub mod table;
pub mod torch;
