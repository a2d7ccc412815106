//! The networks and the Monte Carlo dropout engine.
//!
//! Layers (`conv`, `conv_pool`, `dense`, `trunk`) are loaded from a model's parameters through candle's
//! `VarBuilder`; `censored` is AstroNN's abundance network; `mc` runs MC dropout.

pub mod censored;
pub mod conv;
pub mod conv_grad;
pub mod conv_pool;
pub mod dense;
pub mod dist;
pub mod dropout;
pub mod mc;
pub mod network;
pub mod sampling;
pub mod trunk;
