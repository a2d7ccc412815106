//! A validation report as a library run (`astronn report`, `astronn.report`): the options
//! checked (the model's training ranges read) before [`run_report`] joins, computes and
//! writes.

use crate::io::temp::refuse_to_replace;
use crate::models::ModelSpec;
use crate::report::join::JoinSpec;
use crate::report::range::LabelRanges;
use crate::report::{run_report, Report, ReportOptions};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What a report needs, as plain data (the CLI's `report` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSpec {
    /// The result table (`predict` or `dist`).
    pub result: PathBuf,
    /// The reference catalog.
    pub truth: PathBuf,
    /// The result's identifier column.
    pub result_id_column: String,
    /// The catalog's identifier column.
    pub truth_id_column: String,
    /// SNR threshold of the second star set.
    pub snr_min: f64,
    /// A model whose training ranges the out-of-range check uses.
    pub model: Option<String>,
    /// The directory written (`summary.md`, `summary.csv`, figures).
    pub output_dir: PathBuf,
    /// Whether a non-empty `output_dir` may be written into.
    pub overwrite: bool,
}

/// Checks `spec` and writes its report; returns the report and the files written. A non-empty
/// output directory is refused before any work unless `spec.overwrite`.
pub fn report(spec: &ReportSpec) -> Result<(Report, Vec<PathBuf>)> {
    refuse_to_replace(&[], &[&spec.output_dir], spec.overwrite)?;
    if !spec.snr_min.is_finite() {
        return Err(Error::Invalid("--snr-min must be a finite number".into()));
    }
    let ranges = spec
        .model
        .as_deref()
        .map(|model| -> Result<(String, LabelRanges)> {
            let metadata = ModelSpec::from_arg(Some(Path::new(model)))
                .load_any(None)?
                .metadata;
            Ok((
                model.to_string(),
                LabelRanges::from_metadata(&metadata, model)?,
            ))
        })
        .transpose()?;
    run_report(&ReportOptions {
        join: JoinSpec {
            result: &spec.result,
            truth: &spec.truth,
            result_id: &spec.result_id_column,
            truth_id: &spec.truth_id_column,
        },
        snr_min: spec.snr_min,
        ranges,
        output_dir: &spec.output_dir,
    })
}
