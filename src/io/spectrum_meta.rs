//! Where a spectrum came from and what is known about its star, and how normalized-spectrum
//! files store that in their `SPECTRA` table.
//!
//! The `SPECTRA` table has the spectrum's place (`source_file`, `row`, `kind`, `visit`,
//! `visit_file`) followed by one column per known field (`sdss4_apogee_id`, `snr`, `k_mag`,
//! `fiber`, … in name order), typed by the values it holds: float64, int64, logical, text or
//! logical arrays. A spectrum without a field gets DR19's fill value there (NaN, −1, false,
//! ""), which reads back as the same value.

use crate::io::columns::{ColumnData, ColumnKind, ColumnSpec};
use crate::io::fields::{Fields, Value};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Where one spectrum came from, and what is known about it and its star.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumMeta {
    /// The apStar file (as given on the command line or in the input list).
    pub source_file: String,
    /// 0-based row in the apStar arrays (−1: the file could not be read).
    pub row: i64,
    /// `"coadd"` or `"visit"`.
    pub kind: String,
    /// 1-based visit number; 0 for coadds.
    pub visit: i64,
    /// Visit file name; empty for coadds.
    pub visit_file: String,
    /// The spectrum's and its star's values by DR19 column (from the apStar header, and
    /// from a Source catalog when one is given).
    pub fields: Fields,
}

impl SpectrumMeta {
    /// Row `index` of `source_file`, a coadd with unknown identity.
    pub fn anonymous(source_file: &str, index: usize) -> Self {
        SpectrumMeta {
            source_file: source_file.to_string(),
            row: i64::try_from(index).unwrap_or(i64::MAX),
            kind: "coadd".to_string(),
            visit: 0,
            visit_file: String::new(),
            fields: Fields::new(),
        }
    }

    /// The APOGEE identifier (`sdss4_apogee_id`); empty when unknown.
    pub fn apogee_id(&self) -> String {
        self.fields.text("sdss4_apogee_id")
    }

    /// The spectrum's S/N (`snr`); NaN when unknown.
    pub fn snr(&self) -> f64 {
        self.fields.f64("snr")
    }

    /// Whether this is a visit spectrum.
    pub fn is_visit(&self) -> bool {
        self.kind == "visit"
    }
}

/// The columns before the fields, in file order.
const PLACE_COLUMNS: [&str; 5] = ["source_file", "row", "kind", "visit", "visit_file"];

