//! The subcommands: check arguments, load what is needed before any work, run, report.

use crate::cli::args::{
    CalibrateArgs, CatalogArgs, Cli, Command, ConvertArgs, DistArgs, InfoArgs, MergeArgs,
    NormalizeArgs, PredictArgs, ReferenceArgs, ReportArgs, RunArgs,
};
use crate::cli::count;
use crate::cli::progress::Progress;
use anyhow::{bail, Context, Result};
use astronn::io::inputs::expand_inputs;
use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::io::normalized::NormalizedWriter;
use astronn::io::photometry::{PhotometryCatalog, PhotometryColumns};
use astronn::io::table::read_table;
use astronn::io::table::{CardValue, HeaderCard};
use astronn::models::{
    default_model, default_noise_model, DEFAULT_MODEL_NOTICE, DEFAULT_NOISE_MODEL_NAME,
};
use astronn::nn::censored::CensoredBcnn;
use astronn::nn::censored::LABELS;
use astronn::nn::dist::DistBcnn;
use astronn::nn::network::BayesianNetwork;
use astronn::pipeline::astronn::{AstroNNJob, AstroNNPredictor};
use astronn::pipeline::calibrate::{
    calibrate_label, calibrate_label_against_truth, table_labels, table_measurements,
    truth_measurements, LabelCalibration, MIN_PAIRS, MIN_TRUTH_STARS,
};
use astronn::pipeline::catalogs::StarCatalogs;
use astronn::pipeline::dist::{DistJob, DistPredictor, DIST_NOISE_LABEL};
use astronn::pipeline::merge::merge_shards;
use astronn::pipeline::noise::NoiseModel;
use astronn::pipeline::normalize::run_normalize;
use astronn::pipeline::predict::{run_predict, Jobs, PredictOptions, RunSummary};
use astronn::pipeline::run_info::{card, run_cards};
use astronn::pipeline::shard::{Shard, ShardedInputs};
use astronn::pipeline::source::SpectrumSource;
use astronn::products::writer::ProductWriter;
use astronn::products::Product;
use astronn::report::join::{join, JoinSpec, Joined};
use astronn::report::range::LabelRanges;
use astronn::report::{run_report, ReportOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// apStar files read and normalized together before their spectra go to the network.
pub const FILES_PER_CHUNK: usize = 32;
/// Normalized spectra read together from a normalized input.
pub const SPECTRA_PER_CHUNK: usize = 64;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    configure_threads(cli.threads)?;
    match cli.command {
        Command::Normalize(args) => normalize(args, cli.quiet),
        Command::Predict(args) => predict(args, cli.quiet),
        Command::Dist(args) => dist(args, cli.quiet),
        Command::Train(args) => crate::cli::train::train(args, &command_line(), cli.quiet),
        Command::Bench(args) => crate::cli::bench::bench(args),
        Command::Calibrate(args) => calibrate(args, cli.quiet),
        Command::Report(args) => report_command(args, cli.quiet),
        Command::Convert(args) => convert(args),
        Command::Merge(args) => merge(args, cli.quiet),
        Command::Slurm(args) => crate::cli::slurm::slurm(args, cli.quiet),
        Command::Info(args) => info(args),
        Command::Simulate(args) => crate::cli::simulate::simulate(args, &command_line(), cli.quiet),
    }
}

/// Sizes the thread pool: `--threads`, else `RAYON_NUM_THREADS`, else every core.
fn configure_threads(requested: Option<usize>) -> Result<()> {
    let from_env = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0);
    let threads = match requested {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => {
            from_env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
    };
    // candle sizes its parallel kernels from this variable, and without it re-detects the
    // core count (reading /proc/cpuinfo) on every matrix product.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("cannot configure the thread pool")
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The expanded input list, and the part of it `--shard` selects (all of it without).
pub fn input_files(inputs: &[String], shard: Option<&str>) -> Result<ShardedInputs> {
    let shard = shard.map(Shard::parse).transpose()?;
    if inputs.is_empty() {
        bail!("no inputs: give apStar files, directories or @list.txt files");
    }
    let files = expand_inputs(inputs)?;
    if files.is_empty() {
        bail!("the inputs name no files (a directory is searched for apStar* files)");
    }
    Ok(ShardedInputs::new(files, shard.unwrap_or(Shard::WHOLE)))
}

fn report(quiet: bool, what: &str, summary: &RunSummary, progress: &Progress, outputs: &[&Path]) {
    if quiet {
        return;
    }
    let seconds = progress.elapsed();
    let written: Vec<String> = outputs.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "{what}: {}, {} NO_RESULT, {seconds:.1} s ({:.1} spectra/s) -> {}",
        count(summary.spectra, "spectrum", "spectra"),
        summary.no_result,
        summary.spectra as f64 / seconds.max(1e-9),
        written.join(", ")
    );
}

