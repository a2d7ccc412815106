//! Files from Python: apStar files read into arrays, result tables read back, and whole runs
//! over apStar files ([`crate::pipeline::run::Run`]).

use crate::apogee::grid::APSTAR_PIXELS;
use crate::io::fields::{Fields, Value};
use crate::io::photometry::PhotometryColumns;
use crate::models::ModelSpec;
use crate::pipeline::predict::Observer;
use crate::pipeline::run::{
    AstroNNOutputs, CatalogSpec, DistOutputs, ExtraOutputs, Run, RunInputs, RunSpec,
};
use crate::pipeline::shard::Shard;
use crate::python::arrays::{columns_dict, matrix};
use crate::python::calls::run_released;
use crate::python::model::kind_name;
use numpy::ndarray::Array2;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A field's value as a Python object.
fn value_object<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Float(v) => v.into_pyobject(py)?.into_any(),
        Value::Int(v) => v.into_pyobject(py)?.into_any(),
        Value::Bool(v) => v.into_pyobject(py)?.to_owned().into_any(),
        Value::Text(v) => v.into_pyobject(py)?.into_any(),
        Value::Bytes(v) => pyo3::types::PyBytes::new(py, v).into_any(),
    })
}

/// Fields as a dict.
fn fields_dict<'py>(py: Python<'py>, fields: &Fields) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in fields.iter() {
        dict.set_item(name, value_object(py, value)?)?;
    }
    Ok(dict)
}

/// Reads an apStar file (DR17 or DR19, `.fits` or `.fits.gz`): its coadd and, with
/// `visits`, every visit, as row-major arrays and header fields.
#[pyfunction]
#[pyo3(signature = (path, visits=true))]
pub fn read_apstar<'py>(
    py: Python<'py>,
    path: PathBuf,
    visits: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let apstar = run_released(py, None, || crate::io::apstar::read_apstar(&path, visits))?;
    let rows = apstar.spectra.len();
    let mut flux = Vec::with_capacity(rows * APSTAR_PIXELS);
    let mut e_flux = Vec::with_capacity(rows * APSTAR_PIXELS);
    let mut bitmask = Vec::with_capacity(rows * APSTAR_PIXELS);
    let mut failures = Vec::new();
    for (i, slot) in apstar.spectra.iter().enumerate() {
        match &slot.pixels {
            Ok(p) => {
                flux.extend(&p.flux);
                e_flux.extend(&p.e_flux);
                bitmask.extend(&p.bitmask);
            }
            Err(reason) => {
                flux.extend([f64::NAN; APSTAR_PIXELS]);
                e_flux.extend([f64::NAN; APSTAR_PIXELS]);
                bitmask.extend([0u64; APSTAR_PIXELS]);
                failures.push((i, reason.clone()));
            }
        }
    }
    let out = PyDict::new(py);
    out.set_item("path", apstar.path.display().to_string())?;
    out.set_item("flux", matrix(py, flux, APSTAR_PIXELS)?)?;
    out.set_item("e_flux", matrix(py, e_flux, APSTAR_PIXELS)?)?;
    let bitmask = Array2::from_shape_vec((rows, APSTAR_PIXELS), bitmask)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    out.set_item("bitmask", bitmask.into_pyarray(py))?;
    let slots = &apstar.spectra;
    out.set_item("row", slots.iter().map(|s| s.row).collect::<Vec<_>>())?;
    out.set_item(
        "kind",
        slots.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "visit",
        slots
            .iter()
            .map(|s| s.visit.unwrap_or(0))
            .collect::<Vec<_>>(),
    )?;
    out.set_item(
        "visit_file",
        slots
            .iter()
            .map(|s| s.visit_file.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
    )?;
    out.set_item("header", fields_dict(py, &apstar.identity.fields)?)?;
    let visit_headers = apstar
        .identity
        .visit_fields
        .iter()
        .map(|f| fields_dict(py, f))
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("visit_headers", visit_headers)?;
    out.set_item("failures", failures)?;
    Ok(out)
}

/// The scalar columns of the table HDU `hdu` of a FITS file, as a dict of arrays.
#[pyfunction]
#[pyo3(signature = (path, hdu="APOGEE"))]
pub fn read_table<'py>(py: Python<'py>, path: PathBuf, hdu: &str) -> PyResult<Bound<'py, PyDict>> {
    let table = run_released(py, None, || crate::io::table::read_table(&path, hdu))?;
    columns_dict(py, table.columns)
}

/// Collects a run's warnings and reports progress to an optional Python callable, called
/// as `progress(units, spectra, total_units)` after each chunk (units: files, or spectra of a
/// normalized input).
struct Collector {
    warnings: Mutex<Vec<String>>,
    progress: Option<PyObject>,
    total: AtomicUsize,
}

impl Observer for Collector {
    fn warn(&self, message: &str) {
        if let Ok(mut warnings) = self.warnings.lock() {
            warnings.push(message.to_string());
        }
    }

    fn advance(&self, units: usize, spectra: usize) {
        if let Some(callback) = &self.progress {
            // A failing progress callback must not stop the run.
            let total = self.total.load(Ordering::Relaxed);
            Python::with_gil(|py| drop(callback.call1(py, (units, spectra, total))));
        }
    }
}

