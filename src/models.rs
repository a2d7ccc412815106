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
use crate::pipeline::noise::NoiseModel;
use crate::{Error, Result};
use std::path::Path;

const ASTRONN: &[u8] = include_bytes!("../models/astronn_default.safetensors");
const ASTRONN_DIST: &[u8] = include_bytes!("../models/astronn_dist_default.safetensors");
const NOISE_MODEL: &str = include_str!("../models/noise_model_default.json");

/// The name under which the default noise model appears in messages and table headers.
pub const DEFAULT_NOISE_MODEL_NAME: &str = "default:noise_model_default.json";

/// What a run using a default model tells its user, once.
pub const DEFAULT_MODEL_NOTICE: &str = "no --model given: using the default model, trained \
    on simulated spectra (astronn simulate). It is for trying the tool and testing pipelines; \
    science runs need a model trained on real spectra (--model).";

/// The name under which a default model appears in messages and table headers.
pub fn default_model_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::AstroNN => "default:astronn_default.safetensors",
        ModelKind::AstroNNDist => "default:astronn_dist_default.safetensors",
    }
}

/// The embedded default model of `kind`.
pub fn default_model(kind: ModelKind) -> Result<ModelFile> {
    let bytes = match kind {
        ModelKind::AstroNN => ASTRONN,
        ModelKind::AstroNNDist => ASTRONN_DIST,
    };
    ModelFile::from_safetensors(Path::new(default_model_name(kind)), bytes)
}

/// The noise model of the default models (AstroNN labels and AstroNNDist's L_fakemag).
pub fn default_noise_model() -> Result<NoiseModel> {
    NoiseModel::from_json(NOISE_MODEL)
        .map_err(|msg| Error::Invalid(format!("{DEFAULT_NOISE_MODEL_NAME}: {msg}")))
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
