//! What the commands' networks are: the model files they load (the embedded default, said
//! once, without `--model`) and the arithmetic they run in on this CPU.

use crate::io::model_file::{ModelFile, ModelKind};
use crate::models::{default_model_notice, ModelSpec};
use crate::nn::precision::{Arithmetic, Precision};
use anyhow::Result;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reads a model of `kind` (the embedded default without a path, saying once what it is).
pub fn load_model(path: Option<&Path>, kind: ModelKind, quiet: bool) -> Result<ModelFile> {
    let spec = ModelSpec::from_arg(path);
    if spec.is_default(kind) {
        note_default_model(&[kind], quiet);
    }
    Ok(spec.load(kind)?)
}

/// Says, once, that the default models of `kinds` are in use, naming them.
pub fn note_default_model(kinds: &[ModelKind], quiet: bool) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if !quiet && !kinds.is_empty() && !NOTED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "note: {} (name another with --model, or --dist-model for distances).",
            default_model_notice(kinds)
        );
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
