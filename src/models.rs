//! The default models, embedded in the binary so that the tool works out of the box:
//! AstroNN and AstroNNDist trained on a simulated survey by
//! `scripts/train_default_models.sh` (its commands and seeds are in each model's metadata).
//!
//! They were trained on simulated spectra (`astronn simulate`), a test bed, not
//! astrophysics: science runs need a model trained on real spectra.
//!
//! With them comes their noise model, calibrated against the truth of a separate simulated
//! survey (`calibrate --truth`; the same script), so that their errors are calibrated out of
//! the box.

use crate::io::model_file::{ModelFile, ModelKind};
use crate::nn::bcnn::ApogeeBcnn;
use crate::nn::censored::CensoredBcnn;
use crate::nn::dist::DistBcnn;
use crate::pipeline::noise::NoiseModel;
use crate::products::output_names::column_names;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const ASTRONN: &[u8] = include_bytes!("../models/astronn_default.safetensors");
const ASTRONN_DIST: &[u8] = include_bytes!("../models/astronn_dist_default.safetensors");
const NOISE_MODEL: &str = include_str!("../models/noise_model_default.json");

/// The name under which the default noise model appears in messages and table headers.
pub const DEFAULT_NOISE_MODEL_NAME: &str = "default:noise_model_default.json";

/// What a run using the embedded default models of `kinds` tells its user, naming each
/// (each face adds how to name another: the CLI's `--model`, Python's model path).
pub fn default_model_notice(kinds: &[ModelKind]) -> String {
    let named: Vec<String> = kinds
        .iter()
        .map(|&kind| {
            let name = match kind {
                ModelKind::AstroNNDist => DEFAULT_DIST_MODEL,
                _ => DEFAULT_MODEL,
            };
            let network = kind_title(kind);
            format!("{network} model '{name}' ({})", default_model_name(kind))
        })
        .collect();
    format!(
        "using the embedded default {}, trained on simulated spectra (astronn simulate). \
         {} for trying the tool and testing pipelines; science runs need a model trained on \
         real spectra",
        named.join(" and the default "),
        if kinds.len() > 1 { "They are" } else { "It is" }
    )
}

/// The name under which a default model appears in messages and table headers.
/// There is no default model of [`ModelKind::Generic`]: AstroNN's stands for it.
pub fn default_model_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::AstroNNDist => "default:astronn_dist_default.safetensors",
        ModelKind::AstroNN | ModelKind::Generic => "default:astronn_default.safetensors",
    }
}

/// The embedded default model of `kind` (AstroNN's for [`ModelKind::Generic`]).
pub fn default_model(kind: ModelKind) -> Result<ModelFile> {
    let bytes = match kind {
        ModelKind::AstroNNDist => ASTRONN_DIST,
        ModelKind::AstroNN | ModelKind::Generic => ASTRONN,
    };
    ModelFile::from_safetensors(Path::new(default_model_name(kind)), bytes)
}

/// The noise model of the default models (AstroNN labels and AstroNNDist's L_fakemag).
pub fn default_noise_model() -> Result<NoiseModel> {
    NoiseModel::from_json(NOISE_MODEL)
        .map_err(|msg| Error::Invalid(format!("{DEFAULT_NOISE_MODEL_NAME}: {msg}")))
}

/// The name that means an embedded default model wherever a model is named: the default
/// model of the kind needed there (AstroNN's where either kind will do).
pub const DEFAULT_MODEL: &str = "default";
/// The name of the embedded default AstroNNDist model where either kind will do.
pub const DEFAULT_DIST_MODEL: &str = "default-dist";

/// Which model a run uses: an embedded default model or a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// The embedded default model of the kind needed (AstroNN's where either will do).
    Default,
    /// The embedded default AstroNNDist model.
    DefaultDist,
    /// A model file (Astra `.pt` checkpoint or our `.safetensors`) or an astroNN model
    /// folder.
    File(PathBuf),
}

impl ModelSpec {
    /// The model a command-line or Python argument names: none, [`DEFAULT_MODEL`] or
    /// [`DEFAULT_DIST_MODEL`] for an embedded model, else a file path.
    pub fn from_arg(arg: Option<&Path>) -> ModelSpec {
        match arg.map(|p| (p, p.to_str())) {
            None | Some((_, Some(DEFAULT_MODEL))) => ModelSpec::Default,
            Some((_, Some(DEFAULT_DIST_MODEL))) => ModelSpec::DefaultDist,
            Some((path, _)) => ModelSpec::File(path.to_path_buf()),
        }
    }

    /// Whether this names the embedded default model of `kind`.
    pub fn is_default(&self, kind: ModelKind) -> bool {
        match self {
            ModelSpec::Default => true,
            ModelSpec::DefaultDist => kind == ModelKind::AstroNNDist,
            ModelSpec::File(_) => false,
        }
    }

    /// Reads the model, whatever its kind (`kind` chooses the default model for
    /// [`ModelSpec::Default`]; `None` means AstroNN's).
    pub fn load_any(&self, kind: Option<ModelKind>) -> Result<ModelFile> {
        match self {
            ModelSpec::Default => default_model(kind.unwrap_or(ModelKind::AstroNN)),
            ModelSpec::DefaultDist => default_model(ModelKind::AstroNNDist),
            ModelSpec::File(path) => ModelFile::load(path),
        }
    }

