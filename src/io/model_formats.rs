//! Reading a model file whatever its format, and writing ours. [`ModelFile::load`] tells the
//! formats apart: an astroNN model folder ([`crate::io::astronn_folder`]), Astra's PyTorch
//! checkpoint (read directly, nothing executed) or our own safetensors format, which adds the
//! metadata a run needs to the same parameter names ([`ModelFile::save_safetensors`] writes
//! it). The readers of the formats build the [`ModelFile`] of [`crate::io::model_file`]; the
//! dispatch over them lives here, above them all.

use crate::io::astronn_folder;
use crate::io::model_file::{hex, ModelFile, ModelFormat, ModelKind};
use crate::io::temp::TempPath;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Metadata key naming the file format in our safetensors files.
const FORMAT_KEY: &str = "format";
const FORMAT_VALUE: &str = "astronn-model";
const KIND_KEY: &str = "kind";

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