/// Old names of fields in files written before fields were named as DR19's columns.
const LEGACY_NAMES: [(&str, &str); 1] = [("sfd_ebv", "ebv")];

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends `meta` to `out` in the spill format read by [`decode`].
pub(crate) fn encode(meta: &SpectrumMeta, out: &mut Vec<u8>) {
    push_str(out, &meta.source_file);
    out.extend_from_slice(&meta.row.to_le_bytes());
    push_str(out, &meta.kind);
    out.extend_from_slice(&meta.visit.to_le_bytes());
    push_str(out, &meta.visit_file);
    out.extend_from_slice(&(meta.fields.len() as u64).to_le_bytes());
    for (name, value) in meta.fields.iter() {
        push_str(out, name);
        match value {
            Value::Float(v) => {
                out.push(0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Int(v) => {
                out.push(1);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Bool(v) => {
                out.push(2);
                out.push(u8::from(*v));
            }
            Value::Text(v) => {
                out.push(3);
                push_str(out, v);
            }
            Value::Bytes(v) => {
                out.push(4);
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.extend_from_slice(v);
            }
        }
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn word<R: Read>(reader: &mut R) -> std::io::Result<[u8; 8]> {
    let mut b = [0u8; 8];
    reader.read_exact(&mut b)?;
    Ok(b)
}

fn length<R: Read>(reader: &mut R) -> std::io::Result<usize> {
    usize::try_from(u64::from_le_bytes(word(reader)?)).map_err(|_| bad("bad length in spill file"))
}

fn byte<R: Read>(reader: &mut R) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    reader.read_exact(&mut b)?;
    Ok(b[0])
}

fn string<R: Read>(reader: &mut R) -> std::io::Result<String> {
    let mut bytes = vec![0u8; length(reader)?];
    reader.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|_| bad("bad UTF-8 in spill file"))
}

/// Reads one spectrum written by [`encode`].
pub(crate) fn decode<R: Read>(reader: &mut R) -> std::io::Result<SpectrumMeta> {
    let mut meta = SpectrumMeta {
        source_file: string(reader)?,
        row: i64::from_le_bytes(word(reader)?),
        kind: string(reader)?,
        visit: i64::from_le_bytes(word(reader)?),
        visit_file: string(reader)?,
        fields: Fields::new(),
    };
    for _ in 0..length(reader)? {
        let name = string(reader)?;
        let value = match byte(reader)? {
            0 => Value::Float(f64::from_le_bytes(word(reader)?)),
            1 => Value::Int(i64::from_le_bytes(word(reader)?)),
            2 => Value::Bool(byte(reader)? != 0),
            3 => Value::Text(string(reader)?),
            4 => {
                let mut bytes = vec![0u8; length(reader)?];
                reader.read_exact(&mut bytes)?;
                Value::Bytes(bytes)
            }
            _ => return Err(bad("bad value tag in spill file")),
        };
        meta.fields.set(&name, value);
    }
    Ok(meta)
}

/// The `SPECTRA` columns needed by the spectra seen so far: text widths and field types.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpectraColumns {
    /// Widths of `source_file`, `kind` and `visit_file`.
    place_widths: [usize; 3],
    /// Each field's storage, by name (the first value seen decides the type).
    fields: BTreeMap<String, ColumnKind>,
}

impl SpectraColumns {
    /// Widens the columns to hold `meta`.
    pub(crate) fn observe(&mut self, meta: &SpectrumMeta) {
        for (w, s) in
            self.place_widths
                .iter_mut()
                .zip([&meta.source_file, &meta.kind, &meta.visit_file])
        {
            *w = (*w).max(s.len());
        }
        for (name, value) in meta.fields.iter() {
            let kind = match value {
                Value::Float(_) => ColumnKind::F64,
                Value::Int(_) => ColumnKind::I64,
                Value::Bool(_) => ColumnKind::Bool,
                Value::Text(s) => ColumnKind::Str { width: s.len() },
                Value::Bytes(v) => ColumnKind::ByteArray { len: v.len() },
            };
            let entry = self.fields.entry(name.to_string()).or_insert(kind);
            if let (ColumnKind::Str { width }, ColumnKind::Str { width: w }) = (entry, kind) {
                *width = (*width).max(w);
            }
        }
    }

    /// The column specifications, in file order.
    pub(crate) fn specs(&self) -> Vec<ColumnSpec> {
        let text = |w: usize| ColumnKind::Str { width: w.max(1) };
        let mut specs = vec![
            ColumnSpec::new("source_file", text(self.place_widths[0])),
            ColumnSpec::new("row", ColumnKind::I64),
            ColumnSpec::new("kind", text(self.place_widths[1])),
            ColumnSpec::new("visit", ColumnKind::I64),
            ColumnSpec::new("visit_file", text(self.place_widths[2])),
        ];
        specs.extend(self.fields.iter().map(|(name, kind)| {
            let kind = match *kind {
                ColumnKind::Str { width } => text(width),
                other => other,
            };
            ColumnSpec::new(name.clone(), kind)
        }));
        specs
    }

    /// The column data of `metas`, in the order of [`SpectraColumns::specs`].
    pub(crate) fn batch(&self, metas: &[SpectrumMeta]) -> Vec<ColumnData> {
        let strings = |f: fn(&SpectrumMeta) -> &String| {
            ColumnData::Str(metas.iter().map(|m| f(m).clone()).collect())
        };
        let mut data = vec![
            strings(|m| &m.source_file),
            ColumnData::I64(metas.iter().map(|m| m.row).collect()),
            strings(|m| &m.kind),
            ColumnData::I64(metas.iter().map(|m| m.visit).collect()),
            strings(|m| &m.visit_file),
        ];
        for (name, kind) in &self.fields {
            let values = metas.iter().map(|m| m.fields.get(name));
            data.push(match *kind {
                ColumnKind::F64 => {
                    ColumnData::F64(values.map(|v| v.map_or(f64::NAN, Value::as_f64)).collect())
                }
                ColumnKind::I64 => ColumnData::I64(
                    values
                        .map(|v| v.and_then(Value::as_i64).unwrap_or(-1))
                        .collect(),
                ),
                ColumnKind::Bool => ColumnData::Bool(
                    values
                        .map(|v| matches!(v, Some(Value::Bool(true))))
                        .collect(),
                ),
                ColumnKind::ByteArray { len } => ColumnData::ByteArray(
                    values
                        .map(|v| match v {
                            Some(Value::Bytes(f)) if f.len() == len => f.clone(),
                            _ => vec![0; len],
                        })
                        .collect(),
                ),
                _ => ColumnData::Str(
                    values
                        .map(|v| v.and_then(Value::as_text).unwrap_or_default())
                        .collect(),
                ),
            });
        }
        data
    }
}

/// The spectra `rows` of `path` described by the `columns` of its `SPECTRA` table read for
/// those rows: the place columns, and every other column as a field (older files' `sfd_ebv`
/// as `ebv`).
pub(crate) fn metas_from_columns(
    path: &Path,
    rows: std::ops::Range<usize>,
    columns: Vec<(String, ColumnData)>,
) -> Result<Vec<SpectrumMeta>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut metas: Vec<SpectrumMeta> = rows.map(|i| SpectrumMeta::anonymous(&name, i)).collect();
    for (column, data) in columns {
        let column = column.to_ascii_lowercase();
        let wrong = || {
            Error::file(
                path,
                format!("column '{column}' of the SPECTRA table has the wrong type"),
            )
        };
        if PLACE_COLUMNS.contains(&column.as_str()) {
            set_place(&mut metas, &column, data).ok_or_else(wrong)?;
            continue;
        }
        let field = LEGACY_NAMES
            .iter()
            .find(|(old, _)| *old == column)
            .map_or(column.as_str(), |(_, new)| new);
        for (meta, value) in metas.iter_mut().zip(values(data)) {
            meta.fields.set(field, value);
        }
    }
    Ok(metas)
}

/// Sets one place column of every spectrum; `None` when the column has the wrong type.
fn set_place(metas: &mut [SpectrumMeta], column: &str, data: ColumnData) -> Option<()> {
    match (column, data) {
        ("source_file", ColumnData::Str(v)) => zip_set(metas, v, |m, x| m.source_file = x),
        ("kind", ColumnData::Str(v)) => zip_set(metas, v, |m, x| m.kind = x),
        ("visit_file", ColumnData::Str(v)) => zip_set(metas, v, |m, x| m.visit_file = x),
        ("row", data) => zip_set(metas, integers(data)?, |m, x| m.row = x),
        ("visit", data) => zip_set(metas, integers(data)?, |m, x| m.visit = x),
        _ => return None,
    }
    Some(())
}

fn zip_set<T>(metas: &mut [SpectrumMeta], values: Vec<T>, f: impl Fn(&mut SpectrumMeta, T)) {
    for (m, v) in metas.iter_mut().zip(values) {
        f(m, v);
    }
}

fn integers(data: ColumnData) -> Option<Vec<i64>> {
    match data {
        ColumnData::I16(v) => Some(v.into_iter().map(i64::from).collect()),
        ColumnData::I32(v) => Some(v.into_iter().map(i64::from).collect()),
        ColumnData::I64(v) => Some(v),
        _ => None,
    }
}

/// A column's values as field values.
fn values(data: ColumnData) -> Vec<Value> {
    match data {
        ColumnData::F64(v) => v.into_iter().map(Value::Float).collect(),
        ColumnData::F32(v) => v.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
        ColumnData::I16(v) => v.into_iter().map(|x| Value::Int(i64::from(x))).collect(),
        ColumnData::I32(v) => v.into_iter().map(|x| Value::Int(i64::from(x))).collect(),
        ColumnData::I64(v) => v.into_iter().map(Value::Int).collect(),
        ColumnData::Bool(v) => v.into_iter().map(Value::Bool).collect(),
        ColumnData::Str(v) => v.into_iter().map(Value::Text).collect(),
        ColumnData::ByteArray(v) => v.into_iter().map(Value::Bytes).collect(),
        ColumnData::F32Array(v) => v.into_iter().map(|_| Value::Float(f64::NAN)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_records_round_trip() {
        let mut meta = SpectrumMeta::anonymous("apStar-x.fits", 3);
        meta.kind = "visit".into();
        meta.visit = 2;
        meta.visit_file = "apVisit-dr17-1-57000-12.fits".into();
        meta.fields
            .set_text("sdss4_apogee_id", "2M00000000+0000000");
        meta.fields.set_f64("snr", 101.5);
        meta.fields.set("fiber", Value::Int(12));
        meta.fields.set("flag", Value::Bool(true));
        meta.fields
            .set("sdss5_target_flags", Value::Bytes(vec![5, 0, 128]));
        let mut bytes = Vec::new();
        encode(&meta, &mut bytes);
        encode(&SpectrumMeta::anonymous("b", 0), &mut bytes);
        let mut reader = bytes.as_slice();
        assert_eq!(decode(&mut reader).unwrap(), meta);
        assert_eq!(
            decode(&mut reader).unwrap(),
            SpectrumMeta::anonymous("b", 0)
        );
        assert!(reader.is_empty());
    }
}
