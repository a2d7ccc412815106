//! A Keras functional model as astroNN saves it: the layer graph (the `model_config` JSON
//! attribute of a Keras 2 `.h5` file, or `config.json` in a Keras 3 `.keras` archive) and
//! the layers' kernels and biases (`model_weights/<layer>/<weight name>` datasets, or
//! `layers/<layer>/vars/{0,1}` in the archive's `model.weights.h5`).
//!
//! Layers are found by following the graph, not by their names: Keras numbers unnamed
//! layers (`dense_3`) in the order a session created them.

use crate::io::hdf5::{AttrValue, Group, Hdf5File};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Layers that pass their single input on without weights.
const PASS_THROUGH: [&str; 7] = [
    "Activation",
    "MCDropout",
    "Dropout",
    "Flatten",
    "MaxPooling1D",
    "StopGrad",
    "Reshape",
];

/// One layer of the graph.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Keras class name without a registration prefix (`astroNN>MCDropout` → `MCDropout`).
    pub class: String,
    /// The layers whose outputs it takes, in argument order.
    pub inbound: Vec<String>,
}

/// A weight array as Keras stores it (row-major, Keras' layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A dense or convolution layer's kernel and bias.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    pub kernel: Weight,
    pub bias: Weight,
}

/// The graph and the weights of a saved Keras model.
#[derive(Debug)]
pub struct KerasModel {
    /// The file the weights came from (for messages).
    pub path: PathBuf,
    /// The Keras version that wrote it (`keras_version`), if recorded.
    pub keras_version: Option<String>,
    layers: HashMap<String, Layer>,
    weights: HashMap<String, LayerWeights>,
}

impl KerasModel {
    /// A Keras 2 HDF5 model file or a Keras 3 `.keras` archive held in memory (recognised
    /// by content: an HDF5 signature or a zip archive); `path` names it in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<KerasModel> {
        if bytes.starts_with(b"PK\x03\x04") {
            Self::from_keras3(path, &bytes)
        } else {
            Self::from_keras2(path, Hdf5File::from_bytes(path, bytes)?)
        }
    }

    fn from_keras2(path: &Path, file: Hdf5File) -> Result<KerasModel> {
        let root = file.root()?;
        let config = match root.attribute("model_config")? {
            Some(AttrValue::String(text)) => text,
            _ => {
                return Err(Error::file(
                    path,
                    "no 'model_config' attribute: a weights-only file, but astroNN saves the \
                     whole Keras model (model_weights.h5 written by keras_model.save)",
                ))
            }
        };
        let keras_version = string_attribute(&root, "keras_version")?;
        let weights_group = root.group("model_weights")?;
        let layer_names = weights_group
            .string_list("layer_names")?
            .ok_or_else(|| Error::file(path, "'model_weights' has no 'layer_names'"))?;
        let mut weights = HashMap::new();
        for layer in layer_names {
            let group = weights_group.group(&layer)?;
            let names = group.string_list("weight_names")?.unwrap_or_default();
            let mut kernel = None;
            let mut bias = None;
            for name in names {
                let weight = read_weight(&group, &name)?;
                match weight_role(&name) {
                    Some("kernel") => kernel = Some(weight),
                    Some("bias") => bias = Some(weight),
                    _ => {}
                }
            }
            if let (Some(kernel), Some(bias)) = (kernel, bias) {
                weights.insert(layer, LayerWeights { kernel, bias });
            }
        }
        Ok(KerasModel {
            path: path.to_path_buf(),
            keras_version,
            layers: parse_graph(path, &config)?.into_iter().collect(),
            weights,
        })
    }

    fn from_keras3(path: &Path, bytes: &[u8]) -> Result<KerasModel> {
        let bad = |msg: String| Error::file(path, msg);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| bad(format!("not a readable .keras archive: {e}")))?;
        let mut member = |name: &str| -> Result<Vec<u8>> {
            let mut file = archive
                .by_name(name)
                .map_err(|_| bad(format!("the .keras archive has no '{name}'")))?;
            let mut out = Vec::new();
            file.read_to_end(&mut out)
                .map_err(|e| bad(format!("cannot read '{name}' in the archive: {e}")))?;
            Ok(out)
        };
        let config = String::from_utf8(member("config.json")?)
            .map_err(|_| bad("config.json is not UTF-8".into()))?;
        let keras_version = member("metadata.json").ok().and_then(|m| {
            serde_json::from_slice::<Value>(&m)
                .ok()?
                .get("keras_version")?
                .as_str()
                .map(String::from)
        });
        let weights_path = path.join("model.weights.h5");
        let file = Hdf5File::from_bytes(&weights_path, member("model.weights.h5")?)?;
        let root = file.root()?;
        let layers_group = root.group("layers")?;
        let stored = layers_group.members()?;
        let layers = parse_graph(path, &config)?;
        let mut weights = HashMap::new();
        for (name, key) in keras3_weight_keys(&layers) {
            if !stored.contains(&key) {
                continue;
            }
            let vars = layers_group.group(&format!("{key}/vars"))?;
            let members = vars.members()?;
            if members.iter().any(|m| m == "0") && members.iter().any(|m| m == "1") {
                let kernel = read_weight(&vars, "0")?;
                let bias = read_weight(&vars, "1")?;
                weights.insert(name, LayerWeights { kernel, bias });
            }
        }
        Ok(KerasModel {
            path: path.to_path_buf(),
            keras_version,
            layers: layers.into_iter().collect(),
            weights,
        })
    }

    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Result<&Layer> {
        self.layers
            .get(name)
            .ok_or_else(|| Error::file(&self.path, format!("the model has no layer '{name}'")))
    }

    /// The `index`-th input of layer `name`.
    pub fn input_of(&self, name: &str, index: usize) -> Result<&str> {
        let layer = self.layer(name)?;
        layer.inbound.get(index).map(String::as_str).ok_or_else(|| {
            Error::file(
                &self.path,
                format!(
                    "layer '{name}' ({}) has {} inputs, not {}",
                    layer.class,
                    layer.inbound.len(),
                    index + 1
                ),
            )
        })
    }

    /// The layer with weights that produces `name`'s value, following single-input layers
    /// without weights (activations, dropout, flatten, pooling, stop-gradient) upstream.
    pub fn weighted_source<'a>(&'a self, mut name: &'a str) -> Result<&'a str> {
        loop {
            let layer = self.layer(name)?;
            if !PASS_THROUGH.contains(&layer.class.as_str()) {
                return Ok(name);
            }
            name = self.input_of(name, 0)?;
        }
    }

    /// The weighted layer that feeds layer `name`'s `index`-th input.
    pub fn weighted_input(&self, name: &str, index: usize) -> Result<&str> {
        self.weighted_source(self.input_of(name, index)?)
    }

    /// The kernel and bias of layer `name`.
    pub fn weights(&self, name: &str) -> Result<&LayerWeights> {
        self.weights.get(name).ok_or_else(|| {
            Error::file(
                &self.path,
                format!("no kernel and bias stored for layer '{name}'"),
            )
        })
    }
}

