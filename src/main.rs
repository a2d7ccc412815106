//! The `astronn` command line: a thin binary over [`astronn::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    astronn::runtime::keep_large_blocks();
    astronn::runtime::park_idle_candle_workers();
    match astronn::cli::Invocation::from_process() {
        Ok(invocation) => ExitCode::from(astronn::cli::main(invocation)),
        Err(error) => {
            eprintln!("error: cannot locate the astronn executable: {error}");
            ExitCode::from(2)
        }
    }
}
