//! Reading HDF5 files as Keras writes them: the weights of Keras 2 models saved with
//! `model.save("x.h5")` (through h5py) and the `model.weights.h5` inside Keras 3 `.keras`
//! archives.
//!
//! A thin layer over the pure-Rust crate `hdf5-reader` (no libhdf5, no C, no build
//! script), which does the format work; this module navigates groups by path, converts
//! attributes to [`AttrValue`] and datasets to `f32`/`f64`/`i64`, and names the file and
//! the object in every error. Corrupt or truncated files give errors, never panics
//! (`tests/hdf5.rs` truncates and corrupts the fixtures at many positions).
//!
//! What Keras/h5py files use, and this module reads (tested on h5py-written fixtures,
//! `scripts/hdf5_fixtures.py`): superblock versions 0 (h5py's default, libver "earliest")
//! and 3 (libver="latest"), a user block, version 1 and 2 object headers with continuation
//! chunks, symbol-table groups of any size (multi-level B-trees), link-message groups
//! (compact and dense, in fractal heaps), soft links, variable-length UTF-8 and
//! fixed-length string attributes (scalars and arrays), numeric attributes, float16/32/64
//! and integer datasets of either byte order, Keras 3's bfloat16 variables (2-byte opaque
//! data with attribute `dtype = "bfloat16"`), contiguous, compact and chunked (deflate,
//! shuffle) layouts, datasets never written (their fill value).
//!
//! Not supported (an error names the object): attributes whose datatype is a committed
//! (named) datatype (h5py writes one only when asked to; such an attribute makes its
//! object unreadable, and the member list of its parent group), compound, reference, array
//! and variable-length sequence values, external links, partial reads (a dataset is read
//! whole), and reads decoding more than 16 times the file's size (at least 64 MiB).

use std::path::{Path, PathBuf};

use hdf5_reader::{Attribute, ByteOrder, Datatype, StringSize, VarLenKind};

use crate::{Error, Result};

/// The smallest cap on the decoded size of one read, in bytes.
const MIN_READ_LIMIT: usize = 64 << 20;

/// The cap on the decoded size of one read, per byte of the file. A dataset stored
/// contiguously (as Keras stores weights) is never larger than the file; the cap keeps a
/// corrupt dataspace (or one with no storage, read as its fill value) from allocating
/// arbitrary memory. Only compressed chunked data decodes to more than the file holds.
const READ_LIMIT_PER_FILE_BYTE: usize = 16;

/// An HDF5 file held in memory: the bytes are read once, then groups, attributes and
/// datasets are decoded from them on demand.
pub struct Hdf5File {
    path: PathBuf,
    inner: hdf5_reader::Hdf5File,
}

impl std::fmt::Debug for Hdf5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5File")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Hdf5File {
    /// Reads the file at `path` into memory and opens it. The whole file is read (not
    /// memory-mapped), so a file changed or truncated on disk meanwhile cannot fault.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, bytes)
    }

    /// Opens an HDF5 file from its bytes, for example the `model.weights.h5` read out of a
    /// Keras 3 `.keras` zip archive. `name` only names the file in error messages. One
    /// read may decode at most 16 times the file's size (at least 64 MiB), so that a corrupt
    /// file cannot make it allocate without bound.
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self> {
        let limit = bytes
            .len()
            .saturating_mul(READ_LIMIT_PER_FILE_BYTE)
            .max(MIN_READ_LIMIT);
        let options = hdf5_reader::OpenOptions::default().with_max_read_bytes(limit);
        let inner = hdf5_reader::Hdf5File::from_vec_with_options(bytes, options)
            .map_err(|e| Error::file(name, format!("not a readable HDF5 file: {e}")))?;
        Ok(Hdf5File {
            path: name.to_path_buf(),
            inner,
        })
    }

    /// The path (or name) the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root group.
    pub fn root(&self) -> Result<Group<'_>> {
        let inner = self
            .inner
            .root_group()
            .map_err(|e| self.error(format!("cannot read the root group: {e}")))?;
        Ok(Group {
            file: self,
            path: String::new(),
            inner,
        })
    }

    /// The group at `path` (`"a/b"`, relative to the root).
    pub fn group(&self, path: &str) -> Result<Group<'_>> {
        self.root()?.group(path)
    }

    /// The dataset at `path` (`"a/b/kernel:0"`, relative to the root).
    pub fn dataset(&self, path: &str) -> Result<Dataset<'_>> {
        self.root()?.dataset(path)
    }

    fn error(&self, msg: impl Into<String>) -> Error {
        Error::file(&self.path, msg)
    }
}

