//! astroNN's Keras layers as Astra's parameters (SPEC §4 and §5 names and layouts), so that
//! an astroNN folder builds the same networks as Astra's checkpoints.
//!
//! Keras keeps a dense kernel as `[in, out]` and a convolution kernel as `[k, in, out]`;
//! PyTorch's are `[out, in]` and `[out, in, k]`. Keras' channels-last flatten is
//! position-major, as Astra's port (and our trunk) already read `dense_1`. The censored
//! network's element masks are astroNN's own `aspcap_mask(elem, dr=14)`, the l31c windows
//! this crate embeds.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::apogee::masks::{branch_window, BRANCH_ELEMENTS};
use crate::io::astronn_folder::keras::{KerasModel, LayerWeights, Weight};
use crate::nn::censored::{branch_output, FE_H_OUTPUT, LABELS};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;

/// Parameters by Astra's names.
pub type Tensors = HashMap<String, Tensor>;

/// The censored network's layers (`ApogeeBCNNCensored`): the 22 outputs joined by the
/// `output` and `variance_output` layers, each element head's two dense layers behind it,
/// and the full-spectrum branch behind the shared `aux_fullspec` layer.
pub fn censored(model: &KerasModel, tensors: &mut Tensors) -> Result<()> {
    let outputs = joined(model, "output", LABELS.len())?;
    let variances = joined(model, "variance_output", LABELS.len())?;
    let pick = |names: &[String], j: usize| model.weights(&names[j]);
    let teff_logg_feh = |names: &[String]| -> Result<[&LayerWeights; 3]> {
        Ok([pick(names, 0)?, pick(names, 1)?, pick(names, FE_H_OUTPUT)?])
    };
    insert_stacked(
        tensors,
        "dense_teffloggfeh",
        &teff_logg_feh(&outputs)?,
        model,
    )?;
    insert_stacked(
        tensors,
        "dense_teffloggfeh_var",
        &teff_logg_feh(&variances)?,
        model,
    )?;
    let mut aux = None;
    for (branch, (element, _)) in BRANCH_ELEMENTS.iter().enumerate() {
        let out = &outputs[branch_output(branch)];
        // out ← concatenate([dropout(dense2), concatenate([aux, stop_grad(...)])])
        let joined_inputs = model.input_of(out, 0)?;
        let dense2 = model.weighted_input(joined_inputs, 0)?;
        let dense1 = model.weighted_input(dense2, 0)?;
        let mask = model.layer(model.input_of(dense1, 0)?)?;
        if mask.class != "BoolMask" {
            return Err(Error::file(
                &model.path,
                format!(
                    "the {element} head's first layer '{dense1}' reads a {} layer, not an \
                     ASPCAP window (BoolMask)",
                    mask.class
                ),
            ));
        }
        let window: Vec<u8> = branch_window(branch).iter().map(|&p| p as u8).collect();
        tensors.insert(
            format!("aspcap_masks.{branch}"),
            Tensor::from_vec(window, NETWORK_PIXELS, &Device::Cpu)?,
        );
        insert_dense(tensors, &format!("elem_dense1.{branch}"), model, dense1)?;
        insert_dense(tensors, &format!("elem_dense2.{branch}"), model, dense2)?;
        insert_dense(tensors, &format!("elem_dense_out.{branch}"), model, out)?;
        let var = &variances[branch_output(branch)];
        insert_dense(tensors, &format!("elem_dense_var.{branch}"), model, var)?;
        let shared = model.input_of(joined_inputs, 1)?;
        let this_aux = model.weighted_input(shared, 0)?;
        if aux.is_some_and(|a| a != this_aux) {
            return Err(Error::file(
                &model.path,
                format!("the element heads read different shared layers ('{this_aux}')"),
            ));
        }
        aux = Some(this_aux);
    }
    let aux = aux.expect("19 element branches");
    insert_dense(tensors, "dense_aux_fullspec", model, aux)?;
    let dense_2 = model.weighted_input(aux, 0)?;
    trunk(model, dense_2, tensors)
}

/// The layers of a plain network (`ApogeeBCNN`, or `ApogeeCNN` without `variance`): the
/// output layer (`output`, or for an `ApogeeCNN` the dense layer behind its `output`
/// activation) and `variance_output` over the second dense layer, and the full-spectrum
/// branch behind it.
pub fn plain(model: &KerasModel, tensors: &mut Tensors, variance: bool) -> Result<()> {
    let output = model.weighted_source("output")?;
    insert_dense(tensors, "dense_output", model, output)?;
    let dense_2 = model.weighted_input(output, 0)?;
    if variance {
        insert_dense(tensors, "dense_var", model, "variance_output")?;
        if model.weighted_input("variance_output", 0)? != dense_2 {
            return Err(Error::file(
                &model.path,
                "'output' and 'variance_output' read different layers",
            ));
        }
    }
    trunk(model, dense_2, tensors)
}

