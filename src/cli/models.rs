//! What the commands' networks are: the model files they load (the embedded default, said
//! once, without `--model`) and the arithmetic they run in on this CPU.

use crate::io::model_file::{ModelFile, ModelKind};
use crate::models::{ModelSpec, DEFAULT_MODEL_NOTICE};
use crate::nn::precision::{Arithmetic, Precision};
use anyhow::Result;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reads a model of `kind` (the embedded default without a path, saying once what it is).
pub fn load_model(path: Option<&Path>, kind: ModelKind, quiet: bool) -> Result<ModelFile> {
    let spec = ModelSpec::from_arg(path);
    if spec.is_default(kind) {
        note_default_model(quiet);
    }
    Ok(spec.load(kind)?)
}

/// Says, once, that a default model is in use.
pub fn note_default_model(quiet: bool) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if !quiet && !NOTED.swap(true, Ordering::Relaxed) {
        eprintln!("note: no --model given: {DEFAULT_MODEL_NOTICE} (--model).");
    }
}

/// The arithmetic `precision` runs on this CPU; a warning says where it is not the one asked
/// for.
pub fn arithmetic(precision: Precision) -> Arithmetic {
    let (arithmetic, notice) = Arithmetic::for_this_cpu(precision);
    if let Some(notice) = notice {
        eprintln!("warning: {notice}");
    }
    arithmetic
}
