//! One prediction run from inputs to DR19 tables, as the command line, the Python module and
//! Slurm tasks start it. [`Run::prepare`] loads and checks everything (models, noise model,
//! catalogs, inputs, outputs) before any work; [`Run::execute`] does the work.

use crate::io::header_card::{CardValue, HeaderCard};
use crate::io::model_file::{ModelFile, ModelKind};
use crate::io::photometry::{PhotometryCatalog, PhotometryColumns};
use crate::io::temp::refuse_to_replace;
use crate::models::ModelSpec;
use crate::nn::precision::Arithmetic;
use crate::pipeline::astronn::AstroNNJob;
use crate::pipeline::catalogs::StarCatalogs;
use crate::pipeline::dist::DistJob;
use crate::pipeline::predict::{run_predict, Job, Jobs, Observer, PredictOptions, RunSummary};
use crate::pipeline::predictor::{Network, Predictor};
use crate::pipeline::run_info::{card, run_cards};
use crate::pipeline::shard::{Shard, ShardedInputs};
use crate::pipeline::source::SpectrumSource;
use crate::products::writer::ProductWriter;
use crate::products::Product;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// apStar files read and normalized together before their spectra go to the networks.
pub const FILES_PER_CHUNK: usize = 32;
/// Normalized spectra read together from a normalized input.
pub const SPECTRA_PER_CHUNK: usize = 64;

/// Where a run's spectra come from.
#[derive(Debug, Clone)]
pub enum RunInputs {
    /// apStar files, directories (searched for apStar files) and `@list` files, and the
    /// part of their expanded list this process reads (all of it without).
    ApStar {
        inputs: Vec<String>,
        shard: Option<Shard>,
    },
    /// Normalized spectra: a `normalize` output or an `.npy` array.
    Normalized(PathBuf),
}

/// Catalogs replacing the apStar header's values for the stars they list.
#[derive(Debug, Clone)]
pub struct CatalogSpec {
    /// A Source catalog with DR19 Source column names.
    pub sources: Option<PathBuf>,
    /// Its column matched against the spectra's column of the same name.
    pub sources_id_column: String,
    /// Gaia DR3 astrometry with Gaia's column names.
    pub gaia: Option<PathBuf>,
    /// Its identifier column (`source_id` is matched against `gaia_dr3_source_id`).
    pub gaia_id_column: String,
    /// Ks magnitude and E(B−V) per star.
    pub photometry: Option<PathBuf>,
    /// Its columns.
    pub photometry_columns: PhotometryColumns,
}

impl Default for CatalogSpec {
    /// No catalogs, with the default column names of the command line.
    fn default() -> Self {
        CatalogSpec {
            sources: None,
            sources_id_column: "sdss4_apogee_id".into(),
            gaia: None,
            gaia_id_column: "source_id".into(),
            photometry: None,
            photometry_columns: PhotometryColumns::default(),
        }
    }
}

impl CatalogSpec {
    /// Reads the catalogs.
    pub fn load(&self) -> Result<StarCatalogs> {
        Ok(StarCatalogs {
            sources: self
                .sources
                .as_deref()
                .map(|path| StarCatalogs::load_sources(path, &self.sources_id_column))
                .transpose()?,
            gaia: self
                .gaia
                .as_deref()
                .map(|path| StarCatalogs::load_gaia(path, &self.gaia_id_column))
                .transpose()?,
            photometry: self
                .photometry
                .as_deref()
                .map(|path| PhotometryCatalog::load(path, &self.photometry_columns))
                .transpose()?,
        })
    }

    /// Header cards naming the catalogs.
    pub fn cards(&self) -> Vec<HeaderCard> {
        let name = |path: &Option<PathBuf>, default: &str| {
            path.as_ref()
                .map_or(default.to_string(), |p| p.display().to_string())
        };
        vec![
            card(
                "SOURCES",
                CardValue::Str(name(&self.sources, "apStar header")),
                "Source columns from",
            ),
            card(
                "GAIA",
                CardValue::Str(name(&self.gaia, "none")),
                "Gaia DR3 zero-point inputs from",
            ),
            card(
                "PHOTOMET",
                CardValue::Str(name(&self.photometry, "Source columns k_mag, ebv")),
                "Source of Ks and E(B-V)",
            ),
        ]
    }
}

