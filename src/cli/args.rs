//! Command-line arguments. Their doc comments are the `--help` text (clap) users read in a
//! terminal, where `<label>` and `[pc]` are placeholders and units, not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::nn::precision::Precision;
use crate::train::run::SavedEpoch;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// AstroNN for APOGEE spectra: stellar labels (Teff, log g, 20 abundances) with Monte Carlo
/// dropout uncertainties, computed as SDSS DR19 (Astra) computes them.
#[derive(Debug, Parser)]
#[command(name = "astronn", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// No progress bar or summary (warnings and errors are still printed).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Replace outputs that already exist (without it, an existing output file, or a
    /// non-empty output directory, is an error before any work).
    #[arg(long, global = true)]
    pub overwrite: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Continuum-normalize apStar spectra and write them to a FITS file.
    Normalize(NormalizeArgs),
    /// Predict AstroNN labels and write an astraAllStarAstroNN table (optionally distances
    /// too, in the same pass).
    Predict(PredictArgs),
    /// Predict AstroNNDist distances and write an astraAllStarAstroNNdist table.
    Dist(DistArgs),
    /// Train a network on labelled spectra and write an astronn model file.
    Train(TrainArgs),
    /// Measure throughput: the networks alone, predict end to end, and training steps.
    Bench(BenchArgs),
    /// Fit the noise model (error scale and offset per label) from stars with several
    /// visits, and write it as JSON for --noise-model.
    Calibrate(CalibrateArgs),
    /// Compare a result table with a reference catalog of true labels: Markdown and CSV
    /// summaries (bias, scatter, scatter over the Cramér–Rao bound, error calibration,
    /// distances, out-of-training-range errors) and PNG figures.
    Report(ReportArgs),
    /// Convert an Astra PyTorch checkpoint (.pt) or an astroNN model folder into an astronn
    /// model file (.safetensors).
    Convert(ConvertArgs),
    /// Put the shards of a run (`--shard`) back together into the table one unsharded run
    /// would have written, after checking they are all there and of one run.
    Merge(MergeArgs),
    /// Run predict, dist or normalize as a Slurm job array of shards, merged by a dependent
    /// job; or resubmit the shards of such a run that did not finish (--resume).
    Slurm(SlurmArgs),
    /// Which pixels drive each label: the Jacobian d label / d pixel of every spectrum,
    /// written as a FITS cube, with per-label figures against wavelength (--plot).
    Jacobian(JacobianArgs),
    /// Describe a model: its kind, labels, normalisation and provenance.
    Info(InfoArgs),
    /// Simulate an APOGEE survey with known truth (apStar files, truth and label catalogs):
    /// a test bed for the networks, not astrophysics.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of stars to draw from the survey's label distribution.
    #[arg(long, value_name = "N", required_unless_present = "labels")]
    pub n: Option<usize>,

    /// Seed of the run: the same seed gives the same survey (every HDU's data bit for bit;
    /// only the run's DATE, CMDLINE, CHECKSUM and DATASUM cards differ).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,

    /// Output directory: apStar-<id>.fits files (or normalized.fits), truth.fits (true
    /// labels, Cramér–Rao bounds, distances) and labels.fits (an allStar-like catalog with
    /// errors and missing values, for `astronn train`).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    /// Render these stars instead of drawing them: a FITS or CSV catalog with
    /// sdss4_apogee_id and the 22 label columns (teff, logg, c_h, …, ni_h); optional snr
    /// (default 100), nvisits (default 1), mass, dist (pc), ebv.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["n", "restrict"])]
    pub labels: Option<PathBuf>,

    /// Add no noise and no flagged pixels (the error arrays still give the noise level).
    #[arg(long)]
    pub noise_free: bool,

    /// Write only normalized.fits (the coadds, normalized exactly as `astronn normalize`
    /// would normalize the apStar files) instead of one apStar file per star: for large
    /// training sets.
    #[arg(long)]
    pub normalized_only: bool,

    /// Keep only stars whose true LABEL lies in [MIN, MAX] (repeatable), e.g.
    /// `--restrict fe_h=-2:0.5`: for training sets that leave part of the label space out.
    #[arg(long, value_name = "LABEL=MIN:MAX")]
    pub restrict: Vec<String>,
}