/// A group: a directory of named members (groups and datasets) with attributes.
pub struct Group<'f> {
    file: &'f Hdf5File,
    /// The path from the root, `""` for the root itself.
    path: String,
    inner: hdf5_reader::group::Group,
}

impl std::fmt::Debug for Group<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("file", &self.file.path)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<'f> Group<'f> {
    /// The group's path from the root (`"model_weights/dense"`); `""` for the root.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The names of the group's members (groups and datasets; soft links count as what
    /// they point to), sorted. Committed datatypes are not listed.
    pub fn members(&self) -> Result<Vec<String>> {
        let (mut names, datasets) = self
            .inner
            .member_names()
            .map_err(|e| self.error(format!("cannot list its members: {e}")))?;
        names.extend(datasets);
        names.sort();
        Ok(names)
    }

    /// The group at `path` below this one (`"a/b"`; empty components are skipped).
    pub fn group(&self, path: &str) -> Result<Group<'f>> {
        let parts = split_path(path).map_err(|msg| self.error(msg))?;
        let mut group = self.child_group(parts[0])?;
        for part in &parts[1..] {
            group = group.child_group(part)?;
        }
        Ok(group)
    }

    /// The dataset at `path` below this one (`"dense/kernel:0"`).
    pub fn dataset(&self, path: &str) -> Result<Dataset<'f>> {
        let parts = split_path(path).map_err(|msg| self.error(msg))?;
        let (last, groups) = parts.split_last().expect("split_path returns a component");
        let mut group: Option<Group<'f>> = None;
        for part in groups {
            let next = group.as_ref().unwrap_or(self).child_group(part)?;
            group = Some(next);
        }
        group.as_ref().unwrap_or(self).child_dataset(last)
    }

    /// The names of the group's attributes, sorted.
    pub fn attribute_names(&self) -> Result<Vec<String>> {
        Ok(attribute_names(&self.attributes()?))
    }

    /// The attribute `name`, or `None` if the group has none of that name.
    pub fn attribute(&self, name: &str) -> Result<Option<AttrValue>> {
        let attributes = self.attributes()?;
        find_attribute(&attributes, name)
            .map(|a| attr_value(a).map_err(|msg| self.attribute_error(name, msg)))
            .transpose()
    }

    /// A list of strings stored the way Keras 2 stores `layer_names` and `weight_names`
    /// (keras' `load_attributes_from_hdf5_group`): the attribute `name`, or, when it is
    /// absent, the attributes `name0`, `name1`, ... concatenated (Keras splits lists over
    /// 64 KiB so). A scalar string is a list of one, and an empty numeric array (what
    /// `np.asarray([])` stores for a layer without weights) an empty list. `None` if
    /// there is neither `name` nor `name0`.
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>> {
        let attributes = self.attributes()?;
        let as_list = |attr_name: &str, a: &Attribute| {
            attr_value(a)
                .and_then(AttrValue::into_string_list)
                .map_err(|msg| self.attribute_error(attr_name, msg))
        };
        if let Some(a) = find_attribute(&attributes, name) {
            return as_list(name, a).map(Some);
        }
        let mut list: Option<Vec<String>> = None;
        for i in 0.. {
            let part = format!("{name}{i}");
            let Some(a) = find_attribute(&attributes, &part) else {
                break;
            };
            list.get_or_insert_with(Vec::new).extend(as_list(&part, a)?);
        }
        Ok(list)
    }

    fn attributes(&self) -> Result<Vec<Attribute>> {
        self.inner
            .attributes()
            .map_err(|e| self.error(format!("cannot read its attributes: {e}")))
    }

    fn child_group(&self, name: &str) -> Result<Group<'f>> {
        match self.inner.group(name) {
            Ok(inner) => Ok(Group {
                file: self.file,
                path: join(&self.path, name),
                inner,
            }),
            Err(e) => Err(self.missing(name, Kind::Group, e)),
        }
    }

    fn child_dataset(&self, name: &str) -> Result<Dataset<'f>> {
        let path = join(&self.path, name);
        let inner = self
            .inner
            .dataset(name)
            .map_err(|e| self.missing(name, Kind::Dataset, e))?;
        Dataset::new(self.file, path, inner)
    }

    /// The error for a member `name` that could not be opened as a `wanted`: not there,
    /// of the other kind, or damaged.
    fn missing(&self, name: &str, wanted: Kind, cause: hdf5_reader::error::Error) -> Error {
        let path = join(&self.path, name);
        let msg = match self.inner.member_names() {
            Ok((groups, datasets)) => {
                let is = |list: &[String]| list.iter().any(|n| n == name);
                match (wanted, is(&groups), is(&datasets)) {
                    (Kind::Group, false, true) => format!("'{path}' is a dataset, not a group"),
                    (Kind::Dataset, true, false) => format!("'{path}' is a group, not a dataset"),
                    (_, false, false) => format!("{} '{path}' not found", wanted.name()),
                    _ => format!("cannot open {} '{path}': {cause}", wanted.name()),
                }
            }
            Err(_) => format!("cannot open {} '{path}': {cause}", wanted.name()),
        };
        self.file.error(msg)
    }

    fn error(&self, msg: impl std::fmt::Display) -> Error {
        self.file
            .error(format!("group '{}': {msg}", display_path(&self.path)))
    }

    fn attribute_error(&self, name: &str, msg: impl std::fmt::Display) -> Error {
        self.file.error(format!(
            "attribute '{name}' of group '{}': {msg}",
            display_path(&self.path)
        ))
    }
}

