//! numpy arrays to and from the library: continuum normalization and astroNN's distance
//! conversions.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::columns::ColumnData;
use crate::pipeline::distance::{astronn_fakemag_to_parallax, astronn_fakemag_to_pc};
use crate::pipeline::predictor::{normalize_rows, ApStarPixels};
use crate::python::calls::run_released;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The values of a C-contiguous array, or a `ValueError` naming it.
pub fn contiguous<'a, T: numpy::Element>(
    array: &'a PyReadonlyArray2<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

/// A 1-D array's values, or a `ValueError` naming it.
pub fn contiguous1<'a, T: numpy::Element>(
    array: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous array")))
}

/// A (rows × columns) numpy array from row-major values.
pub fn matrix(
    py: Python<'_>,
    values: Vec<f64>,
    columns: usize,
) -> PyResult<Bound<'_, PyArray2<f64>>> {
    let rows = values.len() / columns.max(1);
    Array2::from_shape_vec((rows, columns), values)
        .map(|a| a.into_pyarray(py))
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Equally long rows as a 2-D array (as astropy gives array columns).
fn rows_array<T: numpy::Element + Clone>(
    py: Python<'_>,
    rows: Vec<Vec<T>>,
) -> PyResult<Bound<'_, PyArray2<T>>> {
    let width = rows.first().map_or(0, Vec::len);
    let values: Vec<T> = rows.iter().flatten().cloned().collect();
    Array2::from_shape_vec((rows.len(), width), values)
        .map(|a| a.into_pyarray(py))
        .map_err(|_| PyValueError::new_err("an array column's rows differ in length"))
}

/// A dict of arrays, one per column, in column order (array columns 2-D).
pub fn columns_dict<'py>(
    py: Python<'py>,
    columns: Vec<(String, ColumnData)>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, data) in columns {
        match data {
            ColumnData::F64(v) => dict.set_item(name, v.into_pyarray(py))?,
            ColumnData::F32(v) => dict.set_item(name, v.into_pyarray(py))?,
            ColumnData::I16(v) => dict.set_item(name, v.into_pyarray(py))?,
            ColumnData::I32(v) => dict.set_item(name, v.into_pyarray(py))?,
            ColumnData::I64(v) => dict.set_item(name, v.into_pyarray(py))?,
            ColumnData::Bool(v) => dict.set_item(name, v.into_pyarray(py))?,
            ColumnData::Str(v) => dict.set_item(name, v)?,
            ColumnData::ByteArray(v) => dict.set_item(name, rows_array(py, v)?)?,
            ColumnData::F32Array(v) => dict.set_item(name, rows_array(py, v)?)?,
        }
    }
    Ok(dict)
}

/// Continuum-normalizes raw apStar rows: `(norm_flux, norm_e_flux, failures)`, NaN rows
/// and `(row, reason)` for rows that cannot be normalized.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn normalize<'py>(
    py: Python<'py>,
    flux: PyReadonlyArray2<'py, f64>,
    e_flux: PyReadonlyArray2<'py, f64>,
    bitmask: PyReadonlyArray2<'py, u64>,
) -> PyResult<(
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Vec<(usize, String)>,
)> {
    let pixels = ApStarPixels {
        flux: contiguous(&flux, "flux")?,
        e_flux: contiguous(&e_flux, "e_flux")?,
        bitmask: contiguous(&bitmask, "bitmask")?,
    };
    let rows = run_released(py, None, || normalize_rows(&pixels))?;
    let (mut norm_flux, mut norm_e_flux, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for (row, result) in rows.into_iter().enumerate() {
        match result {
            Ok((f, e)) => {
                norm_flux.extend(f);
                norm_e_flux.extend(e);
            }
            Err(reason) => {
                norm_flux.extend([f64::NAN; NETWORK_PIXELS]);
                norm_e_flux.extend([f64::NAN; NETWORK_PIXELS]);
                failures.push((row, reason));
            }
        }
    }
    Ok((
        matrix(py, norm_flux, NETWORK_PIXELS)?,
        matrix(py, norm_e_flux, NETWORK_PIXELS)?,
        failures,
    ))
}

/// Values and their errors, as two 1-D arrays.
type ValuesAndErrors<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// Applies an element-wise astroNN distance conversion to equally long arrays.
fn convert<'py>(
    py: Python<'py>,
    fakemag: PyReadonlyArray1<'py, f64>,
    mag: PyReadonlyArray1<'py, f64>,
    fakemag_err: PyReadonlyArray1<'py, f64>,
    f: fn(f64, f64, f64) -> (f64, f64),
) -> PyResult<ValuesAndErrors<'py>> {
    let (l, m, e) = (
        contiguous1(&fakemag, "fakemag")?,
        contiguous1(&mag, "mag")?,
        contiguous1(&fakemag_err, "fakemag_err")?,
    );
    if m.len() != l.len() || e.len() != l.len() {
        return Err(PyValueError::new_err(
            "fakemag, mag and fakemag_err must have the same length",
        ));
    }
    let (values, errors): (Vec<f64>, Vec<f64>) = l
        .iter()
        .zip(m.iter().zip(e))
        .map(|(&l, (&m, &e))| f(l, m, e))
        .unzip();
    Ok((values.into_pyarray(py), errors.into_pyarray(py)))
}

/// astroNN's `fakemag_to_pc` element by element: `(pc, pc_err)`.
#[pyfunction]
pub fn fakemag_to_pc<'py>(
    py: Python<'py>,
    fakemag: PyReadonlyArray1<'py, f64>,
    mag: PyReadonlyArray1<'py, f64>,
    fakemag_err: PyReadonlyArray1<'py, f64>,
) -> PyResult<ValuesAndErrors<'py>> {
    convert(py, fakemag, mag, fakemag_err, astronn_fakemag_to_pc)
}

/// astroNN's `fakemag_to_parallax` element by element: `(parallax, parallax_err)` in mas.
#[pyfunction]
pub fn fakemag_to_parallax<'py>(
    py: Python<'py>,
    fakemag: PyReadonlyArray1<'py, f64>,
    mag: PyReadonlyArray1<'py, f64>,
    fakemag_err: PyReadonlyArray1<'py, f64>,
) -> PyResult<ValuesAndErrors<'py>> {
    convert(py, fakemag, mag, fakemag_err, astronn_fakemag_to_parallax)
}