/// Where the spectra come from.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// apStar files (.fits or .fits.gz), directories (their apStar* files) or @list.txt
    /// files with one path per line.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NormalizeArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output FITS file: image HDUs FLUX and E_FLUX (one row per spectrum, 7514 pixels) and
    /// a SPECTRA table saying where each row came from.
    #[arg(short, long, value_name = "OUT.fits")]
    pub output: PathBuf,

    /// Also normalize every visit spectrum (after each file's coadd).
    #[arg(long)]
    pub visits: bool,

    /// Process only part K of N of the expanded input list (K counts from 0), or `slurm`:
    /// K and N from the Slurm job array (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN,
    /// SLURM_ARRAY_TASK_COUNT). Put the parts together with `astronn merge`.
    #[arg(long, value_name = "K/N|slurm")]
    pub shard: Option<String>,
}

/// What a prediction run reads, with which model and how.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Read already-normalized spectra (a FITS written by `normalize`, or a .npy array of
    /// N×7514) instead of apStar inputs.
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub normalized: Option<PathBuf>,

    /// Output table.
    #[arg(short, long, value_name = "OUT.fits")]
    pub output: PathBuf,

    /// Model: an Astra PyTorch checkpoint (.pt), an astronn model (.safetensors), an astroNN
    /// model folder (or its .json / .h5 / .keras file) of any APOGEE class
    /// (ApogeeBCNNCensored, ApogeeBCNN, ApogeeCNN), or `default`. The table is the one its
    /// outputs call for: astraAllStarAstroNN for AstroNN's 22 labels, astraAllStarAstroNNdist
    /// for the Ks-band fakemag, else its own (DR19's Source and spectrum columns, then its
    /// outputs). Default: the embedded model trained on simulated spectra (for trying the
    /// tool, not for science).
    #[arg(long, short, value_name = "MODEL")]
    pub model: Option<PathBuf>,

    /// Monte Carlo dropout samples per spectrum; 0 runs one deterministic pass.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub mc: usize,

    /// Seed of the dropout masks: the same seed gives the same table whatever the thread
    /// count, input order or directory. Default: a random seed, recorded in the output
    /// header.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Fail on the first spectrum that cannot be processed instead of writing a NO_RESULT
    /// row.
    #[arg(long)]
    pub strict: bool,

    /// Arithmetic of dense_1, the networks' largest matrix product: f32 (Astra's, the
    /// default); bf16 (bfloat16 inputs and weights, float32 sums) on a CPU with
    /// AVX512-BF16, while elsewhere it says so and runs f32; or bf16-emulated (the same
    /// bfloat16 arithmetic in software on any CPU, slowly: to see its effect on the labels).
    #[arg(long, default_value = "f32", value_name = "f32|bf16|bf16-emulated")]
    pub precision: Precision,

    /// Process only part K of N of the expanded input list (K counts from 0), or `slurm`:
    /// K and N from the Slurm job array (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN,
    /// SLURM_ARRAY_TASK_COUNT). Put the parts together with `astronn merge`.
    #[arg(long, value_name = "K/N|slurm", conflicts_with = "normalized")]
    pub shard: Option<String>,
}

