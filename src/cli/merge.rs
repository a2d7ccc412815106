//! `astronn merge`: the shards of a run joined into one table.

use crate::cli::args::MergeArgs;
use crate::cli::plural::count;
use crate::pipeline::merge::merge_shards;
use anyhow::Result;

/// Runs `astronn merge`.
pub fn merge(args: MergeArgs, quiet: bool, overwrite: bool) -> Result<()> {
    let summary = merge_shards(&args.shards, &args.output, overwrite)?;
    if !quiet {
        let spectra = summary
            .spectra
            .map(|n| format!(", {n} spectra in the run"))
            .unwrap_or_default();
        let no_result = summary
            .no_result
            .map(|n| format!(", {n} NO_RESULT"))
            .unwrap_or_default();
        eprintln!(
            "merge: {} -> {} ({}{spectra}{no_result})",
            count(summary.shards, "shard", "shards"),
            args.output.display(),
            count(summary.rows as usize, "row", "rows"),
        );
    }
    Ok(())
}
