//! Reading PyTorch checkpoints: the two reference networks, and small checkpoints built by
//! `tests/data/models/make_fixtures.py` in torch's exact zip + pickle layout.

mod common;

use astronn::io::torch::read_state_dict;
use candle_core::{DType, Tensor};
use proptest::prelude::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn model_file(name: &str) -> PathBuf {
    common::test_data(&format!("models/{name}"))
}

fn load(path: &Path) -> HashMap<String, Tensor> {
    read_state_dict(path).unwrap().into_iter().collect()
}

fn keys(path: &Path) -> Vec<String> {
    read_state_dict(path)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

fn check(t: &Tensor, dtype: DType, dims: &[usize]) {
    assert_eq!(t.dtype(), dtype);
    assert_eq!(t.dims(), dims);
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn i64s(t: &Tensor) -> Vec<i64> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn u8s(t: &Tensor) -> Vec<u8> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn censored_reference_network() {
    let dir = common::fixtures();
    let path = dir.join("astronn_bcnn_censored.pt");
    let sd = load(&path);
    let counts = [
        3806, 557, 3776, 505, 13, 106, 51, 102, 24, 8, 16, 19, 31, 28, 29, 46, 70, 24, 206,
    ];
    for (i, &count) in counts.iter().enumerate() {
        let mask = &sd[&format!("aspcap_masks.{i}")];
        check(mask, DType::U8, &[7514]);
        let values = u8s(mask);
        assert!(values.iter().all(|&v| v <= 1));
        assert_eq!(
            values.iter().filter(|&&v| v == 1).count(),
            count,
            "mask {i}"
        );
    }
    assert!(!sd.contains_key("aspcap_masks.19"));
    check(&sd["input_mean"], DType::F64, &[7514]);
    check(&sd["labels_mean"], DType::F64, &[22]);
    check(&sd["labels_std"], DType::F64, &[22]);
    for (key, dims) in [
        ("elem_dense1.0.weight", &[256, 3806][..]),
        ("elem_dense1.1.weight", &[32, 557]),
        ("elem_dense2.0.weight", &[64, 256]),
        ("elem_dense_out.3.weight", &[1, 21]),
        ("conv1.weight", &[2, 1, 8]),
        ("conv2.weight", &[4, 2, 8]),
        ("dense_1.weight", &[192, 7512]),
        ("dense_2.weight", &[96, 192]),
        ("dense_teffloggfeh.weight", &[3, 96]),
        ("dense_aux_fullspec.weight", &[2, 96]),
    ] {
        check(&sd[key], DType::F32, dims);
    }
    // Key order is the state dict's.
    let order = keys(&path);
    assert_eq!(
        &order[..4],
        ["input_mean", "labels_mean", "labels_std", "aspcap_masks.0"]
    );
    // Weights are finite and not all zero.
    let w = f64s(&sd["dense_2.weight"]);
    assert!(w.iter().all(|v| v.is_finite()) && w.iter().any(|&v| v != 0.0));
}

#[test]
fn distance_reference_network() {
    let dir = common::fixtures();
    let sd = load(&dir.join("astronn_dist_bcnn.pt"));
    check(&sd["input_mean"], DType::F64, &[7514]);
    // The checkpoint stores labels_std as float32 (torch.FloatStorage).
    check(&sd["labels_std"], DType::F32, &[1]);
    assert!((f64s(&sd["labels_std"])[0] - 104.31).abs() < 1e-4);
    check(&sd["conv1.weight"], DType::F32, &[2, 1, 8]);
    check(&sd["conv2.weight"], DType::F32, &[4, 2, 8]);
    check(&sd["dense_1.weight"], DType::F32, &[192, 7512]);
    check(&sd["dense_2.weight"], DType::F32, &[64, 192]);
    check(&sd["dense_output.weight"], DType::F32, &[1, 64]);
    check(&sd["dense_var.weight"], DType::F32, &[1, 64]);
    assert_eq!(sd.len(), 14);
}

#[test]
fn astra_checkpoint_with_optimizer_state() {
    let path = model_file("small_checkpoint.pt");
    assert_eq!(
        keys(&path),
        [
            "layer.weight",
            "layer.bias",
            "layer_t.weight",
            "mean",
            "tail",
            "window",
            "mask"
        ]
    );
    let sd = load(&path);
    check(&sd["layer.weight"], DType::F32, &[2, 3]);
    assert_eq!(f64s(&sd["layer.weight"]), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    check(&sd["layer.bias"], DType::F32, &[2]);
    assert_eq!(f64s(&sd["layer.bias"]), [0.5, -0.5]);
    // A transposed view of layer.weight's storage.
    check(&sd["layer_t.weight"], DType::F32, &[3, 2]);
    assert_eq!(f64s(&sd["layer_t.weight"]), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    // Three views of one float64 storage [10, 11, 12, 13, 14], two with offsets.
    check(&sd["mean"], DType::F64, &[3]);
    assert_eq!(f64s(&sd["mean"]), [10.0, 11.0, 12.0]);
    check(&sd["tail"], DType::F64, &[2]);
    assert_eq!(f64s(&sd["tail"]), [13.0, 14.0]);
    check(&sd["window"], DType::F64, &[2, 2]);
    assert_eq!(f64s(&sd["window"]), [11.0, 12.0, 13.0, 14.0]);
    check(&sd["mask"], DType::U8, &[5]);
    assert_eq!(u8s(&sd["mask"]), [1, 0, 1, 1, 0]);
    // Tensors come back contiguous.
    assert!(sd["layer_t.weight"].is_contiguous());
}

fn check_bare_state_dict(path: &Path) {
    let sd = load(path);
    assert_eq!(sd.len(), 11);
    check(&sd["half"], DType::F16, &[3]);
    assert_eq!(f64s(&sd["half"]), [1.5, -2.0, 0.25]);
    check(&sd["bf16"], DType::BF16, &[3]);
    assert_eq!(f64s(&sd["bf16"]), [1.5, -2.0, 0.25]);
    check(&sd["long"], DType::I64, &[2, 2]);
    assert_eq!(i64s(&sd["long"]), [-(1i64 << 40), 1, 2, 3]);
    check(&sd["int"], DType::I64, &[3]);
    assert_eq!(i64s(&sd["int"]), [-7, 8, 9]);
    check(&sd["short"], DType::I64, &[2]);
    assert_eq!(i64s(&sd["short"]), [-300, 300]);
    check(&sd["char"], DType::I64, &[2]);
    assert_eq!(i64s(&sd["char"]), [-3, 4]);
    check(&sd["byte"], DType::U8, &[3]);
    assert_eq!(u8s(&sd["byte"]), [0, 255, 7]);
    check(&sd["bn.num_batches_tracked"], DType::I64, &[]);
    assert_eq!(sd["bn.num_batches_tracked"].to_scalar::<i64>().unwrap(), 42);
    check(&sd["param"], DType::F32, &[2]);
    assert_eq!(f64s(&sd["param"]), [9.0, 8.0]);
    check(&sd["empty"], DType::F32, &[0, 3]);
    check(&sd["column"], DType::F64, &[3]);
    assert_eq!(f64s(&sd["column"]), [1.0, 3.0, 5.0]);
}

#[test]
fn bare_state_dict_with_every_storage_type() {
    let path = model_file("state_dict.pt");
    check_bare_state_dict(&path);
    assert_eq!(keys(&path)[0], "half");
}

#[test]
fn big_endian_archive_is_swapped() {
    check_bare_state_dict(&model_file("state_dict_big_endian.pt"));
}

fn err(path: &Path) -> String {
    read_state_dict(path).unwrap_err().to_string()
}

#[test]
fn not_a_state_dict() {
    let path = model_file("no_state_dict.pt");
    let msg = err(&path);
    assert!(
        msg.contains("no model_state_dict and not a state dict"),
        "{msg}"
    );
    assert!(msg.contains("no_state_dict.pt"), "{msg}");
}

/// Copies the zip at `src` to a new file, editing records: `edit` returns the new content,
/// or `None` to drop the record.
fn rewrite(src: &Path, dir: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) -> PathBuf {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let dst = dir.join("edited.pt");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&dst).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            writer.start_file(name, options).unwrap();
            writer.write_all(&data).unwrap();
        }
    }
    writer.finish().unwrap();
    dst
}

#[test]
fn missing_and_short_storages() {
    let dir = tempfile::tempdir().unwrap();
    let src = model_file("small_checkpoint.pt");
    // Storage 2 holds "mean", "tail" and "window".
    let path = rewrite(&src, dir.path(), |name, data| {
        (name != "small_checkpoint/data/2").then_some(data)
    });
    let msg = err(&path);
    assert!(msg.contains("tensor 'mean' storage 2 missing"), "{msg}");
    let path = rewrite(&src, dir.path(), |name, data| {
        Some(if name == "small_checkpoint/data/2" {
            data[..8].to_vec()
        } else {
            data
        })
    });
    let msg = err(&path);
    assert!(msg.contains("tensor 'mean' storage 2 has 8 bytes"), "{msg}");
}

#[test]
fn archive_at_any_prefix_and_without_byteorder() {
    let dir = tempfile::tempdir().unwrap();
    // Renamed prefix, no byteorder record (older torch): read as little-endian.
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(model_file("state_dict.pt")).unwrap()).unwrap();
    let dst = dir.path().join("renamed.pt");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&dst).unwrap());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().replacen("archive/", "some-model_v2/", 1);
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if !name.ends_with("byteorder") {
            writer
                .start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(&data).unwrap();
        }
    }
    writer.finish().unwrap();
    check_bare_state_dict(&dst);
}

