//! Reading PyTorch checkpoints (`torch.save` zip archives) without PyTorch.
//!
//! Astra distributes the AstroNN networks as checkpoints written by `torch.save`: a zip
//! archive holding a pickle (`<archive>/data.pkl`) and one record per tensor storage
//! (`<archive>/data/<key>`). The pickle is read with the safe [`pickle`] reader, so
//! nothing in it is executed: only the calls that rebuild tensors
//! (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`) are interpreted, and everything
//! else in the file (epoch counters, optimizer state) is ignored.

use super::pickle::{self, Value};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Reads the model parameters of a PyTorch checkpoint, in the state dict's key order.
///
/// The checkpoint's top object is either a dict with a `model_state_dict` entry (Astra's
/// format, e.g. `{"epoch": 7, "model_state_dict": …, "optimizer_state_dict": …}`; the other
/// entries are ignored) or a state dict itself (a dict or `OrderedDict` from parameter names
/// to tensors). Tensors come back on the CPU, contiguous, with their stored dtype: f32, f64,
/// f16 and bf16 as such, bool and uint8 as `U8` (bools as 0/1), and every signed integer
/// type as `I64`. Views (storage offsets, strides, shared storages) are honoured;
/// big-endian archives are byte-swapped.
///
/// Only the zip format of `torch.save` (PyTorch ≥ 1.6) is read.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    if &magic[..filled] != b"PK" {
        return Err(Error::file(
            path,
            "not a zip archive (legacy torch.save format is not supported: re-save with \
             torch>=1.6)",
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::file(path, format!("corrupt zip archive: {e}")))?;
    Checkpoint::new(archive)
        .and_then(|mut c| c.state_dict())
        .map_err(|msg| Error::file(path, msg))
}

type Res<T> = std::result::Result<T, String>;

/// The most a deflated zip record can expand (deflate's greatest ratio is about 1032:1): a
/// record claiming more is refused before anything is read, and none is read past the size it
/// claims, so a small file cannot make the reader allocate without bound.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// An open checkpoint archive.
struct Checkpoint<R: Read + Seek> {
    archive: zip::ZipArchive<R>,
    /// The records' directory, e.g. `astronn_dist_bcnn/` (empty when at the root).
    prefix: String,
    big_endian: bool,
    /// Storage records already read, by key.
    storages: HashMap<String, Vec<u8>>,
}

impl<R: Read + Seek> Checkpoint<R> {
    fn new(archive: zip::ZipArchive<R>) -> Res<Self> {
        let prefix = archive
            .file_names()
            .filter_map(|name| name.strip_suffix("data.pkl"))
            .filter(|dir| dir.is_empty() || (dir.ends_with('/') && dir.matches('/').count() == 1))
            .min_by_key(|dir| dir.len())
            .map(str::to_owned)
            .ok_or("no <archive>/data.pkl record: not a PyTorch checkpoint")?;
        let mut checkpoint = Checkpoint {
            archive,
            prefix,
            big_endian: false,
            storages: HashMap::new(),
        };
        if let Some(order) = checkpoint.record("byteorder")? {
            checkpoint.big_endian = match String::from_utf8_lossy(&order).trim() {
                "little" => false,
                "big" => true,
                other => return Err(format!("unknown byteorder {other:?}")),
            };
        }
        Ok(checkpoint)
    }

