//! How a Python call runs library work: without the GIL, on the requested number of threads,
//! with every library error and panic turned into a Python exception.

use crate::Error;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The Python exception of a library error: a file that cannot be read or is not what it
/// should be is an `OSError` (`FileNotFoundError` when absent), an invalid value a
/// `ValueError`, a failure inside a network a `RuntimeError`.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        Error::Io { .. } | Error::File { .. } => PyOSError::new_err(message),
        Error::Invalid(_) => PyValueError::new_err(message),
        Error::Tensor(_) => PyRuntimeError::new_err(message),
    }
}

/// Runs `work` with the GIL released, on a pool of `threads` threads (the process-wide pool,
/// every core, when `None`). A library error becomes the matching exception and a panic a
/// `RuntimeError`, so nothing aborts the interpreter.
pub fn run_released<T, F>(py: Python<'_>, threads: Option<usize>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::Result<T> + Send,
{
    let pool = match threads {
        None => None,
        Some(0) => return Err(PyValueError::new_err("threads must be at least 1")),
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))?,
        ),
    };
    let outcome = py.allow_threads(|| {
        catch_unwind(AssertUnwindSafe(|| match &pool {
            Some(pool) => pool.install(work),
            None => work(),
        }))
    });
    match outcome {
        Ok(result) => result.map_err(to_py_err),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown cause");
            Err(PyRuntimeError::new_err(format!(
                "astronn failed internally ({what}); please report this with the call that \
                 caused it"
            )))
        }
    }
}
