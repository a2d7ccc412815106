//! Reading `.npy` arrays (NumPy's format, version 1–3): the embedded masks, normalized
//! spectra handed to `predict --normalized`, and the reference fixtures in tests.

use crate::{Error, Result};
use std::path::Path;

/// An array read from a `.npy` file, converted to `f64`, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The array's shape, as stored.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

impl NpyArray {
    /// Reads a `.npy` file.
    pub fn read(path: &Path) -> Result<NpyArray> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        NpyArray::parse(&bytes).map_err(|msg| Error::file(path, msg))
    }

    /// Parses the bytes of a `.npy` file. Supports little- and big-endian floats (f4, f8),
    /// signed and unsigned integers of 1–8 bytes and booleans, in C or Fortran order.
    pub fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
        let (header, body) = split_header(bytes)?;
        let descr = header_value(&header, "descr")?;
        let descr = descr.trim_matches(|c| c == '\'' || c == '"');
        let fortran = header_value(&header, "fortran_order")?.trim() == "True";
        let shape = parse_shape(&header_value(&header, "shape")?)?;
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("shape {shape:?} overflows the address space"))?;
        let element = ElementType::from_descr(descr)?;
        let needed = count
            .checked_mul(element.size)
            .ok_or("array size overflows")?;
        if body.len() < needed {
            return Err(format!(
                "truncated .npy: {} bytes of data, {needed} needed for shape {shape:?}",
                body.len()
            ));
        }
        let mut data: Vec<f64> = body[..needed]
            .chunks_exact(element.size)
            .map(|chunk| element.decode(chunk))
            .collect();
        if fortran && shape.len() > 1 {
            data = fortran_to_c(&data, &shape);
        }
        Ok(NpyArray { shape, data })
    }

    /// The array as a matrix `(rows, columns)`; a 1-D array is one row.
    pub fn as_matrix(&self) -> std::result::Result<(usize, usize), String> {
        match self.shape.as_slice() {
            [n] => Ok((1, *n)),
            [r, c] => Ok((*r, *c)),
            other => Err(format!(
                "expected a 1-D or 2-D array, found shape {other:?}"
            )),
        }
    }
}

fn split_header(bytes: &[u8]) -> std::result::Result<(String, &[u8]), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (len as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start + len;
    if bytes.len() < end {
        return Err("truncated .npy header".into());
    }
    let header = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    Ok((header, &bytes[end..]))
}

/// The text of `key`'s value in the header's Python dict literal.
fn header_value(header: &str, key: &str) -> std::result::Result<String, String> {
    let pattern_single = format!("'{key}':");
    let pattern_double = format!("\"{key}\":");
    let at = header
        .find(&pattern_single)
        .map(|i| i + pattern_single.len())
        .or_else(|| {
            header
                .find(&pattern_double)
                .map(|i| i + pattern_double.len())
        })
        .ok_or_else(|| format!(".npy header has no '{key}'"))?;
    let rest = header[at..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(|| format!("malformed '{key}' in .npy header"))?;
    Ok(rest[..end].to_string())
}

fn parse_shape(text: &str) -> std::result::Result<Vec<usize>, String> {
    text.trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {text}")))
        .collect()
}

#[derive(Clone, Copy)]
enum Kind {
    Float,
    Signed,
    Unsigned,
    Bool,
}

struct ElementType {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

impl ElementType {
    fn from_descr(descr: &str) -> std::result::Result<ElementType, String> {
        let bad = || format!("unsupported .npy dtype '{descr}'");
        let mut chars = descr.chars();
        let order = chars.next().ok_or_else(bad)?;
        let code = chars.next().ok_or_else(bad)?;
        let size: usize = chars.as_str().parse().map_err(|_| bad())?;
        let big_endian = order == '>';
        let kind = match (code, size) {
            ('f', 4 | 8) => Kind::Float,
            ('i', 1 | 2 | 4 | 8) => Kind::Signed,
            ('u', 1 | 2 | 4 | 8) => Kind::Unsigned,
            ('b', 1) => Kind::Bool,
            _ => return Err(bad()),
        };
        Ok(ElementType {
            kind,
            size,
            big_endian,
        })
    }

    fn decode(&self, chunk: &[u8]) -> f64 {
        let mut raw = [0u8; 8];
        if self.big_endian {
            for (i, b) in chunk.iter().rev().enumerate() {
                raw[i] = *b;
            }
        } else {
            raw[..self.size].copy_from_slice(chunk);
        }
        match (self.kind, self.size) {
            (Kind::Float, 4) => f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as f64,
            (Kind::Float, _) => f64::from_le_bytes(raw),
            (Kind::Bool, _) => f64::from(raw[0] != 0),
            (Kind::Unsigned, _) => u64::from_le_bytes(raw) as f64,
            (Kind::Signed, size) => {
                let shift = 64 - 8 * size as u32;
                ((i64::from_le_bytes(raw) << shift) >> shift) as f64
            }
        }
    }
}

fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for value in out.iter_mut() {
        // Fortran offset of the current C-ordered multi-index.
        let mut offset = 0;
        let mut stride = 1;
        for (i, &dim) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= dim;
        }
        *value = data[offset];
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_bytes(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        let mut padded = header.into_bytes();
        while (10 + padded.len() + 1) % 64 != 0 {
            padded.push(b' ');
        }
        padded.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        out.extend_from_slice(&padded);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_shape_whose_size_overflows_is_refused() {
        // Found reading the code (issue 33): the product wrapped to 2 in release builds and
        // the array then panicked where it was used.
        let bytes = npy_bytes("<f8", false, "(9223372036854775809, 2)", &[0u8; 16]);
        let err = NpyArray::parse(&bytes).unwrap_err();
        assert!(err.contains("overflows"), "{err}");
    }

    #[test]
    fn reads_little_endian_f8_matrix() {
        let body: Vec<u8> = [1.5f64, -2.0, 3.25, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let array = NpyArray::parse(&npy_bytes("<f8", false, "(2, 3)", &body)).unwrap();
        assert_eq!(array.shape, vec![2, 3]);
        assert_eq!(array.data, vec![1.5, -2.0, 3.25, 4.0, 5.0, 6.0]);
        assert_eq!(array.as_matrix().unwrap(), (2, 3));
    }

    #[test]
    fn reorders_fortran_arrays() {
        // Column-major storage of [[1, 2, 3], [4, 5, 6]].
        let body: Vec<u8> = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let array = NpyArray::parse(&npy_bytes("<f4", true, "(2, 3)", &body)).unwrap();
        assert_eq!(array.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn reads_signed_big_endian_and_bool() {
        let body: Vec<u8> = [-3i16, 7].iter().flat_map(|v| v.to_be_bytes()).collect();
        let array = NpyArray::parse(&npy_bytes(">i2", false, "(2,)", &body)).unwrap();
        assert_eq!(array.data, vec![-3.0, 7.0]);
        let array = NpyArray::parse(&npy_bytes("|b1", false, "(3,)", &[1, 0, 1])).unwrap();
        assert_eq!(array.data, vec![1.0, 0.0, 1.0]);
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        assert!(NpyArray::parse(b"SIMPLE  =                    T").is_err());
        let body = 1.0f64.to_le_bytes();
        let err = NpyArray::parse(&npy_bytes("<f8", false, "(2,)", &body)).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(NpyArray::parse(&npy_bytes("<c16", false, "(1,)", &[0; 16])).is_err());
    }
}
