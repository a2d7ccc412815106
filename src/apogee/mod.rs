//! The APOGEE pixel grid, pixel bits, masks and continuum normalization.

pub mod grid;
