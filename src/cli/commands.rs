//! The subcommands: check arguments, load what is needed before any work, run, report.

use crate::cli::args::{
    CalibrateArgs, CatalogArgs, Cli, Command, ConvertArgs, DistArgs, InfoArgs, MergeArgs,
    NormalizeArgs, PredictArgs, ReferenceArgs, ReportArgs, RunArgs,
};
use crate::cli::progress::Progress;
use crate::cli::{count, Invocation};
use crate::io::model_file::{ModelFile, ModelKind};
use crate::io::photometry::PhotometryColumns;
use crate::io::table::read_table;
use crate::models::{censored_network, dist_network, ModelSpec, DEFAULT_MODEL_NOTICE};
use crate::nn::censored::LABELS;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::{Arithmetic, Precision};
use crate::pipeline::calibrate::{
    calibrate_label, calibrate_label_against_truth, table_labels, table_measurements,
    truth_measurements, LabelCalibration, MIN_PAIRS, MIN_TRUTH_STARS,
};
use crate::pipeline::dist::DIST_NOISE_LABEL;
use crate::pipeline::merge::merge_shards;
use crate::pipeline::noise::NoiseModel;
use crate::pipeline::normalize::normalize_files;
use crate::pipeline::predict::RunSummary;
use crate::pipeline::run::{AstroNNOutputs, CatalogSpec, DistOutputs, Run, RunInputs, RunSpec};
use crate::pipeline::shard::{Shard, ShardedInputs};
use crate::report::join::{join, JoinSpec, Joined};
use crate::report::range::LabelRanges;
use crate::report::{run_report, ReportOptions};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Runs a parsed command line.
pub fn run(cli: Cli, invocation: &Invocation) -> Result<()> {
    configure_threads(cli.threads)?;
    match cli.command {
        Command::Normalize(args) => normalize(args, &invocation.command_line(), cli.quiet),
        Command::Predict(args) => predict(args, &invocation.command_line(), cli.quiet),
        Command::Dist(args) => dist(args, &invocation.command_line(), cli.quiet),
        Command::Train(args) => {
            crate::cli::train::train(args, &invocation.command_line(), cli.quiet)
        }
        Command::Bench(args) => crate::cli::bench::bench(args),
        Command::Calibrate(args) => calibrate(args, cli.quiet),
        Command::Report(args) => report_command(args, cli.quiet),
        Command::Convert(args) => convert(args),
        Command::Merge(args) => merge(args, cli.quiet),
        Command::Slurm(args) => crate::cli::slurm::slurm(args, &invocation.executable, cli.quiet),
        Command::Jacobian(args) => {
            crate::cli::jacobian::jacobian(args, &invocation.command_line(), cli.quiet)
        }
        Command::Info(args) => info(args),
        Command::Simulate(args) => {
            crate::cli::simulate::simulate(args, &invocation.command_line(), cli.quiet)
        }
    }
}

/// Sizes the thread pool: `--threads`, else `RAYON_NUM_THREADS`, else every core.
fn configure_threads(requested: Option<usize>) -> Result<()> {
    if requested == Some(0) {
        bail!("--threads must be at least 1");
    }
    let threads = crate::runtime::thread_count(requested);
    crate::runtime::set_thread_count(threads);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("cannot configure the thread pool")
}

/// The expanded input list, and the part of it `--shard` selects (all of it without).
pub fn input_files(inputs: &[String], shard: Option<&str>) -> Result<ShardedInputs> {
    let shard = shard.map(Shard::parse).transpose()?;
    Ok(ShardedInputs::expand(inputs, shard)?)
}

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

fn normalize(args: NormalizeArgs, command_line: &str, quiet: bool) -> Result<()> {
    let inputs = input_files(&args.input.inputs, args.shard.as_deref())?;
    let progress = Progress::new(inputs.files.len(), "files", quiet);
    let summary = normalize_files(&inputs, args.visits, &args.output, command_line, &progress)?;
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

/// Reads a model of `kind` (the embedded default without a path, saying once what it is).
pub fn load_model(path: Option<&Path>, kind: ModelKind, quiet: bool) -> Result<ModelFile> {
    let spec = ModelSpec::from_arg(path);
    if spec.is_default(kind) {
        note_default_model(quiet);
    }
    Ok(spec.load(kind)?)
}

/// Says, once, that a default model is in use.
fn note_default_model(quiet: bool) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if !quiet && !NOTED.swap(true, Ordering::Relaxed) {
        eprintln!("note: no --model given: {DEFAULT_MODEL_NOTICE} (--model).");
    }
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
) -> Result<RunSpec> {
    Ok(RunSpec {
        inputs: run_inputs(run)?,
        astronn: None,
        dist: None,
        noise_model: noise_model.clone(),
        catalogs: catalog_spec(catalogs),
        mc: run.mc,
        seed: run.seed,
        strict: run.strict,
        arithmetic: arithmetic(run.precision),
        command_line: command_line.to_string(),
    })
}

