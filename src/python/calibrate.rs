//! Calibrating a noise model from Python: keyword arguments as a [`CalibrationSpec`], the fits
//! as a dict of columns ([`crate::pipeline::calibration_run`] does the work, as for `astronn
//! calibrate`).

use crate::pipeline::calibration_run::{calibrate as run_calibration, CalibrationSpec};
use crate::python::calls::run_released;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Fits a noise model as `astronn calibrate` does and writes it to `output`; returns
/// `(fits, warnings)`, the fits as a dict of columns (`label`, `samples`, `scale`, `offset`,
/// `width_before`, `width_after`) plus `unit` ("pairs" or "stars").
#[pyfunction]
#[pyo3(signature = (inputs, output, *, truth=None, id_column=String::from("sdss4_apogee_id"), result_id_column=String::from("sdss4_apogee_id"), labels=Vec::new(), overwrite=false))]
#[allow(clippy::too_many_arguments)]
pub fn calibrate<'py>(
    py: Python<'py>,
    inputs: Vec<PathBuf>,
    output: PathBuf,
    truth: Option<PathBuf>,
    id_column: String,
    result_id_column: String,
    labels: Vec<String>,
    overwrite: bool,
) -> PyResult<(Bound<'py, PyDict>, Vec<String>)> {
    let spec = CalibrationSpec {
        inputs,
        truth,
        truth_id_column: id_column,
        result_id_column,
        labels,
        output,
        overwrite,
    };
    let report = run_released(py, None, || run_calibration(&spec))?;
    let fits = &report.fits;
    let out = PyDict::new(py);
    out.set_item(
        "label",
        fits.iter().map(|f| f.label.clone()).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "samples",
        fits.iter().map(|f| f.samples).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "scale",
        fits.iter().map(|f| f.correction.scale).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "offset",
        fits.iter().map(|f| f.correction.offset).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "width_before",
        fits.iter().map(|f| f.width_before).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "width_after",
        fits.iter().map(|f| f.width_after).collect::<Vec<_>>(),
    )?;
    out.set_item("unit", report.unit)?;
    Ok((out, report.warnings))
}