/// A string attribute, if present.
fn string_attribute(group: &Group<'_>, name: &str) -> Result<Option<String>> {
    Ok(match group.attribute(name)? {
        Some(AttrValue::String(s)) => Some(s),
        _ => None,
    })
}

/// A float dataset of `group` as a [`Weight`].
fn read_weight(group: &Group<'_>, name: &str) -> Result<Weight> {
    let dataset = group.dataset(name)?;
    Ok(Weight {
        shape: dataset.shape().to_vec(),
        values: dataset.read_f32()?,
    })
}

/// `kernel` or `bias` for Keras 2 weight names such as `dense_3/kernel:0`.
fn weight_role(name: &str) -> Option<&str> {
    let last = name.rsplit('/').next()?;
    Some(last.split(':').next().unwrap_or(last))
}

/// Where a Keras 3 archive keeps each layer's variables: not under the layer's name, which
/// Keras regards as unreproducible, but under its class in snake case, numbered in the
/// model's layer order (`dense`, `dense_1`, ... over every `Dense` layer; Keras'
/// `saving_lib._save_container_state`). Pairs of (layer name, key under `layers/`).
fn keras3_weight_keys(layers: &[(String, Layer)]) -> Vec<(String, String)> {
    let mut used: HashMap<String, usize> = HashMap::new();
    layers
        .iter()
        .map(|(name, layer)| {
            let base = snake_case(&layer.class);
            let count = used.entry(base.clone()).or_insert(0);
            let key = match *count {
                0 => base.clone(),
                n => format!("{base}_{n}"),
            };
            *count += 1;
            (name.clone(), key)
        })
        .collect()
}

/// Keras' `naming.to_snake_case`: `Conv1D` → `conv1d`, `MCDropout` → `mc_dropout`.
fn snake_case(class: &str) -> String {
    let chars: Vec<char> = class.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        // An underscore before a capital that starts a word ("Xy" after any character) and
        // between a lower-case letter and a capital.
        let starts_word = i > 0
            && c.is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let after_lower = i > 0 && c.is_ascii_uppercase() && chars[i - 1].is_ascii_lowercase();
        if starts_word || after_lower {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The layers of a functional model's config (Keras 2's `model_config` or Keras 3's
/// `config.json`), in the model's order.
fn parse_graph(path: &Path, text: &str) -> Result<Vec<(String, Layer)>> {
    let bad = |msg: &str| Error::file(path, format!("model config: {msg}"));
    let json: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("malformed JSON ({e})")))?;
    let layers = json
        .pointer("/config/layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no layer list (not a functional model)"))?;
    layers
        .iter()
        .map(|layer| {
            let name = layer
                .get("name")
                .or_else(|| layer.pointer("/config/name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a layer without a name"))?;
            let class = layer
                .get("class_name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("layer '{name}' has no class")))?;
            let mut inbound = Vec::new();
            if let Some(nodes) = layer.get("inbound_nodes") {
                collect_inbound(nodes, &mut inbound);
            }
            Ok((
                name.to_string(),
                Layer {
                    class: class.rsplit('>').next().unwrap_or(class).to_string(),
                    inbound,
                },
            ))
        })
        .collect()
}

