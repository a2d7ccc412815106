//! `astronn simulate`: the flags as a [`SimulationSpec`], the stars as a progress bar (the run
//! is [`crate::sim::run`]).

use crate::cli::args::SimulateArgs;
use crate::cli::progress::Progress;
use crate::sim::run::{SimulationRun, SimulationSpec};
use crate::sim::survey;
use anyhow::{Context, Result};

/// Runs `astronn simulate`.
pub fn simulate(
    args: SimulateArgs,
    command_line: &str,
    quiet: bool,
    overwrite: bool,
) -> Result<()> {
    let spec = SimulationSpec {
        n: args.n,
        seed: args.seed,
        output: args.output,
        labels: args.labels,
        noise_free: args.noise_free,
        normalized_only: args.normalized_only,
        restrict: args.restrict,
        command_line: command_line.to_string(),
        overwrite,
    };
    let run = SimulationRun::prepare(&spec)?;
    let progress = Progress::new(run.len(), "stars", quiet);
    let n = run
        .execute(&progress)
        .with_context(|| format!("cannot simulate into {}", spec.output.display()))?;
    progress.finish();
    if !quiet {
        eprintln!(
            "simulated {n} stars in {:.1} s into {} (truth: {}, catalog: {})",
            progress.elapsed(),
            spec.output.display(),
            survey::TRUTH_FILE,
            survey::LABELS_FILE
        );
    }
    Ok(())
}