/// A dataset: an n-dimensional array of numbers, read whole, in C (row-major) order.
pub struct Dataset<'f> {
    file: &'f Hdf5File,
    path: String,
    inner: hdf5_reader::Dataset,
    shape: Vec<usize>,
    len: usize,
}

impl std::fmt::Debug for Dataset<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("file", &self.file.path)
            .field("path", &self.path)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl<'f> Dataset<'f> {
    fn new(file: &'f Hdf5File, path: String, inner: hdf5_reader::Dataset) -> Result<Self> {
        let error = |msg: String| file.error(format!("dataset '{path}': {msg}"));
        let shape = inner
            .shape()
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| error(format!("dimension {d} is too large"))))
            .collect::<Result<Vec<usize>>>()?;
        let len = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| error(format!("shape {shape:?} has too many elements")))?;
        Ok(Dataset {
            file,
            path,
            inner,
            shape,
            len,
        })
    }

    /// The dataset's path from the root.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The shape; empty for a scalar.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dataset has no elements (a zero in its shape).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values as `f32`, from float16, bfloat16 (Keras 3), float32 or float64 data of
    /// either byte order (float64 is rounded to nearest). Integer data is an error: see
    /// [`Dataset::read_i64`].
    pub fn read_f32(&self) -> Result<Vec<f32>> {
        let (numeric, bytes) = self.read_raw()?;
        numeric.decode_f32(&bytes).map_err(|msg| self.error(msg))
    }

    /// The values as `f64`, from float16, bfloat16, float32 or float64 data (exactly).
    pub fn read_f64(&self) -> Result<Vec<f64>> {
        let (numeric, bytes) = self.read_raw()?;
        numeric.decode_f64(&bytes).map_err(|msg| self.error(msg))
    }

    /// The values as `i64`, from signed or unsigned integer data of 1–8 bytes (an
    /// unsigned value above `i64::MAX` is an error). Floating-point data is an error.
    pub fn read_i64(&self) -> Result<Vec<i64>> {
        let (numeric, bytes) = self.read_raw()?;
        numeric.decode_i64(&bytes).map_err(|msg| self.error(msg))
    }

    /// The names of the dataset's attributes, sorted.
    pub fn attribute_names(&self) -> Result<Vec<String>> {
        Ok(attribute_names(&self.inner.attributes()))
    }

    /// The attribute `name`, or `None` if the dataset has none of that name.
    pub fn attribute(&self, name: &str) -> Result<Option<AttrValue>> {
        let attributes = self.inner.attributes();
        find_attribute(&attributes, name)
            .map(|a| {
                attr_value(a).map_err(|msg| {
                    self.file.error(format!(
                        "attribute '{name}' of dataset '{}': {msg}",
                        self.path
                    ))
                })
            })
            .transpose()
    }

    /// The element type, and all of the data's bytes (in the file's byte order).
    fn read_raw(&self) -> Result<(Numeric, Vec<u8>)> {
        let datatype = self.inner.dtype();
        let numeric = match Numeric::of(datatype) {
            Some(numeric) => numeric,
            None if self.is_bfloat16(datatype) => Numeric::BFloat16,
            None => {
                return Err(self.error(format!("holds {} values, not numbers", describe(datatype))))
            }
        };
        let bytes = self
            .inner
            .read_raw_bytes()
            .map_err(|e| self.error(format!("cannot read its data: {e}")))?;
        let expected = self.len.checked_mul(numeric.size());
        if expected != Some(bytes.len()) {
            return Err(self.error(format!(
                "read {} bytes of data, expected {} elements of {} bytes",
                bytes.len(),
                self.len,
                numeric.size()
            )));
        }
        Ok((numeric, bytes))
    }

    /// Keras 3 stores a bfloat16 variable as 2-byte opaque data (h5py's mapping of
    /// ml_dtypes' bfloat16) with the attribute `dtype = "bfloat16"`.
    fn is_bfloat16(&self, datatype: &Datatype) -> bool {
        matches!(datatype, Datatype::Opaque { size: 2, .. })
            && matches!(self.attribute("dtype"), Ok(Some(AttrValue::String(s))) if s == "bfloat16")
    }

    fn error(&self, msg: impl std::fmt::Display) -> Error {
        self.file.error(format!("dataset '{}': {msg}", self.path))
    }
}

