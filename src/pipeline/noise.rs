//! The noise model (SPEC §7): per-label recalibration of the reported errors.
//!
//! After prediction each error is rescaled, `e_x = scale_x · raw_e_x + offset_x`; a label
//! without an entry keeps its raw error, and the label values themselves are unchanged.
//! Astra keeps the constants in a pickle holding a tuple `(corrections, reference)`, where
//! `corrections` maps a label name to `{"offset": …, "scale": …}` and `reference` is other
//! data (numpy arrays and the like) that is not needed here. This module reads that pickle
//! with the safe [`pickle`] reader (nothing in it is executed, and the `reference` part is
//! never interpreted) and also a plain JSON form,
//! `{"teff": {"offset": 10.0, "scale": 1.2}, …}`.

use crate::io::pickle::{self, Value};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The recalibration of one label's error: `scale · raw_error + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correction {
    /// Added to the scaled error.
    pub offset: f64,
    /// Multiplies the raw error.
    pub scale: f64,
}

impl Correction {
    /// The recalibrated error, `scale · raw_error + offset`.
    pub fn apply(&self, raw_error: f64) -> f64 {
        self.scale * raw_error + self.offset
    }
}

/// Per-label error corrections. The default (empty) model leaves every error unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseModel {
    corrections: BTreeMap<String, Correction>,
}

impl NoiseModel {
    /// A model from `(label, correction)` pairs (the last one wins for a repeated label).
    /// Offsets and scales must be finite.
    pub fn new(corrections: impl IntoIterator<Item = (String, Correction)>) -> Result<NoiseModel> {
        let mut model = NoiseModel::default();
        for (label, c) in corrections {
            check_finite(&label, "offset", c.offset).map_err(Error::Invalid)?;
            check_finite(&label, "scale", c.scale).map_err(Error::Invalid)?;
            model.corrections.insert(label, c);
        }
        Ok(model)
    }

    /// Reads a noise model file: JSON when its first non-blank byte is `{`, otherwise a
    /// pickle in Astra's format (protocol 2 and later pickles start with 0x80).
    pub fn load(path: &Path) -> Result<NoiseModel> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
        let parsed = if first == Some(b'{') {
            std::str::from_utf8(&bytes)
                .map_err(|e| format!("not UTF-8 JSON: {e}"))
                .and_then(NoiseModel::from_json)
        } else {
            NoiseModel::from_pickle(&bytes)
        };
        parsed.map_err(|msg| Error::file(path, msg))
    }

    /// The JSON form read by [`NoiseModel::from_json`], labels in sorted order.
    pub fn to_json(&self) -> String {
        let entries: serde_json::Map<String, serde_json::Value> = self
            .corrections
            .iter()
            .map(|(label, c)| {
                (
                    label.clone(),
                    serde_json::json!({"offset": c.offset, "scale": c.scale}),
                )
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::Value::Object(entries)).unwrap_or_default()
    }

    /// Parses the JSON form: an object from label names to `{"offset": number, "scale":
    /// number}` (other keys in an entry are ignored).
    pub fn from_json(text: &str) -> std::result::Result<NoiseModel, String> {
        let root: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let entries = root
            .as_object()
            .ok_or("expected a JSON object mapping labels to {\"offset\", \"scale\"}")?;
        let mut model = NoiseModel::default();
        for (label, entry) in entries {
            let entry = entry.as_object().ok_or_else(|| {
                format!("label '{label}': expected an object with \"offset\" and \"scale\"")
            })?;
            let field = |name: &str| -> std::result::Result<f64, String> {
                let value = entry
                    .get(name)
                    .ok_or_else(|| format!("label '{label}': missing '{name}'"))?;
                let number = value.as_f64().ok_or_else(|| {
                    format!("label '{label}': '{name}' is not a number (found {value})")
                })?;
                check_finite(label, name, number)?;
                Ok(number)
            };
            let correction = Correction {
                offset: field("offset")?,
                scale: field("scale")?,
            };
            model.corrections.insert(label.clone(), correction);
        }
        Ok(model)
    }

    /// Parses Astra's pickle: a tuple `(corrections, reference)` (a bare `corrections`
    /// mapping is accepted too). Offsets and scales may be Python floats or ints, or numpy
    /// scalars; `reference` is skipped whatever it holds.
    pub fn from_pickle(bytes: &[u8]) -> std::result::Result<NoiseModel, String> {
        let root = pickle::parse(bytes)?;
        let corrections = match &root {
            Value::Tuple(items) => items.first().unwrap_or(&Value::None),
            other => other,
        };
        let entries = corrections.as_dict_items().ok_or_else(|| {
            format!(
                "expected a (corrections, reference) tuple with a dict of corrections, found {}",
                if root.as_tuple().is_some() {
                    format!("a tuple starting with {}", corrections.describe())
                } else {
                    root.describe()
                }
            )
        })?;
        let mut model = NoiseModel::default();
        for (key, entry) in entries {
            let label = key
                .as_str()
                .ok_or_else(|| format!("label is not a string (found {})", key.describe()))?;
            if entry.as_dict_items().is_none() {
                return Err(format!(
                    "label '{label}': expected a dict with 'offset' and 'scale', found {}",
                    entry.describe()
                ));
            }
            let field = |name: &str| -> std::result::Result<f64, String> {
                let value = entry
                    .get(name)
                    .ok_or_else(|| format!("label '{label}': missing '{name}'"))?;
                let number = number(value).map_err(|m| format!("label '{label}': '{name}' {m}"))?;
                check_finite(label, name, number)?;
                Ok(number)
            };
            let correction = Correction {
                offset: field("offset")?,
                scale: field("scale")?,
            };
            model.corrections.insert(label.to_owned(), correction);
        }
        Ok(model)
    }

    /// The correction for `label`, if the model has one.
    pub fn correction(&self, label: &str) -> Option<Correction> {
        self.corrections.get(label).copied()
    }

    /// The recalibrated error of `label`: `scale · raw_error + offset`, or `raw_error`
    /// unchanged when the model has no entry for the label.
    pub fn apply(&self, label: &str, raw_error: f64) -> f64 {
        match self.corrections.get(label) {
            Some(c) => c.apply(raw_error),
            None => raw_error,
        }
    }

    /// The labels with a correction, in sorted order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.corrections.keys().map(String::as_str)
    }

    /// The number of labels with a correction.
    pub fn len(&self) -> usize {
        self.corrections.len()
    }

    /// Whether the model corrects no label.
    pub fn is_empty(&self) -> bool {
        self.corrections.is_empty()
    }
}