fn normalize(args: NormalizeArgs, quiet: bool) -> Result<ExitCode> {
    let started = SystemTime::now();
    let inputs = input_files(&args.input.inputs, args.shard.as_deref())?;
    let mut cards = run_cards(&command_line(), started);
    cards.push(card(
        "VISITS",
        CardValue::Bool(args.visits),
        "Visit spectra included",
    ));
    cards.extend(inputs.cards());
    let mut writer = NormalizedWriter::create(&args.output, &cards)?;
    let progress = Progress::new(inputs.files.len(), "files", quiet);
    let summary = run_normalize(
        &inputs.files,
        args.visits,
        FILES_PER_CHUNK,
        &mut writer,
        &progress,
    )?;
    progress.finish();
    writer.finish()?;
    report(quiet, "normalize", &summary, &progress, &[&args.output]);
    Ok(ExitCode::SUCCESS)
}

/// The name that means an embedded default model wherever a model is named: the default
/// model of the kind needed there (AstroNN's where either kind will do).
pub const DEFAULT_MODEL: &str = "default";
/// The name of the embedded default AstroNNDist model where either kind will do.
pub const DEFAULT_DIST_MODEL: &str = "default-dist";

/// Whether `spec` names the embedded default model of `kind` (no model named counts).
fn is_default(spec: Option<&Path>, kind: ModelKind) -> bool {
    match spec.and_then(Path::to_str) {
        None => spec.is_none(),
        Some(name) => {
            name == DEFAULT_MODEL || (name == DEFAULT_DIST_MODEL && kind == ModelKind::AstroNNDist)
        }
    }
}

/// The model `spec` names: [`DEFAULT_MODEL`] (the embedded model of `kind`, or AstroNN's
/// when `kind` is `None`), [`DEFAULT_DIST_MODEL`], or a model file.
pub fn named_model(spec: &Path, kind: Option<ModelKind>) -> Result<ModelFile> {
    Ok(match spec.to_str() {
        Some(DEFAULT_MODEL) => default_model(kind.unwrap_or(ModelKind::AstroNN))?,
        Some(DEFAULT_DIST_MODEL) => default_model(ModelKind::AstroNNDist)?,
        _ => ModelFile::load(spec)?,
    })
}

/// Loads a model of the given kind, with a clear message when it is of the other kind;
/// without a path, the embedded default model (saying once what it is).
pub fn load_model(path: Option<&Path>, kind: ModelKind, quiet: bool) -> Result<ModelFile> {
    let Some(path) = path else {
        static NOTED: AtomicBool = AtomicBool::new(false);
        if !quiet && !NOTED.swap(true, Ordering::Relaxed) {
            eprintln!("note: {DEFAULT_MODEL_NOTICE}");
        }
        return Ok(default_model(kind)?);
    };
    let model = named_model(path, Some(kind))?;
    if model.kind != kind {
        bail!(
            "{} is an {} model, but an {} model is needed here",
            path.display(),
            kind_title(model.kind),
            kind_title(kind)
        );
    }
    Ok(model)
}

fn kind_title(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::AstroNN => "AstroNN",
        ModelKind::AstroNNDist => "AstroNNDist",
    }
}

/// The abundance network of a model.
pub fn censored_network(model: &ModelFile) -> Result<CensoredBcnn> {
    CensoredBcnn::load(&model.var_builder())
        .with_context(|| format!("{}: not a valid AstroNN model", model.path.display()))
}