/// Catalogs whose values replace the apStar header's for the stars they list (applied in
/// this order: --sources, --gaia, --photometry).
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Source catalog (FITS or CSV) with DR19 Source column names, e.g. DR19's mwmAllStar:
    /// every Source column it holds (sdss_id, catalogid, gaia_dr3_source_id, plx, k_mag,
    /// ebv, ...) is copied into the tables, and AstroNNdist takes k_mag, ebv, plx and e_plx
    /// from it. Stars it does not list keep their apStar header's values.
    #[arg(long, value_name = "CAT")]
    pub sources: Option<PathBuf>,

    /// --sources column matched against the spectra's column of the same name
    /// (sdss_id works when both have it).
    #[arg(long, default_value = "sdss4_apogee_id", value_name = "NAME")]
    pub sources_id_column: String,

    /// Gaia DR3 catalog (FITS or CSV) with Gaia's own column names: parallax,
    /// parallax_error, and the parallax zero-point inputs phot_g_mean_mag,
    /// nu_eff_used_in_astrometry, pseudocolour, ecl_lat, astrometric_params_solved.
    #[arg(long, value_name = "CAT")]
    pub gaia: Option<PathBuf>,

    /// --gaia column holding the star's id: source_id is matched against the spectra's
    /// gaia_dr3_source_id (from --sources), another name against the column of that name.
    #[arg(long, default_value = "source_id", value_name = "NAME")]
    pub gaia_id_column: String,

    /// Catalog (CSV or FITS) with Ks magnitude and E(B-V) per star, joined on the APOGEE
    /// id; its values replace k_mag and ebv for the stars it lists.
    #[arg(long, value_name = "CAT")]
    pub photometry: Option<PathBuf>,

    /// --photometry column holding the APOGEE id (allStar: APOGEE_ID).
    #[arg(long, default_value = "sdss4_apogee_id", value_name = "NAME")]
    pub id_column: String,

    /// --photometry column holding the 2MASS Ks magnitude (allStar: K).
    #[arg(long, default_value = "k_mag", value_name = "NAME")]
    pub k_mag_column: String,

    /// --photometry column holding E(B-V) (allStar: SFD_EBV).
    #[arg(long, default_value = "ebv", value_name = "NAME")]
    pub ebv_column: String,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Error recalibration: JSON {label: {"offset", "scale"}} or Astra's pickle (an
    /// `L_fakemag` entry recalibrates the distances of --dist-output).
    #[arg(long, value_name = "FILE")]
    pub noise_model: Option<PathBuf>,

    /// Also predict every visit spectrum and write them to this table
    /// (astraAllVisitAstroNN layout).
    #[arg(long, value_name = "V.fits")]
    pub visits_output: Option<PathBuf>,

    /// AstroNNDist model for --dist-output: a file, an astroNN model folder, or `default`
    /// (the embedded model trained on simulated spectra, also used when none is given).
    #[arg(long, value_name = "MODEL", requires = "dist_output")]
    pub dist_model: Option<PathBuf>,

    /// Also run AstroNNDist in the same pass and write its distances to this table
    /// (astraAllStarAstroNNdist layout).
    #[arg(long, value_name = "D.fits")]
    pub dist_output: Option<PathBuf>,

    /// Also run MODEL on the same read of each coadd and write its table to OUTPUT (the
    /// table its outputs call for, as for --model): e.g. the DR17 VAC's ages network beside
    /// the abundance and distance networks. Repeat for more networks.
    #[arg(long, num_args = 2, value_names = ["MODEL", "OUTPUT"], action = clap::ArgAction::Append)]
    pub extra: Vec<PathBuf>,

    #[command(flatten)]
    pub catalogs: CatalogArgs,
}

#[derive(Debug, Args)]
pub struct DistArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Error recalibration: its `L_fakemag` entry {"offset", "scale"} recalibrates
    /// L_fakemag_err (and with it nn_dist_err and nn_parallax_err).
    #[arg(long, value_name = "FILE")]
    pub noise_model: Option<PathBuf>,

    #[command(flatten)]
    pub catalogs: CatalogArgs,
}

