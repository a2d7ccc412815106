//! Simulated surveys from Python: keyword arguments as a [`SimulationSpec`]
//! ([`crate::sim::run`] does the work, as for `astronn simulate`).

use crate::pipeline::predict::Observer;
use crate::python::calls::run_released;
use crate::sim::run::{SimulationRun, SimulationSpec};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Mutex;

/// Simulates a survey into `output` as `astronn simulate` does; returns `(stars, warnings)`.
/// `progress`, when given, is called as `progress(stars_done, stars_total)`.
#[pyfunction]
#[pyo3(signature = (output, *, n=None, seed=1, labels=None, noise_free=false, normalized_only=false, restrict=Vec::new(), progress=None, command_line=String::new(), overwrite=false))]
#[allow(clippy::too_many_arguments)]
pub fn simulate(
    py: Python<'_>,
    output: PathBuf,
    n: Option<usize>,
    seed: u64,
    labels: Option<PathBuf>,
    noise_free: bool,
    normalized_only: bool,
    restrict: Vec<String>,
    progress: Option<PyObject>,
    command_line: String,
    overwrite: bool,
) -> PyResult<(usize, Vec<String>)> {
    let spec = SimulationSpec {
        n,
        seed,
        output,
        labels,
        noise_free,
        normalized_only,
        restrict,
        command_line,
        overwrite,
    };
    let mut stars = Stars {
        progress,
        total: 0,
        warnings: Mutex::new(Vec::new()),
    };
    let n = run_released(py, None, || {
        let run = SimulationRun::prepare(&spec)?;
        stars.total = run.len();
        run.execute(&stars)
    })?;
    Ok((n, stars.warnings.into_inner().unwrap_or_default()))
}

/// Collects a simulation's warnings and passes its progress to an optional Python callable.
struct Stars {
    progress: Option<PyObject>,
    total: usize,
    warnings: Mutex<Vec<String>>,
}

impl Observer for Stars {
    fn warn(&self, message: &str) {
        if let Ok(mut warnings) = self.warnings.lock() {
            warnings.push(message.to_string());
        }
    }

    fn advance(&self, units: usize, _spectra: usize) {
        if let Some(callback) = &self.progress {
            // A failing progress callback must not stop the run.
            Python::with_gil(|py| drop(callback.call1(py, (units, self.total))));
        }
    }
}