/// The distance network of a model.
pub fn dist_network(model: &ModelFile) -> Result<DistBcnn> {
    DistBcnn::load(&model.var_builder())
        .with_context(|| format!("{}: not a valid AstroNNDist model", model.path.display()))
}

/// Run settings from the shared arguments, refusing a sample count without a variance.
fn run_options(run: &RunArgs) -> Result<PredictOptions> {
    if run.mc == 1 {
        bail!("--mc 1 gives no MC variance: use 0 (deterministic) or at least 2 samples");
    }
    Ok(PredictOptions {
        mc: run.mc,
        seed: run.seed.unwrap_or_else(random_seed),
        strict: run.strict,
    })
}

/// The run's spectra, and the header cards of its part of the input list (none for a
/// normalized input).
fn open_source(run: &RunArgs, visits: bool) -> Result<(SpectrumSource, Vec<HeaderCard>)> {
    Ok(match &run.normalized {
        Some(path) => (
            SpectrumSource::normalized(path, SPECTRA_PER_CHUNK)?,
            Vec::new(),
        ),
        None => {
            let inputs = input_files(&run.input.inputs, run.shard.as_deref())?;
            let cards = inputs.cards();
            (
                SpectrumSource::apstar(inputs.files, visits, FILES_PER_CHUNK),
                cards,
            )
        }
    })
}

/// The run's catalogs (`--sources`, `--gaia`, `--photometry`), read before any work.
fn load_catalogs(args: &CatalogArgs) -> Result<StarCatalogs> {
    let columns = PhotometryColumns {
        id: args.id_column.clone(),
        k_mag: args.k_mag_column.clone(),
        ebv: args.ebv_column.clone(),
    };
    Ok(StarCatalogs {
        sources: args
            .sources
            .as_deref()
            .map(|path| StarCatalogs::load_sources(path, &args.sources_id_column))
            .transpose()?,
        gaia: args
            .gaia
            .as_deref()
            .map(|path| StarCatalogs::load_gaia(path, &args.gaia_id_column))
            .transpose()?,
        photometry: args
            .photometry
            .as_deref()
            .map(|path| PhotometryCatalog::load(path, &columns))
            .transpose()?,
    })
}

/// Header cards naming the run's catalogs.
fn catalog_cards(args: &CatalogArgs) -> Vec<HeaderCard> {
    let name = |path: &Option<PathBuf>, default: &str| {
        path.as_ref()
            .map_or(default.to_string(), |p| p.display().to_string())
    };
    vec![
        card(
            "SOURCES",
            CardValue::Str(name(&args.sources, "apStar header")),
            "Source columns from",
        ),
        card(
            "GAIA",
            CardValue::Str(name(&args.gaia, "none")),
            "Gaia DR3 zero-point inputs from",
        ),
        card(
            "PHOTOMET",
            CardValue::Str(name(&args.photometry, "Source columns k_mag, ebv")),
            "Source of Ks and E(B-V)",
        ),
    ]
}

/// Header cards describing a network's part of a run that started at `started`.
fn model_cards(
    model: &ModelFile,
    options: &PredictOptions,
    extra: Vec<HeaderCard>,
    started: SystemTime,
) -> Vec<HeaderCard> {
    let mut cards = run_cards(&command_line(), started);
    cards.extend([
        card("MODEL", CardValue::Str(model.identity()), "Model file"),
        card(
            "MODELSHA",
            CardValue::Str(model.sha256.clone()),
            "SHA-256 of the model file",
        ),
        card(
            "MC",
            CardValue::I64(options.mc as i64),
            "MC dropout samples (0: deterministic)",
        ),
        card(
            "SEED",
            CardValue::Str(options.seed.to_string()),
            "Seed of the dropout masks",
        ),
    ]);
    cards.extend(extra);
    cards
}

