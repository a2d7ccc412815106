//! `Model`: a loaded model predicting spectra held in numpy arrays.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::bench::network_throughput;
use crate::io::fields::Fields;
use crate::io::model_file::ModelKind;
use crate::models::{resolve_noise_model, save_converted, ModelSpec};
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::{Arithmetic, Precision};
use crate::pipeline::jacobian::{jacobians_of_arrays, JacobianNetwork};
use crate::pipeline::predictor::{ApStarPixels, ArrayRows, Network, Predictions, Predictor};
use crate::pipeline::run::predict_options;
use crate::python::arrays::{columns_dict, contiguous, contiguous1};
use crate::python::calls::{run_released, to_py_err};
use numpy::ndarray::Array3;
use numpy::{IntoPyArray, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model with its network built, ready to predict.
#[pyclass(module = "astronn._astronn", frozen)]
pub struct Model {
    predictor: Predictor,
    default: bool,
    precision_notice: Option<String>,
}

/// The name of a kind in Python: `"astronn"`, `"dist"` or `"generic"`.
pub fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::AstroNN => "astronn",
        ModelKind::AstroNNDist => "dist",
        ModelKind::Generic => "generic",
    }
}

/// The kind a Python caller names: `"astronn"`, `"dist"` (also `"astronn_dist"`) or
/// `"generic"` (another astroNN network).
pub fn parse_kind(kind: &str) -> PyResult<ModelKind> {
    match kind {
        "astronn" => Ok(ModelKind::AstroNN),
        "dist" | "astronn_dist" => Ok(ModelKind::AstroNNDist),
        "generic" | "astronn_generic" => Ok(ModelKind::Generic),
        other => Err(PyValueError::new_err(format!(
            "kind must be \"astronn\", \"dist\" or \"generic\", not {other:?}"
        ))),
    }
}

/// The arithmetic `precision` (`"f32"`, `"bf16"`, `"bf16-emulated"`) runs on this CPU, with
/// the notice to warn with where it is not the one asked for; an unknown name is a
/// ValueError.
pub fn parse_precision(precision: &str) -> PyResult<(Arithmetic, Option<String>)> {
    let precision: Precision = precision.parse().map_err(PyValueError::new_err)?;
    Ok(Arithmetic::for_this_cpu(precision))
}

/// Loads a model: the embedded default of `kind` when `path` is None (or "default",
/// "default-dist"), else an Astra `.pt` checkpoint or our `.safetensors` file. With `kind`
/// None, whatever kind the file holds (AstroNN's default model without a path). Its network
/// runs `precision`.
#[pyfunction]
#[pyo3(signature = (path=None, kind=Some("astronn"), precision="f32"))]
pub fn load_model(
    py: Python<'_>,
    path: Option<PathBuf>,
    kind: Option<&str>,
    precision: &str,
) -> PyResult<Model> {
    let kind = kind.map(parse_kind).transpose()?;
    let (arithmetic, precision_notice) = parse_precision(precision)?;
    let spec = ModelSpec::from_arg(path.as_deref());
    run_released(py, None, move || {
        let predictor = Predictor::load(&spec, kind, None, arithmetic)?;
        let default = predictor.is_default(&spec);
        Ok(Model {
            predictor,
            default,
            precision_notice,
        })
    })
}

/// Per-row photometry for a distance model (`k_mag`, `ebv`), as the rows' fields.
fn photometry(
    k_mag: Option<PyReadonlyArray1<'_, f64>>,
    ebv: Option<PyReadonlyArray1<'_, f64>>,
    rows: usize,
) -> PyResult<Option<Vec<Fields>>> {
    if k_mag.is_none() && ebv.is_none() {
        return Ok(None);
    }
    let mut fields = vec![Fields::new(); rows];
    for (name, values) in [("k_mag", k_mag), ("ebv", ebv)] {
        let Some(values) = values else { continue };
        let values = contiguous1(&values, name)?;
        if values.len() != rows {
            return Err(PyValueError::new_err(format!(
                "{name} has {} values for {rows} spectra",
                values.len()
            )));
        }
        for (f, &v) in fields.iter_mut().zip(values) {
            f.set_f64(name, v);
        }
    }
    Ok(Some(fields))
}

impl Model {
    /// The predictor of a call: this model's, or the same network with the noise model at
    /// `noise_model`.
    fn with_noise(&self, noise_model: Option<&Path>) -> crate::Result<Option<Predictor>> {
        noise_model
            .map(|path| {
                let (noise, name) = resolve_noise_model(Some(path), self.default)?;
                self.predictor.with_noise_model(noise, name)
            })
            .transpose()
    }

