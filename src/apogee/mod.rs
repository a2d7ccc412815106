//! The APOGEE pixel grid, pixel bits, masks and continuum normalization.

pub mod continuum;
pub mod grid;
pub mod masks;
pub mod pixmask;