#[test]
fn bad_byteorder_and_unknown_storage_type() {
    let dir = tempfile::tempdir().unwrap();
    let src = model_file("state_dict.pt");
    let path = rewrite(&src, dir.path(), |name, data| {
        Some(if name.ends_with("byteorder") {
            b"middle".to_vec()
        } else {
            data
        })
    });
    assert!(err(&path).contains("unknown byteorder"));
    // Rename the class of the first storage (same length keeps the pickle valid).
    let path = rewrite(&src, dir.path(), |name, data| {
        if name.ends_with("data.pkl") {
            let text = data.windows(11).position(|w| w == b"HalfStorage").unwrap();
            let mut data = data;
            data[text..text + 11].copy_from_slice(b"HalfStorag_");
            Some(data)
        } else {
            Some(data)
        }
    });
    let msg = err(&path);
    assert!(msg.contains("entry 'half'"), "{msg}");
    assert!(
        msg.contains("unsupported storage type torch.HalfStorag_"),
        "{msg}"
    );
}

#[test]
fn not_zip_files() {
    let dir = tempfile::tempdir().unwrap();
    // A legacy (pre-1.6) torch.save file starts with a pickle.
    let legacy = dir.path().join("legacy.pt");
    std::fs::write(
        &legacy,
        b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.",
    )
    .unwrap();
    let msg = err(&legacy);
    assert!(msg.contains("not a zip archive (legacy torch.save format is not supported"));
    let empty = dir.path().join("empty.pt");
    std::fs::write(&empty, b"").unwrap();
    assert!(err(&empty).contains("not a zip archive"));
    let broken = dir.path().join("broken.pt");
    std::fs::write(&broken, b"PK\x03\x04 not really").unwrap();
    assert!(err(&broken).contains("corrupt zip archive"));
    let missing = dir.path().join("missing.pt");
    assert!(err(&missing).contains("missing.pt"));
    // A zip without data.pkl.
    let other = rewrite(&model_file("state_dict.pt"), dir.path(), |name, data| {
        (!name.ends_with("data.pkl")).then_some(data)
    });
    assert!(err(&other).contains("no <archive>/data.pkl record"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Corrupting bytes of the archive gives a result or an error, never a panic.
    #[test]
    fn corrupted_archives_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        let mut bytes = std::fs::read(model_file("small_checkpoint.pt")).unwrap();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.pt");
        std::fs::write(&path, &bytes).unwrap();
        let _ = read_state_dict(&path);
    }

    /// Corrupting the pickle inside a valid archive (so that the zip's checksums hold) gives
    /// a result or an error, never a panic.
    #[test]
    fn corrupted_pickles_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<Option<prop::sample::Index>>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = rewrite(&model_file("small_checkpoint.pt"), dir.path(), |name, mut data| {
            if name.ends_with("data.pkl") {
                for (i, b) in &edits {
                    let i = i.index(data.len());
                    data[i] = *b;
                }
                if let Some(cut) = &cut {
                    data.truncate(cut.index(data.len()));
                }
            }
            Some(data)
        });
        let _ = read_state_dict(&path);
    }
}