fn check_finite(label: &str, name: &str, value: f64) -> std::result::Result<(), String> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(format!("label '{label}': '{name}' is not finite ({value})"))
    }
}

/// A number in the pickle: a Python float or int, or a numpy scalar
/// (`numpy.core.multiarray.scalar(dtype, raw bytes)`, numpy ≥ 2: `numpy._core…`).
fn number(value: &Value) -> std::result::Result<f64, String> {
    match value {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Reduce(obj) => match obj.callable_global() {
            Some(("numpy.core.multiarray" | "numpy._core.multiarray", "scalar")) => {
                match obj.args_tuple() {
                    Some([dtype, data, ..]) => numpy_scalar(dtype, data),
                    _ => Err("is a numpy scalar without (dtype, data) arguments".into()),
                }
            }
            _ => Err(format!("is not a number (found {})", value.describe())),
        },
        other => Err(format!("is not a number (found {})", other.describe())),
    }
}

/// Decodes a numpy scalar from its dtype (`numpy.dtype('f8', …)` with the byte order in its
/// state) and its raw bytes.
fn numpy_scalar(dtype: &Value, data: &Value) -> std::result::Result<f64, String> {
    let obj = dtype
        .as_object()
        .filter(|o| o.callable_global() == Some(("numpy", "dtype")))
        .ok_or_else(|| {
            format!(
                "is a numpy scalar with an unknown dtype ({})",
                dtype.describe()
            )
        })?;
    let code = obj
        .args_tuple()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or("is a numpy scalar whose dtype has no type code")?;
    // The state is (version, byte order, …); '>' is big-endian, anything else little.
    let big = obj
        .state
        .as_ref()
        .and_then(Value::as_tuple)
        .and_then(|s| s.get(1))
        .and_then(Value::as_str)
        == Some(">");
    let bytes = raw_bytes(data).ok_or_else(|| {
        format!(
            "is a numpy scalar whose data is not bytes ({})",
            data.describe()
        )
    })?;
    fn array<const N: usize>(bytes: &[u8], big: bool) -> Option<[u8; N]> {
        let mut a: [u8; N] = bytes.get(..N)?.try_into().ok()?;
        if big {
            a.reverse();
        }
        Some(a)
    }
    let value = match code {
        "f8" => array(&bytes, big).map(f64::from_le_bytes),
        "f4" => array(&bytes, big).map(|a| f64::from(f32::from_le_bytes(a))),
        "i8" => array(&bytes, big).map(|a| i64::from_le_bytes(a) as f64),
        "i4" => array(&bytes, big).map(|a| f64::from(i32::from_le_bytes(a))),
        "i2" => array(&bytes, big).map(|a| f64::from(i16::from_le_bytes(a))),
        "i1" => array(&bytes, big).map(|a| f64::from(i8::from_le_bytes(a))),
        "u8" => array(&bytes, big).map(|a| u64::from_le_bytes(a) as f64),
        "u4" => array(&bytes, big).map(|a| f64::from(u32::from_le_bytes(a))),
        "u2" => array(&bytes, big).map(|a| f64::from(u16::from_le_bytes(a))),
        "u1" => array(&bytes, big).map(|a| f64::from(u8::from_le_bytes(a))),
        other => return Err(format!("is a numpy scalar of unsupported dtype '{other}'")),
    };
    value.ok_or_else(|| {
        format!(
            "is a numpy '{code}' scalar with {} bytes of data",
            bytes.len()
        )
    })
}

