//! `astronn train` end to end: a label catalog joined with normalized spectra, per-epoch
//! metrics and checkpoints, a model that `predict` loads, exact resume, clear errors.

mod common;

use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::io::normalized::{NormalizedReader, NormalizedWriter, SpectrumMeta};
use astronn::nn::dist::DistBcnn;
use astronn::nn::dropout::MaskStream;
use astronn::nn::mc::predict_raw;
use common::run::{apogee, astronn, floats, s, stderr, succeed};
use common::Reference;
use std::path::Path;

const PIXELS: usize = 7514;
/// allStar-like columns of the 22 labels.
const COLUMNS: [&str; 22] = [
    "TEFF", "LOGG", "C_H", "CI_H", "N_H", "O_H", "NA_H", "MG_H", "AL_H", "SI_H", "P_H", "S_H",
    "K_H", "CA_H", "TI_H", "TIII_H", "V_H", "CR_H", "MN_H", "FE_H", "CO_H", "NI_H",
];

/// A deterministic draw in [0, 1).
fn uniform(i: u64, j: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ j.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` spectra whose line depth scales with a hidden strength, written as a normalized
/// FITS, and a CSV of labels that follow the strength (a few missing, one star unlisted).
fn write_inputs(reference: &Reference, dir: &Path, n: usize) {
    let mut writer =
        NormalizedWriter::create(&dir.join("spectra.fits"), &[]).expect("normalized writer");
    let mut csv = format!("APOGEE_ID,{}\n", COLUMNS.join(","));
    for i in 0..n {
        let base = &reference.inputs[(i % 6) * PIXELS..(i % 6 + 1) * PIXELS];
        let strength = 0.6 + 0.8 * uniform(i as u64, 0);
        let flux: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(p, f)| 1.0 - strength * (1.0 - f) + 0.002 * (uniform(i as u64, p as u64) - 0.5))
            .collect();
        let id = format!("2M{i:08}");
        let mut meta = SpectrumMeta::anonymous("synthetic", i);
        meta.fields.set_text("sdss4_apogee_id", id.clone());
        writer.append(&meta, &flux, &vec![0.01; PIXELS]).unwrap();
        if i == 0 {
            continue; // a star the catalog does not list
        }
        let labels: Vec<String> = (0..22)
            .map(|j| {
                if (i + j) % 13 == 0 {
                    "-9999".to_string()
                } else {
                    let value = match j {
                        0 => 4000.0 + 1500.0 * strength,
                        1 => 1.0 + 2.0 * strength,
                        _ => -1.0 + strength + 0.01 * j as f64,
                    };
                    format!("{value}")
                }
            })
            .collect();
        csv.push_str(&format!("{id},{}\n", labels.join(",")));
    }
    writer.finish().unwrap();
    std::fs::write(dir.join("labels.csv"), csv).unwrap();
}

fn train_args<'a>(dir: &'a Path, output: &'a str, epochs: &'a str) -> Vec<String> {
    [
        "--threads",
        "1",
        "train",
        "--normalized",
        s(&dir.join("spectra.fits")),
        "--labels",
        s(&dir.join("labels.csv")),
        "--epochs",
        epochs,
        "--batch-size",
        "16",
        "--seed",
        "3",
        "-o",
        output,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn run(args: &[String]) -> std::process::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    succeed(&refs)
}

#[test]
fn train_writes_metrics_checkpoints_and_a_model_that_predicts() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    write_inputs(&reference, dir.path(), 120);
    let model = dir.path().join("model.safetensors");
    let out = run(&train_args(dir.path(), s(&model), "2"));
    let messages = stderr(&out);
    assert!(
        messages.contains("119 spectra with labels (120 read, 1 not in the catalog"),
        "{messages}"
    );
    assert!(messages.contains("epoch 2/2"), "{messages}");

    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("model.safetensors.metrics.json")).unwrap(),
    )
    .unwrap();
    let epochs = metrics.as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (k, epoch) in epochs.iter().enumerate() {
        assert_eq!(epoch["epoch"], k + 1);
        assert!(epoch["train_loss"].as_f64().unwrap().is_finite());
        assert!(epoch["val_loss"].as_f64().unwrap().is_finite());
        assert_eq!(epoch["val_mae"].as_array().unwrap().len(), 22);
        assert!(epoch["spectra_per_second"].as_f64().unwrap() > 0.0);
    }
    let checkpoints = dir.path().join("model.safetensors.checkpoints");
    assert!(checkpoints.join("epoch-001.safetensors").is_file());
    assert!(checkpoints.join("epoch-002.safetensors").is_file());

    let file = ModelFile::load(&model).unwrap();
    for key in [
        "command_line",
        "label_catalog_sha256",
        "spectra_sha256",
        "labels",
        "epochs",
    ] {
        assert!(file.metadata.contains_key(key), "metadata lacks {key}");
    }
    let ranges: serde_json::Value = serde_json::from_str(&file.metadata["label_range"]).unwrap();
    let teff = ranges["teff"].as_array().unwrap();
    let (low, high) = (teff[0].as_f64().unwrap(), teff[1].as_f64().unwrap());
    assert!(low.is_finite() && low < high, "teff range {low} {high}");
    let table = dir.path().join("predicted.fits");
    succeed(&[
        "predict",
        "--model",
        s(&model),
        "--mc",
        "0",
        "-o",
        s(&table),
        "--normalized",
        s(&dir.path().join("spectra.fits")),
    ]);
    let teff = floats(&apogee(&table), "teff");
    assert_eq!(teff.len(), 120);
    assert!(teff.iter().all(|t| t.is_finite()));

    // Resuming from epoch 1 ends with the same parameters as the uninterrupted run.
    let resumed = dir.path().join("resumed.safetensors");
    let mut args = train_args(dir.path(), s(&resumed), "2");
    args.extend([
        "--resume".to_string(),
        s(&checkpoints.join("epoch-001.safetensors")).to_string(),
    ]);
    run(&args);
    let (a, b) = (
        ModelFile::load(&model).unwrap(),
        ModelFile::load(&resumed).unwrap(),
    );
    let mut names: Vec<&String> = a.tensors.keys().collect();
    names.sort();
    for name in names {
        let bits = |m: &ModelFile| -> Vec<u64> {
            let t = m.tensors[name].to_dtype(candle_core::DType::F64).unwrap();
            t.flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        assert_eq!(bits(&a), bits(&b), "{name}");
    }
}

#[test]
fn train_errors_are_clear() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    write_inputs(&reference, dir.path(), 12);
    let model = dir.path().join("m.safetensors");

    let mut args = train_args(dir.path(), s(&model), "1");
    args.extend(["--label".into(), "teff=TEFF_SPEC".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let failed = astronn(&refs);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("'TEFF_SPEC'"),
        "{}",
        stderr(&failed)
    );

    std::fs::write(
        dir.path().join("labels.csv"),
        format!(
            "APOGEE_ID,{}\n9Z,{}\n",
            COLUMNS.join(","),
            vec!["1"; 22].join(",")
        ),
    )
    .unwrap();
    let refs: Vec<String> = train_args(dir.path(), s(&model), "1");
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let failed = astronn(&refs);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("empty training set"),
        "{}",
        stderr(&failed)
    );
    assert!(!model.exists());
}

/// A parallax catalog for the spectra of [`write_inputs`]: L_fakemag grows with the line
/// strength; the parallax column is `PLX` (renamed with `--label parallax=PLX`) and the Ks
/// column `K_MAG` (found ignoring case). Star 0 is not listed, star 1 has no Ks magnitude,
/// star 2 a negative parallax, every third star no E(B−V).
fn write_parallaxes(dir: &Path, n: usize) {
    let mut csv = "APOGEE_ID,PLX,parallax_err,K_MAG,ebv\n".to_string();
    for i in 1..n {
        let strength = 0.6 + 0.8 * uniform(i as u64, 0);
        let k_mag = 8.0 + 2.0 * uniform(i as u64, 1);
        let ebv = if i % 3 == 0 {
            String::new()
        } else {
            "0.1".to_string()
        };
        let k0 = k_mag - if i % 3 == 0 { 0.0 } else { 0.03517 };
        let parallax = if i == 2 {
            -0.05
        } else {
            (50.0 + 100.0 * strength) / 10f64.powf(0.2 * k0)
        };
        let k_mag = if i == 1 {
            String::new()
        } else {
            format!("{k_mag}")
        };
        csv.push_str(&format!("2M{i:08},{parallax},0.05,{k_mag},{ebv}\n"));
    }
    std::fs::write(dir.join("parallaxes.csv"), csv).unwrap();
}

fn dist_args(dir: &Path, output: &Path, catalog: &str) -> Vec<String> {
    [
        "--threads",
        "1",
        "train",
        "--kind",
        "dist",
        "--normalized",
        s(&dir.join("spectra.fits")),
        "--labels",
        s(&dir.join(catalog)),
        "--label",
        "parallax=PLX",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--seed",
        "3",
        "-o",
        s(output),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

#[test]
fn train_dist_writes_a_model_that_dist_runs() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    write_inputs(&reference, dir.path(), 60);
    write_parallaxes(dir.path(), 60);
    let model = dir.path().join("dist.safetensors");
    let out = run(&dist_args(dir.path(), &model, "parallaxes.csv"));
    let messages = stderr(&out);
    assert!(
        messages.contains(
            "58 spectra with labels (60 read, 1 not in the catalog, 0 not selected, 1 without labels, 0 unusable)"
        ),
        "{messages}"
    );
    assert!(messages.contains("epoch 2/2"), "{messages}");

    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("dist.safetensors.metrics.json")).unwrap(),
    )
    .unwrap();
    let epochs = metrics.as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (k, epoch) in epochs.iter().enumerate() {
        assert_eq!(epoch["epoch"], k + 1);
        assert!(epoch["train_loss"].as_f64().unwrap().is_finite());
        assert!(epoch["val_loss"].as_f64().unwrap().is_finite());
        let mae = epoch["val_mae"].as_array().unwrap();
        assert_eq!(mae.len(), 1, "one label, L_fakemag");
        assert!(mae[0].as_f64().unwrap() > 0.0);
        assert_eq!(epoch["lr"], 5e-4);
    }
    let checkpoint = dir
        .path()
        .join("dist.safetensors.checkpoints/epoch-001.safetensors");
    assert_eq!(
        ModelFile::load(&checkpoint).unwrap().kind,
        ModelKind::AstroNNDist
    );

    let file = ModelFile::load(&model).unwrap();
    assert_eq!(file.kind, ModelKind::AstroNNDist);
    assert_eq!(file.metadata["labels"], "[\"L_fakemag\"]");
    assert_eq!(file.metadata["training_spectra"], "58");
    assert!(file.metadata["command_line"].contains("--kind dist"));
    assert_eq!(file.metadata["label_columns"], r#"{"parallax":"PLX"}"#);
    assert_eq!(file.metadata["label_id_column"], "APOGEE_ID");
    assert_eq!(file.tensors["labels_std"].dims(), &[1]);

    let table = dir.path().join("dist.fits");
    succeed(&[
        "dist",
        "--model",
        s(&model),
        "--mc",
        "0",
        "-o",
        s(&table),
        "--normalized",
        s(&dir.path().join("spectra.fits")),
    ]);
    // Each row is the trained network's deterministic L_fakemag for its spectrum (stored
    // as float32).
    let l_fakemag = floats(&apogee(&table), "L_fakemag");
    assert_eq!(l_fakemag.len(), 60);
    let net = DistBcnn::load(&ModelFile::load(&model).unwrap().var_builder()).unwrap();
    let mut spectra = NormalizedReader::open(&dir.path().join("spectra.fits")).unwrap();
    let flux = spectra.read_flux(0, spectra.len()).unwrap();
    for (row, written) in l_fakemag.iter().enumerate() {
        let spectrum = &flux[row * PIXELS..(row + 1) * PIXELS];
        let expected = predict_raw(&net, spectrum, 0, MaskStream::new(0, 0))
            .unwrap()
            .values[0];
        assert!(
            (written - expected).abs() <= 1e-6 * expected.abs(),
            "row {row}: L_fakemag {written} vs {expected}"
        );
    }

    // The abundance trainer refuses the distance network's checkpoint.
    let mut args = train_args(dir.path(), s(&dir.path().join("a.safetensors")), "2");
    args.extend(["--resume".to_string(), s(&checkpoint).to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let failed = astronn(&refs);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("astronn_dist network, not astronn"),
        "{}",
        stderr(&failed)
    );
}

#[test]
fn train_dist_errors_are_clear() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    write_inputs(&reference, dir.path(), 6);
    let model = dir.path().join("m.safetensors");
    let fail = |catalog: &str, text: &str| {
        std::fs::write(dir.path().join(catalog), text).unwrap();
        let args = dist_args(dir.path(), &model, catalog);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let failed = astronn(&refs);
        assert!(!failed.status.success());
        stderr(&failed)
    };
    let message = fail(
        "no_k.csv",
        "APOGEE_ID,PLX,parallax_err,ebv\n2M00000001,1,0.1,0\n",
    );
    assert!(message.contains("'k_mag'"), "{message}");
    let message = fail(
        "no_labels.csv",
        "APOGEE_ID,PLX,parallax_err,k_mag,ebv\n2M00000001,1,0.1,99.999,0\n2M00000002,,0.1,9,0\n",
    );
    assert!(
        message.contains("empty training set") && message.contains("valid Ks magnitude"),
        "{message}"
    );
    assert!(!model.exists());
}

#[test]
fn ctrl_c_during_training_keeps_the_best_model_so_far() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    write_inputs(&reference, dir.path(), 200);
    let model = dir.path().join("model.safetensors");
    let first_epoch = dir
        .path()
        .join("model.safetensors.checkpoints/epoch-001.safetensors");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_astronn"))
        .args(train_args(dir.path(), s(&model), "500"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let begun = std::time::Instant::now();
    while !first_epoch.is_file() && begun.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "training ended too soon"
    );
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let messages = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{messages}");
    assert!(
        messages.contains("the model is the best so far, epoch"),
        "{messages}"
    );
    let kept = ModelFile::load(&model).unwrap();
    assert_eq!(kept.kind, ModelKind::AstroNN);
    assert!(
        first_epoch.is_file(),
        "the completed epochs' checkpoints stay"
    );
}