/// AstroNN's part of a run: its model and tables. The model may be any labels network
/// (AstroNN's, or an astroNN `ApogeeBCNN`/`ApogeeCNN`): one predicting AstroNN's 22 labels
/// writes DR19's tables, any other its own ([`crate::products::generic`]).
#[derive(Debug, Clone)]
pub struct AstroNNOutputs {
    /// The model.
    pub model: ModelSpec,
    /// The coadds' table (`astraAllStarAstroNN`).
    pub output: PathBuf,
    /// The visits' table (`astraAllVisitAstroNN`); visits are read only when it is given.
    pub visits_output: Option<PathBuf>,
}

/// A further network of a run, on the same read of each coadd: any model (AstroNN's,
/// AstroNNDist's, any other astroNN network's) and its table, the one its outputs call for.
#[derive(Debug, Clone)]
pub struct ExtraOutputs {
    /// The model.
    pub model: ModelSpec,
    /// Its table of coadds.
    pub output: PathBuf,
}

/// AstroNNDist's part of a run: its model and table.
#[derive(Debug, Clone)]
pub struct DistOutputs {
    /// The model.
    pub model: ModelSpec,
    /// The table (`astraAllStarAstroNNdist`).
    pub output: PathBuf,
}

/// Everything a prediction run needs to know. At least one of `astronn`, `dist`, `extra` is
/// given.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The spectra.
    pub inputs: RunInputs,
    /// AstroNN labels.
    pub astronn: Option<AstroNNOutputs>,
    /// AstroNNDist distances.
    pub dist: Option<DistOutputs>,
    /// Further networks on the same read of each coadd (ages, another abundance network, …).
    pub extra: Vec<ExtraOutputs>,
    /// A noise model for every network; without one, each default model gets the default
    /// noise model and any other network none.
    pub noise_model: Option<PathBuf>,
    /// Catalogs replacing header values.
    pub catalogs: CatalogSpec,
    /// MC-dropout samples per spectrum (0: deterministic; 1 is refused).
    pub mc: usize,
    /// Seed of the dropout masks (drawn, and recorded in the headers, when `None`).
    pub seed: Option<u64>,
    /// Fail on the first spectrum without a result instead of writing a NO_RESULT row.
    pub strict: bool,
    /// The networks' arithmetic (recorded in the headers' `PRECISN`).
    pub arithmetic: Arithmetic,
    /// The command line (or call) that started the run, for the headers.
    pub command_line: String,
    /// Replace outputs that exist (else an existing output is an error before any work).
    pub overwrite: bool,
}

/// A run ready to execute: models built, catalogs read, tables created.
pub struct Run {
    source: SpectrumSource,
    jobs: Jobs,
    options: PredictOptions,
    outputs: Vec<PathBuf>,
    default_models: Vec<ModelKind>,
    /// Notes on the inputs, given to the observer when the run starts.
    input_notes: Vec<String>,
}

/// What an executed run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Counts of spectra.
    pub summary: RunSummary,
    /// Wall time of the work.
    pub seconds: f64,
    /// Notes about the written tables (values that did not fit their columns, …).
    pub table_notes: Vec<String>,
    /// The Source catalog, when stars were missing from it.
    pub sources_catalog: Option<PathBuf>,
    /// The tables written.
    pub outputs: Vec<PathBuf>,
}

