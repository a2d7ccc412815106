//! `astronn report`: the flags as a [`ReportSpec`], and a line saying what was written (the
//! run is [`crate::report::run`]).

use crate::cli::args::ReportArgs;
use crate::report::run::{report as run_report, ReportSpec};
use anyhow::Result;

/// Runs `astronn report`.
pub fn report(args: ReportArgs, quiet: bool, overwrite: bool) -> Result<()> {
    let (report, written) = run_report(&ReportSpec {
        result: args.result,
        truth: args.truth,
        result_id_column: args.reference.result_id_column,
        truth_id_column: args.reference.id_column,
        snr_min: args.snr_min,
        model: args.model,
        output_dir: args.output,
        overwrite,
    })?;
    if !quiet {
        let c = report.counts;
        eprintln!(
            "report: {} rows matched ({} NO_RESULT, {} without a reference star), {} labels{} \
             -> {}",
            c.matched,
            c.no_result,
            c.unmatched,
            report.labels.len() / 2,
            if report.fractional.is_empty() {
                ""
            } else {
                ", distances"
            },
            written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
