//! `astronn convert`: a model of any format written as our safetensors model file, with its
//! provenance.

use crate::cli::args::ConvertArgs;
use crate::io::model_file::ModelKind;
use crate::models::{censored_network, dist_network, ModelSpec};
use anyhow::Result;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Runs `astronn convert`.
pub fn convert(args: ConvertArgs, overwrite: bool) -> Result<()> {
    crate::io::temp::refuse_to_replace(&[&args.output], &[], overwrite)?;
    let model = ModelSpec::from_arg(Some(&args.input)).load_any(None)?;
    // Building the network checks every parameter's presence and shape.
    match model.kind {
        ModelKind::AstroNN => drop(censored_network(&model)?),
        ModelKind::AstroNNDist => drop(dist_network(&model)?),
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("source_file".to_string(), args.input.display().to_string());
    metadata.insert("source_sha256".to_string(), model.sha256.clone());
    metadata.insert(
        "converted_by".to_string(),
        format!("astronn {}", env!("CARGO_PKG_VERSION")),
    );
    metadata.insert(
        "created".to_string(),
        crate::pipeline::run_info::utc_timestamp(SystemTime::now()),
    );
    if let Some(description) = args.description {
        metadata.insert("description".to_string(), description);
    }
    model.save_safetensors(&args.output, metadata)?;
    eprintln!(
        "converted {} ({} model, {} tensors) -> {}",
        args.input.display(),
        model.kind.name(),
        model.tensors.len(),
        args.output.display()
    );
    Ok(())
}