/// The run options, refusing a sample count without a variance.
pub fn predict_options(mc: usize, seed: Option<u64>, strict: bool) -> Result<PredictOptions> {
    if mc == 1 {
        return Err(Error::Invalid(
            "--mc 1 gives no MC variance: use 0 (deterministic) or at least 2 samples".into(),
        ));
    }
    Ok(PredictOptions {
        mc,
        seed: seed.unwrap_or_else(random_seed),
        strict,
    })
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

impl Run {
    /// Loads and checks everything the run needs and creates its tables; nothing is read
    /// from the inputs yet. An output that exists is an error unless `spec.overwrite`.
    pub fn prepare(spec: RunSpec) -> Result<Run> {
        let started = SystemTime::now();
        let options = predict_options(spec.mc, spec.seed, spec.strict)?;
        if spec.astronn.is_none() && spec.dist.is_none() && spec.extra.is_empty() {
            return Err(Error::Invalid(
                "a run needs AstroNN or AstroNNDist outputs, or another network's (extra)".into(),
            ));
        }
        let requested: Vec<&Path> = spec
            .astronn
            .iter()
            .flat_map(|o| std::iter::once(&o.output).chain(&o.visits_output))
            .chain(spec.dist.iter().map(|o| &o.output))
            .chain(spec.extra.iter().map(|o| &o.output))
            .map(PathBuf::as_path)
            .collect();
        refuse_to_replace(&requested, &[], spec.overwrite)?;
        refuse_repeated_outputs(&requested)?;
        let visits = spec
            .astronn
            .as_ref()
            .is_some_and(|o| o.visits_output.is_some());
        // The inputs first: one that does not exist fails before any model or catalog is read.
        let (source, input_cards, input_notes) = open_source(&spec.inputs, visits)?;
        let load = |model: &ModelSpec, kind: Option<ModelKind>| {
            Predictor::load(model, kind, spec.noise_model.as_deref(), spec.arithmetic)
        };
        let astronn = spec
            .astronn
            .as_ref()
            .map(|o| load_any(&o.model, o.visits_output.is_some(), &load))
            .transpose()?;
        let dist = spec
            .dist
            .as_ref()
            .map(|o| load(&o.model, Some(ModelKind::AstroNNDist)))
            .transpose()?;
        let extra = spec
            .extra
            .iter()
            .map(|o| load_any(&o.model, false, &load))
            .collect::<Result<Vec<_>>>()?;
        let catalogs = spec.catalogs.load()?;

        let mut shared = spec.catalogs.cards();
        shared.extend(input_cards);
        let header = |predictor: &Predictor| {
            model_cards(predictor, &options, &shared, &spec.command_line, started)
        };
        let mut tables: Vec<(Predictor, &ModelSpec, &Path, Option<&Path>)> = Vec::new();
        if let (Some(predictor), Some(o)) = (astronn, &spec.astronn) {
            tables.push((predictor, &o.model, &o.output, o.visits_output.as_deref()));
        }
        if let (Some(predictor), Some(o)) = (dist, &spec.dist) {
            tables.push((predictor, &o.model, &o.output, None));
        }
        for (predictor, o) in extra.into_iter().zip(&spec.extra) {
            tables.push((predictor, &o.model, &o.output, None));
        }
        let mut jobs = Vec::new();
        let mut outputs = Vec::new();
        let mut default_models = Vec::new();
        let mut notes = input_notes;
        for (predictor, model, output, visits_output) in tables {
            let kind = predictor.model().kind;
            if predictor.is_default(model) && !default_models.contains(&kind) {
                default_models.push(kind);
            }
            if options.mc > 0 && !predictor.is_bayesian() {
                notes.push(format!(
                    "{} is an {} without MC dropout or a predictive variance: it runs one \
                     deterministic pass (--mc ignored) and its error columns are NaN",
                    predictor.model().path.display(),
                    predictor.model().class_name()
                ));
            }
            let cards = header(&predictor);
            outputs.push(output.to_path_buf());
            outputs.extend(visits_output.map(Path::to_path_buf));
            jobs.push(job(predictor, output, visits_output, cards, started)?);
        }
        Ok(Run {
            source,
            jobs: Jobs { jobs, catalogs },
            options,
            outputs,
            default_models,
            input_notes: notes,
        })
    }

    /// The run's options (with the seed drawn if none was given).
    pub fn options(&self) -> &PredictOptions {
        &self.options
    }

    /// Progress units of the whole run: files, or spectra for normalized inputs.
    pub fn total_units(&self) -> usize {
        self.source.total_units()
    }

    /// What a progress unit is called.
    pub fn unit_name(&self) -> &'static str {
        self.source.unit_name()
    }

    /// The kinds of the run's networks that are embedded default models (trained on
    /// simulated spectra: the caller should say so, naming each).
    pub fn default_models(&self) -> &[ModelKind] {
        &self.default_models
    }

    /// The tables the run writes.
    pub fn outputs(&self) -> &[PathBuf] {
        &self.outputs
    }

    /// Runs every spectrum through the networks, then finishes the tables (adding the
    /// run's counts and time to their headers).
    pub fn execute(mut self, observer: &dyn Observer) -> Result<RunReport> {
        let start = Instant::now();
        for note in &self.input_notes {
            observer.warn(note);
        }
        let summary = run_predict(&mut self.source, &mut self.jobs, &self.options, observer)?;
        let seconds = start.elapsed().as_secs_f64();
        let late = [
            card("ELAPSED", CardValue::F64(seconds), "Run time [s]"),
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
        let tables = self.jobs.jobs.into_iter().flat_map(Job::into_tables);
        let mut table_notes = Vec::new();
        for table in tables {
            table_notes.extend(table.finish(&late)?);
        }
        let sources_catalog = match &self.jobs.catalogs.sources {
            Some(sources) if summary.missing_sources > 0 => {
                Some(sources.catalog.path().to_path_buf())
            }
            _ => None,
        };
        Ok(RunReport {
            summary,
            seconds,
            table_notes,
            sources_catalog,
            outputs: self.outputs,
        })
    }
}

/// A model of any kind (the embedded AstroNN model for the default), writing the table its
/// outputs call for; `visits` (a visit table asked for) refuses AstroNNDist, which runs on
/// coadds only.
fn load_any(
    model: &ModelSpec,
    visits: bool,
    load: &dyn Fn(&ModelSpec, Option<ModelKind>) -> Result<Predictor>,
) -> Result<Predictor> {
    let predictor = load(model, None)?;
    if visits && predictor.model().kind == ModelKind::AstroNNDist {
        return Err(Error::Invalid(format!(
            "{} is an AstroNNDist model, which runs on coadds only: it has no visit table",
            predictor.model().path.display()
        )));
    }
    Ok(predictor)
}

/// A job writing `predictor`'s tables: coadds at `output` and, for a labels network, visits
/// at `visits_output` if given; both with the header `cards`.
fn job(
    predictor: Predictor,
    output: &Path,
    visits_output: Option<&Path>,
    cards: Vec<HeaderCard>,
    started: SystemTime,
) -> Result<Job> {
    Ok(match predictor.into_network() {
        Network::Labels(predictor) => {
            let coadds =
                ProductWriter::create(output, predictor.layout(false)?, cards.clone(), started)?;
            let visits = visits_output
                .map(|path| ProductWriter::create(path, predictor.layout(true)?, cards, started))
                .transpose()?;
            Job::Labels(Box::new(AstroNNJob {
                predictor,
                coadds,
                visits,
            }))
        }
        Network::Dist(predictor) => Job::Dist(Box::new(DistJob {
            table: ProductWriter::create(
                output,
                Product::AllStarAstroNNdist.layout(),
                cards,
                started,
            )?,
            predictor,
        })),
    })
}

/// Refuses two tables of a run at one path.
fn refuse_repeated_outputs(outputs: &[&Path]) -> Result<()> {
    for (i, output) in outputs.iter().enumerate() {
        if outputs[..i].contains(output) {
            return Err(Error::Invalid(format!(
                "{} is named as the output of two tables",
                output.display()
            )));
        }
    }
    Ok(())
}

/// The run's spectra, the header cards of its part of the input list (none for a
/// normalized input), and notes on the inputs (files named twice).
fn open_source(
    inputs: &RunInputs,
    visits: bool,
) -> Result<(SpectrumSource, Vec<HeaderCard>, Vec<String>)> {
    Ok(match inputs {
        RunInputs::Normalized(path) => (
            SpectrumSource::normalized(path, SPECTRA_PER_CHUNK)?,
            Vec::new(),
            Vec::new(),
        ),
        RunInputs::ApStar { inputs, shard } => {
            let inputs = ShardedInputs::expand(inputs, *shard)?;
            let cards = inputs.cards();
            (
                SpectrumSource::apstar(inputs.files, visits, FILES_PER_CHUNK),
                cards,
                inputs.repeated,
            )
        }
    })
}

/// Header cards of a network's tables: the run, the model, the MC settings, then `shared`
/// (catalogs, inputs) and the noise model.
fn model_cards(
    predictor: &Predictor,
    options: &PredictOptions,
    shared: &[HeaderCard],
    command_line: &str,
    started: SystemTime,
) -> Vec<HeaderCard> {
    let model: &ModelFile = predictor.model();
    let mut cards = run_cards(command_line, started);
    cards.extend([
        card("MODEL", CardValue::Str(model.identity()), "Model file"),
        card(
            "NNCLASS",
            CardValue::Str(model.class_name()),
            "Network class (astroNN's name)",
        ),
        card(
            "MODELSHA",
            CardValue::Str(model.sha256.clone()),
            "SHA-256 of the model file",
        ),
        card(
            "MC",
            CardValue::I64(if predictor.is_bayesian() {
                options.mc as i64
            } else {
                0
            }),
            "MC dropout samples (0: deterministic)",
        ),
        card(
            "SEED",
            CardValue::Str(options.seed.to_string()),
            "Seed of the dropout masks",
        ),
        card(
            "PRECISN",
            CardValue::Str(predictor.arithmetic().header_value().to_string()),
            "Arithmetic of dense_1 (float32: Astra's)",
        ),
    ]);
    cards.extend(shared.iter().cloned());
    cards.push(card(
        "NOISEMOD",
        CardValue::Str(predictor.noise_model_name().to_string()),
        "Noise model",
    ));
    cards
}