    /// Reads a model of `kind`, with a clear message when the file holds the other kind.
    pub fn load(&self, kind: ModelKind) -> Result<ModelFile> {
        let model = self.load_any(Some(kind))?;
        if model.kind != kind {
            return Err(Error::Invalid(format!(
                "{} is an {} model, but an {} model is needed here",
                model.path.display(),
                kind_title(model.kind),
                kind_title(kind)
            )));
        }
        Ok(model)
    }
}

/// Writes `model` (of any format) as our safetensors model file at `output`, with its
/// provenance in the metadata: the file it was read from and its SHA-256, this version, the
/// time and an optional `description`. What `astronn convert` and Python's `Model.save` write.
/// Building the network first checks every parameter's presence and shape; an existing
/// `output` is an error unless `overwrite`.
pub fn save_converted(
    model: &ModelFile,
    output: &Path,
    description: Option<String>,
    overwrite: bool,
) -> Result<()> {
    crate::io::temp::refuse_to_replace(&[output], &[], overwrite)?;
    match model.kind {
        ModelKind::AstroNN => drop(censored_network(model)?),
        ModelKind::AstroNNDist => drop(dist_network(model)?),
        ModelKind::Generic => drop(generic_network(model)?),
    }
    let mut metadata = BTreeMap::from([
        ("source_file".to_string(), model.path.display().to_string()),
        ("source_sha256".to_string(), model.sha256.clone()),
        (
            "converted_by".to_string(),
            format!("astronn {}", env!("CARGO_PKG_VERSION")),
        ),
        (
            "created".to_string(),
            crate::pipeline::run_info::utc_timestamp(SystemTime::now()),
        ),
    ]);
    if let Some(description) = description {
        metadata.insert("description".to_string(), description);
    }
    model.save_safetensors(output, metadata)
}

/// A kind's name as the papers write it.
pub fn kind_title(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::AstroNN => "AstroNN",
        ModelKind::AstroNNDist => "AstroNNDist",
        ModelKind::Generic => "astroNN ApogeeBCNN/ApogeeCNN",
    }
}

/// The abundance network of a model.
pub fn censored_network(model: &ModelFile) -> Result<CensoredBcnn> {
    let net = CensoredBcnn::load(&model.var_builder()).map_err(|e| {
        Error::file(
            &model.path,
            format!("not a valid AstroNN model: {}", Error::from(e)),
        )
    })?;
    Ok(net
        .with_mc_variance(model.mc_variance()?)
        .with_labels_transform(model.labels_transform()?)
        .with_dropout_rate(model.dropout_rate()?))
}

/// The distance network of a model.
pub fn dist_network(model: &ModelFile) -> Result<DistBcnn> {
    let net = DistBcnn::load(&model.var_builder()).map_err(|e| {
        Error::file(
            &model.path,
            format!("not a valid AstroNNDist model: {}", Error::from(e)),
        )
    })?;
    Ok(net
        .with_mc_variance(model.mc_variance()?)
        .with_labels_transform(model.labels_transform()?)
        .with_dropout_rate(model.dropout_rate()?))
}

/// The network of a [`ModelKind::Generic`] model (an astroNN `ApogeeBCNN` or `ApogeeCNN`),
/// its outputs named as table columns.
pub fn generic_network(model: &ModelFile) -> Result<ApogeeBcnn> {
    let columns =
        column_names(&model.output_targets()?).map_err(|msg| Error::file(&model.path, msg))?;
    let net = ApogeeBcnn::load(&model.var_builder(), columns, model.output_activation()?).map_err(
        |e| {
            Error::file(
                &model.path,
                format!(
                    "not a valid {} model: {}",
                    model.class_name(),
                    Error::from(e)
                ),
            )
        },
    )?;
    Ok(net
        .with_mc_variance(model.mc_variance()?)
        .with_labels_transform(model.labels_transform()?)
        .with_dropout_rate(model.dropout_rate()?))
}

/// The noise model of a network and the name the output header gives it: the file given,
/// else the default models' own when the network is a default model (it is calibrated for
/// those), else none.
pub fn resolve_noise_model(
    path: Option<&Path>,
    default_network: bool,
) -> Result<(Option<NoiseModel>, String)> {
    Ok(match path {
        Some(path) => (Some(NoiseModel::load(path)?), path.display().to_string()),
        None if default_network => (
            Some(default_noise_model()?),
            DEFAULT_NOISE_MODEL_NAME.to_string(),
        ),
        None => (None, "none".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::censored::LABELS;

    #[test]
    fn default_noise_model_covers_both_networks() {
        let model = default_noise_model().expect("embedded noise model parses");
        for label in LABELS.iter().chain(&["L_fakemag"]) {
            let c = model.correction(label).expect("every label calibrated");
            assert!(c.scale > 0.0 && c.offset >= 0.0, "{label}");
        }
    }

    #[test]
    fn default_models_load_with_their_kind_and_provenance() {
        for kind in [ModelKind::AstroNN, ModelKind::AstroNNDist] {
            let model = default_model(kind).expect("embedded model loads");
            assert_eq!(model.kind, kind);
            assert!(model.metadata.contains_key("label_range"), "{kind:?}");
            assert!(model.metadata.contains_key("command_line"), "{kind:?}");
        }
    }
}
