//! `astroNN_model_parameter.json`: the class, shapes and normalisation astroNN saves beside
//! a model's weights, in both of its styles — astroNN ≥ 1.1 writes dict-valued entries keyed
//! by input and output name (`{"input": [...], "input_err": [...], "labels_err": [...]}`),
//! older versions plain lists and scalars.

use serde_json::Value;

/// The entries of the JSON that inference needs, with dict- and list-valued styles resolved
/// to the main input (`input`) and output (`output`).
#[derive(Debug, Clone, PartialEq)]
pub struct Parameters {
    /// astroNN's class name (`id`).
    pub class: String,
    /// `hidden`: the dense layers' sizes.
    pub hidden: Vec<usize>,
    /// `filternum`, `filterlen` and `pool_length`.
    pub filters: Vec<usize>,
    pub filter_length: usize,
    pub pool_length: usize,
    /// Pixels of the spectrum input.
    pub pixels: usize,
    /// Number of outputs.
    pub labels: usize,
    /// `targetname`.
    pub target_names: Vec<String>,
    /// Normalisation of the spectrum input and of the labels.
    pub input: Normalisation,
    pub output: Normalisation,
    /// `last_layer_activation` (`linear` when absent, as astroNN's regression default).
    pub last_layer_activation: String,
    /// `dropout_rate`.
    pub dropout_rate: f64,
    /// Whether the JSON is of the dict-valued (astroNN ≥ 1.1) style.
    pub dict_style: bool,
}

/// One array's normalisation as saved: astroNN's mode and its mean and std.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    /// astroNN's `Normalizer` mode: "0", "1", "2", "3", "3s", "4" or "255".
    pub mode: String,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Parameters {
    /// Parses the JSON text; an error says which entry is missing or malformed.
    pub fn parse(text: &str) -> Result<Parameters, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
        let entry = |key: &str| json.get(key).ok_or_else(|| format!("no '{key}' entry"));
        let dict_style = entry("input_mean")?.is_object();
        let main = |key: &str, name: &str| -> Result<&Value, String> {
            let value = entry(key)?;
            match value {
                Value::Object(map) => map
                    .get(name)
                    .ok_or_else(|| format!("'{key}' has no '{name}' entry")),
                _ => Ok(value),
            }
        };
        let normalisation = |name: &str, prefix: &str| -> Result<Normalisation, String> {
            Ok(Normalisation {
                mode: mode(main(&format!("{prefix}_norm_mode"), name)?)
                    .ok_or_else(|| format!("'{prefix}_norm_mode' is not a mode"))?,
                mean: numbers(main(&format!("{prefix}_mean"), name)?)
                    .ok_or_else(|| format!("'{prefix}_mean' is not a list of numbers"))?,
                std: numbers(main(&format!("{prefix}_std"), name)?)
                    .ok_or_else(|| format!("'{prefix}_std' is not a list of numbers"))?,
            })
        };
        let sizes = |key: &str| -> Result<Vec<usize>, String> {
            integers(entry(key)?).ok_or_else(|| format!("'{key}' is not a list of sizes"))
        };
        let size = |key: &str| -> Result<usize, String> {
            let value = entry(key)?;
            integers(value)
                .and_then(|v| (v.len() == 1).then(|| v[0]))
                .ok_or_else(|| format!("'{key}' is not a size"))
        };
        let input_shape =
            integers(main("input", "input")?).ok_or("'input' is not a shape".to_string())?;
        Ok(Parameters {
            class: entry("id")?
                .as_str()
                .ok_or("'id' is not a string")?
                .to_string(),
            hidden: sizes("hidden")?,
            filters: sizes("filternum")?,
            filter_length: size("filterlen")?,
            pool_length: size("pool_length")?,
            pixels: input_shape.first().copied().unwrap_or(0),
            labels: integers(main("labels", "output")?)
                .and_then(|v| v.first().copied())
                .ok_or("'labels' is not a size")?,
            target_names: entry("targetname")?
                .as_array()
                .and_then(|names| names.iter().map(|n| n.as_str().map(String::from)).collect())
                .ok_or("'targetname' is not a list of names")?,
            input: normalisation("input", "input")?,
            output: normalisation("output", "labels")?,
            last_layer_activation: json
                .get("last_layer_activation")
                .and_then(Value::as_str)
                .unwrap_or("linear")
                .to_string(),
            dropout_rate: entry("dropout_rate")?
                .as_f64()
                .ok_or("'dropout_rate' is not a number")?,
            dict_style,
        })
    }
}

