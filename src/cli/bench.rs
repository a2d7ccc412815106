//! `astronn bench`: throughput of the networks alone, of `predict` end to end, and of
//! training, with the machine they ran on.

use crate::bench::{
    bf16_product_rate, inference_flops, jacobian_throughput, network_throughput, product_rate,
    training_throughput, Measurement, ProductShape, ProductThreads,
};
use crate::cli::args::BenchArgs;
use crate::cli::models::{arithmetic, load_model};
use crate::cli::plural::count;
use crate::cpu::{model_name, CpuFeatures};
use crate::io::inputs::expand_inputs;
use crate::io::model_file::{ModelFile, ModelKind};
use crate::models::{dist_network, ModelSpec};
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::pipeline::astronn::LabelsNetwork;
use crate::pipeline::jacobian::JacobianNetwork;
use crate::pipeline::predict::Observer;
use crate::pipeline::prepare::prepare_file;
use crate::pipeline::run::{AstroNNOutputs, CatalogSpec, DistOutputs, Run, RunInputs, RunSpec};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Spectra whose Jacobians are measured with MC dropout (four times as many without).
const JACOBIAN_SPECTRA: usize = 16;

/// Side of the square product measured beside the network's own (numpy's and PyTorch's
/// usual yardstick).
const SQUARE_PRODUCT: usize = 2048;

const NETWORK_PIXELS: usize = crate::apogee::grid::NETWORK_PIXELS;

/// Progress and warnings are not wanted while timing.
struct Silent;

impl Observer for Silent {
    fn warn(&self, _: &str) {}
    fn advance(&self, _: usize, _: usize) {}
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = rayon::current_num_threads();
    format!("{}, {cores} cores, {threads} threads", model_name())
}

/// Prints one measurement; one with a known work also as a share of `limit_gflops`, the
/// machine's best measured float32 product rate.
fn print(m: &Measurement, limit_gflops: f64) {
    let gflops = m.gflops().map_or(String::new(), |g| {
        format!(
            ", {g:.1} GFLOP/s = {:.0} % of the product limit",
            100.0 * g / limit_gflops
        )
    });
    println!(
        "{:<44} {:>8.1} spectra/s  ({} in {:.2} s{gflops})",
        m.what,
        m.rate(),
        count(m.spectra, "spectrum", "spectra"),
        m.seconds
    );
}

/// Measures and prints the machine's float32 matrix-product rates (the network's dominant
/// product `dense_1`, one per thread as inference runs it, and a large square product over
/// all threads); returns the best, the limit the networks are compared with.
fn product_limit(model: &ModelFile, mc: usize) -> Result<f64> {
    let dense_1 = ProductShape::dense_1(model, mc).map(|s| (s, ProductThreads::OnePerThread));
    let square = (ProductShape::square(SQUARE_PRODUCT), ProductThreads::Shared);
    let mut limit = 0f64;
    for (shape, threads) in dense_1.into_iter().chain([square]) {
        let rate = product_rate(shape, threads)?;
        println!("{:<62} {:>8.1} GFLOP/s", rate.what, rate.gflops);
        limit = limit.max(rate.gflops);
    }
    println!("product limit (the best of these) {limit:>32.1} GFLOP/s");
    Ok(limit)
}