/// An attribute's value, converted from its HDF5 datatype. Numeric arrays of any shape
/// are flattened in C order; a numeric scalar is an array of one.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A scalar string, fixed- or variable-length (h5py stores Python `str` as
    /// variable-length UTF-8, `bytes` as fixed-length).
    String(String),
    /// An array of strings, e.g. Keras 2's `layer_names` (fixed-length byte strings).
    Strings(Vec<String>),
    /// Floating-point values (float16, float32 or float64).
    Float(Vec<f64>),
    /// Integer values of 1–8 bytes, signed or unsigned, and h5py booleans (0 or 1).
    Int(Vec<i64>),
}

impl AttrValue {
    /// The string, if this is a scalar string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a list of strings (see [`Group::string_list`]).
    fn into_string_list(self) -> std::result::Result<Vec<String>, String> {
        match self {
            AttrValue::Strings(list) => Ok(list),
            AttrValue::String(s) => Ok(vec![s]),
            AttrValue::Float(v) if v.is_empty() => Ok(Vec::new()),
            AttrValue::Int(v) if v.is_empty() => Ok(Vec::new()),
            AttrValue::Float(_) | AttrValue::Int(_) => Err("holds numbers, not strings".into()),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Group,
    Dataset,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::Dataset => "dataset",
        }
    }
}

/// The non-empty components of a member path.
fn split_path(path: &str) -> std::result::Result<Vec<&str>, String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(format!("empty member path '{path}'"));
    }
    Ok(parts)
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

fn attribute_names(attributes: &[Attribute]) -> Vec<String> {
    let mut names: Vec<String> = attributes.iter().map(|a| a.name.clone()).collect();
    names.sort();
    names
}

fn find_attribute<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes.iter().find(|a| a.name == name)
}

/// Converts an attribute's value; the error says why it cannot be.
fn attr_value(a: &Attribute) -> std::result::Result<AttrValue, String> {
    let count = a
        .num_elements()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("bad shape {:?}", a.shape))?;
    let is_string = matches!(
        a.datatype,
        Datatype::String { .. }
            | Datatype::VarLen {
                kind: VarLenKind::String,
                ..
            }
    );
    if is_string {
        let mut strings = a.read_strings().map_err(|e| match a.datatype {
            // Their bytes live in the global heap, which hdf5-reader resolves when it
            // lists the attributes; if it could not, the attribute is left unresolved.
            Datatype::VarLen { .. } => {
                format!("cannot read its variable-length strings (global heap): {e}")
            }
            _ => e.to_string(),
        })?;
        if strings.len() != count {
            return Err(format!(
                "holds {} strings, its shape {:?} says {count}",
                strings.len(),
                a.shape
            ));
        }
        return Ok(if a.shape.is_empty() {
            AttrValue::String(strings.pop().unwrap_or_default())
        } else {
            AttrValue::Strings(strings)
        });
    }
    let numeric = Numeric::of(&a.datatype)
        .ok_or_else(|| format!("unsupported datatype: {}", describe(&a.datatype)))?;
    let needed = count
        .checked_mul(numeric.size())
        .filter(|&n| n <= a.raw_data.len())
        .ok_or_else(|| {
            format!(
                "holds {} bytes, too few for {count} values of {} bytes",
                a.raw_data.len(),
                numeric.size()
            )
        })?;
    let bytes = &a.raw_data[..needed];
    match numeric {
        Numeric::Int { .. } => numeric.decode_i64(bytes).map(AttrValue::Int),
        _ => numeric.decode_f64(bytes).map(AttrValue::Float),
    }
}

