//! `astronn normalize`, `astronn predict` and `astronn dist`: the commands that run the
//! pipeline over spectra, each reporting a one-line summary.

use crate::cli::args::{CatalogArgs, DistArgs, NormalizeArgs, PredictArgs, RunArgs};
use crate::cli::inputs::input_files;
use crate::cli::models::{arithmetic, note_default_model};
use crate::cli::plural::count;
use crate::cli::progress::Progress;
use crate::io::photometry::PhotometryColumns;
use crate::models::ModelSpec;
use crate::pipeline::normalize::normalize_files;
use crate::pipeline::predict::RunSummary;
use crate::pipeline::run::{
    AstroNNOutputs, CatalogSpec, DistOutputs, ExtraOutputs, Run, RunInputs, RunSpec,
};
use crate::pipeline::shard::Shard;
use anyhow::Result;
use std::path::PathBuf;

/// The one-line summary of a finished command on stderr (none with `--quiet`).
fn report(quiet: bool, what: &str, summary: &RunSummary, seconds: f64, outputs: &[PathBuf]) {
    if quiet {
        return;
    }
    let written: Vec<String> = outputs.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "{what}: {}, {} NO_RESULT, {seconds:.1} s ({:.1} spectra/s) -> {}",
        count(summary.spectra, "spectrum", "spectra"),
        summary.no_result,
        summary.spectra as f64 / seconds.max(1e-9),
        written.join(", ")
    );
}

/// Runs `astronn normalize`.
pub fn normalize(
    args: NormalizeArgs,
    command_line: &str,
    quiet: bool,
    overwrite: bool,
) -> Result<()> {
    let inputs = input_files(&args.input.inputs, args.shard.as_deref())?;
    let progress = Progress::new(inputs.files.len(), "files", quiet);
    let summary = normalize_files(
        &inputs,
        args.visits,
        &args.output,
        overwrite,
        command_line,
        &progress,
    )?;
    progress.finish();
    report(
        quiet,
        "normalize",
        &summary,
        progress.elapsed(),
        &[args.output],
    );
    Ok(())
}

/// The inputs of a run from its arguments.
fn run_inputs(run: &RunArgs) -> Result<RunInputs> {
    Ok(match &run.normalized {
        Some(path) => RunInputs::Normalized(path.clone()),
        None => RunInputs::ApStar {
            inputs: run.input.inputs.clone(),
            shard: run.shard.as_deref().map(Shard::parse).transpose()?,
        },
    })
}

/// The catalogs of a run from its arguments.
fn catalog_spec(args: &CatalogArgs) -> CatalogSpec {
    CatalogSpec {
        sources: args.sources.clone(),
        sources_id_column: args.sources_id_column.clone(),
        gaia: args.gaia.clone(),
        gaia_id_column: args.gaia_id_column.clone(),
        photometry: args.photometry.clone(),
        photometry_columns: PhotometryColumns {
            id: args.id_column.clone(),
            k_mag: args.k_mag_column.clone(),
            ebv: args.ebv_column.clone(),
        },
    }
}

/// A run's specification from the arguments every prediction command shares.
fn run_spec(
    run: &RunArgs,
    catalogs: &CatalogArgs,
    noise_model: &Option<PathBuf>,
    command_line: &str,
    overwrite: bool,
) -> Result<RunSpec> {
    Ok(RunSpec {
        inputs: run_inputs(run)?,
        astronn: None,
        dist: None,
        extra: Vec::new(),
        noise_model: noise_model.clone(),
        catalogs: catalog_spec(catalogs),
        mc: run.mc,
        seed: run.seed,
        strict: run.strict,
        arithmetic: arithmetic(run.precision),
        command_line: command_line.to_string(),
        overwrite,
    })
}

/// Prepares a run, executes it with a progress bar and reports.
fn execute(spec: RunSpec, quiet: bool, what: &str) -> Result<()> {
    let run = Run::prepare(spec)?;
    note_default_model(run.default_models(), quiet);
    let progress = Progress::new(run.total_units(), run.unit_name(), quiet);
    let finished = run.execute(&progress)?;
    progress.finish();
    let summary = &finished.summary;
    if summary.skipped_visits > 0 {
        eprintln!(
            "warning: {} in the normalized input {} not predicted: give --visits-output to \
             predict them",
            count(summary.skipped_visits, "visit spectrum", "visit spectra"),
            if summary.skipped_visits == 1 {
                "was"
            } else {
                "were"
            }
        );
    }
    for note in &finished.table_notes {
        eprintln!("warning: {note}");
    }
    if let Some(sources) = &finished.sources_catalog {
        eprintln!(
            "note: {} not in {}: {} the apStar header's values",
            count(summary.missing_sources, "star", "stars"),
            sources.display(),
            if summary.missing_sources == 1 {
                "it keeps"
            } else {
                "they keep"
            }
        );
    }
    report(quiet, what, summary, finished.seconds, &finished.outputs);
    Ok(())
}

/// Runs `astronn predict`.
pub fn predict(args: PredictArgs, command_line: &str, quiet: bool, overwrite: bool) -> Result<()> {
    let mut spec = run_spec(
        &args.run,
        &args.catalogs,
        &args.noise_model,
        command_line,
        overwrite,
    )?;
    spec.astronn = Some(AstroNNOutputs {
        model: ModelSpec::from_arg(args.run.model.as_deref()),
        output: args.run.output.clone(),
        visits_output: args.visits_output.clone(),
    });
    spec.dist = args.dist_output.as_ref().map(|output| DistOutputs {
        model: ModelSpec::from_arg(args.dist_model.as_deref()),
        output: output.clone(),
    });
    spec.extra = args
        .extra
        .chunks(2)
        .map(|pair| ExtraOutputs {
            model: ModelSpec::from_arg(Some(&pair[0])),
            output: pair[1].clone(),
        })
        .collect();
    execute(spec, quiet, "predict")
}

/// Runs `astronn dist`.
pub fn dist(args: DistArgs, command_line: &str, quiet: bool, overwrite: bool) -> Result<()> {
    let mut spec = run_spec(
        &args.run,
        &args.catalogs,
        &args.noise_model,
        command_line,
        overwrite,
    )?;
    spec.dist = Some(DistOutputs {
        model: ModelSpec::from_arg(args.run.model.as_deref()),
        output: args.run.output.clone(),
    });
    execute(spec, quiet, "dist")
}
