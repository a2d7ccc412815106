//! `astronn bench`: throughput of the networks alone, of `predict` end to end, and of
//! training, with the machine they ran on.

use crate::cli::args::BenchArgs;
use crate::cli::commands::{censored_network, dist_network, load_model, FILES_PER_CHUNK};
use crate::cli::count;
use anyhow::{bail, Result};
use astronn::bench::{inference_flops, network_throughput, training_throughput, Measurement};
use astronn::io::inputs::expand_inputs;
use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::nn::censored::CensoredBcnn;
use astronn::nn::dist::DistBcnn;
use astronn::nn::network::BayesianNetwork;
use astronn::pipeline::astronn::{AstroNNJob, AstroNNPredictor};
use astronn::pipeline::catalogs::StarCatalogs;
use astronn::pipeline::dist::{DistJob, DistPredictor};
use astronn::pipeline::predict::{run_predict, Jobs, Observer, PredictOptions};
use astronn::pipeline::prepare::prepare_file;
use astronn::pipeline::source::SpectrumSource;
use astronn::products::writer::ProductWriter;
use astronn::products::Product;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

const NETWORK_PIXELS: usize = astronn::apogee::grid::NETWORK_PIXELS;

/// Progress and warnings are not wanted while timing.
struct Silent;

impl Observer for Silent {
    fn warn(&self, _: &str) {}
    fn advance(&self, _: usize, _: usize) {}
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = rayon::current_num_threads();
    format!("{cpu}, {cores} cores, {threads} threads")
}

fn print(m: &Measurement) {
    let gflops = m
        .gflops()
        .map_or(String::new(), |g| format!(", {g:.1} GFLOP/s"));
    println!(
        "{:<44} {:>8.1} spectra/s  ({} in {:.2} s{gflops})",
        m.what,
        m.rate(),
        count(m.spectra, "spectrum", "spectra"),
        m.seconds
    );
}

/// Runs `astronn bench`.
pub fn bench(args: BenchArgs) -> Result<ExitCode> {
    let files = expand_inputs(&args.inputs)?;
    let spectra: Vec<Vec<f64>> = files
        .iter()
        .flat_map(|path| prepare_file(path, true))
        .filter_map(|p| p.data.ok().map(|n| n.flux))
        .collect();
    if spectra.is_empty() {
        bail!("the inputs hold no usable apStar spectrum");
    }
    println!(
        "astronn {} bench on {}",
        env!("CARGO_PKG_VERSION"),
        machine()
    );
    println!(
        "{} from {}, mc = {}",
        count(spectra.len(), "spectrum", "spectra"),
        count(files.len(), "file", "files"),
        args.mc
    );

    let model = load_model(args.model.as_deref(), ModelKind::AstroNN, true)?;
    let censored = censored_network(&model)?;
    measure_alone("AstroNN network alone", &model, &censored, &spectra, &args)?;
    let dist_model = load_model(args.dist_model.as_deref(), ModelKind::AstroNNDist, true)?;
    let dist = dist_network(&dist_model)?;
    measure_alone(
        "AstroNNDist network alone",
        &dist_model,
        &dist,
        &spectra,
        &args,
    )?;
    print(&end_to_end(&files, &args, Some(censored.clone()), None)?);
    print(&end_to_end(&files, &args, Some(censored), Some(dist))?);
    if args.training {
        for &batch in &args.training_batch {
            print(&training_throughput(
                &spectra,
                args.training_spectra,
                batch,
            )?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Measures one network alone on the inputs' spectra and prints the result.
fn measure_alone(
    what: &str,
    model: &ModelFile,
    net: &dyn BayesianNetwork,
    spectra: &[Vec<f64>],
    args: &BenchArgs,
) -> Result<()> {
    let flops = inference_flops(model, args.mc, NETWORK_PIXELS);
    print(&network_throughput(
        what,
        net,
        spectra,
        args.spectra,
        args.mc,
        flops,
    )?);
    Ok(())
}

/// `predict` (with the given networks) over `--files` files cycled from `files`, writing
/// tables to a temporary directory.
fn end_to_end(
    files: &[PathBuf],
    args: &BenchArgs,
    censored: Option<CensoredBcnn>,
    dist: Option<DistBcnn>,
) -> Result<Measurement> {
    let dir = tempfile_dir()?;
    let inputs: Vec<PathBuf> = files.iter().cycle().take(args.files).cloned().collect();
    let mut what = Vec::new();
    let astronn = match censored {
        Some(net) => {
            what.push("AstroNN");
            Some(AstroNNJob {
                predictor: AstroNNPredictor::new(net, None)?,
                coadds: ProductWriter::create(
                    &dir.join("astronn.fits"),
                    Product::AllStarAstroNN,
                    Vec::new(),
                    SystemTime::now(),
                )?,
                visits: None,
            })
        }
        None => None,
    };
    let dist = match dist {
        Some(net) => {
            what.push("AstroNNDist");
            Some(DistJob {
                predictor: DistPredictor::new(net, None),
                table: ProductWriter::create(
                    &dir.join("dist.fits"),
                    Product::AllStarAstroNNdist,
                    Vec::new(),
                    SystemTime::now(),
                )?,
            })
        }
        None => None,
    };
    let mut jobs = Jobs {
        astronn,
        dist,
        catalogs: StarCatalogs::default(),
    };
    let options = PredictOptions {
        mc: args.mc,
        seed: 1,
        strict: false,
    };
    let mut source = SpectrumSource::apstar(inputs, false, FILES_PER_CHUNK);
    let start = Instant::now();
    let summary = run_predict(&mut source, &mut jobs, &options, &Silent)?;
    let seconds = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Measurement {
        what: format!("predict end to end ({})", what.join(" + ")),
        spectra: summary.spectra,
        seconds,
        flops_per_spectrum: None,
    })
}

/// A fresh directory for the benchmark's tables.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("astronn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
