//! The `astronn` command line: flags, messages and orchestration; the work is in the library.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    astronn::runtime::keep_large_blocks();
    astronn::runtime::park_idle_candle_workers();
    let args = cli::args::Cli::parse();
    match cli::commands::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