/// A numeric element type this module decodes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Numeric {
    /// IEEE 754 binary16, binary32 or binary64.
    Float { size: usize, big_endian: bool },
    /// bfloat16 (the upper half of a binary32), little-endian as Keras 3 stores it.
    BFloat16,
    Int {
        size: usize,
        signed: bool,
        big_endian: bool,
    },
}

impl Numeric {
    fn of(datatype: &Datatype) -> Option<Numeric> {
        match datatype {
            Datatype::FloatingPoint { size, byte_order } if matches!(size, 2 | 4 | 8) => {
                Some(Numeric::Float {
                    size: usize::from(*size),
                    big_endian: *byte_order == ByteOrder::BigEndian,
                })
            }
            Datatype::FixedPoint {
                size,
                signed,
                byte_order,
            } if matches!(size, 1 | 2 | 4 | 8) => Some(Numeric::Int {
                size: usize::from(*size),
                signed: *signed,
                big_endian: *byte_order == ByteOrder::BigEndian,
            }),
            // h5py stores booleans as an enum of int8.
            Datatype::Enum { base, .. } => match Numeric::of(base) {
                Some(int @ Numeric::Int { .. }) => Some(int),
                _ => None,
            },
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Numeric::Float { size, .. } | Numeric::Int { size, .. } => size,
            Numeric::BFloat16 => 2,
        }
    }

    /// The elements of `bytes` (whole elements, as `read_raw` checked) as unsigned
    /// integers of their size, byte order applied.
    fn words(self, bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
        let big_endian = match self {
            Numeric::Float { big_endian, .. } | Numeric::Int { big_endian, .. } => big_endian,
            Numeric::BFloat16 => false,
        };
        bytes.chunks_exact(self.size()).map(move |chunk| {
            let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
            if big_endian {
                chunk.iter().fold(0, fold)
            } else {
                chunk.iter().rev().fold(0, fold)
            }
        })
    }

    fn decode_f64(self, bytes: &[u8]) -> std::result::Result<Vec<f64>, String> {
        match self {
            Numeric::Float { size: 8, .. } => Ok(self.words(bytes).map(f64::from_bits).collect()),
            Numeric::Float { .. } | Numeric::BFloat16 => {
                Ok(self.decode_f32(bytes)?.into_iter().map(f64::from).collect())
            }
            Numeric::Int { .. } => Err(self.not_float()),
        }
    }

    fn decode_f32(self, bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
        // Each word fits its size, so the narrowing casts below drop only zero bits.
        match self {
            Numeric::Float { size: 2, .. } => {
                Ok(self.words(bytes).map(|w| f16_to_f32(w as u16)).collect())
            }
            Numeric::Float { size: 4, .. } => Ok(self
                .words(bytes)
                .map(|w| f32::from_bits(w as u32))
                .collect()),
            Numeric::Float { .. } => Ok(self
                .words(bytes)
                .map(|w| f64::from_bits(w) as f32)
                .collect()),
            Numeric::BFloat16 => Ok(self
                .words(bytes)
                .map(|w| f32::from_bits((w as u32) << 16))
                .collect()),
            Numeric::Int { .. } => Err(self.not_float()),
        }
    }

    fn decode_i64(self, bytes: &[u8]) -> std::result::Result<Vec<i64>, String> {
        let Numeric::Int { size, signed, .. } = self else {
            return Err("holds floating-point values, not integers".into());
        };
        let bits = 8 * size as u32;
        self.words(bytes)
            .map(|w| {
                if signed {
                    // Sign-extend from `bits` bits.
                    let shift = 64 - bits;
                    Ok(((w << shift) as i64) >> shift)
                } else {
                    i64::try_from(w).map_err(|_| format!("unsigned value {w} exceeds i64"))
                }
            })
            .collect()
    }