/// `dense_2`, `dense_1`, `conv2` and `conv1`, found upstream of `dense_2`.
fn trunk(model: &KerasModel, dense_2: &str, tensors: &mut Tensors) -> Result<()> {
    insert_dense(tensors, "dense_2", model, dense_2)?;
    let dense_1 = model.weighted_input(dense_2, 0)?;
    insert_dense(tensors, "dense_1", model, dense_1)?;
    let conv2 = model.weighted_input(dense_1, 0)?;
    let conv1 = model.weighted_input(conv2, 0)?;
    for (name, layer) in [("conv2", conv2), ("conv1", conv1)] {
        let class = &model.layer(layer)?.class;
        if class != "Conv1D" {
            return Err(Error::file(
                &model.path,
                format!("expected a Conv1D layer as {name}, found '{layer}' ({class})"),
            ));
        }
        insert_conv(tensors, name, model, layer)?;
    }
    Ok(())
}

/// The `count` layers that layer `name` (a Concatenate) joins.
fn joined(model: &KerasModel, name: &str, count: usize) -> Result<Vec<String>> {
    let layer = model.layer(name)?;
    if layer.inbound.len() != count {
        return Err(Error::file(
            &model.path,
            format!(
                "layer '{name}' joins {} outputs, but this network has {count}",
                layer.inbound.len()
            ),
        ));
    }
    Ok(layer.inbound.clone())
}

/// A Keras dense layer as PyTorch's `weight` `[out, in]` and `bias` `[out]`.
fn insert_dense(tensors: &mut Tensors, name: &str, model: &KerasModel, layer: &str) -> Result<()> {
    let w = model.weights(layer)?;
    let (inputs, outputs) = matrix_shape(model, layer, &w.kernel)?;
    let transposed = transpose(&w.kernel.values, inputs, outputs);
    insert(
        tensors,
        name,
        transposed,
        (outputs, inputs),
        bias(model, layer, &w.bias, outputs)?,
    )
}

/// Single-output dense layers stacked as one layer with an output each.
fn insert_stacked(
    tensors: &mut Tensors,
    name: &str,
    layers: &[&LayerWeights],
    model: &KerasModel,
) -> Result<()> {
    let mut weight = Vec::new();
    let mut bias = Vec::new();
    let mut inputs = None;
    for w in layers {
        let (n, outputs) = matrix_shape(model, name, &w.kernel)?;
        if outputs != 1 || inputs.is_some_and(|i| i != n) || w.bias.values.len() != 1 {
            return Err(Error::file(
                &model.path,
                format!("the layers of {name} are not single outputs of one layer's values"),
            ));
        }
        inputs = Some(n);
        weight.extend_from_slice(&w.kernel.values);
        bias.extend_from_slice(&w.bias.values);
    }
    let rows = layers.len();
    let bias = Tensor::from_vec(bias, rows, &Device::Cpu)?;
    insert(tensors, name, weight, (rows, inputs.unwrap_or(0)), bias)
}

/// A Keras `Conv1D` kernel `[k, in, out]` as PyTorch's `[out, in, k]`.
fn insert_conv(tensors: &mut Tensors, name: &str, model: &KerasModel, layer: &str) -> Result<()> {
    let w = model.weights(layer)?;
    let [k, inputs, outputs] = w.kernel.shape[..] else {
        return Err(Error::file(
            &model.path,
            format!(
                "the kernel of '{layer}' has shape {:?}, not [k, in, out]",
                w.kernel.shape
            ),
        ));
    };
    let mut weight = vec![0f32; k * inputs * outputs];
    for t in 0..k {
        for i in 0..inputs {
            for o in 0..outputs {
                weight[(o * inputs + i) * k + t] = w.kernel.values[(t * inputs + i) * outputs + o];
            }
        }
    }
    let weight = Tensor::from_vec(weight, (outputs, inputs, k), &Device::Cpu)?;
    tensors.insert(format!("{name}.weight"), weight);
    tensors.insert(
        format!("{name}.bias"),
        bias(model, layer, &w.bias, outputs)?,
    );
    Ok(())
}

/// Inserts `{name}.weight` (`[out, in]`) and `{name}.bias`.
fn insert(
    tensors: &mut Tensors,
    name: &str,
    weight: Vec<f32>,
    shape: (usize, usize),
    bias: Tensor,
) -> Result<()> {
    tensors.insert(
        format!("{name}.weight"),
        Tensor::from_vec(weight, shape, &Device::Cpu)?,
    );
    tensors.insert(format!("{name}.bias"), bias);
    Ok(())
}

/// Layer `layer`'s bias, which must have one value per output.
fn bias(model: &KerasModel, layer: &str, bias: &Weight, outputs: usize) -> Result<Tensor> {
    if bias.values.len() != outputs {
        return Err(Error::file(
            &model.path,
            format!(
                "the bias of '{layer}' has {} values for {outputs} outputs",
                bias.values.len()
            ),
        ));
    }
    Ok(Tensor::from_vec(
        bias.values.clone(),
        outputs,
        &Device::Cpu,
    )?)
}

/// `[in, out]` of a dense kernel.
fn matrix_shape(model: &KerasModel, layer: &str, kernel: &Weight) -> Result<(usize, usize)> {
    match kernel.shape[..] {
        [inputs, outputs] => Ok((inputs, outputs)),
        _ => Err(Error::file(
            &model.path,
            format!(
                "the kernel of '{layer}' has shape {:?}, not [in, out]",
                kernel.shape
            ),
        )),
    }
}

/// The transpose of a row-major `rows × cols` matrix.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}
