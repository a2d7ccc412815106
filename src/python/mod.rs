//! The Python face (`astronn._astronn`, built with the `python` feature by maturin): numpy
//! arrays in and out over the library's [`crate::pipeline::predictor::Predictor`] and
//! [`crate::pipeline::run::Run`]. It holds conversions only; the pure-Python package
//! `python/astronn` checks arguments, builds tables and documents the API.

mod arrays;
mod calibrate;
mod calls;
mod cli;
mod files;
mod layout;
mod model;
mod report;
mod simulate;
mod train;

use pyo3::prelude::*;

/// The native module. Importing it makes the process-wide settings the command line makes
/// (allocator thresholds, idle candle workers, the thread count candle reads), so Python
/// runs at the CLI's speed.
#[pymodule]
fn _astronn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::runtime::keep_large_blocks();
    crate::runtime::park_idle_candle_workers();
    crate::runtime::set_thread_count(crate::runtime::thread_count(None));
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("APSTAR_PIXELS", crate::apogee::grid::APSTAR_PIXELS)?;
    m.add("NETWORK_PIXELS", crate::apogee::grid::NETWORK_PIXELS)?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::load_model, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::normalize, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::fakemag_to_pc, m)?)?;
    m.add_function(wrap_pyfunction!(arrays::fakemag_to_parallax, m)?)?;
    m.add_function(wrap_pyfunction!(files::read_apstar, m)?)?;
    m.add_function(wrap_pyfunction!(files::read_table, m)?)?;
    m.add_function(wrap_pyfunction!(files::predict_files, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(train::label_names, m)?)?;
    m.add_function(wrap_pyfunction!(calibrate::calibrate, m)?)?;
    m.add_function(wrap_pyfunction!(report::report, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(model::bench_network, m)?)?;
    m.add_function(wrap_pyfunction!(cli::run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(layout::result_columns, m)?)?;
    m.add_function(wrap_pyfunction!(layout::flag_bits, m)?)?;
    m.add_function(wrap_pyfunction!(layout::wavelengths, m)?)?;
    m.add_function(wrap_pyfunction!(layout::default_model_notice, m)?)?;
    Ok(())
}
