//! The command-line interface: arguments, commands and progress display. The `astronn`
//! binary and the Python package's `astronn` command (`astronn._cli`) both run [`main`].

pub mod args;
pub mod bench;
pub mod commands;
pub mod jacobian;
pub mod progress;
pub mod simulate;
pub mod slurm;
pub mod train;

use clap::Parser;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// How the command line was started: the words typed, and the program that runs them again
/// (the scripts `slurm` submits name it). The binary takes both from its process; the Python
/// command passes `sys.argv` and its own script, since its process is the interpreter.
pub struct Invocation {
    /// The arguments, the program's name first.
    pub args: Vec<OsString>,
    /// The `astronn` executable.
    pub executable: PathBuf,
}

impl Invocation {
    /// This process's arguments and executable.
    pub fn from_process() -> std::io::Result<Self> {
        Ok(Self {
            args: std::env::args_os().collect(),
            executable: std::env::current_exe()?,
        })
    }

    /// The command line as typed, for output headers.
    pub fn command_line(&self) -> String {
        self.args
            .iter()
            .map(|arg| arg.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses and runs a command line; returns the process's exit status: 0, 2 for an error
/// (printed as `error: …`) or a usage error (clap's message), 0 for `--help`/`--version`.
pub fn main(invocation: Invocation) -> u8 {
    let status = match args::Cli::try_parse_from(&invocation.args) {
        Ok(cli) => match commands::run(cli, &invocation) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("error: {error:#}");
                2
            }
        },
        Err(error) => {
            let _ = error.print();
            error.exit_code().clamp(0, 255) as u8
        }
    };
    let _ = std::io::stdout().flush();
    status
}

/// `n` and the noun in the right number: "1 spectrum", "6 spectra".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