/// Raw bytes: `bytes`, a Python 2 `str`, or protocol ≤ 2's `_codecs.encode(text, 'latin1')`.
fn raw_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Bytes(b) | Value::ByteArray(b) => Some(b.clone()),
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Reduce(obj) if obj.callable_global() == Some(("_codecs", "encode")) => {
            match obj.args_tuple()? {
                [Value::String(text), Value::String(enc)]
                    if matches!(enc.as_str(), "latin1" | "latin-1" | "iso-8859-1") =>
                {
                    text.chars().map(|c| u8::try_from(c).ok()).collect()
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_and_lookup() {
        let model = NoiseModel::new([
            (
                "teff".to_string(),
                Correction {
                    offset: 10.0,
                    scale: 1.2,
                },
            ),
            (
                "logg".to_string(),
                Correction {
                    offset: 0.01,
                    scale: 1.5,
                },
            ),
        ])
        .unwrap();
        assert_eq!(model.apply("teff", 100.0), 130.0);
        assert_eq!(model.apply("logg", 0.1), 1.5 * 0.1 + 0.01);
        assert_eq!(model.apply("c_h", 0.05), 0.05);
        assert!(model.apply("teff", f64::NAN).is_nan());
        assert_eq!(model.correction("c_h"), None);
        assert_eq!(model.labels().collect::<Vec<_>>(), ["logg", "teff"]);
        assert_eq!(model.len(), 2);
        assert!(NoiseModel::default().is_empty());
        assert_eq!(NoiseModel::default().apply("teff", 3.0), 3.0);
        let bad = NoiseModel::new([(
            "teff".to_string(),
            Correction {
                offset: f64::INFINITY,
                scale: 1.0,
            },
        )]);
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("'offset' is not finite"));
    }

    #[test]
    fn json_form() {
        let model = NoiseModel::from_json(
            r#"{"teff": {"offset": 10.0, "scale": 1.2}, "fe_h": {"offset": 0, "scale": -2, "note": "x"}}"#,
        )
        .unwrap();
        assert_eq!(
            model.correction("teff"),
            Some(Correction {
                offset: 10.0,
                scale: 1.2
            })
        );
        assert_eq!(
            model.correction("fe_h"),
            Some(Correction {
                offset: 0.0,
                scale: -2.0
            })
        );
        assert_eq!(NoiseModel::from_json("{}").unwrap(), NoiseModel::default());
        for (text, expected) in [
            (
                r#"{"teff": {"offset": 1}}"#,
                "label 'teff': missing 'scale'",
            ),
            (
                r#"{"teff": {"offset": "1", "scale": 1}}"#,
                "label 'teff': 'offset' is not a number (found \"1\")",
            ),
            (r#"{"teff": 3}"#, "label 'teff': expected an object"),
            ("[1, 2]", "expected a JSON object"),
            ("{", "invalid JSON"),
            (r#"{"teff": {"offset": 1, "scale": 1e999}}"#, "invalid JSON"),
        ] {
            let msg = NoiseModel::from_json(text).unwrap_err();
            assert!(msg.contains(expected), "{text}: {msg}");
        }
    }

    #[test]
    fn pickle_with_python_numbers() {
        // pickle.dumps(({'teff': {'offset': 10.0, 'scale': 1.2}, 'logg': {'offset': 0,
        //               'scale': 2}}, None), protocol=2)
        let bytes = b"\x80\x02}q\x00(X\x04\x00\x00\x00teffq\x01}q\x02(X\x06\x00\x00\x00offsetq\x03G@$\x00\x00\x00\x00\x00\x00X\x05\x00\x00\x00scaleq\x04G?\xf3333333uX\x04\x00\x00\x00loggq\x05}q\x06(h\x03K\x00h\x04K\x02uuN\x86q\x07.";
        let model = NoiseModel::from_pickle(bytes).unwrap();
        assert_eq!(
            model.correction("teff"),
            Some(Correction {
                offset: 10.0,
                scale: 1.2
            })
        );
        assert_eq!(
            model.correction("logg"),
            Some(Correction {
                offset: 0.0,
                scale: 2.0
            })
        );
    }

    #[test]
    fn pickle_errors_name_the_label() {
        // pickle.dumps(({'teff': {'offset': 1.0}}, None), protocol=2)
        let bytes = b"\x80\x02}q\x00X\x04\x00\x00\x00teffq\x01}q\x02X\x06\x00\x00\x00offsetq\x03G?\xf0\x00\x00\x00\x00\x00\x00ssN\x86q\x04.";
        assert_eq!(
            NoiseModel::from_pickle(bytes).unwrap_err(),
            "label 'teff': missing 'scale'"
        );
        // pickle.dumps(({'teff': {'offset': 'a', 'scale': 1.0}}, None), protocol=2)
        let bytes = b"\x80\x02}q\x00X\x04\x00\x00\x00teffq\x01}q\x02(X\x06\x00\x00\x00offsetq\x03X\x01\x00\x00\x00aq\x04X\x05\x00\x00\x00scaleq\x05G?\xf0\x00\x00\x00\x00\x00\x00usN\x86q\x06.";
        assert_eq!(
            NoiseModel::from_pickle(bytes).unwrap_err(),
            "label 'teff': 'offset' is not a number (found str)"
        );
        // pickle.dumps([1, 2], protocol=2)
        let msg = NoiseModel::from_pickle(b"\x80\x02]q\x00(K\x01K\x02e.").unwrap_err();
        assert!(
            msg.contains("expected a (corrections, reference) tuple"),
            "{msg}"
        );
        assert!(NoiseModel::from_pickle(b"\x80\x02").is_err());
    }

    fn model_file(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/models")
            .join(name)
    }

    #[test]
    fn astra_pickles_with_numpy_objects() {
        // Made by tests/data/models/make_fixtures.py with numpy 1.26 and 2.4, protocols 2
        // and 4: floats, ints, numpy float64 / float32 / int64 scalars, and numpy arrays,
        // dtypes and scalars in `reference`.
        for name in [
            "noise_model_numpy1_protocol2.pkl",
            "noise_model_numpy1_protocol4.pkl",
            "noise_model_numpy2_protocol2.pkl",
            "noise_model_numpy2_protocol4.pkl",
        ] {
            let model = NoiseModel::load(&model_file(name)).unwrap();
            assert_eq!(
                model.labels().collect::<Vec<_>>(),
                ["c_h", "fe_h", "logg", "mg_h", "teff"],
                "{name}"
            );
            let c = |offset, scale| Some(Correction { offset, scale });
            assert_eq!(model.correction("teff"), c(10.0, 1.2), "{name}");
            assert_eq!(model.correction("logg"), c(0.01, 1.5), "{name}");
            assert_eq!(model.correction("fe_h"), c(0.0, 2.0), "{name}");
            assert_eq!(model.correction("c_h"), c(0.02, 1.1), "{name}");
            assert_eq!(model.correction("mg_h"), c(0.5, 3.0), "{name}");
            assert_eq!(model.apply("c_h", 0.1), 1.1 * 0.1 + 0.02);
        }
    }

    #[test]
    fn json_file_and_errors_name_the_file() {
        let model = NoiseModel::load(&model_file("noise_model.json")).unwrap();
        assert_eq!(model.labels().collect::<Vec<_>>(), ["fe_h", "logg", "teff"]);
        assert_eq!(model.apply("teff", 100.0), 130.0);
        let nan = model_file("noise_model_nan.pkl");
        let msg = NoiseModel::load(&nan).unwrap_err().to_string();
        assert!(msg.contains("noise_model_nan.pkl"), "{msg}");
        assert!(
            msg.contains("label 'teff': 'scale' is not finite (NaN)"),
            "{msg}"
        );
        let missing = model_file("no_such_noise_model.pkl");
        assert!(NoiseModel::load(&missing).is_err());
        // A checkpoint is not a noise model.
        assert!(NoiseModel::load(&model_file("state_dict.pt")).is_err());
    }
}
