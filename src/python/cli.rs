//! The `astronn` command of the Python package (`astronn._cli`): the binary's command line,
//! run in the interpreter's process.

use crate::cli::Invocation;
use pyo3::prelude::*;
use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Runs the command line `args` (the program's name first) as the `astronn` binary does,
/// with `executable` as the program that cluster scripts call back; returns the exit status
/// (101 after an internal failure, as a panicking binary exits).
#[pyfunction]
pub fn run_cli(py: Python<'_>, args: Vec<OsString>, executable: PathBuf) -> u8 {
    py.allow_threads(|| {
        catch_unwind(AssertUnwindSafe(|| {
            crate::cli::main(Invocation { args, executable })
        }))
        .unwrap_or(101)
    })
}
