//! What the tables mean, for Python: DR19's units and descriptions of each product's
//! columns, the names of the `result_flags` bits, the wavelength of every pixel, and what
//! the default models are.

use crate::apogee::grid::{delete_gaps, wavelength, APSTAR_PIXELS};
use crate::pipeline::flags::{FlagBit, ASTRONN_FLAG_BITS, DIST_FLAG_BITS};
use crate::products::Product;
use crate::python::model::parse_kind;
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The product a Python caller names: `"coadds"`, `"visits"` or `"distances"`.
fn product(name: &str) -> PyResult<Product> {
    match name {
        "coadds" => Ok(Product::AllStarAstroNN),
        "visits" => Ok(Product::AllVisitAstroNN),
        "distances" => Ok(Product::AllStarAstroNNdist),
        other => Err(PyValueError::new_err(format!(
            "product must be \"coadds\", \"visits\" or \"distances\", not {other:?}"
        ))),
    }
}

/// `(name, unit, description)` of each column of the product's `APOGEE` HDU, as DR19's
/// data model gives them (unit and description empty where it gives none).
#[pyfunction]
pub fn result_columns(name: &str) -> PyResult<Vec<(String, String, String)>> {
    Ok(product(name)?
        .apogee_columns()
        .iter()
        .map(|c| (c.name.into(), c.unit.into(), c.description.into()))
        .collect())
}

/// `(value, name, rule)` of each `result_flags` bit of the product.
#[pyfunction]
pub fn flag_bits(name: &str) -> PyResult<Vec<(u32, String, String)>> {
    let bits: &[FlagBit] = match product(name)? {
        Product::AllStarAstroNNdist => &DIST_FLAG_BITS,
        _ => &ASTRONN_FLAG_BITS,
    };
    Ok(bits
        .iter()
        .map(|b| (b.value, b.name.into(), b.rule.into()))
        .collect())
}

/// Vacuum wavelengths in Å of the 8575 apStar pixels, or with `network` of the 7514 the
/// network reads (the apStar grid without the chip gaps).
#[pyfunction]
#[pyo3(signature = (network=false))]
pub fn wavelengths(py: Python<'_>, network: bool) -> Bound<'_, PyArray1<f64>> {
    let apstar: Vec<f64> = (0..APSTAR_PIXELS).map(wavelength).collect();
    let values = if network {
        delete_gaps(&apstar)
    } else {
        apstar
    };
    values.into_pyarray(py)
}

/// What a run using the embedded default models of `kinds` (`"astronn"`, `"dist"`) says.
#[pyfunction]
pub fn default_model_notice(kinds: Vec<String>) -> PyResult<String> {
    let kinds = kinds
        .iter()
        .map(|k| parse_kind(k))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(crate::models::default_model_notice(&kinds))
}
