//! How a Python call runs library work: without the GIL, on the requested number of threads,
//! stopping on Ctrl-C, with every library error and panic turned into a Python exception.

use crate::Error;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyRuntimeError,
    PyValueError,
};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// The Python exception of a library error: a file that cannot be read or is not what it
/// should be is an `OSError` (`FileNotFoundError` when absent, `FileExistsError` for an
/// output that exists), an invalid value a `ValueError`, a failure inside a network a
/// `RuntimeError`, a stop on request `KeyboardInterrupt`.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::AlreadyExists => {
            PyFileExistsError::new_err(message)
        }
        Error::Io { .. } | Error::File { .. } => PyOSError::new_err(message),
        Error::Invalid(_) => PyValueError::new_err(message),
        Error::Tensor(_) => PyRuntimeError::new_err(message),
        Error::Cancelled => PyKeyboardInterrupt::new_err(message),
    }
}

/// Runs `work` with the GIL released, on a pool of `threads` threads (the process-wide pool,
/// every core, when `None`). A library error becomes the matching exception and a panic a
/// `RuntimeError`, so nothing aborts the interpreter.
///
/// The work runs on its own thread while this one, the caller's, looks at the interpreter's
/// signals every [`SIGNAL_POLL`]: Ctrl-C in the main thread raises `KeyboardInterrupt`
/// there, asks the work to stop ([`crate::cancel`]) and returns the exception once it has
/// (within a second: the work looks at the request between small units).
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
    let _scope = crate::cancel::Scope::enter();
    let (outcome, interrupt) = std::thread::scope(|scope| {
        let caller = std::thread::current();
        let worker = std::thread::Builder::new()
            .name("astronn".into())
            .stack_size(WORKER_STACK)
            .spawn_scoped(scope, move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| match &pool {
                    Some(pool) => pool.install(work),
                    None => work(),
                }));
                caller.unpark();
                outcome
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
        let mut interrupt = None;
        while !worker.is_finished() {
            py.allow_threads(|| std::thread::park_timeout(SIGNAL_POLL));
            if interrupt.is_none() {
                if let Err(error) = py.check_signals() {
                    crate::cancel::request(0);
                    interrupt = Some(error);
                }
            }
        }
        let outcome = py.allow_threads(|| worker.join());
        PyResult::Ok((outcome, interrupt))
    })?;
    if let Some(error) = interrupt {
        return Err(error);
    }
    match outcome {
        Ok(Ok(result)) => result.map_err(to_py_err),
        Ok(Err(panic)) | Err(panic) => {
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

/// How often a running call looks at the interpreter's signals.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The stack of the thread a call's work runs on: a main thread's (8 MiB), which the work
/// ran on before it had its own.
const WORKER_STACK: usize = 8 << 20;