#[derive(Debug, Args)]
pub struct JacobianArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Read already-normalized spectra (a FITS written by `normalize`, or a .npy array of
    /// N×7514) instead of apStar inputs.
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub normalized: Option<PathBuf>,

    /// Output: HDU JACOBIAN, a float32 cube (NAXIS1 = 7514 pixels, NAXIS2 = labels, NAXIS3
    /// = spectra; numpy reads it as [spectrum, label, pixel]), and HDU SPECTRA.
    #[arg(short, long, value_name = "OUT.fits")]
    pub output: PathBuf,

    /// Model (Astra .pt, astronn .safetensors, an astroNN model folder, `default` or
    /// `default-dist`). Default: the embedded default model of --kind.
    #[arg(long, short, value_name = "MODEL")]
    pub model: Option<PathBuf>,

    /// The network, when --model is not given.
    #[arg(long, value_enum, default_value_t = NetworkKind::Astronn)]
    pub kind: NetworkKind,

    /// MC-dropout samples: the mean of the per-sample Jacobians; 0 differentiates the
    /// deterministic pass.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub mc: usize,

    /// Seed of the dropout masks (with --mc). Default: a random seed, in the header.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Only these labels, comma-separated (e.g. teff,logg,fe_h).
    #[arg(long, value_delimiter = ',', value_name = "LABELS")]
    pub labels: Vec<String>,

    /// Also the Jacobian of the predictive log-variance (HDU LOGVAR_JACOBIAN).
    #[arg(long)]
    pub log_variance: bool,

    /// Write a PNG per label into DIR: the Jacobian against wavelength on the three chips
    /// (mean over the spectra, and the first spectrum), the element's ASPCAP windows shaded.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

/// Which network to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkKind {
    /// The censored abundance network (Teff, log g, 20 abundances).
    Astronn,
    /// The distance network (L_fakemag from parallaxes).
    Dist,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Read already-normalized spectra (a FITS written by `normalize`) instead of apStar
    /// inputs.
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub normalized: Option<PathBuf>,

    /// Network to train.
    #[arg(long, value_enum, default_value_t = NetworkKind::Astronn)]
    pub kind: NetworkKind,

    /// Label catalog (FITS or CSV), joined on --id-column. astronn: the defaults fit an
    /// APOGEE allStar file (TEFF, LOGG, FE_H, X_H or X_FE + FE_H, errors in <COLUMN>_ERR).
    /// dist: columns parallax, parallax_err (mas), k_mag, ebv.
    #[arg(long = "labels", value_name = "CAT")]
    pub catalog: PathBuf,

    /// Catalog column holding the APOGEE id.
    #[arg(long, default_value = "APOGEE_ID", value_name = "NAME")]
    pub id_column: String,

    /// Read a label from another column, e.g. --label logg=LOGG_SEISMO (repeatable).
    #[arg(long = "label", value_name = "NAME=COLUMN", value_parser = parse_label_column)]
    pub label_columns: Vec<(String, String)>,

    /// Model file to write (our safetensors format, loadable by predict).
    #[arg(short, long, value_name = "MODEL.safetensors")]
    pub output: PathBuf,

    /// Epochs to train.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,

    /// Spectra per optimiser step (astroNN: 64; the DR17 runs used 256).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,

    /// Initial learning rate (halved when the validation error stops improving).
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,

    /// Fraction of the spectra held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,

    /// Seed of the initial weights, validation split, shuffles and dropout masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Directory for per-epoch checkpoints (default: OUTPUT.checkpoints).
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,

    /// Per-epoch metrics, JSON (default: OUTPUT.metrics.json).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,

    /// Continue from a checkpoint of an earlier run with the same data and settings.
    #[arg(long, value_name = "CHECKPOINT", conflicts_with = "init")]
    pub resume: Option<PathBuf>,

    /// Fine-tune: start from this model's weights instead of random ones. Any model predict
    /// reads (Astra .pt, our .safetensors, an astroNN model folder, or `default`) of the
    /// --kind trained; its architecture and (without --renormalize) its normalisation are
    /// kept, and the new model's metadata names it and its SHA-256.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,

    /// With --init: compute the normalisation (mean spectrum, label means and stds) from the
    /// new training set instead of keeping the parent's.
    #[arg(long, requires = "init")]
    pub renormalize: bool,

    /// Keep parameters fixed while training: `conv` (both convolutions), `trunk` (the
    /// convolutions and dense_1) or a pattern over parameter names (`*` and `?`; a layer
    /// name stands for its weight and bias), e.g. `dense_aux_fullspec`. Repeatable.
    #[arg(long, value_name = "conv|trunk|PATTERN")]
    pub freeze: Vec<String>,

    /// Stop after N epochs without a better validation loss (the model written is still the
    /// best epoch's, unless --save last).
    #[arg(long, value_name = "N")]
    pub early_stop: Option<usize>,

    /// Arithmetic of dense_1's products in each training step: f32 (default); bf16, mixed
    /// precision (bfloat16 products with float32 sums, float32 weights and optimiser) on a
    /// CPU with AVX512-BF16, while elsewhere it says so and trains in f32; bf16-emulated,
    /// the same in software on any CPU (slower). Validation losses are float32 either way.
    #[arg(long, default_value = "f32", value_name = "f32|bf16|bf16-emulated")]
    pub precision: Precision,

    /// Which epoch's model to write: the one with the best validation loss, or the last.
    #[arg(long, default_value = "best", value_name = "best|last")]
    pub save: SavedEpoch,

    /// Train only on the catalog stars a DR19 selection keeps: `dr19-astronn` (no M_H_BAD,
    /// STAR_BAD, NO_ASPCAP_RESULT, MISSING_APSTAR, NO_GRID or PROBLEM_TARGET in ASPCAPFLAG)
    /// or `dr19-dist` (VSCATTER < 1, SNR > 200, no STARFLAG bit, valid K and SFD_EBV, Gaia
    /// quality cuts). Prints how many stars each rule removed.
    #[arg(long, value_name = "NAME")]
    pub select: Option<String>,

    /// Train only on catalog stars for which EXPR holds, e.g. 'SNR > 200 && !(STARFLAG) &&
    /// VSCATTER < 1' (columns, numbers, + - * /, comparisons, && || !, finite(x), abs(x),
    /// bit tests FLAG[BIT] by number or name). Applied after --select.
    #[arg(long = "where", value_name = "EXPR")]
    pub where_expr: Option<String>,
}