/// Sets the uncompressed size that the zip at `path` gives record `name` (in its local header
/// and in the central directory) to `size`, as a damaged archive or a zip bomb would claim.
fn claim_size(path: &Path, name: &str, size: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut patched = 0;
    let at: Vec<usize> = bytes
        .windows(name.len())
        .enumerate()
        .filter(|(_, w)| *w == name.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for i in at {
        // Local header: 30 bytes before the name, size at 22; central: 46 before, size at 24.
        for (before, field, signature) in [(30, 22, b"PK\x03\x04"), (46, 24, b"PK\x01\x02")] {
            if i >= before && &bytes[i - before..i - before + 4] == signature {
                let start = i - before + field;
                bytes[start..start + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2, "{name}: local header and central directory");
    std::fs::write(path, bytes).unwrap();
}

/// A record claiming more bytes than deflate can expand its compressed ones to (a zip bomb's
/// header) is refused before anything is read; one claiming fewer than it holds is read no
/// further than its claim, and refused.
#[test]
fn records_claiming_impossible_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let src = model_file("small_checkpoint.pt");
    let path = rewrite(&src, dir.path(), |_, data| Some(data));
    claim_size(&path, "small_checkpoint/data/2", 0xFFFF_FFF0);
    let msg = err(&path);
    assert!(
        msg.contains("record small_checkpoint/data/2 claims 4294967280 bytes")
            && msg.contains("zip bomb"),
        "{msg}"
    );
    let path = rewrite(&src, dir.path(), |_, data| Some(data));
    claim_size(&path, "small_checkpoint/data.pkl", 16);
    let msg = err(&path);
    assert!(msg.contains("small_checkpoint/data.pkl"), "{msg}");
}
