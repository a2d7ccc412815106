//! `astronn calibrate`: the noise model, fitted from repeat visits or against a reference
//! catalog (`--truth`).

use crate::cli::args::CalibrateArgs;
use crate::cli::report::join_spec;
use crate::io::table::read_table;
use crate::nn::censored::LABELS;
use crate::pipeline::calibrate::{
    calibrate_label, calibrate_label_against_truth, table_labels, table_measurements,
    truth_measurements, LabelCalibration, MIN_PAIRS, MIN_TRUTH_STARS,
};
use crate::pipeline::dist::DIST_NOISE_LABEL;
use crate::pipeline::noise::NoiseModel;
use crate::report::join::{join, Joined};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Runs `astronn calibrate`.
pub fn calibrate(args: CalibrateArgs, quiet: bool, overwrite: bool) -> Result<()> {
    crate::io::temp::refuse_to_replace(&[&args.output], &[], overwrite)?;
    let (fits, unit) = match &args.truth {
        Some(truth) => (calibrate_against_truth(&args, truth)?, "stars"),
        None => (calibrate_from_visits(&args)?, "pairs"),
    };
    if fits.is_empty() {
        bail!("no label could be calibrated: too few usable {unit} (see the warnings)");
    }
    let model = NoiseModel::new(fits.iter().map(|f| (f.label.clone(), f.correction)))?;
    let temp = crate::io::temp::TempPath::beside(&args.output, "json")?;
    std::fs::write(temp.path(), model.to_json())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    temp.persist(&args.output)?;
    if !quiet {
        eprintln!("label        {unit:>6}      scale     offset   z width before -> after");
        for f in &fits {
            eprintln!(
                "{:<12} {:>6} {:>10.4} {:>10.4}   {:>6.3} -> {:.3}",
                f.label,
                f.samples,
                f.correction.scale,
                f.correction.offset,
                f.width_before,
                f.width_after
            );
        }
        eprintln!(
            "calibrate: {} labels -> {}",
            fits.len(),
            args.output.display()
        );
    }
    Ok(())
}

/// Fits each label from the repeat visits of the visit tables.
fn calibrate_from_visits(args: &CalibrateArgs) -> Result<Vec<LabelCalibration>> {
    let tables = args
        .inputs
        .iter()
        .map(|path| read_table(path, "APOGEE"))
        .collect::<crate::Result<Vec<_>>>()?;
    let labels = if args.labels.is_empty() {
        table_labels(&tables[0])
    } else {
        args.labels.clone()
    };
    if labels.is_empty() {
        bail!(
            "{}: no raw_<label>/raw_e_<label> columns",
            args.inputs[0].display()
        );
    }
    let mut fits = Vec::new();
    for label in &labels {
        let mut measurements = Vec::new();
        for (table, path) in tables.iter().zip(&args.inputs) {
            measurements.extend(
                table_measurements(table, label).with_context(|| format!("{}", path.display()))?,
            );
        }
        match calibrate_label(label, &measurements) {
            Some(fit) => fits.push(fit),
            None => eprintln!(
                "warning: {label}: fewer than {MIN_PAIRS} visit pairs with finite values; \
                 left out (keeps its raw error)"
            ),
        }
    }
    Ok(fits)
}

/// Fits each label from the results' raw labels and errors against the reference catalog.
fn calibrate_against_truth(args: &CalibrateArgs, truth: &Path) -> Result<Vec<LabelCalibration>> {
    let joined = args
        .inputs
        .iter()
        .map(|result| join(&join_spec(result, truth, &args.reference)))
        .collect::<crate::Result<Vec<Joined>>>()?;
    let labels: Vec<String> = if args.labels.is_empty() {
        LABELS
            .iter()
            .chain(&[DIST_NOISE_LABEL])
            .map(|l| l.to_string())
            .collect()
    } else {
        args.labels.clone()
    };
    let (mut fits, mut compared) = (Vec::new(), 0);
    for label in &labels {
        let measurements: Vec<_> = joined
            .iter()
            .filter_map(|j| truth_measurements(j, label))
            .flatten()
            .collect();
        if measurements.is_empty() {
            if !args.labels.is_empty() {
                eprintln!(
                    "warning: {label}: not in both the results (raw_{label}, raw_e_{label}) \
                     and {}; left out",
                    truth.display()
                );
            }
            continue;
        }
        compared += 1;
        match calibrate_label_against_truth(label, &measurements) {
            Some(fit) => fits.push(fit),
            None => eprintln!(
                "warning: {label}: fewer than {MIN_TRUTH_STARS} stars with a finite result and \
                 a known truth; left out (keeps its raw error)"
            ),
        }
    }
    if compared == 0 {
        bail!(
            "no label is both in the results (raw_<label> and raw_e_<label>) and in {}",
            truth.display()
        );
    }
    Ok(fits)
}
