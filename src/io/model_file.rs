//! What a model file holds once read, whatever its format: the network's kind, its
//! parameters under Astra's names and its metadata ([`ModelFile`]). Reading the formats
//! (Astra's PyTorch checkpoints, astroNN's model folders, our own safetensors format) and
//! writing ours is [`ModelFile::load`]'s and [`ModelFile::save_safetensors`]'s, in
//! `model_formats`.

use crate::nn::bcnn::OutputActivation;
use crate::nn::dropout::DropoutRate;
use crate::nn::scaling::{LabelsTransform, McVariance};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Which network a model file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// AstroNN's censored Bayesian CNN (Teff, log g, 20 abundances).
    AstroNN,
    /// AstroNNDist (Ks-band pseudo-luminosity).
    AstroNNDist,
    /// Any other astroNN network of APOGEE spectra (`ApogeeBCNN` of any outputs,
    /// `ApogeeCNN`): its outputs are named in the metadata ([`OUTPUTS_KEY`]).
    Generic,
}

impl ModelKind {
    /// The name stored in model metadata and shown to users.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::AstroNN => "astronn",
            ModelKind::AstroNNDist => "astronn_dist",
            ModelKind::Generic => "astronn_generic",
        }
    }

    /// The kind [`ModelKind::name`] names.
    pub(crate) fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            "astronn" => Some(ModelKind::AstroNN),
            "astronn_dist" => Some(ModelKind::AstroNNDist),
            "astronn_generic" => Some(ModelKind::Generic),
            _ => None,
        }
    }

    /// Recognises the network from its parameter names.
    pub(crate) fn detect(names: &HashMap<String, Tensor>) -> Option<ModelKind> {
        if names.contains_key("aspcap_masks.0") && names.contains_key("dense_teffloggfeh.weight") {
            Some(ModelKind::AstroNN)
        } else if names.contains_key("dense_output.weight")
            && names.contains_key("dense_var.weight")
        {
            Some(ModelKind::AstroNNDist)
        } else {
            None
        }
    }
}

/// The format a model was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// A `torch.save` checkpoint as Astra writes it.
    TorchCheckpoint,
    /// Our safetensors model file.
    Safetensors,
    /// An astroNN model folder (JSON + Keras 2 `.h5` or Keras 3 `.keras`).
    AstroNNFolder,
}

/// Metadata key of the MC convention ([`McVariance`]; absent means Astra's, unbiased).
pub const MC_VARIANCE_KEY: &str = "mc_variance";

/// Metadata key of the network's dropout rate (absent: Astra's 0.3). astroNN's folders set
/// it from their `dropout_rate`.
pub const DROPOUT_RATE_KEY: &str = "dropout_rate";

/// Metadata key of a [`ModelKind::Generic`] model's outputs: a JSON list of astroNN's target
/// names, in output order (columns are named from them:
/// [`crate::products::output_names::column_name`]).
pub const OUTPUTS_KEY: &str = "outputs";

/// Metadata key of a [`ModelKind::Generic`] model's output activation (`linear` or
/// `softplus`; absent: linear).
pub const OUTPUT_ACTIVATION_KEY: &str = "output_activation";

/// Metadata key of how the mean output becomes a label ([`LabelsTransform`]; absent: the
/// identity). astroNN folders of labels mode 3s set it to `logit`.
pub const LABELS_TRANSFORM_KEY: &str = "labels_transform";

/// A model's parameters and metadata, ready to build a network from.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The network it holds.
    pub kind: ModelKind,
    /// The format it was read from.
    pub format: ModelFormat,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// Parameters by Astra's names (masks as u8, normalisation as f64).
    pub tensors: HashMap<String, Tensor>,
    /// Free-form metadata (provenance, description); empty for PyTorch checkpoints.
    pub metadata: BTreeMap<String, String>,
}

impl ModelFile {
    /// How the model's MC samples' spread is measured (its metadata's `mc_variance`).
    pub fn mc_variance(&self) -> Result<McVariance> {
        match self.metadata.get(MC_VARIANCE_KEY) {
            None => Ok(McVariance::Unbiased),
            Some(name) => McVariance::from_name(name).ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!("unknown {MC_VARIANCE_KEY} '{name}' in metadata"),
                )
            }),
        }
    }

    /// How the network's mean output becomes a label ([`LABELS_TRANSFORM_KEY`]).
    pub fn labels_transform(&self) -> Result<LabelsTransform> {
        match self.metadata.get(LABELS_TRANSFORM_KEY) {
            None => Ok(LabelsTransform::Identity),
            Some(name) => LabelsTransform::from_name(name).ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!("unknown {LABELS_TRANSFORM_KEY} '{name}' in metadata"),
                )
            }),
        }
    }

    /// The rate of the network's dropout layers: [`DROPOUT_RATE_KEY`]'s, else Astra's.
    pub fn dropout_rate(&self) -> Result<DropoutRate> {
        match self.metadata.get(DROPOUT_RATE_KEY) {
            None => Ok(DropoutRate::ASTRA),
            Some(text) => text
                .parse::<f64>()
                .map_err(|e| e.to_string())
                .and_then(DropoutRate::new)
                .map_err(|e| {
                    Error::file(
                        &self.path,
                        format!("bad {DROPOUT_RATE_KEY} '{text}' in metadata: {e}"),
                    )
                }),
        }
    }

    /// A [`ModelKind::Generic`] model's astroNN target names ([`OUTPUTS_KEY`]).
    pub fn output_targets(&self) -> Result<Vec<String>> {
        let text = self.metadata.get(OUTPUTS_KEY).ok_or_else(|| {
            Error::file(&self.path, format!("no '{OUTPUTS_KEY}' in the metadata"))
        })?;
        serde_json::from_str(text).map_err(|e| {
            Error::file(
                &self.path,
                format!("bad '{OUTPUTS_KEY}' in the metadata (a JSON list of names): {e}"),
            )
        })
    }

    /// A [`ModelKind::Generic`] model's output activation ([`OUTPUT_ACTIVATION_KEY`]).
    pub fn output_activation(&self) -> Result<OutputActivation> {
        match self.metadata.get(OUTPUT_ACTIVATION_KEY) {
            None => Ok(OutputActivation::Linear),
            Some(name) => OutputActivation::from_name(name).ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!("unknown {OUTPUT_ACTIVATION_KEY} '{name}' in metadata"),
                )
            }),
        }
    }

    /// The network's class as astroNN names it, where the model came from astroNN (its
    /// metadata's `astronn_class`), else the kind's network.
    pub fn class_name(&self) -> String {
        match self.metadata.get("astronn_class") {
            Some(class) => class.clone(),
            None => match self.kind {
                ModelKind::AstroNN => "AstroNN".into(),
                ModelKind::AstroNNDist => "AstroNNDist".into(),
                ModelKind::Generic => "astroNN network".into(),
            },
        }
    }

    /// A parameter builder over this model's tensors (floating parameters as f32).
    pub fn var_builder(&self) -> VarBuilder<'static> {
        VarBuilder::from_tensors(self.tensors.clone(), DType::F32, &Device::Cpu)
    }

    /// A one-line identity for table headers and logs: file name, kind, hash prefix.
    pub fn identity(&self) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "{name} ({}, sha256 {})",
            self.kind.name(),
            &self.sha256[..12]
        )
    }
}

/// Lower-case hex of `bytes` (digests in metadata and logs).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