fn parse_label_column(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((label, column)) if !label.is_empty() && !column.is_empty() => {
            Ok((label.trim().to_string(), column.trim().to_string()))
        }
        _ => Err(format!("expected NAME=COLUMN, got '{text}'")),
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// apStar files to measure with (their spectra feed the networks; end to end they are
    /// read again and again), e.g. tests/data.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<String>,

    /// AstroNN model to measure: a file or `default` (the embedded model, also used when none
    /// is given).
    #[arg(long, short, value_name = "MODEL")]
    pub model: Option<PathBuf>,

    /// AstroNNDist model to measure: a file or `default` (the embedded model, also used when
    /// none is given).
    #[arg(long, value_name = "MODEL")]
    pub dist_model: Option<PathBuf>,

    /// MC-dropout samples per spectrum.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub mc: usize,

    /// Arithmetic of dense_1, the networks' largest matrix product: f32 (Astra's, the
    /// default); bf16 (bfloat16 inputs and weights, float32 sums) on a CPU with
    /// AVX512-BF16, while elsewhere it says so and runs f32; or bf16-emulated (the same
    /// bfloat16 arithmetic in software on any CPU, slowly: to see its effect on the labels).
    #[arg(long, default_value = "f32", value_name = "f32|bf16|bf16-emulated")]
    pub precision: Precision,

    /// Spectra per network-alone measurement.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub spectra: usize,

    /// apStar files read per end-to-end measurement (the inputs, cycled).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub files: usize,

    /// Also measure AstroNN training (the second of two epochs) at each `--training-batch`.
    #[arg(long)]
    pub training: bool,

    /// Training batch sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [64, 256], value_name = "N")]
    pub training_batch: Vec<usize>,

    /// Spectra per training epoch (the inputs' spectra, cycled, with synthetic labels).
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub training_spectra: usize,
}

/// How result rows find their star in a reference catalog.
#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Catalog column holding the APOGEE id (allStar: APOGEE_ID).
    #[arg(long, default_value = "sdss4_apogee_id", value_name = "NAME")]
    pub id_column: String,

    /// Result-table column holding the APOGEE id.
    #[arg(long, default_value = "sdss4_apogee_id", value_name = "NAME")]
    pub result_id_column: String,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Visit tables written by `predict --visits-output` (astraAllVisitAstroNN layout); with
    /// --truth, any `predict` tables (coadds or visits).
    #[arg(value_name = "VISITS.fits", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Fit against true labels instead of repeat visits: a catalog (FITS or CSV) with the
    /// label columns (teff, logg, fe_h, ...), joined on --id-column. Each label's
    /// raw − truth is fitted as N(0, (scale · raw_e + offset)²), at least 20 stars per label.
    #[arg(long, value_name = "CATALOG")]
    pub truth: Option<PathBuf>,

    #[command(flatten)]
    pub reference: ReferenceArgs,

    /// Noise model to write (JSON).
    #[arg(short, long, value_name = "NOISE.json")]
    pub output: PathBuf,

    /// Labels to calibrate (default: every label in the table).
    #[arg(long, value_delimiter = ',', value_name = "LABEL,...")]
    pub labels: Vec<String>,
}

/// `astronn report`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Writes into DIR: summary.md (inputs, counts, per-label tables for all matched rows and for \
SNR >= --snr-min, distances, out-of-range check, definitions), summary.csv (one row per \
label and star set) and the figures the inputs allow: one_to_one.png, residual_vs_snr.png, \
kiel.png, zscore_hist.png, distance_error.png.

Metrics per label (residual = predicted - true; robust std = 1.4826 * MAD):
  bias             median residual
  scatter          robust std of the residuals
  scatter_over_crb robust std of residual / crb_<label> (reference column)
  z_width          robust std of residual / e_<label> (1: calibrated errors)
Distances (dist, L_fakemag in both files): fractional error (pred - true) / true: bias \
(median), median_abs, scatter (robust std), z_width with nn_dist_err / L_fakemag_err.