    fn not_float(self) -> String {
        match self {
            Numeric::Int { size, signed, .. } => format!(
                "holds {}int{} values, not floating point (read them as integers)",
                if signed { "" } else { "u" },
                8 * size
            ),
            _ => "holds floating-point values".into(),
        }
    }
}

/// IEEE 754 binary16 to binary32 (exact: every half is a float).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exponent = u32::from((h >> 10) & 0x1f);
    let mantissa = u32::from(h & 0x3ff);
    let bits = match (exponent, mantissa) {
        (0, 0) => sign,
        // Subnormal: mantissa × 2^-24, normalized for binary32.
        (0, m) => {
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// A short description of a datatype for error messages.
fn describe(datatype: &Datatype) -> String {
    match datatype {
        Datatype::FixedPoint { size, signed, .. } => {
            format!(
                "{}int{}",
                if *signed { "" } else { "u" },
                8 * u32::from(*size)
            )
        }
        Datatype::FloatingPoint { size, .. } => format!("float{}", 8 * u32::from(*size)),
        Datatype::String {
            size: StringSize::Fixed(n),
            ..
        } => format!("fixed-length string ({n} bytes)"),
        Datatype::String { .. } => "string".into(),
        Datatype::VarLen {
            kind: VarLenKind::String,
            ..
        } => "variable-length string".into(),
        Datatype::VarLen { .. } => "variable-length sequence".into(),
        Datatype::Compound { .. } => "compound".into(),
        Datatype::Array { .. } => "array".into(),
        Datatype::Enum { .. } => "enum".into(),
        Datatype::Opaque { size, .. } => format!("opaque ({size} bytes)"),
        Datatype::Reference { .. } => "reference".into(),
        Datatype::Bitfield { .. } => "bitfield".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_half_precision() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xbd00), -1.25);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0400), 6.103_515_6e-5);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x03ff), 6.097_555e-5);
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn decodes_both_byte_orders_and_sign_extends() {
        let le = Numeric::Int {
            size: 2,
            signed: true,
            big_endian: false,
        };
        assert_eq!(le.decode_i64(&[0xfe, 0xff, 0x05, 0x00]).unwrap(), [-2, 5]);
        let be = Numeric::Int {
            size: 4,
            signed: false,
            big_endian: true,
        };
        assert_eq!(
            be.decode_i64(&[0xff, 0xff, 0xff, 0xff]).unwrap(),
            [4294967295]
        );
        let u64_le = Numeric::Int {
            size: 8,
            signed: false,
            big_endian: false,
        };
        assert!(u64_le.decode_i64(&[0xff; 8]).is_err());
        let f64_be = Numeric::Float {
            size: 8,
            big_endian: true,
        };
        assert_eq!(f64_be.decode_f64(&1.5f64.to_be_bytes()).unwrap(), [1.5]);
        assert_eq!(f64_be.decode_f32(&0.1f64.to_be_bytes()).unwrap(), [0.1f32]);
        assert_eq!(
            Numeric::BFloat16.decode_f32(&[0xc0, 0x3f]).unwrap(),
            [1.5f32]
        );
        assert!(le.decode_f32(&[0, 0]).is_err());
        assert!(f64_be.decode_i64(&[0; 8]).is_err());
    }

    #[test]
    fn string_lists_accept_keras_empty_arrays() {
        assert_eq!(
            AttrValue::Float(vec![]).into_string_list().unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            AttrValue::String("a".into()).into_string_list().unwrap(),
            ["a"]
        );
        assert!(AttrValue::Int(vec![1]).into_string_list().is_err());
    }

    #[test]
    fn splits_paths() {
        assert_eq!(split_path("/a//b/").unwrap(), ["a", "b"]);
        assert!(split_path("//").is_err());
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b:0"), "a/b:0");
    }

    #[test]
    fn rejects_bytes_that_are_not_hdf5() {
        let err = Hdf5File::from_bytes(Path::new("x.h5"), b"not an hdf5 file".to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.h5: not a readable HDF5 file"), "{err}");
    }
}
