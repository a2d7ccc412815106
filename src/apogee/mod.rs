//! The APOGEE pixel grid, pixel and star bits, masks and continuum normalization.

pub mod bitmasks;
pub mod continuum;
pub mod grid;
pub mod masks;
pub mod pixmask;
