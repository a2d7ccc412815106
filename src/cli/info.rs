//! `astronn info`: what a model file holds.

use crate::cli::args::InfoArgs;
use crate::io::model_file::ModelKind;
use crate::models::{censored_network, generic_network, ModelSpec};
use crate::nn::network::BayesianNetwork;
use anyhow::Result;

/// Runs `astronn info`.
pub fn info(args: InfoArgs) -> Result<()> {
    let model = ModelSpec::from_arg(Some(&args.model)).load_any(None)?;
    println!("file:        {}", model.path.display());
    println!("format:      {:?}", model.format);
    println!("kind:        {}", model.kind.name());
    println!("sha256:      {}", model.sha256);
    let parameters: usize = model
        .tensors
        .iter()
        .filter(|(name, _)| name.ends_with("weight") || name.ends_with("bias"))
        .map(|(_, t)| t.elem_count())
        .sum();
    println!("parameters:  {parameters}");
    println!("class:       {}", model.class_name());
    let labels = match model.kind {
        ModelKind::AstroNN => censored_network(&model)?.label_names(),
        ModelKind::AstroNNDist => vec!["L_fakemag".to_string()],
        ModelKind::Generic => generic_network(&model)?.label_names(),
    };
    println!("labels:      {}", labels.join(", "));
    if model.kind == ModelKind::Generic {
        let net = generic_network(&model)?;
        let errors = if net.is_bayesian() {
            "MC dropout and a predictive variance"
        } else {
            "none (deterministic, no variance: error columns are NaN)"
        };
        println!("activation:  {}", net.activation().name());
        println!("errors:      {errors}");
    }
    for (key, value) in &model.metadata {
        println!("{key:<12} {value}");
    }
    Ok(())
}
