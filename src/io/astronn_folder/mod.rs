//! astroNN's model folders (`astroNN_model_parameter.json` beside `model_weights.h5`, a
//! Keras 2 HDF5 model, or a Keras 3 `.keras` archive): the networks of the DR17 value-added
//! catalog and of Leung & Bovy (2019), read directly into the same parameters as Astra's
//! checkpoints.
//!
//! Supported: `ApogeeBCNNCensored` (AstroNN), `ApogeeBCNN` with one softplus output of the
//! Ks-band fakemag (AstroNNDist), and any other `ApogeeBCNN` or `ApogeeCNN`
//! ([`ModelKind::Generic`], outputs named in the metadata), each with any dropout rate in
//! [0, 1), convolution shape and hidden sizes, both JSON styles and astroNN's normalisation
//! modes 0–4 and 255 (and 3s for the labels). Inference then follows astroNN 1.1's `predict`
//! ([`crate::nn::scaling`]): the input is (flux − input_mean) / input_std, the MC spread is
//! the population variance, and the errors are scaled by the folder's `labels_std`.

mod keras;
mod parameters;
mod tensors;

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::model_file::{
    hex, ModelFile, ModelFormat, ModelKind, DROPOUT_RATE_KEY, LABELS_TRANSFORM_KEY,
    MC_VARIANCE_KEY, OUTPUTS_KEY, OUTPUT_ACTIVATION_KEY,
};
use crate::nn::bcnn::OutputActivation;
use crate::nn::censored::LABELS;
use crate::nn::dropout::DropoutRate;
use crate::nn::scaling::{LabelsTransform, McVariance};
use crate::products::generic::FAKEMAG;
use crate::products::output_names::column_name;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use keras::KerasModel;
use parameters::{Normalisation, Parameters};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The parameter file every astroNN folder holds.
pub const PARAMETER_FILE: &str = "astroNN_model_parameter.json";
/// The Keras 2 model file of astroNN ≤ 1.1.
pub const KERAS2_FILE: &str = "model_weights.h5";

/// astroNN's target names of the censored network, in output order (its `targetname`).
const CENSORED_TARGETS: [&str; 22] = [
    "teff", "logg", "C", "C1", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti", "Ti2",
    "V", "Cr", "Mn", "Fe", "Co", "Ni",
];

/// Whether `path` names an astroNN model: a folder holding [`PARAMETER_FILE`], that file,
/// or a Keras weights file (`.h5`, `.keras`), which must be beside it. A path that does not
/// exist is none (reading it then says so).
pub fn is_astronn_model(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(PARAMETER_FILE).is_file();
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    path.is_file()
        && (path.file_name().and_then(|n| n.to_str()) == Some(PARAMETER_FILE)
            || matches!(extension, "h5" | "keras"))
}

/// Reads an astroNN model (see [`is_astronn_model`] for what `path` may name).
pub fn load(path: &Path) -> Result<ModelFile> {
    let (folder, json_path, weights_path) = locate(path)?;
    let json = std::fs::read(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let text = std::str::from_utf8(&json).map_err(|_| Error::file(&json_path, "not UTF-8 text"))?;
    let parameters = Parameters::parse(text).map_err(|msg| Error::file(&json_path, msg))?;
    let kind = kind(&parameters).map_err(|msg| Error::file(&json_path, msg))?;
    check_architecture(&parameters).map_err(|msg| Error::file(&json_path, msg))?;
    let weights = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
    // The model's identity: SHA-256 of the weights file followed by the JSON.
    let mut digest = Sha256::new();
    digest.update(&weights);
    digest.update(&json);
    let model = KerasModel::from_bytes(&weights_path, weights)?;
    let mut tensors = std::collections::HashMap::new();
    match kind {
        ModelKind::AstroNN => tensors::censored(&model, &mut tensors)?,
        ModelKind::AstroNNDist | ModelKind::Generic => {
            tensors::plain(&model, &mut tensors, parameters.class != "ApogeeCNN")?
        }
    }
    check_hidden(&parameters, kind, &tensors).map_err(|msg| Error::file(&weights_path, msg))?;
    insert_scaling(&parameters, kind, &mut tensors).map_err(|msg| Error::file(&json_path, msg))?;
    Ok(ModelFile {
        path: folder.clone(),
        kind,
        format: ModelFormat::AstroNNFolder,
        sha256: hex(&digest.finalize()),
        tensors,
        metadata: metadata(&folder, &weights_path, &parameters, kind, &model),
    })
}

/// The folder, its parameter file and its weights file.
fn locate(path: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let folder = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    };
    let json = folder.join(PARAMETER_FILE);
    if !json.is_file() {
        let msg = if path.is_dir() {
            format!("a directory, but not an astroNN model folder (it has no {PARAMETER_FILE})")
        } else {
            format!(
                "no {PARAMETER_FILE} beside it in {}: an astroNN weights file is read with its \
                 model folder",
                folder.display()
            )
        };
        return Err(Error::file(path, msg));
    }
    let named_weights =
        path.is_file() && path.file_name().and_then(|n| n.to_str()) != Some(PARAMETER_FILE);
    let weights = if named_weights {
        path.to_path_buf()
    } else if folder.join(KERAS2_FILE).is_file() {
        folder.join(KERAS2_FILE)
    } else {
        keras3_file(&folder)?.ok_or_else(|| {
            Error::file(
                &folder,
                format!(
                    "astroNN model folder without weights: no {KERAS2_FILE} and no .keras file"
                ),
            )
        })?
    };
    Ok((folder, json, weights))
}

