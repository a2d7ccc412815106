//! `astronn jacobian`: which pixels drive each label, as a FITS cube and figures.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::apogee::masks::{branch_window, BRANCH_ELEMENTS};
use crate::cli::args::{JacobianArgs, NetworkKind};
use crate::cli::inputs::input_files;
use crate::cli::models::load_model;
use crate::cli::plural::count;
use crate::cli::progress::Progress;
use crate::io::header_card::CardValue;
use crate::io::model_file::ModelKind;
use crate::nn::censored::{branch_output, LABELS};
use crate::pipeline::jacobian::{run_jacobian, JacobianNetwork, JacobianOptions};
use crate::pipeline::run::{random_seed, FILES_PER_CHUNK, SPECTRA_PER_CHUNK};
use crate::pipeline::run_info::{card, run_cards};
use crate::pipeline::source::SpectrumSource;
use crate::report::figures;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Runs `astronn jacobian`.
pub fn jacobian(
    args: JacobianArgs,
    command_line: &str,
    quiet: bool,
    overwrite: bool,
) -> Result<()> {
    let started = SystemTime::now();
    let plots: Vec<&Path> = args.plot.iter().map(PathBuf::as_path).collect();
    crate::io::temp::refuse_to_replace(&[&args.output], &plots, overwrite)?;
    if args.mc == 1 {
        bail!("--mc 1 is one dropout sample: use 0 (deterministic) or at least 2 samples");
    }
    let kind = match args.kind {
        NetworkKind::Astronn => ModelKind::AstroNN,
        NetworkKind::Dist => ModelKind::AstroNNDist,
    };
    let model = match args.model.as_deref() {
        None => load_model(None, kind, quiet)?,
        Some(path) => crate::models::ModelSpec::from_arg(Some(path)).load_any(Some(kind))?,
    };
    let net = JacobianNetwork::from_model(&model)?;
    let labels = label_rows(&args.labels, net.labels())?;
    let mut cards = run_cards(command_line, started);
    cards.push(card(
        "MODEL",
        CardValue::Str(model.identity()),
        "Model file",
    ));
    cards.push(card(
        "MODELSHA",
        CardValue::Str(model.sha256.clone()),
        "SHA-256 of the model file",
    ));
    let seed = args.seed.unwrap_or_else(random_seed);
    cards.push(card(
        "MC",
        CardValue::I64(args.mc as i64),
        "MC dropout samples (0: deterministic)",
    ));
    cards.push(card(
        "SEED",
        CardValue::Str(seed.to_string()),
        "Seed of the dropout masks",
    ));
    let mut source = match &args.normalized {
        Some(path) => SpectrumSource::normalized(path, SPECTRA_PER_CHUNK)?,
        None => {
            let inputs = input_files(&args.input.inputs, None)?;
            for note in &inputs.repeated {
                eprintln!("warning: {note}");
            }
            cards.extend(inputs.cards());
            SpectrumSource::apstar(inputs.files, false, FILES_PER_CHUNK)
        }
    };
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let options = JacobianOptions {
        mc: args.mc,
        seed,
        log_variance: args.log_variance,
        labels,
    };
    let progress = Progress::new(source.total_units(), source.unit_name(), quiet);
    let summary = run_jacobian(&mut source, &net, &options, &args.output, &cards, &progress)?;
    progress.finish();
    let mut written = vec![args.output.display().to_string()];
    if let Some(dir) = &args.plot {
        if summary.mean.is_empty() {
            eprintln!("warning: no spectrum has a Jacobian: no figures written");
        } else {
            let row =
                |v: &[f64], k: usize| v[k * NETWORK_PIXELS..(k + 1) * NETWORK_PIXELS].to_vec();
            for (k, label) in summary.labels.iter().enumerate() {
                let window = branch_of(label).map(branch_window);
                figures::jacobian(
                    dir,
                    label,
                    &row(&summary.mean, k),
                    summary.first.as_deref().map(|f| row(f, k)).as_deref(),
                    window.as_deref(),
                )?;
            }
            written.push(format!("{}/jacobian_*.png", dir.display()));
        }
    }
    if !quiet {
        eprintln!(
            "jacobian: {}, {} labels, {} NO_RESULT, {:.1} s -> {}",
            count(summary.spectra, "spectrum", "spectra"),
            summary.labels.len(),
            summary.no_result,
            progress.elapsed(),
            written.join(", ")
        );
    }
    Ok(())
}

/// The rows of `wanted` labels (every label when empty), refusing unknown names.
fn label_rows(wanted: &[String], labels: &[String]) -> Result<Vec<usize>> {
    wanted
        .iter()
        .map(|name| {
            labels.iter().position(|l| l == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "--labels: the model has no label '{name}' (it has {})",
                    labels.join(", ")
                )
            })
        })
        .collect()
}

/// The element branch whose output `label` is (none for teff, logg, fe_h, L_fakemag).
fn branch_of(label: &str) -> Option<usize> {
    let output = LABELS.iter().position(|l| *l == label)?;
    (0..BRANCH_ELEMENTS.len()).find(|&b| branch_output(b) == output)
}
