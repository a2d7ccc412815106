//! `astronn train` end to end: a label catalog joined with normalized spectra, per-epoch
//! metrics and checkpoints, a model that `predict` loads, exact resume, clear errors.

mod common;

use astronn::io::model_file::ModelFile;
use astronn::io::normalized::{NormalizedWriter, SpectrumMeta};
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
        let meta = SpectrumMeta {
            apogee_id: id.clone(),
            ..SpectrumMeta::anonymous("synthetic", i)
        };
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
    let Some(reference) = Reference::load() else {
        return;
    };
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
    let Some(reference) = Reference::load() else {
        return;
    };
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