Rows flagged NO_RESULT are skipped; so, per label, are non-finite predictions and \
truths that are NaN or -9999. Labels missing from either file are skipped.")]
pub struct ReportArgs {
    /// Result table written by `predict` or `dist` (HDU APOGEE; coadds or visits: every row
    /// is compared).
    #[arg(value_name = "RESULT.fits")]
    pub result: PathBuf,

    /// Reference catalog (FITS: first table HDU with rows; or CSV) with any of the label
    /// columns, crb_<label> (Cramér–Rao bounds), snr, dist [pc], L_fakemag.
    #[arg(value_name = "TRUTH")]
    pub truth: PathBuf,

    /// Output directory (created if needed).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    #[command(flatten)]
    pub reference: ReferenceArgs,

    /// SNR threshold of the second star set (SNR from the result's snr column, else the
    /// reference's).
    #[arg(long, default_value_t = 100.0, value_name = "SNR")]
    pub snr_min: f64,

    /// Model (a file, or `default` / `default-dist` for the embedded AstroNN / AstroNNDist
    /// model) whose training range (metadata 'label_range') decides which stars are out of
    /// range; adds the out-of-range error comparison for e_teff and e_logg.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Model to read: an Astra checkpoint (.pt), an astroNN model folder (or its .json /
    /// .h5 / .keras file), or `default` / `default-dist` (the embedded AstroNN /
    /// AstroNNDist model).
    #[arg(value_name = "IN")]
    pub input: PathBuf,

    /// Model file to write.
    #[arg(short, long, value_name = "OUT.safetensors")]
    pub output: PathBuf,

    /// A description stored in the model's metadata.
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Model file (.pt or .safetensors), an astroNN model folder, or `default` /
    /// `default-dist` for the embedded AstroNN / AstroNNDist model.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard files written with --shard (any order), or directories holding them (their
    /// .fits and .fits.gz files).
    #[arg(value_name = "SHARD", required = true)]
    pub shards: Vec<PathBuf>,

    /// The merged table (gzip-compressed when it ends in .gz).
    #[arg(short, long, value_name = "OUT.fits")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Example:
  astronn slurm --shards 100 --partition mwm --time 2:00:00 --workdir dr19-run -- \\
      predict --seed 7 -o astraAllStarAstroNN.fits --visits-output astraAllVisitAstroNN.fits \\
      @apstar-files.txt

writes dr19-run/array.sbatch (a job array of 100 tasks, each running the command on its \
shard with --shard <task>/100 and writing dr19-run/shards/<output name>/), \
dr19-run/merge.sbatch (astronn merge of every output, run after the whole array succeeded), \
submits both with sbatch and prints the job ids. Task logs go to dr19-run/logs/. After a \
failure (node crash, time limit, scancel), `astronn slurm --resume --workdir dr19-run` \
resubmits only the shards without a complete output, then the merge.")]
pub struct SlurmArgs {
    /// Directory for the job scripts, shards, logs and the run's state (created if needed).
    #[arg(long, value_name = "DIR")]
    pub workdir: PathBuf,

    /// Shards (tasks of the job array).
    #[arg(long, value_name = "N", required_unless_present = "resume")]
    pub shards: Option<usize>,

    /// Resubmit the shards of the run in --workdir that have no complete output, then the
    /// merge, with the options the run was created with (no command needed).
    #[arg(long, conflicts_with = "shards")]
    pub resume: bool,

    /// Slurm partition (sbatch --partition).
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,

    /// Slurm account (sbatch --account).
    #[arg(long, value_name = "A")]
    pub account: Option<String>,

    /// Time limit of each task (sbatch --time), e.g. 2:00:00.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,

    /// Memory of each task (sbatch --mem), e.g. 4G.
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,

    /// Cores of each task (sbatch --cpus-per-task; the task runs with --threads C).
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub cpus_per_task: usize,

    /// Generic resources of each task (sbatch --gres), e.g. gpu:1.
    #[arg(long, value_name = "G")]
    pub gres: Option<String>,

    /// Write the scripts without submitting them; with --resume, list the shards without a
    /// complete output.
    #[arg(long)]
    pub dry_run: bool,

    /// The command each shard runs: predict, dist or normalize with its options and inputs
    /// (after `--`).
    #[arg(
        last = true,
        value_name = "COMMAND",
        required_unless_present = "resume"
    )]
    pub command: Vec<String>,
}