/// The folder's `.keras` archive, if it has exactly one.
fn keras3_file(folder: &Path) -> Result<Option<PathBuf>> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("keras"))
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::file(
            folder,
            "several .keras files; name the one to use",
        )),
    }
}

/// Which of our networks the folder's class is: the censored network of AstroNN's 22
/// labels is AstroNN; an `ApogeeBCNN` with one softplus output of the Ks-band fakemag is
/// AstroNNDist; any other `ApogeeBCNN`, and every `ApogeeCNN`, is [`ModelKind::Generic`].
fn kind(p: &Parameters) -> std::result::Result<ModelKind, String> {
    if p.target_names.len() != p.labels {
        return Err(format!(
            "'targetname' names {} outputs, but 'labels' says {}",
            p.target_names.len(),
            p.labels
        ));
    }
    match p.class.as_str() {
        "ApogeeBCNNCensored" => {
            let expected = CENSORED_TARGETS.iter().map(|t| t.to_lowercase());
            let given = p.target_names.iter().map(|t| t.to_lowercase());
            if p.labels != LABELS.len() || !expected.eq(given) {
                return Err(format!(
                    "ApogeeBCNNCensored predicting {:?}: astronn runs the censored network of \
                     its 22 labels ({})",
                    p.target_names,
                    CENSORED_TARGETS.join(", ")
                ));
            }
            Ok(ModelKind::AstroNN)
        }
        "ApogeeBCNN"
            if p.labels == 1
                && p.last_layer_activation == "softplus"
                && column_name(&p.target_names[0]) == FAKEMAG =>
        {
            Ok(ModelKind::AstroNNDist)
        }
        "ApogeeBCNN" | "ApogeeCNN" => Ok(ModelKind::Generic),
        other => Err(format!(
            "unsupported astroNN class '{other}' (supported: ApogeeBCNNCensored, ApogeeBCNN, \
             ApogeeCNN)"
        )),
    }
}

/// The activation of the output layer, which must be one our networks apply.
fn output_activation(p: &Parameters) -> std::result::Result<OutputActivation, String> {
    OutputActivation::from_name(&p.last_layer_activation).ok_or_else(|| {
        format!(
            "last_layer_activation '{}' is not supported (supported: linear, softplus)",
            p.last_layer_activation
        )
    })
}

/// What the networks need of the architecture: the spectrum's pixels, two convolutions,
/// and a dropout rate in [0, 1). Filter counts and lengths, pool length and hidden widths
/// are the weights' own.
fn check_architecture(p: &Parameters) -> std::result::Result<(), String> {
    if p.pixels != NETWORK_PIXELS {
        return Err(format!(
            "input pixels is {}; the networks read {NETWORK_PIXELS}",
            p.pixels
        ));
    }
    if p.filters.len() != 2 {
        return Err(format!(
            "filternum is {:?}; astroNN's APOGEE networks have two convolutions",
            p.filters
        ));
    }
    output_activation(p)?;
    DropoutRate::new(p.dropout_rate)?;
    Ok(())
}