    /// Runs `work` on this model (or on it with another noise model) without the GIL and
    /// returns the columns and warnings.
    #[allow(clippy::too_many_arguments)]
    fn predict_with<'py>(
        &self,
        py: Python<'py>,
        noise_model: Option<PathBuf>,
        threads: Option<usize>,
        work: impl FnOnce(&Predictor) -> crate::Result<Predictions> + Send,
    ) -> PyResult<(Bound<'py, PyDict>, Vec<String>)> {
        let predictions = run_released(py, threads, || {
            let other = self.with_noise(noise_model.as_deref())?;
            work(other.as_ref().unwrap_or(&self.predictor))
        })?;
        Ok((columns_dict(py, predictions.columns)?, predictions.warnings))
    }
}

#[pymethods]
impl Model {
    /// The labels the network predicts (`["L_fakemag"]` for a distance model).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.predictor.labels()
    }

    /// The columns `predict` returns, in table order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.predictor.column_names()
    }

    /// `"astronn"`, `"dist"` or `"generic"`.
    #[getter]
    fn kind(&self) -> &'static str {
        kind_name(self.predictor.model().kind)
    }

    /// Whether the network has MC dropout and errors (an astroNN `ApogeeCNN` has neither).
    #[getter]
    fn is_bayesian(&self) -> bool {
        self.predictor.is_bayesian()
    }

    /// The model's free-form metadata (provenance, description; empty for `.pt` files).
    #[getter]
    fn metadata(&self) -> BTreeMap<String, String> {
        self.predictor.model().metadata.clone()
    }

    /// Where the model was read from (`default:…` for an embedded model).
    #[getter]
    fn path(&self) -> String {
        self.predictor.model().path.display().to_string()
    }

    /// SHA-256 of the model file.
    #[getter]
    fn sha256(&self) -> String {
        self.predictor.model().sha256.clone()
    }

    /// Whether this is an embedded default model (trained on simulated spectra).
    #[getter]
    fn is_default(&self) -> bool {
        self.default
    }

    /// The arithmetic of the network's `dense_1`: "float32", "bfloat16" or
    /// "bfloat16 (emulated)" (the output header's `PRECISN`).
    #[getter]
    fn precision(&self) -> &'static str {
        self.predictor.arithmetic().header_value()
    }

    /// Why the network does not run the precision asked for (bf16 on a CPU without
    /// AVX512-BF16), or None.
    #[getter]
    fn precision_notice(&self) -> Option<String> {
        self.precision_notice.clone()
    }

    /// The noise model `predict` applies without `noise_model` ("none" when none).
    #[getter]
    fn noise_model(&self) -> String {
        self.predictor.noise_model_name().to_string()
    }

    /// Writes the model as a `.safetensors` model file with its provenance, as `astronn
    /// convert` does (an existing file is a `FileExistsError` unless `overwrite`).
    #[pyo3(signature = (path, *, description=None, overwrite=false))]
    fn save(
        &self,
        py: Python<'_>,
        path: PathBuf,
        description: Option<String>,
        overwrite: bool,
    ) -> PyResult<()> {
        let model = self.predictor.model();
        py.allow_threads(|| save_converted(model, &path, description, overwrite))
            .map_err(to_py_err)
    }

    /// Predicts normalized spectra (C-contiguous float64, rows × 7514): `(columns, warnings)`.
    /// `origins`, `(file, row)` per row, key the dropout streams as a file run does.
    #[pyo3(signature = (flux, *, mc, seed, strict=false, noise_model=None, threads=None, k_mag=None, ebv=None, origins=None))]
    #[allow(clippy::too_many_arguments)]
    fn predict_normalized<'py>(
        &self,
        py: Python<'py>,
        flux: PyReadonlyArray2<'py, f64>,
        mc: usize,
        seed: Option<u64>,
        strict: bool,
        noise_model: Option<PathBuf>,
        threads: Option<usize>,
        k_mag: Option<PyReadonlyArray1<'py, f64>>,
        ebv: Option<PyReadonlyArray1<'py, f64>>,
        origins: Option<Vec<(String, i64)>>,
    ) -> PyResult<(Bound<'py, PyDict>, Vec<String>)> {
        let options = predict_options(mc, seed, strict).map_err(to_py_err)?;
        let flux = contiguous(&flux, "flux")?;
        let fields = photometry(k_mag, ebv, flux.len() / crate::apogee::grid::NETWORK_PIXELS)?;
        let rows_info = ArrayRows { fields, origins };
        self.predict_with(py, noise_model, threads, |p| {
            p.predict_normalized(flux, &rows_info, &options)
        })
    }

    /// Predicts raw apStar spectra (C-contiguous float64 flux and e_flux, uint64 bitmask,
    /// rows × 8575), normalizing each as `normalize` does: `(columns, warnings)`.
    #[pyo3(signature = (flux, e_flux, bitmask, *, mc, seed, strict=false, noise_model=None, threads=None, k_mag=None, ebv=None, origins=None))]
    #[allow(clippy::too_many_arguments)]
    fn predict_apstar<'py>(
        &self,
        py: Python<'py>,
        flux: PyReadonlyArray2<'py, f64>,
        e_flux: PyReadonlyArray2<'py, f64>,
        bitmask: PyReadonlyArray2<'py, u64>,
        mc: usize,
        seed: Option<u64>,
        strict: bool,
        noise_model: Option<PathBuf>,
        threads: Option<usize>,
        k_mag: Option<PyReadonlyArray1<'py, f64>>,
        ebv: Option<PyReadonlyArray1<'py, f64>>,
        origins: Option<Vec<(String, i64)>>,
    ) -> PyResult<(Bound<'py, PyDict>, Vec<String>)> {
        let options = predict_options(mc, seed, strict).map_err(to_py_err)?;
        let pixels = ApStarPixels {
            flux: contiguous(&flux, "flux")?,
            e_flux: contiguous(&e_flux, "e_flux")?,
            bitmask: contiguous(&bitmask, "bitmask")?,
        };
        let rows = pixels.flux.len() / crate::apogee::grid::APSTAR_PIXELS;
        let fields = photometry(k_mag, ebv, rows)?;
        let rows_info = ArrayRows { fields, origins };
        self.predict_with(py, noise_model, threads, |p| {
            p.predict_apstar(&pixels, &rows_info, &options)
        })
    }

    /// Jacobians d label / d pixel of normalized spectra (C-contiguous float64, rows ×
    /// 7514): float32 arrays (rows, labels, 7514), the log-variance's when asked for, and a
    /// warning for each row that cannot be differentiated (NaN). `origins` as in `predict_*`.
    #[pyo3(signature = (flux, *, mc=0, seed=None, log_variance=false, threads=None, origins=None))]
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn jacobian<'py>(
        &self,
        py: Python<'py>,
        flux: PyReadonlyArray2<'py, f64>,
        mc: usize,
        seed: Option<u64>,
        log_variance: bool,
        threads: Option<usize>,
        origins: Option<Vec<(String, i64)>>,
    ) -> PyResult<(
        Bound<'py, PyArray3<f32>>,
        Option<Bound<'py, PyArray3<f32>>>,
        Vec<String>,
    )> {
        let options = predict_options(mc, seed, false).map_err(to_py_err)?;
        let flux = contiguous(&flux, "flux")?;
        let rows_info = ArrayRows {
            fields: None,
            origins,
        };
        let model = self.predictor.model();
        let (jacobians, labels) = run_released(py, threads, || {
            let net = JacobianNetwork::from_model(model)?;
            let jacobians = jacobians_of_arrays(
                &net,
                flux,
                &rows_info,
                options.mc,
                options.seed,
                log_variance,
            )?;
            Ok((jacobians, net.labels().len()))
        })?;
        let spectra = flux.len() / NETWORK_PIXELS;
        let cube = |values: Vec<f32>| {
            Array3::from_shape_vec((spectra, labels, NETWORK_PIXELS), values)
                .map(|a| a.into_pyarray(py))
                .map_err(|e| PyValueError::new_err(e.to_string()))
        };
        Ok((
            cube(jacobians.labels)?,
            jacobians.log_variance.map(cube).transpose()?,
            jacobians.warnings,
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "<astronn Model {} ({} labels)>",
            self.predictor.model().identity(),
            self.predictor.labels().len()
        )
    }
}

/// `astronn bench`'s "network alone" measurement on `model`: `count` normalized spectra
/// (cycled from `flux`, rows × 7514) with `mc` samples over the thread pool. Returns
/// `(spectra, seconds)`.
#[pyfunction]
#[pyo3(signature = (model, flux, count, mc=100, threads=None))]
pub fn bench_network(
    py: Python<'_>,
    model: &Model,
    flux: PyReadonlyArray2<'_, f64>,
    count: usize,
    mc: usize,
    threads: Option<usize>,
) -> PyResult<(usize, f64)> {
    let spectra: Vec<Vec<f64>> = contiguous(&flux, "flux")?
        .chunks_exact(crate::apogee::grid::NETWORK_PIXELS)
        .map(<[f64]>::to_vec)
        .collect();
    let m = run_released(py, threads, || {
        let net: &dyn BayesianNetwork = match model.predictor.network() {
            Network::Labels(p) => p.network(),
            Network::Dist(p) => p.network(),
        };
        network_throughput("network alone", net, &spectra, count, mc, 0.0)
    })?;
    Ok((m.spectra, m.seconds))
}
