//! `astronn calibrate`: the flags as a [`CalibrationSpec`], the fits as a table (the run is
//! [`crate::pipeline::calibration_run`]).

use crate::cli::args::CalibrateArgs;
use crate::pipeline::calibration_run::{calibrate as run_calibration, CalibrationSpec};
use anyhow::Result;

/// Runs `astronn calibrate`.
pub fn calibrate(args: CalibrateArgs, quiet: bool, overwrite: bool) -> Result<()> {
    let spec = CalibrationSpec {
        inputs: args.inputs,
        truth: args.truth,
        truth_id_column: args.reference.id_column,
        result_id_column: args.reference.result_id_column,
        labels: args.labels,
        output: args.output,
        overwrite,
    };
    let report = run_calibration(&spec)?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if !quiet {
        let unit = report.unit;
        eprintln!("label        {unit:>6}      scale     offset   z width before -> after");
        for f in &report.fits {
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
            report.fits.len(),
            spec.output.display()
        );
    }
    Ok(())
}
