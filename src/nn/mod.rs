//! The networks and the Monte Carlo dropout engine.
//!
//! Layers (`conv`, `conv_pool`, `conv_pool_any`, `dense`, `trunk`, `window_dense`) are loaded
//! from a model's parameters through candle's `VarBuilder` (`conv_pool` is conv2 fused for
//! Astra's shape, `conv_pool_any` conv2 of any other, `conv_shape` which shape a model
//! has); `censored` is AstroNN's abundance network, `dist` AstroNNDist's, and `bcnn` astroNN's
//! plain networks of any outputs (`ApogeeBCNN`, `ApogeeCNN`); `mc` runs MC dropout. `conv_grad` and `dense_grad` are the differentiable
//! operations training adds; `sums` holds the fixed-order sums of the hand-written kernels;
//! `precision`, `bf16` and `bf16_dense` are the opt-in bfloat16 arithmetic of `dense_1`.

pub mod bcnn;
pub mod bf16;
pub mod bf16_dense;
pub mod censored;
pub mod conv;
pub mod conv_grad;
pub mod conv_pool;
pub mod conv_pool_any;
pub mod conv_shape;
mod cpu_data;
pub mod dense;
pub mod dense_grad;
pub mod dist;
pub mod dropout;
pub mod mc;
pub mod network;
pub mod precision;
pub mod sampling;
pub mod scaling;
mod sums;
pub mod trunk;
pub mod window_dense;
