//! Validation reports from Python: keyword arguments as a [`ReportSpec`] ([`crate::report::run`]
//! does the work, as for `astronn report`).

use crate::python::calls::run_released;
use crate::report::run::{report as run_report, ReportSpec};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Writes the report `astronn report` writes into `output_dir`; returns `(counts, written)`:
/// the join's row counts (`result_rows`, `no_result`, `unmatched`, `matched`) and the files.
#[pyfunction]
#[pyo3(signature = (result, truth, output_dir, *, id_column=String::from("sdss4_apogee_id"), result_id_column=String::from("sdss4_apogee_id"), snr_min=100.0, model=None, overwrite=false))]
#[allow(clippy::too_many_arguments)]
pub fn report<'py>(
    py: Python<'py>,
    result: PathBuf,
    truth: PathBuf,
    output_dir: PathBuf,
    id_column: String,
    result_id_column: String,
    snr_min: f64,
    model: Option<String>,
    overwrite: bool,
) -> PyResult<(Bound<'py, PyDict>, Vec<String>)> {
    let spec = ReportSpec {
        result,
        truth,
        result_id_column,
        truth_id_column: id_column,
        snr_min,
        model,
        output_dir,
        overwrite,
    };
    let (report, written) = run_released(py, None, || run_report(&spec))?;
    let counts = PyDict::new(py);
    counts.set_item("result_rows", report.counts.result_rows)?;
    counts.set_item("no_result", report.counts.no_result)?;
    counts.set_item("unmatched", report.counts.unmatched)?;
    counts.set_item("matched", report.counts.matched)?;
    let written = written.iter().map(|p| p.display().to_string()).collect();
    Ok((counts, written))
}