/// The arithmetic `precision` runs on this CPU; a warning says where it is not the one asked
/// for.
pub fn arithmetic(precision: Precision) -> Arithmetic {
    let (arithmetic, notice) = Arithmetic::for_this_cpu(precision);
    if let Some(notice) = notice {
        eprintln!("warning: {notice}");
    }
    arithmetic
}

/// Prepares a run, executes it with a progress bar and reports.
fn execute(spec: RunSpec, quiet: bool, what: &str) -> Result<()> {
    let run = Run::prepare(spec)?;
    if run.uses_default_model() {
        note_default_model(quiet);
    }
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

fn predict(args: PredictArgs, command_line: &str, quiet: bool) -> Result<()> {
    let mut spec = run_spec(&args.run, &args.catalogs, &args.noise_model, command_line)?;
    spec.astronn = Some(AstroNNOutputs {
        model: ModelSpec::from_arg(args.run.model.as_deref()),
        output: args.run.output.clone(),
        visits_output: args.visits_output.clone(),
    });
    spec.dist = args.dist_output.as_ref().map(|output| DistOutputs {
        model: ModelSpec::from_arg(args.dist_model.as_deref()),
        output: output.clone(),
    });
    execute(spec, quiet, "predict")
}

fn dist(args: DistArgs, command_line: &str, quiet: bool) -> Result<()> {
    let mut spec = run_spec(&args.run, &args.catalogs, &args.noise_model, command_line)?;
    spec.dist = Some(DistOutputs {
        model: ModelSpec::from_arg(args.run.model.as_deref()),
        output: args.run.output.clone(),
    });
    execute(spec, quiet, "dist")
}

fn calibrate(args: CalibrateArgs, quiet: bool) -> Result<()> {
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

fn join_spec<'a>(result: &'a Path, truth: &'a Path, reference: &'a ReferenceArgs) -> JoinSpec<'a> {
    JoinSpec {
        result,
        truth,
        result_id: &reference.result_id_column,
        truth_id: &reference.id_column,
    }
}

fn report_command(args: ReportArgs, quiet: bool) -> Result<()> {
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

fn convert(args: ConvertArgs) -> Result<()> {
    let model = ModelSpec::from_arg(Some(&args.input)).load_any(None)?;
    // Building the network checks every parameter's presence and shape.
    match model.kind {
        ModelKind::AstroNN => drop(censored_network(&model)?),
        ModelKind::AstroNNDist => drop(dist_network(&model)?),
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("source_file".to_string(), args.input.display().to_string());
    metadata.insert("source_sha256".to_string(), model.sha256.clone());
    metadata.insert(
        "converted_by".to_string(),
        format!("astronn {}", env!("CARGO_PKG_VERSION")),
    );
    metadata.insert(
        "created".to_string(),
        crate::pipeline::run_info::utc_timestamp(SystemTime::now()),
    );
    if let Some(description) = args.description {
        metadata.insert("description".to_string(), description);
    }
    model.save_safetensors(&args.output, metadata)?;
    eprintln!(
        "converted {} ({} model, {} tensors) -> {}",
        args.input.display(),
        model.kind.name(),
        model.tensors.len(),
        args.output.display()
    );
    Ok(())
}

fn merge(args: MergeArgs, quiet: bool) -> Result<()> {
    let summary = merge_shards(&args.shards, &args.output)?;
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

fn info(args: InfoArgs) -> Result<()> {
    let model = ModelSpec::from_arg(Some(&args.model)).load_any(None)?;
    println!("file:        {}", model.path.display());
    println!("format:      {:?}", model.format);
    println!("kind:        {}", model.kind.name());
    println!("sha256:      {}", model.sha256);
    let parameters: usize = model
        .tensors
        .iter()
        .filter(|(name, _)| name.ends_with("weight") || name.ends_with("bias"))
        .map(|(_, t)| t.elem_count())
        .sum();
    println!("parameters:  {parameters}");
    let labels = match model.kind {
        ModelKind::AstroNN => censored_network(&model)?.label_names(),
        ModelKind::AstroNNDist => vec!["L_fakemag".to_string()],
    };
    println!("labels:      {}", labels.join(", "));
    for (key, value) in &model.metadata {
        println!("{key:<12} {value}");
    }
    Ok(())
}