    /// The content of record `<prefix><name>`, or `None` when there is no such record.
    fn record(&mut self, name: &str) -> Res<Option<Vec<u8>>> {
        let full = format!("{}{name}", self.prefix);
        let mut entry = match self.archive.by_name(&full) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(format!("record {full}: {e}")),
        };
        let declared = entry.size();
        if declared > entry.compressed_size().saturating_mul(MAX_DEFLATE_RATIO) {
            return Err(format!(
                "record {full} claims {declared} bytes from {} compressed: more than deflate \
                 can expand to (a damaged archive or a zip bomb)",
                entry.compressed_size()
            ));
        }
        let mut data = Vec::new();
        entry
            .by_ref()
            .take(declared.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| format!("record {full}: {e}"))?;
        if data.len() as u64 != declared {
            return Err(format!(
                "record {full} holds {}{} bytes, its header says {declared}",
                if data.len() as u64 > declared {
                    "over "
                } else {
                    ""
                },
                data.len()
                    .min(usize::try_from(declared).unwrap_or(usize::MAX))
            ));
        }
        Ok(Some(data))
    }

    fn state_dict(&mut self) -> Res<Vec<(String, Tensor)>> {
        let data_pkl = self
            .record("data.pkl")?
            .ok_or_else(|| format!("{}data.pkl missing", self.prefix))?;
        let root = pickle::parse(&data_pkl).map_err(|m| format!("{}data.pkl: {m}", self.prefix))?;
        let items = find_state_dict(&root)?;
        let mut out = Vec::with_capacity(items.len());
        for (key, value) in items {
            let name = key.as_str().ok_or_else(|| {
                format!("state dict key is not a string (found {})", key.describe())
            })?;
            let spec = tensor_spec(value).map_err(|m| format!("entry '{name}': {m}"))?;
            let tensor = self
                .tensor(&spec)
                .map_err(|m| format!("tensor '{name}' {m}"))?;
            out.push((name.to_owned(), tensor));
        }
        Ok(out)
    }

    fn tensor(&mut self, spec: &TensorSpec) -> Res<Tensor> {
        let elem = spec.elem;
        let size = elem.size();
        if !self.storages.contains_key(&spec.key) {
            let data = self
                .record(&format!("data/{}", spec.key))?
                .ok_or_else(|| format!("storage {} missing", spec.key))?;
            self.storages.insert(spec.key.clone(), data);
        }
        let storage = self
            .storages
            .get(&spec.key)
            .ok_or_else(|| format!("storage {} missing", spec.key))?;
        let needed = spec
            .numel
            .checked_mul(size)
            .ok_or_else(|| format!("storage {}: size overflows", spec.key))?;
        if storage.len() < needed {
            return Err(format!(
                "storage {} has {} bytes, {needed} expected for {} {:?} elements",
                spec.key,
                storage.len(),
                spec.numel,
                elem
            ));
        }
        let bytes = gather(&storage[..needed], size, spec)?;
        let (native, dtype) = elem.to_native(&bytes, self.big_endian);
        Tensor::from_raw_buffer(&native, dtype, &spec.size, &Device::Cpu)
            .map_err(|e| format!("cannot build the tensor: {e}"))
    }
}

/// The state dict in a checkpoint's top object.
fn find_state_dict(root: &Value) -> Res<&[(Value, Value)]> {
    if let Some(inner) = root.get("model_state_dict") {
        return inner.as_dict_items().ok_or_else(|| {
            format!(
                "model_state_dict is not a dict (found {})",
                inner.describe()
            )
        });
    }
    // `Module.state_dict()` is an OrderedDict of names; a plain dict qualifies when every
    // value is a tensor (so that a non-tensor entry of an OrderedDict is reported by name).
    let ordered = root
        .as_object()
        .and_then(|obj| obj.callable_global())
        .is_some_and(|g| g == ("collections", "OrderedDict"));
    match root.as_dict_items() {
        Some(items)
            if items
                .iter()
                .all(|(k, v)| k.as_str().is_some() && (ordered || tensor_spec(v).is_ok())) =>
        {
            Ok(items)
        }
        _ => Err(format!(
            "no model_state_dict and not a state dict (top object: {})",
            root.describe()
        )),
    }
}

/// A storage element type, from the storage's class name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Elem {
    F32,
    F64,
    F16,
    BF16,
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
}

impl Elem {
    fn from_storage(name: &str) -> Option<Elem> {
        Some(match name {
            "FloatStorage" => Elem::F32,
            "DoubleStorage" => Elem::F64,
            "HalfStorage" => Elem::F16,
            "BFloat16Storage" => Elem::BF16,
            "BoolStorage" => Elem::Bool,
            "ByteStorage" => Elem::U8,
            "CharStorage" => Elem::I8,
            "ShortStorage" => Elem::I16,
            "IntStorage" => Elem::I32,
            "LongStorage" => Elem::I64,
            _ => return None,
        })
    }

    /// Bytes per element in the archive.
    fn size(self) -> usize {
        match self {
            Elem::Bool | Elem::U8 | Elem::I8 => 1,
            Elem::F16 | Elem::BF16 | Elem::I16 => 2,
            Elem::F32 | Elem::I32 => 4,
            Elem::F64 | Elem::I64 => 8,
        }
    }

