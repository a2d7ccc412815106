//! The HDF5 reader (`astronn::io::hdf5`) against files written by h5py the way Keras
//! writes them (`scripts/hdf5_fixtures.py` made them and `expected.json`, h5py's own reading
//! of every group, attribute and dataset).

use std::io::Read;
use std::path::{Path, PathBuf};

use astronn::io::hdf5::{AttrValue, Group, Hdf5File};
use serde_json::Value;
use sha2::Digest;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hdf5")
}

fn open(name: &str) -> Hdf5File {
    Hdf5File::open(&data_dir().join(name)).unwrap()
}

fn expected() -> Value {
    let text = std::fs::read_to_string(data_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `expected.json` gives strings over 4096 bytes as their length and SHA-256.
fn text_matches(actual: &str, expected: &Value) -> bool {
    match expected {
        Value::String(s) => actual == s,
        Value::Object(o) => {
            let digest = format!("{:x}", sha2::Sha256::digest(actual.as_bytes()));
            o["len"].as_u64() == Some(actual.len() as u64) && o["sha256"].as_str() == Some(&digest)
        }
        _ => false,
    }
}

/// Floats in `expected.json` are Python's shortest round-trip repr; serde_json (without
/// `float_roundtrip`) may parse them one ulp off, so compare within two ulps.
fn close(actual: f64, expected: f64) -> bool {
    actual == expected || (actual - expected).abs() <= 4.5e-16 * expected.abs()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn check_attributes(
    names: Vec<String>,
    get: impl Fn(&str) -> Option<AttrValue>,
    expected: &Value,
    at: &str,
) {
    let expected = expected.as_object().unwrap();
    let expected_names: Vec<&String> = expected.keys().collect();
    assert_eq!(
        names.iter().collect::<Vec<_>>(),
        expected_names,
        "{at}: attribute names"
    );
    for (name, e) in expected {
        let value = get(name).unwrap_or_else(|| panic!("{at}: attribute {name} missing"));
        let ok = match (e["kind"].as_str().unwrap(), &value) {
            ("string", AttrValue::String(s)) => text_matches(s, &e["value"]),
            ("strings", AttrValue::Strings(list)) => {
                let want = e["value"].as_array().unwrap();
                list.len() == want.len() && list.iter().zip(want).all(|(s, w)| text_matches(s, w))
            }
            ("float", AttrValue::Float(v)) => {
                let want = floats(&e["value"]);
                v.len() == want.len() && v.iter().zip(&want).all(|(a, b)| close(*a, *b))
            }
            ("int", AttrValue::Int(v)) => {
                let want: Vec<i64> = e["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect();
                *v == want
            }
            _ => false,
        };
        assert!(ok, "{at}: attribute {name}: got {value:?}, h5py read {e}");
    }
}

/// Every group and dataset of every fixture, against h5py.
#[test]
fn reads_what_h5py_reads() {
    let expected = expected();
    let mut checked = 0;
    for (file_name, objects) in expected.as_object().unwrap() {
        if file_name.starts_with('_') || file_name == "committed.h5" {
            continue;
        }
        let file = open(file_name);
        let root = file.root().unwrap();
        for (path, e) in objects.as_object().unwrap() {
            let at = format!("{file_name}:/{path}");
            match e["type"].as_str().unwrap() {
                "group" => {
                    let group = if path.is_empty() {
                        file.root().unwrap()
                    } else {
                        root.group(path).unwrap()
                    };
                    let members: Vec<String> = e["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m.as_str().unwrap().to_string())
                        .collect();
                    assert_eq!(group.members().unwrap(), members, "{at}: members");
                    check_attributes(
                        group.attribute_names().unwrap(),
                        |name| group.attribute(name).unwrap(),
                        &e["attrs"],
                        &at,
                    );
                }
                "dataset" => {
                    let dataset = root.dataset(path).unwrap();
                    let shape: Vec<usize> = e["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as usize)
                        .collect();
                    assert_eq!(dataset.shape(), shape, "{at}: shape");
                    assert_eq!(dataset.len(), shape.iter().product::<usize>(), "{at}");
                    let dtype = e["dtype"].as_str().unwrap();
                    if dtype.contains('i') || dtype.contains('u') {
                        let want: Vec<i64> = e["values"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_i64().unwrap())
                            .collect();
                        assert_eq!(dataset.read_i64().unwrap(), want, "{at}");
                        assert!(dataset.read_f32().is_err(), "{at}: integers as floats");
                    } else {
                        let want = floats(&e["values"]);
                        let got = dataset.read_f64().unwrap();
                        assert_eq!(got.len(), want.len(), "{at}");
                        for (a, b) in got.iter().zip(&want) {
                            assert!(close(*a, *b), "{at}: {got:?} != {want:?}");
                        }
                        let want_f32: Vec<f32> = want.iter().map(|&x| x as f32).collect();
                        assert_eq!(dataset.read_f32().unwrap(), want_f32, "{at}: as f32");
                    }
                    check_attributes(
                        dataset.attribute_names().unwrap(),
                        |name| dataset.attribute(name).unwrap(),
                        &e["attrs"],
                        &at,
                    );
                }
                "soft_link" => {
                    let target = e["target"].as_str().unwrap().trim_start_matches('/');
                    assert_eq!(
                        root.dataset(path).unwrap().read_f32().unwrap(),
                        root.dataset(target).unwrap().read_f32().unwrap(),
                        "{at}"
                    );
                }
                other => panic!("{at}: unexpected type {other}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "only {checked} objects checked");
}

/// How a Keras 2 loader uses the reader: `model_weights`, `layer_names`, per-layer
/// `weight_names` and the float32 weights they name.
#[test]
fn reads_a_keras2_model_file() {
    let file = open("keras2_model.h5");
    let root = file.root().unwrap();
    let text = |name: &str| match root.attribute(name).unwrap() {
        Some(AttrValue::String(s)) => s,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(text("keras_version"), "2.15.0");
    assert_eq!(text("backend"), "tensorflow");
    let config: Value = serde_json::from_str(&text("model_config")).unwrap();
    assert_eq!(config["class_name"], "Functional");
    assert_eq!(config["config"]["layers"].as_array().unwrap().len(), 24);
    assert!(text("long_note").len() > 65536);
    assert_eq!(root.attribute("no_such_attribute").unwrap(), None);

    let weights = file.group("model_weights").unwrap();
    assert_eq!(weights.path(), "model_weights");
    let layers = weights.string_list("layer_names").unwrap().unwrap();
    assert_eq!(
        layers,
        [
            "input_1",
            "dense",
            "batch_normalization",
            "dropout",
            "dense_1"
        ]
    );
    let mut shapes = Vec::new();
    for layer in &layers {
        let group = weights.group(layer).unwrap();
        for name in group.string_list("weight_names").unwrap().unwrap() {
            let dataset = group.dataset(&name).unwrap();
            let values = dataset.read_f32().unwrap();
            assert_eq!(values.len(), dataset.len());
            assert!(values.iter().all(|v| v.is_finite()));
            shapes.push((name, dataset.shape().to_vec()));
        }
    }
    assert_eq!(shapes.len(), 8);
    assert_eq!(shapes[0], ("dense/kernel:0".to_string(), vec![7, 5]));
    assert_eq!(shapes[7], ("dense_1/bias:0".to_string(), vec![3]));
    // A layer without weights: keras stores np.asarray([]), an empty float64 array.
    assert_eq!(
        weights
            .group("dropout")
            .unwrap()
            .attribute("weight_names")
            .unwrap(),
        Some(AttrValue::Float(vec![]))
    );
    let iterations = file.dataset("optimizer_weights/Adam/iter:0").unwrap();
    assert_eq!(iterations.shape(), [] as [usize; 0]);
    assert_eq!(iterations.read_i64().unwrap(), [120]);
}

/// keras splits string lists over 64 KiB into `name0`, `name1`, ...
#[test]
fn joins_keras_chunked_string_lists() {
    let file = open("groups.h5");
    let group = file.group("chunked_attr").unwrap();
    assert_eq!(
        group.string_list("weight_names").unwrap().unwrap(),
        ["w/a:0", "w/b:0", "w/c:0"]
    );
    assert_eq!(group.string_list("layer_names").unwrap(), None);
}

/// A Keras 3 `.keras` archive: `model.weights.h5` read from the zip into memory.
#[test]
fn reads_keras3_weights_from_memory() {
    let archive_path = data_dir().join("keras3_model.keras");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&archive_path).unwrap()).unwrap();
    let mut bytes = Vec::new();
    archive
        .by_name("model.weights.h5")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let name = archive_path.join("model.weights.h5");
    let file = Hdf5File::from_bytes(&name, bytes).unwrap();
    assert_eq!(file.path(), name);
    assert_eq!(
        file.group("layers").unwrap().members().unwrap(),
        ["dense", "dense_1", "dense_bf16", "dropout"]
    );
    let vars = file.group("layers/dense/vars").unwrap();
    assert_eq!(vars.members().unwrap(), ["0", "1"]);
    assert_eq!(vars.dataset("0").unwrap().shape(), [4, 3]);
    assert!(file
        .group("layers/dropout/vars")
        .unwrap()
        .members()
        .unwrap()
        .is_empty());
    // The same values as the file on disk (checked against h5py in reads_what_h5py_reads).
    let on_disk = open("keras3_model.weights.h5");
    for path in [
        "layers/dense/vars/0",
        "layers/dense_1/vars/1",
        "layers/dense_bf16/vars/0",
    ] {
        assert_eq!(
            file.dataset(path).unwrap().read_f32().unwrap(),
            on_disk.dataset(path).unwrap().read_f32().unwrap(),
            "{path}"
        );
    }
    assert_eq!(
        file.dataset("optimizer/vars/0")
            .unwrap()
            .read_i64()
            .unwrap(),
        [7]
    );
}

fn error(result: astronn::Result<impl std::fmt::Debug>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn errors_name_the_file_and_the_object() {
    let file = open("keras2_model.h5");
    let path = data_dir().join("keras2_model.h5");
    let prefix = format!("{}: ", path.display());
    let cases = [
        (
            error(file.dataset("model_weights/dense/dense/kernl:0")),
            "dataset 'model_weights/dense/dense/kernl:0' not found",
        ),
        (
            error(file.group("model_weights/dens")),
            "group 'model_weights/dens' not found",
        ),
        (
            error(file.group("model_weights/dense/dense/kernel:0")),
            "'model_weights/dense/dense/kernel:0' is a dataset, not a group",
        ),
        (
            error(file.dataset("model_weights/dense")),
            "'model_weights/dense' is a group, not a dataset",
        ),
        (
            error(
                file.dataset("optimizer_weights/Adam/iter:0")
                    .unwrap()
                    .read_f32(),
            ),
            "dataset 'optimizer_weights/Adam/iter:0': holds int64 values, not floating point \
             (read them as integers)",
        ),
        (
            error(
                file.dataset("model_weights/dense/dense/bias:0")
                    .unwrap()
                    .read_i64(),
            ),
            "dataset 'model_weights/dense/dense/bias:0': holds floating-point values, not integers",
        ),
        (error(file.dataset("")), "empty member path ''"),
    ];
    for (message, want) in cases {
        assert!(message.starts_with(&prefix), "{message}");
        assert!(message.ends_with(want), "{message} (want …{want})");
    }
    let groups = open("groups.h5");
    let message = error(groups.group("deep/a/b/c").unwrap().string_list("depth"));
    assert!(
        message.ends_with("attribute 'depth' of group 'deep/a/b/c': holds numbers, not strings"),
        "{message}"
    );
}

#[test]
fn errors_on_files_that_are_not_hdf5() {
    let missing = error(Hdf5File::open(&data_dir().join("no_such_file.h5")));
    assert!(missing.contains("no_such_file.h5: "), "{missing}");
    let json = data_dir().join("expected.json");
    let message = error(Hdf5File::open(&json));
    assert!(
        message.starts_with(&format!("{}: not a readable HDF5 file", json.display())),
        "{message}"
    );
}

/// Committed (named) datatypes: h5py writes them only on request, Keras never. A dataset
/// of a committed type reads; an attribute of one is refused with a clear error.
#[test]
fn committed_datatypes_read_or_fail_clearly() {
    let file = open("committed.h5");
    assert_eq!(file.dataset("plain").unwrap().read_f32().unwrap(), [1.0]);
    match file.dataset("uses_named") {
        Ok(dataset) => assert_eq!(dataset.read_f32().unwrap(), [9.0, 8.0]),
        Err(e) => assert!(e.to_string().contains("not supported"), "{e}"),
    }
    let message = error(file.root().unwrap().members());
    assert!(message.contains("cannot list its members"), "{message}");
    let message = error(file.group("with_attr"));
    assert!(
        message.contains("cannot open group 'with_attr'") && message.contains("not supported"),
        "{message}"
    );
}

/// Reads everything reachable from `group` (bounded: a corrupt file may loop).
fn walk(group: &Group<'_>, depth: usize) {
    if depth > 6 {
        return;
    }
    if let Ok(names) = group.attribute_names() {
        for name in names.iter().take(50) {
            let _ = group.attribute(name);
        }
    }
    let _ = group.string_list("weight_names");
    let Ok(members) = group.members() else {
        return;
    };
    for name in members.iter().take(50) {
        if let Ok(child) = group.group(name) {
            walk(&child, depth + 1);
        } else if let Ok(dataset) = group.dataset(name) {
            let _ = dataset.shape();
            let _ = dataset.read_f32();
            let _ = dataset.read_i64();
            if let Ok(names) = dataset.attribute_names() {
                for name in names {
                    let _ = dataset.attribute(&name);
                }
            }
        }
    }
}

/// Truncated and corrupted files give errors (or garbage values), never panics.
#[test]
fn survives_truncated_and_corrupted_files() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in [
        "keras2_model.h5",
        "keras3_model.weights.h5",
        "latest.h5",
        "datatypes.h5",
        "groups.h5",
    ] {
        let original = std::fs::read(data_dir().join(name)).unwrap();
        let n = original.len();
        let mut variants: Vec<Vec<u8>> =
            (0..120).map(|i| original[..i * n / 120].to_vec()).collect();
        for _ in 0..400 {
            let mut bytes = original.clone();
            // Mostly metadata: h5py writes it before the raw data, near the start.
            let span = if next() % 4 == 0 { n } else { n.min(4096) };
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % span;
                bytes[at] = next() as u8;
            }
            variants.push(bytes);
        }
        for bytes in variants {
            if let Ok(file) = Hdf5File::from_bytes(Path::new(name), bytes) {
                if let Ok(root) = file.root() {
                    walk(&root, 0);
                }
            }
        }
    }
}