/// The noise model of a run and the header card naming it: the file given, else the
/// default models' own when the run uses a default model, else none.
fn run_noise_model(
    path: Option<&Path>,
    default_model: bool,
) -> Result<(Option<NoiseModel>, HeaderCard)> {
    let (model, name) = match path {
        Some(path) => (Some(NoiseModel::load(path)?), path.display().to_string()),
        None if default_model => (
            Some(default_noise_model()?),
            DEFAULT_NOISE_MODEL_NAME.to_string(),
        ),
        None => (None, "none".to_string()),
    };
    Ok((model, card("NOISEMOD", CardValue::Str(name), "Noise model")))
}

fn dist_job(
    model: &ModelFile,
    output: &Path,
    options: &PredictOptions,
    noise_model: (Option<&NoiseModel>, &HeaderCard),
    catalog_cards: &[HeaderCard],
    started: SystemTime,
) -> Result<DistJob> {
    let net = dist_network(model)?;
    let mut extra = catalog_cards.to_vec();
    extra.push(noise_model.1.clone());
    let cards = model_cards(model, options, extra, started);
    Ok(DistJob {
        predictor: DistPredictor::new(net, noise_model.0),
        table: ProductWriter::create(output, Product::AllStarAstroNNdist, cards, started)?,
    })
}

/// Runs the jobs with a progress bar, finishes their tables and reports.
fn execute(
    mut source: SpectrumSource,
    mut jobs: Jobs,
    options: &PredictOptions,
    quiet: bool,
    what: &str,
    outputs: &[&Path],
) -> Result<ExitCode> {
    let progress = Progress::new(source.total_units(), source.unit_name(), quiet);
    let summary = run_predict(&mut source, &mut jobs, options, &progress)?;
    progress.finish();
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
    let late = [
        card(
            "ELAPSED",
            CardValue::F64(progress.elapsed()),
            "Run time [s]",
        ),
        card(
            "NSPECTRA",
            CardValue::I64(summary.spectra as i64),
            "Spectra",
        ),
        card(
            "NNORESLT",
            CardValue::I64(summary.no_result as i64),
            "Spectra without result",
        ),
    ];
    let mut tables = Vec::new();
    if let Some(job) = jobs.astronn {
        tables.push(job.coadds);
        tables.extend(job.visits);
    }
    tables.extend(jobs.dist.map(|job| job.table));
    for table in tables {
        for note in table.finish(&late)? {
            eprintln!("warning: {note}");
        }
    }
    if summary.missing_sources > 0 {
        if let Some(sources) = &jobs.catalogs.sources {
            eprintln!(
                "note: {} not in {}: {} the apStar header's values",
                count(summary.missing_sources, "star", "stars"),
                sources.catalog.path().display(),
                if summary.missing_sources == 1 {
                    "it keeps"
                } else {
                    "they keep"
                }
            );
        }
    }
    report(quiet, what, &summary, &progress, outputs);
    Ok(ExitCode::SUCCESS)
}

fn predict(args: PredictArgs, quiet: bool) -> Result<ExitCode> {
    let started = SystemTime::now();
    let options = run_options(&args.run)?;
    let model = load_model(args.run.model.as_deref(), ModelKind::AstroNN, quiet)?;
    let net = censored_network(&model)?;
    let dist_model = args
        .dist_output
        .as_ref()
        .map(|_| load_model(args.dist_model.as_deref(), ModelKind::AstroNNDist, quiet))
        .transpose()?;
    let (noise_model, noise_card) = run_noise_model(
        args.noise_model.as_deref(),
        is_default(args.run.model.as_deref(), ModelKind::AstroNN),
    )?;
    // Without a file, each network gets the default noise model only when it is the
    // default network (the model is calibrated for those).
    let dist_noise = match args.noise_model {
        Some(_) => (noise_model.clone(), noise_card.clone()),
        None => run_noise_model(
            None,
            is_default(args.dist_model.as_deref(), ModelKind::AstroNNDist),
        )?,
    };
    let catalogs = load_catalogs(&args.catalogs)?;
    let (source, input_cards) = open_source(&args.run, args.visits_output.is_some())?;

    let mut extra = catalog_cards(&args.catalogs);
    extra.extend(input_cards.iter().cloned());
    extra.push(noise_card);
    let cards = model_cards(&model, &options, extra, started);
    let coadds = ProductWriter::create(
        &args.run.output,
        Product::AllStarAstroNN,
        cards.clone(),
        started,
    )?;
    let visits = args
        .visits_output
        .as_deref()
        .map(|path| ProductWriter::create(path, Product::AllVisitAstroNN, cards.clone(), started))
        .transpose()?;
    let dist = match (&dist_model, &args.dist_output) {
        (Some(model), Some(output)) => Some(dist_job(
            model,
            output,
            &options,
            (dist_noise.0.as_ref(), &dist_noise.1),
            &[catalog_cards(&args.catalogs), input_cards].concat(),
            started,
        )?),
        _ => None,
    };
    let jobs = Jobs {
        astronn: Some(AstroNNJob {
            predictor: AstroNNPredictor::new(net, noise_model)?,
            coadds,
            visits,
        }),
        dist,
        catalogs,
    };
    let mut outputs = vec![args.run.output.as_path()];
    outputs.extend(args.visits_output.as_deref());
    outputs.extend(args.dist_output.as_deref());
    execute(source, jobs, &options, quiet, "predict", &outputs)
}

