//! The command-line interface: arguments, commands and progress display. The `astronn`
//! binary and the Python package's `astronn` command (`astronn._cli`) both run [`main`].
//!
//! [`main`] parses the arguments ([`args`]) and hands each subcommand to its module, one
//! module per subcommand (`normalize`, `predict` and `dist` share [`predict`]). The
//! subcommands share what they need from the modules below them ([`inputs`], [`models`],
//! [`plural`], [`progress`]) and never call back up here.

pub mod args;
pub mod bench;
pub mod calibrate;
pub mod convert;
pub mod info;
pub mod inputs;
pub mod jacobian;
pub mod merge;
pub mod models;
pub mod plural;
pub mod predict;
pub mod progress;
pub mod report;
pub mod simulate;
pub mod slurm;
pub mod train;

use anyhow::{bail, Context, Result};
use args::{Cli, Command};
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
/// (printed as `error: …`) or a usage error (clap's message), 0 for `--help`/`--version`,
/// and 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM) for a run stopped by a
/// signal, after it removed its temporary files.
pub fn main(invocation: Invocation) -> u8 {
    let _scope = crate::cancel::Scope::enter();
    #[cfg(unix)]
    let _handlers = crate::cancel::SignalHandlers::install();
    let status = match Cli::try_parse_from(&invocation.args) {
        Ok(cli) => match run(cli, &invocation) {
            Ok(()) => 0,
            Err(_) if crate::cancel::requested() => {
                let signal = crate::cancel::signal().unwrap_or(2);
                eprintln!("astronn: stopped by signal {signal}; no unfinished output was left");
                (128 + signal).clamp(0, 255) as u8
            }
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

/// Runs a parsed command line: sizes the thread pool and calls the subcommand's module.
fn run(cli: Cli, invocation: &Invocation) -> Result<()> {
    configure_threads(cli.threads)?;
    let (quiet, overwrite) = (cli.quiet, cli.overwrite);
    let line = invocation.command_line();
    match cli.command {
        Command::Normalize(args) => predict::normalize(args, &line, quiet, overwrite),
        Command::Predict(args) => predict::predict(args, &line, quiet, overwrite),
        Command::Dist(args) => predict::dist(args, &line, quiet, overwrite),
        Command::Train(args) => train::train(args, &line, quiet, overwrite),
        Command::Bench(args) => bench::bench(args),
        Command::Calibrate(args) => calibrate::calibrate(args, quiet, overwrite),
        Command::Report(args) => report::report(args, quiet, overwrite),
        Command::Convert(args) => convert::convert(args, overwrite),
        Command::Merge(args) => merge::merge(args, quiet, overwrite),
        Command::Slurm(args) => slurm::slurm(args, &invocation.executable, quiet, overwrite),
        Command::Jacobian(args) => jacobian::jacobian(args, &line, quiet, overwrite),
        Command::Info(args) => info::info(args),
        Command::Simulate(args) => simulate::simulate(args, &line, quiet, overwrite),
    }
}

/// Sizes the thread pool: `--threads`, else `RAYON_NUM_THREADS`, else every core.
fn configure_threads(requested: Option<usize>) -> Result<()> {
    if requested == Some(0) {
        bail!("--threads must be at least 1");
    }
    let threads = crate::runtime::thread_count(requested);
    crate::runtime::set_thread_count(threads);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("cannot configure the thread pool")
}