    /// Converts elements stored in the archive's byte order to native-endian bytes of the
    /// dtype the tensor is given.
    fn to_native(self, bytes: &[u8], big_endian: bool) -> (Vec<u8>, DType) {
        let size = self.size();
        // Elements as they are in memory on a machine of the archive's byte order, made
        // little-endian first.
        let mut le = bytes.to_vec();
        if big_endian && size > 1 {
            for chunk in le.chunks_exact_mut(size) {
                chunk.reverse();
            }
        }
        let widen = |f: &dyn Fn(&[u8]) -> i64| -> Vec<u8> {
            le.chunks_exact(size)
                .flat_map(|c| f(c).to_ne_bytes())
                .collect()
        };
        let (mut out, dtype) = match self {
            Elem::F32 => (le.clone(), DType::F32),
            Elem::F64 => (le.clone(), DType::F64),
            Elem::F16 => (le.clone(), DType::F16),
            Elem::BF16 => (le.clone(), DType::BF16),
            Elem::U8 => (le.clone(), DType::U8),
            Elem::Bool => (le.iter().map(|&b| u8::from(b != 0)).collect(), DType::U8),
            Elem::I64 => (le.clone(), DType::I64),
            Elem::I8 => (widen(&|c| i64::from(c[0] as i8)), DType::I64),
            Elem::I16 => (
                widen(&|c| i64::from(i16::from_le_bytes([c[0], c[1]]))),
                DType::I64,
            ),
            Elem::I32 => (
                widen(&|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
                DType::I64,
            ),
        };
        // The widened integers are native already; the rest are little-endian.
        let widened = matches!(self, Elem::I8 | Elem::I16 | Elem::I32);
        if cfg!(target_endian = "big") && !widened {
            let n = dtype.size_in_bytes();
            if n > 1 {
                for chunk in out.chunks_exact_mut(n) {
                    chunk.reverse();
                }
            }
        }
        (out, dtype)
    }
}

/// What `_rebuild_tensor_v2` is asked to build.
#[derive(Debug)]
struct TensorSpec {
    elem: Elem,
    /// The storage record's key (`data/<key>`).
    key: String,
    /// Elements in the storage.
    numel: usize,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// Reads the tensor description of a state dict value.
fn tensor_spec(value: &Value) -> Res<TensorSpec> {
    let obj = match value {
        Value::Reduce(obj) => obj,
        other => return Err(format!("not a tensor (found {})", other.describe())),
    };
    let args = obj.args_tuple().unwrap_or(&[]);
    match obj.callable_global() {
        Some(("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor")) => {
            let [storage, offset, size, stride, ..] = args else {
                return Err(format!(
                    "_rebuild_tensor_v2 has {} arguments, at least 4 expected",
                    args.len()
                ));
            };
            let (elem, key, numel) = storage_spec(storage)?;
            let size = usize_tuple(size, "size")?;
            let stride = usize_tuple(stride, "stride")?;
            if size.len() != stride.len() {
                return Err(format!(
                    "size {size:?} and stride {stride:?} have different lengths"
                ));
            }
            Ok(TensorSpec {
                elem,
                key,
                numel,
                offset: to_usize(offset, "storage offset")?,
                size,
                stride,
            })
        }
        Some(("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state")) => {
            match args.first() {
                Some(inner) => tensor_spec(inner),
                None => Err("_rebuild_parameter without arguments".into()),
            }
        }
        _ => Err(format!("not a tensor (found {})", value.describe())),
    }
}

/// `('storage', torch.XStorage, key, location, numel)` → (element type, key, numel).
fn storage_spec(value: &Value) -> Res<(Elem, String, usize)> {
    let Value::PersistentId(pid) = value else {
        return Err(format!(
            "storage is not a persistent id (found {})",
            value.describe()
        ));
    };
    let [tag, class, key, _location, numel] = pid.as_tuple().unwrap_or(&[]) else {
        return Err("storage id is not a 5-tuple".into());
    };
    if tag.as_str() != Some("storage") {
        return Err("storage id does not start with 'storage'".into());
    }
    let elem = match class.as_global() {
        Some(("torch", name)) => Elem::from_storage(name)
            .ok_or_else(|| format!("unsupported storage type torch.{name}"))?,
        _ => return Err(format!("unsupported storage type ({})", class.describe())),
    };
    let key = key
        .as_str()
        .ok_or_else(|| format!("storage key is not a string (found {})", key.describe()))?;
    Ok((elem, key.to_owned(), to_usize(numel, "storage size")?))
}

fn to_usize(value: &Value, what: &str) -> Res<usize> {
    value
        .as_i64()
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| format!("{what} is not a non-negative integer (found {value:?})"))
}

fn usize_tuple(value: &Value, what: &str) -> Res<Vec<usize>> {
    value
        .as_tuple()
        .ok_or_else(|| format!("{what} is not a tuple (found {})", value.describe()))?
        .iter()
        .map(|v| to_usize(v, what))
        .collect()
}

/// The tensor's elements in row-major order, gathered from the storage by offset and
/// strides (`storage` holds exactly `spec.numel` elements of `size` bytes).
fn gather(storage: &[u8], size: usize, spec: &TensorSpec) -> Res<Vec<u8>> {
    let count = spec
        .size
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or("element count overflows")?;
    if count == 0 {
        return Ok(Vec::new());
    }
    // The last element reached; bounds every other one since strides are non-negative.
    let last = spec
        .size
        .iter()
        .zip(&spec.stride)
        .try_fold(spec.offset, |acc, (&n, &s)| {
            (n - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
        })
        .ok_or("storage index overflows")?;
    if last >= spec.numel {
        return Err(format!(
            "view (offset {}, size {:?}, stride {:?}) reaches element {last} of storage {} \
             ({} elements)",
            spec.offset, spec.size, spec.stride, spec.key, spec.numel
        ));
    }
    if count > spec.numel {
        return Err(format!(
            "has {count} elements, more than its storage {} ({}): expanded (stride 0) tensors \
             are not supported",
            spec.key, spec.numel
        ));
    }
    // Row-major (C-contiguous) views are one slice; dimensions of extent 1 have any stride.
    let mut expected = 1usize;
    let mut contiguous = true;
    for (&n, &s) in spec.size.iter().zip(&spec.stride).rev() {
        if n != 1 && s != expected {
            contiguous = false;
            break;
        }
        expected *= n;
    }
    if contiguous {
        return Ok(storage[spec.offset * size..(spec.offset + count) * size].to_vec());
    }
    // The stride of an extent-1 dimension is never used (and may be anything).
    let stride: Vec<usize> = spec
        .size
        .iter()
        .zip(&spec.stride)
        .map(|(&n, &s)| if n == 1 { 0 } else { s })
        .collect();
    let mut out = Vec::with_capacity(count * size);
    let mut index = vec![0usize; spec.size.len()];
    let mut pos = spec.offset;
    for _ in 0..count {
        out.extend_from_slice(&storage[pos * size..(pos + 1) * size]);
        // Advance the multi-index (last dimension fastest), moving `pos` along.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            pos += stride[d];
            if index[d] < spec.size[d] {
                break;
            }
            pos -= stride[d] * spec.size[d];
            index[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(numel: usize, offset: usize, size: &[usize], stride: &[usize]) -> TensorSpec {
        TensorSpec {
            elem: Elem::U8,
            key: "0".into(),
            numel,
            offset,
            size: size.to_vec(),
            stride: stride.to_vec(),
        }
    }

    #[test]
    fn gather_follows_offset_and_strides() {
        let storage: Vec<u8> = (0..12).collect();
        // Contiguous 3x4.
        assert_eq!(
            gather(&storage, 1, &spec(12, 0, &[3, 4], &[4, 1])).unwrap(),
            storage
        );
        // Transposed: 4x3 with strides (1, 4).
        assert_eq!(
            gather(&storage, 1, &spec(12, 0, &[4, 3], &[1, 4])).unwrap(),
            vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
        );
        // A 2x2 window at offset 5 of the 3x4 matrix.
        assert_eq!(
            gather(&storage, 1, &spec(12, 5, &[2, 2], &[4, 1])).unwrap(),
            vec![5, 6, 9, 10]
        );
        // Every other column, as a 3-D view with a size-1 dimension.
        assert_eq!(
            gather(&storage, 1, &spec(12, 1, &[3, 1, 2], &[4, 99, 2])).unwrap(),
            vec![1, 3, 5, 7, 9, 11]
        );
        // The stride of an extent-1 dimension is ignored, however large.
        assert_eq!(
            gather(&storage, 1, &spec(12, 1, &[3, 1, 2], &[4, usize::MAX, 2])).unwrap(),
            vec![1, 3, 5, 7, 9, 11]
        );
        // Scalars and empty tensors.
        assert_eq!(
            gather(&storage, 1, &spec(12, 7, &[], &[])).unwrap(),
            vec![7]
        );
        assert!(gather(&storage, 1, &spec(12, 0, &[0, 4], &[4, 1]))
            .unwrap()
            .is_empty());
        // Two-byte elements.
        assert_eq!(
            gather(&storage, 2, &spec(6, 1, &[2], &[2])).unwrap(),
            vec![2, 3, 6, 7]
        );
    }

    #[test]
    fn gather_rejects_out_of_bounds_and_expanded_views() {
        let storage: Vec<u8> = (0..12).collect();
        assert!(gather(&storage, 1, &spec(12, 1, &[3, 4], &[4, 1]))
            .unwrap_err()
            .contains("reaches element 12"));
        assert!(gather(&storage, 1, &spec(12, 0, &[100], &[0]))
            .unwrap_err()
            .contains("expanded"));
        assert!(gather(&storage, 1, &spec(12, 0, &[usize::MAX, 2], &[1, 1])).is_err());
        assert!(gather(&storage, 1, &spec(12, usize::MAX, &[2], &[1])).is_err());
    }

    #[test]
    fn integer_storages_widen_to_i64() {
        let (bytes, dtype) = Elem::I32.to_native(&[0xf9, 0xff, 0xff, 0xff], false);
        assert_eq!(dtype, DType::I64);
        assert_eq!(bytes, (-7i64).to_ne_bytes());
        let (bytes, _) = Elem::I16.to_native(&[0xfe, 0xd4], true);
        assert_eq!(bytes, (-300i64).to_ne_bytes());
        let (bytes, dtype) = Elem::Bool.to_native(&[0, 1, 2], false);
        assert_eq!((bytes, dtype), (vec![0, 1, 1], DType::U8));
    }
}