/// Runs `astronn bench`.
pub fn bench(args: BenchArgs) -> Result<()> {
    let files = expand_inputs(&args.inputs)?.files;
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
    println!("CPU features: {}", CpuFeatures::detect());
    let arithmetic = arithmetic(args.precision);
    let model = load_labels_model(args.model.as_deref())?;
    let dist_model = load_model(args.dist_model.as_deref(), ModelKind::AstroNNDist, true)?;
    let limit = product_limit(&model, args.mc)?;
    if let (Arithmetic::Bfloat16(kernel), Some(shape)) =
        (arithmetic, ProductShape::dense_1(&model, args.mc))
    {
        let rate = bf16_product_rate(shape, kernel)?;
        println!("{:<62} {:>8.1} GFLOP/s", rate.what, rate.gflops);
    }
    println!(
        "{} from {}, mc = {}",
        count(spectra.len(), "spectrum", "spectra"),
        count(files.len(), "file", "files"),
        args.mc
    );
    println!("arithmetic: {arithmetic}");

    let labels = LabelsNetwork::of_model(&model, arithmetic)?;
    measure_alone(
        &format!("{} network alone", network_name(&model)),
        &model,
        &labels,
        &spectra,
        &args,
        limit,
    )?;
    let dist = dist_network(&dist_model)?.with_arithmetic(arithmetic)?;
    measure_alone(
        "AstroNNDist network alone",
        &dist_model,
        &dist,
        &spectra,
        &args,
        limit,
    )?;
    let jacobians = JacobianNetwork::from_model(&model)?;
    for mc in [0, args.mc] {
        let count = if mc == 0 {
            JACOBIAN_SPECTRA * 4
        } else {
            JACOBIAN_SPECTRA
        };
        print(
            &jacobian_throughput(&jacobians, &spectra, count, mc)?,
            limit,
        );
    }
    print(&end_to_end(&files, &args, arithmetic, false)?, limit);
    print(&end_to_end(&files, &args, arithmetic, true)?, limit);
    if args.training {
        for &batch in &args.training_batch {
            print(
                &training_throughput(&spectra, args.training_spectra, batch)?,
                limit,
            );
        }
    }
    Ok(())
}

/// The labels model `--model` names, of any labels kind (the embedded AstroNN model without
/// one).
fn load_labels_model(path: Option<&Path>) -> Result<ModelFile> {
    let spec = ModelSpec::from_arg(path);
    if spec.is_default(ModelKind::AstroNN) {
        return load_model(path, ModelKind::AstroNN, true);
    }
    let model = spec.load_any(None)?;
    if model.kind == ModelKind::AstroNNDist {
        bail!(
            "{} is an AstroNNDist model: give it as --dist-model",
            model.path.display()
        );
    }
    Ok(model)
}

/// The name of a labels model's network in the bench's lines: AstroNN, or astroNN's class.
fn network_name(model: &ModelFile) -> String {
    match model.kind {
        ModelKind::AstroNN => "AstroNN".into(),
        _ => model.class_name(),
    }
}

/// Measures one network alone on the inputs' spectra and prints the result (the work of
/// one pass for a network without MC dropout, which runs one whatever `--mc` says).
fn measure_alone(
    what: &str,
    model: &ModelFile,
    net: &dyn BayesianNetwork,
    spectra: &[Vec<f64>],
    args: &BenchArgs,
    limit_gflops: f64,
) -> Result<()> {
    let samples = if net.is_bayesian() { args.mc } else { 0 };
    let flops = inference_flops(model, samples, NETWORK_PIXELS);
    print(
        &network_throughput(what, net, spectra, args.spectra, args.mc, flops)?,
        limit_gflops,
    );
    Ok(())
}

/// `predict` (AstroNN, and AstroNNDist `with_dist`) in `arithmetic` over `--files` files
/// cycled from `files`, writing tables to a temporary directory; only the work is timed.
fn end_to_end(
    files: &[PathBuf],
    args: &BenchArgs,
    arithmetic: Arithmetic,
    with_dist: bool,
) -> Result<Measurement> {
    let dir = tempfile_dir()?;
    let model = |path: &Option<PathBuf>| ModelSpec::from_arg(path.as_deref());
    let spec = RunSpec {
        extra: Vec::new(),
        inputs: RunInputs::ApStar {
            inputs: files
                .iter()
                .cycle()
                .take(args.files)
                .map(|p| p.display().to_string())
                .collect(),
            shard: None,
        },
        astronn: Some(AstroNNOutputs {
            model: model(&args.model),
            output: dir.join("astronn.fits"),
            visits_output: None,
        }),
        dist: with_dist.then(|| DistOutputs {
            model: model(&args.dist_model),
            output: dir.join("dist.fits"),
        }),
        noise_model: None,
        catalogs: CatalogSpec::default(),
        mc: args.mc,
        seed: Some(1),
        strict: false,
        arithmetic,
        command_line: "astronn bench".into(),
        overwrite: true,
    };
    let what = if with_dist {
        "AstroNN + AstroNNDist"
    } else {
        "AstroNN"
    };
    let report = Run::prepare(spec)?.execute(&Silent)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Measurement {
        what: format!("predict end to end ({what})"),
        spectra: report.summary.spectra,
        seconds: report.seconds,
        flops_per_spectrum: None,
    })
}

/// A fresh directory for the benchmark's tables.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("astronn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