/// Runs a prediction over files, writing the DR19 tables named in `outputs` (keys
/// `coadds`, `visits`, `distances`; an existing one is refused unless `overwrite`) and the
/// table of each `(model, output)` of `extra` (further networks on the same read of each
/// coadd).
/// Returns `(summary, warnings)`.
#[pyfunction]
#[pyo3(signature = (inputs, outputs, *, model=None, dist_model=None, extra=Vec::new(), normalized=None, shard=None, mc=100, seed=None, strict=false, precision="f32", noise_model=None, sources=None, sources_id_column=None, gaia=None, gaia_id_column=None, photometry=None, photometry_columns=None, threads=None, progress=None, command_line=String::new(), overwrite=false))]
#[allow(clippy::too_many_arguments)]
pub fn predict_files<'py>(
    py: Python<'py>,
    inputs: Vec<String>,
    outputs: std::collections::HashMap<String, PathBuf>,
    model: Option<PathBuf>,
    dist_model: Option<PathBuf>,
    extra: Vec<(PathBuf, PathBuf)>,
    normalized: Option<PathBuf>,
    shard: Option<String>,
    mc: usize,
    seed: Option<u64>,
    strict: bool,
    precision: &str,
    noise_model: Option<PathBuf>,
    sources: Option<PathBuf>,
    sources_id_column: Option<String>,
    gaia: Option<PathBuf>,
    gaia_id_column: Option<String>,
    photometry: Option<PathBuf>,
    photometry_columns: Option<(String, String, String)>,
    threads: Option<usize>,
    progress: Option<PyObject>,
    command_line: String,
    overwrite: bool,
) -> PyResult<(Bound<'py, PyDict>, Vec<String>)> {
    let output = |key: &str| outputs.get(key).cloned();
    let (arithmetic, precision_notice) = crate::python::model::parse_precision(precision)?;
    let mut catalogs = CatalogSpec {
        sources,
        gaia,
        photometry,
        ..CatalogSpec::default()
    };
    if let Some(column) = sources_id_column {
        catalogs.sources_id_column = column;
    }
    if let Some(column) = gaia_id_column {
        catalogs.gaia_id_column = column;
    }
    if let Some((id, k_mag, ebv)) = photometry_columns {
        catalogs.photometry_columns = PhotometryColumns { id, k_mag, ebv };
    }
    let shard = shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(crate::python::calls::to_py_err)?;
    let spec = RunSpec {
        inputs: match normalized {
            Some(path) => RunInputs::Normalized(path),
            None => RunInputs::ApStar { inputs, shard },
        },
        astronn: output("coadds").map(|path| AstroNNOutputs {
            model: ModelSpec::from_arg(model.as_deref()),
            output: path,
            visits_output: output("visits"),
        }),
        dist: output("distances").map(|path| DistOutputs {
            model: ModelSpec::from_arg(dist_model.as_deref()),
            output: path,
        }),
        extra: extra
            .into_iter()
            .map(|(model, output)| ExtraOutputs {
                model: ModelSpec::from_arg(Some(&model)),
                output,
            })
            .collect(),
        noise_model,
        catalogs,
        mc,
        seed,
        strict,
        arithmetic,
        command_line,
        overwrite,
    };
    let collector = Collector {
        warnings: Mutex::new(Vec::new()),
        progress,
        total: AtomicUsize::new(0),
    };
    let report = run_released(py, threads, || {
        let run = Run::prepare(spec)?;
        let seed = run.options().seed;
        let total = run.total_units();
        let default_models: Vec<&str> = run
            .default_models()
            .iter()
            .map(|&kind| kind_name(kind))
            .collect();
        collector.total.store(total, Ordering::Relaxed);
        run.execute(&collector)
            .map(|r| (r, seed, total, default_models))
    })?;
    let (report, seed, total, default_models) = report;
    let mut warnings: Vec<String> = precision_notice.into_iter().collect();
    warnings.extend(collector.warnings.into_inner().unwrap_or_default());
    warnings.extend(report.table_notes);
    if let Some(catalog) = &report.sources_catalog {
        warnings.push(format!(
            "{} stars not in {}: they keep the apStar header's values",
            report.summary.missing_sources,
            catalog.display()
        ));
    }
    if report.summary.skipped_visits > 0 {
        warnings.push(format!(
            "{} visit spectra in the normalized input were not predicted: ask for visits to \
             predict them",
            report.summary.skipped_visits
        ));
    }
    let summary = PyDict::new(py);
    summary.set_item("spectra", report.summary.spectra)?;
    summary.set_item("no_result", report.summary.no_result)?;
    summary.set_item("seconds", report.seconds)?;
    summary.set_item("seed", seed)?;
    summary.set_item("units", total)?;
    summary.set_item("default_models", default_models)?;
    summary.set_item(
        "outputs",
        report
            .outputs
            .iter()
            .map(|p: &PathBuf| p.display().to_string())
            .collect::<Vec<_>>(),
    )?;
    Ok((summary, warnings))
}