/// The names of the layers an `inbound_nodes` entry refers to, in order: Keras 2 writes
/// `[name, node, tensor, kwargs]` lists, Keras 3 `{"keras_history": [name, node, tensor]}`.
fn collect_inbound(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("keras_history")
                .and_then(|h| h.get(0))
                .and_then(Value::as_str)
            {
                out.push(name.to_string());
            } else {
                for item in map.values() {
                    collect_inbound(item, out);
                }
            }
        }
        Value::Array(items) => {
            let is_reference = items.len() >= 3
                && items[0].is_string()
                && items[1].is_number()
                && items[2].is_number();
            if is_reference {
                out.push(items[0].as_str().unwrap_or_default().to_string());
            } else {
                for item in items {
                    collect_inbound(item, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_layers_of_both_keras_styles_keep_their_order() {
        let keras2: Value =
            serde_json::from_str(r#"[[["dense_2", 0, 0, {}], ["stop_grad", 0, 0, {}]]]"#).unwrap();
        let mut names = Vec::new();
        collect_inbound(&keras2, &mut names);
        assert_eq!(names, vec!["dense_2", "stop_grad"]);
        let keras3: Value = serde_json::from_str(
            r#"[{"args": [[
                {"class_name": "__keras_tensor__", "config": {"keras_history": ["c_dense_2", 0, 0]}},
                {"class_name": "__keras_tensor__", "config": {"keras_history": ["concatenate", 0, 0]}}
            ]], "kwargs": {}}]"#,
        )
        .unwrap();
        let mut names = Vec::new();
        collect_inbound(&keras3, &mut names);
        assert_eq!(names, vec!["c_dense_2", "concatenate"]);
    }

    #[test]
    fn keras_3_keys_number_layers_by_class_in_model_order() {
        assert_eq!(snake_case("Conv1D"), "conv1d");
        assert_eq!(snake_case("MCDropout"), "mc_dropout");
        assert_eq!(snake_case("MaxPooling1D"), "max_pooling1d");
        assert_eq!(snake_case("Dense"), "dense");
        let layer = |class: &str| Layer {
            class: class.to_string(),
            inbound: Vec::new(),
        };
        let layers = vec![
            ("c_dense".to_string(), layer("Dense")),
            ("conv".to_string(), layer("Conv1D")),
            ("dense_7".to_string(), layer("Dense")),
        ];
        let keys = keras3_weight_keys(&layers);
        assert_eq!(keys[0], ("c_dense".to_string(), "dense".to_string()));
        assert_eq!(keys[1], ("conv".to_string(), "conv1d".to_string()));
        assert_eq!(keys[2], ("dense_7".to_string(), "dense_1".to_string()));
    }

    #[test]
    fn weight_roles_come_from_keras_2_names() {
        assert_eq!(weight_role("dense_3/kernel:0"), Some("kernel"));
        assert_eq!(weight_role("c_dense/bias:0"), Some("bias"));
        assert_eq!(weight_role("bias"), Some("bias"));
    }

    #[test]
    fn graphs_are_followed_through_layers_without_weights() {
        let config = r#"{"class_name": "Functional", "config": {"layers": [
            {"class_name": "InputLayer", "name": "input", "config": {}, "inbound_nodes": []},
            {"class_name": "Dense", "name": "d1", "config": {}, "inbound_nodes": [[["input", 0, 0, {}]]]},
            {"class_name": "Activation", "name": "a", "config": {}, "inbound_nodes": [[["d1", 0, 0, {}]]]},
            {"class_name": "astroNN>MCDropout", "name": "m", "config": {}, "inbound_nodes": [[["a", 0, 0, {}]]]},
            {"class_name": "Dense", "name": "d2", "config": {}, "inbound_nodes": [[["m", 0, 0, {}]]]}
        ]}}"#;
        let model = KerasModel {
            path: PathBuf::from("m.h5"),
            keras_version: None,
            layers: parse_graph(Path::new("m.h5"), config)
                .unwrap()
                .into_iter()
                .collect(),
            weights: HashMap::new(),
        };
        assert_eq!(model.weighted_input("d2", 0).unwrap(), "d1");
        assert_eq!(model.layer("m").unwrap().class, "MCDropout");
        let e = model.input_of("d2", 1).unwrap_err().to_string();
        assert_eq!(e, "m.h5: layer 'd2' (Dense) has 1 inputs, not 2");
        let e = model.weights("d1").unwrap_err().to_string();
        assert_eq!(e, "m.h5: no kernel and bias stored for layer 'd1'");
    }
}