/// Checks the weights' layer widths against the JSON's `hidden` (astroNN's censored network:
/// `[dense_1, dense_2, element dense 1, element dense 2, aux]`, C and N's element layers 8
/// and 4 times wider; `ApogeeBCNN`: `[dense_1, dense_2]`).
fn check_hidden(
    p: &Parameters,
    kind: ModelKind,
    tensors: &std::collections::HashMap<String, Tensor>,
) -> std::result::Result<(), String> {
    let mut expected = vec![("dense_1".to_string(), 0, 1), ("dense_2".to_string(), 1, 1)];
    if kind == ModelKind::AstroNN {
        expected.push(("dense_aux_fullspec".to_string(), 4, 1));
        for (branch, (element, _)) in crate::apogee::masks::BRANCH_ELEMENTS.iter().enumerate() {
            let wide = matches!(*element, "C" | "N");
            expected.push((format!("elem_dense1.{branch}"), 2, if wide { 8 } else { 1 }));
            expected.push((format!("elem_dense2.{branch}"), 3, if wide { 4 } else { 1 }));
        }
    }
    check_convolutions(p, tensors)?;
    let needed = expected.iter().map(|(_, i, _)| i + 1).max().unwrap_or(0);
    if p.hidden.len() < needed {
        return Err(format!(
            "the JSON's hidden has {} sizes; {} needs {needed}",
            p.hidden.len(),
            p.class
        ));
    }
    for (layer, index, factor) in expected {
        let units = tensors
            .get(&format!("{layer}.bias"))
            .map(|b| b.elem_count())
            .unwrap_or(0);
        let json = p.hidden[index] * factor;
        if units != json {
            return Err(format!(
                "layer {layer} has {units} units in the weights, but the JSON's hidden[{index}]                  gives {json}"
            ));
        }
    }
    Ok(())
}

/// Checks the weights' convolutions and `dense_1`'s input width against the JSON's
/// `filternum`, `filterlen` and `pool_length`.
fn check_convolutions(
    p: &Parameters,
    tensors: &std::collections::HashMap<String, Tensor>,
) -> std::result::Result<(), String> {
    let [c1, c2] = p.filters[..] else {
        return Err(format!("filternum is {:?}, not two sizes", p.filters));
    };
    let k = p.filter_length;
    let features = NETWORK_PIXELS / p.pool_length.max(1) * c2;
    let expected = [
        ("conv1.weight", vec![c1, 1, k]),
        ("conv2.weight", vec![c2, c1, k]),
    ];
    for (name, shape) in expected {
        let found = tensors.get(name).map(|t| t.dims().to_vec());
        if found.as_ref() != Some(&shape) {
            return Err(format!(
                "{name} has shape {found:?} in the weights, but the JSON's filternum {:?} and \
                 filterlen {k} give {shape:?}",
                p.filters
            ));
        }
    }
    let inputs = tensors
        .get("dense_1.weight")
        .map(|t| t.dims()[1..].to_vec());
    if p.pool_length == 0 || inputs != Some(vec![features]) {
        return Err(format!(
            "the first dense layer reads {inputs:?} features in the weights, but pool_length {} \
             and filternum {:?} give {features}",
            p.pool_length, p.filters
        ));
    }
    Ok(())
}

/// The constants astroNN's `Normalizer` applies at prediction for `mode` (its
/// `mode_checker` replaces the saved ones for modes 0, 3s and 255): (mean, std). Mode 3s
/// (sigmoid) is read for the labels, whose logit [`LABELS_TRANSFORM_KEY`] records; a
/// sigmoid of the input spectrum is not one of astroNN's APOGEE set-ups.
fn effective(n: &Normalisation, what: &str) -> std::result::Result<(Vec<f64>, Vec<f64>), String> {
    match n.mode.as_str() {
        "0" => Ok((vec![0.0], vec![1.0])),
        "3s" if what == "labels" => Ok((vec![0.0], vec![1.0])),
        "255" => Ok((vec![0.0], vec![255.0])),
        "1" | "2" | "3" | "4" => Ok((n.mean.clone(), n.std.clone())),
        other => Err(format!(
            "{what} normalisation mode '{other}' is not supported (supported: 0, 1, 2, 3, 4, \
             255{})",
            if what == "labels" { ", 3s" } else { "" }
        )),
    }
}

