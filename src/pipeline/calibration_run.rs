//! A noise-model calibration as a library run (`astronn calibrate`, `astronn.calibrate`): the
//! residuals of each label gathered from repeat visits or against a reference catalog, fitted
//! ([`crate::pipeline::calibrate`]), and written as a noise model.

use crate::io::table::read_table;
use crate::io::temp::{refuse_to_replace, write_atomically};
use crate::nn::censored::LABELS;
use crate::pipeline::calibrate::{
    calibrate_label, calibrate_label_against_truth, table_labels, table_measurements,
    truth_measurements, LabelCalibration, MIN_PAIRS, MIN_TRUTH_STARS,
};
use crate::pipeline::dist::DIST_NOISE_LABEL;
use crate::pipeline::noise::NoiseModel;
use crate::report::join::{join, JoinSpec, Joined};
use crate::{Error, Result};
use std::path::PathBuf;

/// What a calibration needs, as plain data (the CLI's `calibrate` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSpec {
    /// Visit tables (`predict --visits-output`); with `truth`, any result tables.
    pub inputs: Vec<PathBuf>,
    /// A reference catalog of true labels: fit prediction − truth instead of visit pairs.
    pub truth: Option<PathBuf>,
    /// The catalog's identifier column.
    pub truth_id_column: String,
    /// The result tables' identifier column.
    pub result_id_column: String,
    /// The labels to fit (every label the inputs have when empty).
    pub labels: Vec<String>,
    /// The noise model written (JSON).
    pub output: PathBuf,
    /// Whether an existing `output` may be replaced.
    pub overwrite: bool,
}

/// What a calibration did.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationReport {
    /// Each fitted label.
    pub fits: Vec<LabelCalibration>,
    /// The labels left out, and why.
    pub warnings: Vec<String>,
    /// The noise model written.
    pub model: NoiseModel,
    /// What was fitted: `"pairs"` (visit pairs) or `"stars"` (against the truth).
    pub unit: &'static str,
}

/// Fits the noise model `spec` asks for and writes it; an existing output is refused before
/// any work unless `spec.overwrite`, and no label fitted is an error listing why each was
/// left out.
pub fn calibrate(spec: &CalibrationSpec) -> Result<CalibrationReport> {
    refuse_to_replace(&[&spec.output], &[], spec.overwrite)?;
    let mut warnings = Vec::new();
    let (fits, unit) = match &spec.truth {
        Some(truth) => (against_truth(spec, truth, &mut warnings)?, "stars"),
        None => (from_visits(spec, &mut warnings)?, "pairs"),
    };
    if fits.is_empty() {
        return Err(Error::Invalid(format!(
            "no label could be calibrated: too few usable {unit}:\n  {}",
            warnings.join("\n  ")
        )));
    }
    let model = NoiseModel::new(fits.iter().map(|f| (f.label.clone(), f.correction)))?;
    write_atomically(&spec.output, &model.to_json())?;
    Ok(CalibrationReport {
        fits,
        warnings,
        model,
        unit,
    })
}

/// Fits each label from the repeat visits of the visit tables.
fn from_visits(
    spec: &CalibrationSpec,
    warnings: &mut Vec<String>,
) -> Result<Vec<LabelCalibration>> {
    let Some(first) = spec.inputs.first() else {
        return Err(Error::Invalid("calibrate needs visit tables".into()));
    };
    let tables = spec
        .inputs
        .iter()
        .map(|path| read_table(path, "APOGEE"))
        .collect::<Result<Vec<_>>>()?;
    let labels = if spec.labels.is_empty() {
        table_labels(&tables[0])
    } else {
        spec.labels.clone()
    };
    if labels.is_empty() {
        return Err(Error::file(first, "no raw_<label>/raw_e_<label> columns"));
    }
    let mut fits = Vec::new();
    for label in &labels {
        let mut measurements = Vec::new();
        for (table, path) in tables.iter().zip(&spec.inputs) {
            measurements.extend(
                table_measurements(table, label).map_err(|e| Error::file(path, e.to_string()))?,
            );
        }
        match calibrate_label(label, &measurements) {
            Some(fit) => fits.push(fit),
            None => warnings.push(format!(
                "{label}: fewer than {MIN_PAIRS} visit pairs with finite values; left out \
                 (keeps its raw error)"
            )),
        }
    }
    Ok(fits)
}

/// Fits each label from the results' raw labels and errors against the reference catalog.
fn against_truth(
    spec: &CalibrationSpec,
    truth: &std::path::Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<LabelCalibration>> {
    let joined = spec
        .inputs
        .iter()
        .map(|result| {
            join(&JoinSpec {
                result,
                truth,
                result_id: &spec.result_id_column,
                truth_id: &spec.truth_id_column,
            })
        })
        .collect::<Result<Vec<Joined>>>()?;
    let labels: Vec<String> = if spec.labels.is_empty() {
        LABELS
            .iter()
            .chain(&[DIST_NOISE_LABEL])
            .map(|l| l.to_string())
            .collect()
    } else {
        spec.labels.clone()
    };
    let (mut fits, mut compared) = (Vec::new(), 0);
    for label in &labels {
        let measurements: Vec<_> = joined
            .iter()
            .filter_map(|j| truth_measurements(j, label))
            .flatten()
            .collect();
        if measurements.is_empty() {
            if !spec.labels.is_empty() {
                warnings.push(format!(
                    "{label}: not in both the results (raw_{label}, raw_e_{label}) and {}; \
                     left out",
                    truth.display()
                ));
            }
            continue;
        }
        compared += 1;
        match calibrate_label_against_truth(label, &measurements) {
            Some(fit) => fits.push(fit),
            None => warnings.push(format!(
                "{label}: fewer than {MIN_TRUTH_STARS} stars with a finite result and a known \
                 truth; left out (keeps its raw error)"
            )),
        }
    }
    if compared == 0 {
        return Err(Error::Invalid(format!(
            "no label is both in the results (raw_<label> and raw_e_<label>) and in {}",
            truth.display()
        )));
    }
    Ok(fits)
}