fn dist(args: DistArgs, quiet: bool) -> Result<ExitCode> {
    let started = SystemTime::now();
    let options = run_options(&args.run)?;
    let model = load_model(args.run.model.as_deref(), ModelKind::AstroNNDist, quiet)?;
    let (noise_model, noise_card) = run_noise_model(
        args.noise_model.as_deref(),
        is_default(args.run.model.as_deref(), ModelKind::AstroNNDist),
    )?;
    let catalogs = load_catalogs(&args.catalogs)?;
    let (source, input_cards) = open_source(&args.run, false)?;
    let jobs = Jobs {
        astronn: None,
        dist: Some(dist_job(
            &model,
            &args.run.output,
            &options,
            (noise_model.as_ref(), &noise_card),
            &[catalog_cards(&args.catalogs), input_cards].concat(),
            started,
        )?),
        catalogs,
    };
    execute(source, jobs, &options, quiet, "dist", &[&args.run.output])
}

/// A seed for runs that did not ask for one (recorded in the output header).
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() >> 11
}

fn calibrate(args: CalibrateArgs, quiet: bool) -> Result<ExitCode> {
    let (fits, unit) = match &args.truth {
        Some(truth) => (calibrate_against_truth(&args, truth)?, "stars"),
        None => (calibrate_from_visits(&args)?, "pairs"),
    };
    if fits.is_empty() {
        bail!("no label could be calibrated: too few usable {unit} (see the warnings)");
    }
    let model = NoiseModel::new(fits.iter().map(|f| (f.label.clone(), f.correction)))?;
    let temp = astronn::io::temp::TempPath::beside(&args.output, "json")?;
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
    Ok(ExitCode::SUCCESS)
}

/// Fits each label from the repeat visits of the visit tables.
fn calibrate_from_visits(args: &CalibrateArgs) -> Result<Vec<LabelCalibration>> {
    let tables = args
        .inputs
        .iter()
        .map(|path| read_table(path, "APOGEE"))
        .collect::<astronn::Result<Vec<_>>>()?;
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
        .collect::<astronn::Result<Vec<Joined>>>()?;
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

fn report_command(args: ReportArgs, quiet: bool) -> Result<ExitCode> {
    let ranges = args
        .model
        .as_deref()
        .map(|spec| -> Result<(String, LabelRanges)> {
            let metadata = named_model(Path::new(spec), None)?.metadata;
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
    Ok(ExitCode::SUCCESS)
}

fn convert(args: ConvertArgs) -> Result<ExitCode> {
    let model = named_model(&args.input, None)?;
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
        astronn::pipeline::run_info::utc_timestamp(SystemTime::now()),
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
    Ok(ExitCode::SUCCESS)
}

fn merge(args: MergeArgs, quiet: bool) -> Result<ExitCode> {
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
    Ok(ExitCode::SUCCESS)
}

fn info(args: InfoArgs) -> Result<ExitCode> {
    let model = named_model(&args.model, None)?;
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
    Ok(ExitCode::SUCCESS)
}
