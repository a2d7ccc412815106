//! `astronn convert`: a model of any format written as our safetensors model file, with its
//! provenance ([`crate::models::save_converted`]).

use crate::cli::args::ConvertArgs;
use crate::models::{save_converted, ModelSpec};
use anyhow::Result;

/// Runs `astronn convert`.
pub fn convert(args: ConvertArgs, overwrite: bool) -> Result<()> {
    crate::io::temp::refuse_to_replace(&[&args.output], &[], overwrite)?;
    let model = ModelSpec::from_arg(Some(&args.input)).load_any(None)?;
    save_converted(&model, &args.output, args.description, overwrite)?;
    eprintln!(
        "converted {} ({} model, {} tensors) -> {}",
        args.input.display(),
        model.kind.name(),
        model.tensors.len(),
        args.output.display()
    );
    Ok(())
}
