//! Model files: Astra's PyTorch checkpoints (read directly, nothing executed), astroNN's model
//! folders ([`astronn_folder`]) and our own safetensors format, which adds the metadata a
//! run needs to the same parameter names.

use crate::io::astronn_folder;
use crate::io::temp::TempPath;
use crate::nn::scaling::McVariance;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Which network a model file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// AstroNN's censored Bayesian CNN (Teff, log g, 20 abundances).
    AstroNN,
    /// AstroNNDist (Ks-band pseudo-luminosity).
    AstroNNDist,
}

impl ModelKind {
    /// The name stored in model metadata and shown to users.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::AstroNN => "astronn",
            ModelKind::AstroNNDist => "astronn_dist",
        }
    }

    fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            "astronn" => Some(ModelKind::AstroNN),
            "astronn_dist" => Some(ModelKind::AstroNNDist),
            _ => None,
        }
    }

    /// Recognises the network from its parameter names.
    fn detect(names: &HashMap<String, Tensor>) -> Option<ModelKind> {
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

/// Metadata key naming the file format in our safetensors files.
const FORMAT_KEY: &str = "format";
const FORMAT_VALUE: &str = "astronn-model";
const KIND_KEY: &str = "kind";
/// Metadata key of the MC convention ([`McVariance`]; absent means Astra's, unbiased).
pub const MC_VARIANCE_KEY: &str = "mc_variance";

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
    /// Reads a model: an astroNN folder (or its JSON or weights file), else a model file,
    /// recognising the format by its content.
    pub fn load(path: &Path) -> Result<ModelFile> {
        if path.is_dir() || astronn_folder::is_astronn_model(path) {
            return astronn_folder::load(path);
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bytes.starts_with(b"PK\x03\x04") {
            let tensors: HashMap<String, Tensor> = crate::io::torch::read_state_dict(path)?
                .into_iter()
                .collect();
            Self::assemble(
                path,
                &bytes,
                ModelFormat::TorchCheckpoint,
                tensors,
                BTreeMap::new(),
            )
        } else {
            Self::from_safetensors(path, &bytes)
        }
    }

    /// A model in our safetensors format held in memory (an embedded model); `path` names
    /// it in messages and in [`ModelFile::identity`].
    pub fn from_safetensors(path: &Path, bytes: &[u8]) -> Result<ModelFile> {
        let (tensors, metadata) = read_safetensors(path, bytes)?;
        Self::assemble(path, bytes, ModelFormat::Safetensors, tensors, metadata)
    }

    fn assemble(
        path: &Path,
        bytes: &[u8],
        format: ModelFormat,
        tensors: HashMap<String, Tensor>,
        metadata: BTreeMap<String, String>,
    ) -> Result<ModelFile> {
        let kind = match metadata.get(KIND_KEY) {
            Some(name) => ModelKind::from_name(name).ok_or_else(|| {
                Error::file(path, format!("unknown model kind '{name}' in metadata"))
            })?,
            None => ModelKind::detect(&tensors).ok_or_else(|| {
                Error::file(
                    path,
                    "not an AstroNN or AstroNNDist model: the expected parameters \
                     (aspcap_masks.0/dense_teffloggfeh or dense_output/dense_var) are missing",
                )
            })?,
        };
        Ok(ModelFile {
            path: path.to_path_buf(),
            kind,
            format,
            sha256: hex(&Sha256::digest(bytes)),
            tensors,
            metadata,
        })
    }

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

    /// Writes the model as our safetensors format with `metadata` added to its own (kind
    /// and format are always set). Written to a temporary file, then renamed.
    pub fn save_safetensors(&self, path: &Path, metadata: BTreeMap<String, String>) -> Result<()> {
        let mut info: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        info.extend(metadata);
        info.insert(FORMAT_KEY.into(), FORMAT_VALUE.into());
        info.insert(KIND_KEY.into(), self.kind.name().into());
        let mut tensors: Vec<(&String, &Tensor)> = self.tensors.iter().collect();
        tensors.sort_by_key(|(name, _)| *name);
        let temp = TempPath::beside(path, "safetensors")?;
        safetensors::serialize_to_file(tensors, Some(info), temp.path())
            .map_err(|e| Error::file(path, format!("cannot write model: {e}")))?;
        temp.persist(path)
    }
}

fn read_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(HashMap<String, Tensor>, BTreeMap<String, String>)> {
    let not_a_model = |detail: String| {
        Error::file(
            path,
            format!("not a model file (neither a PyTorch checkpoint nor safetensors): {detail}"),
        )
    };
    let (_, header) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| not_a_model(e.to_string()))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| not_a_model(e.to_string()))?;
    Ok((tensors, metadata))
}

/// Lower-case hex of `bytes` (digests in metadata and logs).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