/// `values` as `n` values: as given, or one value repeated.
fn broadcast(values: &[f64], n: usize, what: &str) -> std::result::Result<Vec<f64>, String> {
    match values.len() {
        len if len == n => Ok(values.to_vec()),
        1 => Ok(vec![values[0]; n]),
        len => Err(format!("{what} has {len} values, not 1 or {n}")),
    }
}

/// The normalisation as parameters: `input_mean`, `input_std`, `labels_mean` (the censored
/// network's), `labels_std` (the values' scale) and `labels_error_std` (the errors' scale,
/// the folder's `labels_std`).
fn insert_scaling(
    p: &Parameters,
    kind: ModelKind,
    tensors: &mut std::collections::HashMap<String, Tensor>,
) -> std::result::Result<(), String> {
    let (input_mean, input_std) = effective(&p.input, "input")?;
    let (labels_mean, labels_std) = effective(&p.output, "labels")?;
    let labels = p.labels;
    let mut vectors = vec![
        (
            "input_mean",
            broadcast(&input_mean, NETWORK_PIXELS, "input_mean")?,
        ),
        (
            "input_std",
            broadcast(&input_std, NETWORK_PIXELS, "input_std")?,
        ),
        ("labels_std", broadcast(&labels_std, labels, "labels_std")?),
        (
            "labels_error_std",
            broadcast(&p.output.std, labels, "labels_std")?,
        ),
    ];
    let labels_mean = broadcast(&labels_mean, labels, "labels_mean")?;
    match kind {
        ModelKind::AstroNN | ModelKind::Generic => vectors.push(("labels_mean", labels_mean)),
        ModelKind::AstroNNDist if labels_mean.iter().any(|&m| m != 0.0) => {
            return Err(format!(
                "labels_mean is {labels_mean:?}: AstroNNDist's L_fakemag has no offset"
            ))
        }
        ModelKind::AstroNNDist => {}
    }
    let zero_std = input_std.iter().chain(&labels_std).any(|&s| s == 0.0);
    if zero_std
        || vectors
            .iter()
            .any(|(_, v)| v.iter().any(|x| !x.is_finite()))
    {
        return Err("the normalisation has non-finite values or a zero std".into());
    }
    for (name, values) in vectors {
        let n = values.len();
        let tensor = Tensor::from_vec(values, n, &Device::Cpu).map_err(|e| e.to_string())?;
        tensors.insert(name.to_string(), tensor);
    }
    Ok(())
}

/// What `info` shows and `convert` keeps: the class, labels, normalisation, provenance
/// (astroNN and Keras versions from `hyperparameter.txt` and the weights file) and the MC
/// convention.
fn metadata(
    folder: &Path,
    weights: &Path,
    p: &Parameters,
    kind: ModelKind,
    model: &KerasModel,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put(
        "source",
        format!("astroNN model folder {}", folder.display()),
    );
    put(
        "astronn_weights",
        weights
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    put("astronn_class", p.class.clone());
    put("astronn_targets", p.target_names.join(", "));
    put("astronn_hidden", format!("{:?}", p.hidden));
    put(
        "astronn_normalisation",
        format!(
            "input mode {}, labels mode {} ({} JSON)",
            p.input.mode,
            p.output.mode,
            if p.dict_style {
                "dict-valued"
            } else {
                "list-valued"
            }
        ),
    );
    put(MC_VARIANCE_KEY, McVariance::Population.name().to_string());
    if p.output.mode == "3s" {
        put(
            LABELS_TRANSFORM_KEY,
            LabelsTransform::Logit.name().to_string(),
        );
    }
    if kind == ModelKind::Generic {
        put(
            OUTPUTS_KEY,
            serde_json::to_string(&p.target_names).unwrap_or_default(),
        );
        put(OUTPUT_ACTIVATION_KEY, p.last_layer_activation.clone());
    }
    put(DROPOUT_RATE_KEY, p.dropout_rate.to_string());
    if let Some(version) = &model.keras_version {
        put("keras_version", version.clone());
    }
    let hyperparameters =
        std::fs::read_to_string(folder.join("hyperparameter.txt")).unwrap_or_default();
    for line in hyperparameters.lines() {
        if let Some((key, value)) = line.split_once(':') {
            let key = match key.trim() {
                "astroNN Version" => "astronn_version",
                "Tensorflow Version" => "tensorflow_version",
                "Number of Training Data" => "training_spectra",
                _ => continue,
            };
            put(key, value.trim().to_string());
        }
    }
    m
}
