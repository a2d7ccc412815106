//! `astronn report`: results against a reference catalog, as tables and figures.

use crate::cli::args::{ReferenceArgs, ReportArgs};
use crate::models::ModelSpec;
use crate::report::join::JoinSpec;
use crate::report::range::LabelRanges;
use crate::report::{run_report, ReportOptions};
use anyhow::{bail, Result};
use std::path::Path;

/// Runs `astronn report`.
pub fn report(args: ReportArgs, quiet: bool, overwrite: bool) -> Result<()> {
    crate::io::temp::refuse_to_replace(&[], &[&args.output], overwrite)?;
    let ranges = args
        .model
        .as_deref()
        .map(|spec| -> Result<(String, LabelRanges)> {
            let metadata = ModelSpec::from_arg(Some(Path::new(spec)))
                .load_any(None)?
                .metadata;
            Ok((
                spec.to_string(),
                LabelRanges::from_metadata(&metadata, spec)?,
            ))
        })
        .transpose()?;
    if !args.snr_min.is_finite() {
        bail!("--snr-min must be a finite number");
    }
    let options = ReportOptions {
        join: join_spec(&args.result, &args.truth, &args.reference),
        snr_min: args.snr_min,
        ranges,
        output_dir: &args.output,
    };
    let (report, written) = run_report(&options)?;
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

/// How results and the reference catalog are joined, from the arguments (`calibrate
/// --truth` joins them too).
pub fn join_spec<'a>(
    result: &'a Path,
    truth: &'a Path,
    reference: &'a ReferenceArgs,
) -> JoinSpec<'a> {
    JoinSpec {
        result,
        truth,
        result_id: &reference.result_id_column,
        truth_id: &reference.id_column,
    }
}