/// A mode as astroNN compares it: the JSON value as a string ("3", 3 and 3.0 alike).
fn mode(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|v| v.to_string()).or_else(|| {
            n.as_f64()
                .filter(|v| v.fract() == 0.0)
                .map(|v| v.to_string())
        }),
        _ => None,
    }
}

/// A number or a list of numbers.
fn numbers(value: &Value) -> Option<Vec<f64>> {
    match value {
        Value::Array(items) => items.iter().map(Value::as_f64).collect(),
        Value::Number(n) => n.as_f64().map(|v| vec![v]),
        _ => None,
    }
}

/// A size or a list of sizes.
fn integers(value: &Value) -> Option<Vec<usize>> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_u64().map(|v| v as usize))
            .collect(),
        Value::Number(n) => n.as_u64().map(|v| vec![v as usize]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST_STYLE: &str = r#"{
        "id": "ApogeeBCNN", "hidden": [164, 64], "filternum": [2, 4], "filterlen": 8,
        "pool_length": 4, "input": [3, 1], "labels": 1, "targetname": ["Ks-band fakemag"],
        "input_mean": [1.0, 0.5, 0.25], "input_std": [1.0], "input_norm_mode": 3,
        "labels_mean": [0.0], "labels_std": [104.3], "labels_norm_mode": 0,
        "last_layer_activation": "softplus", "dropout_rate": 0.3
    }"#;

    const DICT_STYLE: &str = r#"{
        "id": "ApogeeBCNNCensored", "hidden": [256, 96, 32, 16, 2], "filternum": [2, 4],
        "filterlen": 8, "pool_length": 4,
        "input": {"input": [3, 1], "input_err": [3, 1], "labels_err": [2, 1]},
        "labels": {"output": 2, "variance_output": 2}, "targetname": ["teff", "logg"],
        "input_mean": {"input": [1.0, 0.5, 0.25], "input_err": [0, 0, 0], "labels_err": [1, 2]},
        "input_std": {"input": [1.0], "input_err": [1.0], "labels_err": [1.0]},
        "input_norm_mode": {"input": "3", "input_err": "3", "labels_err": "3"},
        "labels_mean": {"output": [4600.0, 2.5], "variance_output": [4600.0, 2.5]},
        "labels_std": {"output": [600.0, 0.9], "variance_output": [600.0, 0.9]},
        "labels_norm_mode": {"output": "2", "variance_output": "2"},
        "last_layer_activation": "linear", "dropout_rate": 0.3
    }"#;

    #[test]
    fn reads_the_list_style_of_older_astronn() {
        let p = Parameters::parse(LIST_STYLE).unwrap();
        assert_eq!(p.class, "ApogeeBCNN");
        assert_eq!(p.hidden, vec![164, 64]);
        assert_eq!((p.pixels, p.labels), (3, 1));
        assert_eq!(p.input.mode, "3");
        assert_eq!(p.input.mean, vec![1.0, 0.5, 0.25]);
        assert_eq!(p.output.mode, "0");
        assert_eq!(p.output.std, vec![104.3]);
        assert_eq!(p.last_layer_activation, "softplus");
        assert!(!p.dict_style);
    }

    #[test]
    fn reads_the_main_input_and_output_of_the_dict_style() {
        let p = Parameters::parse(DICT_STYLE).unwrap();
        assert_eq!(p.class, "ApogeeBCNNCensored");
        assert_eq!((p.pixels, p.labels), (3, 2));
        assert_eq!(p.input.mean, vec![1.0, 0.5, 0.25]);
        assert_eq!(p.output.mode, "2");
        assert_eq!(p.output.mean, vec![4600.0, 2.5]);
        assert_eq!(p.target_names, vec!["teff", "logg"]);
        assert!(p.dict_style);
    }

    #[test]
    fn malformed_entries_are_named() {
        let e = Parameters::parse("{").unwrap_err();
        assert!(e.starts_with("malformed JSON"), "{e}");
        let e = Parameters::parse(&LIST_STYLE.replace(r#""id": "ApogeeBCNN", "#, "")).unwrap_err();
        assert_eq!(e, "no 'id' entry");
        let e = Parameters::parse(&LIST_STYLE.replace("[164, 64]", "\"big\"")).unwrap_err();
        assert_eq!(e, "'hidden' is not a list of sizes");
        let e =
            Parameters::parse(&DICT_STYLE.replace(r#""output": [600.0, 0.9], "#, "")).unwrap_err();
        assert_eq!(e, "'labels_std' has no 'output' entry");
    }
}
