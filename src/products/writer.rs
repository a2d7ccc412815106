//! Streams rows into a DR19 product (see the module documentation of [`crate::products`]).

use super::column::{Column, Kind};
use super::{TableLayout, V_ASTRA};
use crate::io::columns::ColumnData;
use crate::io::fields::{Fields, Value};
use crate::io::header_card::HeaderCard;
use crate::io::normalized::SpectrumMeta;
use crate::io::table::{AstraTableLayout, AstraTableWriter};
use crate::timestamp::created_column;
use crate::Result;
use std::path::Path;
use std::time::SystemTime;

/// One row of a product: its spectrum (place and fields) and the pipeline's own values
/// (labels, distances, flags, times) by column name.
#[derive(Debug, Clone, Copy)]
pub struct ProductRow<'a> {
    /// The spectrum.
    pub meta: &'a SpectrumMeta,
    /// The pipeline's values.
    pub results: &'a Fields,
}

/// Writes one DR19 product, row batch by row batch.
#[derive(Debug)]
pub struct ProductWriter {
    columns: Vec<Column>,
    table: AstraTableWriter,
    /// Values every row shares (`v_astra`, `created`).
    constants: Fields,
    /// Columns where a value was longer than DR19's width, with the first such value.
    truncated: Vec<(&'static str, String)>,
}

impl ProductWriter {
    /// Starts a table of `layout` (a DR19 product's, [`crate::products::Product::layout`])
    /// at `path` (`.gz`: compressed), with our `primary` cards followed by DR19's; `created`
    /// is the run's start, written as DR19's `CREATED` and `created`.
    pub fn create(
        path: &Path,
        layout: TableLayout,
        mut primary: Vec<HeaderCard>,
        created: SystemTime,
    ) -> Result<Self> {
        primary.extend(layout.primary_cards(created));
        let columns = layout.apogee.clone();
        let layout = AstraTableLayout {
            primary,
            boss: layout.boss.iter().map(Column::spec).collect(),
            boss_cards: layout.table_cards("BOSS", created),
            apogee: columns.iter().map(Column::spec).collect(),
            apogee_cards: layout.table_cards("APOGEE", created),
        };
        let mut constants = Fields::new();
        constants.set_text("v_astra", V_ASTRA);
        constants.set_text("created", created_column(created));
        Ok(ProductWriter {
            table: AstraTableWriter::create_layout(path, layout)?,
            columns,
            constants,
            truncated: Vec::new(),
        })
    }

    /// Appends rows.
    pub fn append(&mut self, rows: &[ProductRow]) -> Result<()> {
        let mut batch = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let column = self.columns[i];
            let values: Vec<Value> = rows.iter().map(|row| self.value(&column, row)).collect();
            batch.push(self.column_data(&column, values));
        }
        self.table.append(&batch)
    }

    /// Completes the file (see [`AstraTableWriter::finish`]). Returns one note per column
    /// where values were cut to DR19's width.
    pub fn finish(self, late_primary: &[HeaderCard]) -> Result<Vec<String>> {
        self.table.finish(late_primary)?;
        Ok(self
            .truncated
            .iter()
            .map(|(name, example)| {
                format!("values of '{name}' longer than DR19's width were cut (e.g. '{example}')")
            })
            .collect())
    }

    /// The value of `column` in `row`: the pipeline's, astronn's own, the spectrum's, the
    /// run's, else DR19's fill.
    fn value(&self, column: &Column, row: &ProductRow) -> Value {
        let name = column.name;
        if let Some(v) = row.results.get(name) {
            return v.clone();
        }
        match name {
            "source_file" => return Value::Text(row.meta.source_file.clone()),
            "row" => return Value::Int(row.meta.row),
            "visit" => return Value::Int(row.meta.visit),
            "visit_file" => return Value::Text(row.meta.visit_file.clone()),
            _ => {}
        }
        row.meta
            .fields
            .get(name)
            .or_else(|| self.constants.get(name))
            .cloned()
            .unwrap_or_else(|| column.fill())
    }

    /// A column's values converted to its storage (unconvertible values become the fill).
    fn column_data(&mut self, column: &Column, values: Vec<Value>) -> ColumnData {
        let fill = column.fill();
        let int = |v: &Value| v.as_i64().or_else(|| fill.as_i64()).unwrap_or(-1);
        match column.kind {
            Kind::F32 => ColumnData::F32(values.iter().map(|v| v.as_f64() as f32).collect()),
            Kind::F64 => ColumnData::F64(values.iter().map(Value::as_f64).collect()),
            Kind::I32 => ColumnData::I32(
                values
                    .iter()
                    .map(|v| i32::try_from(int(v)).unwrap_or(-1))
                    .collect(),
            ),
            Kind::I64 | Kind::Bits => ColumnData::I64(values.iter().map(int).collect()),
            Kind::Bool => ColumnData::Bool(values.iter().map(truth).collect()),
            Kind::DateTime => ColumnData::Str(
                values
                    .iter()
                    .map(|v| self.fit_text(column, 26, v.as_text().unwrap_or_default()))
                    .collect(),
            ),
            Kind::Text(width) => ColumnData::Str(
                values
                    .iter()
                    .map(|v| self.fit_text(column, width, v.as_text().unwrap_or_default()))
                    .collect(),
            ),
            Kind::Bytes(len) => ColumnData::ByteArray(
                values
                    .iter()
                    .map(|v| match v {
                        Value::Bytes(f) => {
                            let mut f = f.clone();
                            f.resize(len, 0);
                            f
                        }
                        _ => vec![0; len],
                    })
                    .collect(),
            ),
            Kind::F32s(len) => ColumnData::F32Array(vec![vec![f32::NAN; len]; values.len()]),
        }
    }

    /// `text` cut to `width` bytes (at a character boundary) when DR19's column is narrower;
    /// astronn's own columns are wide enough for any input.
    fn fit_text(&mut self, column: &Column, width: usize, text: String) -> String {
        if text.len() <= width {
            return text;
        }
        if !self.truncated.iter().any(|(n, _)| *n == column.name) {
            self.truncated.push((column.name, text.clone()));
        }
        let mut end = width;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    }
}

/// A logical from a value: logicals, non-zero numbers, and `T`/`True`/`1` text are true.
fn truth(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Int(v) => *v != 0,
        Value::Float(v) => *v != 0.0 && !v.is_nan(),
        Value::Text(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "t" | "true" | "1"),
        Value::Bytes(f) => f.iter().any(|&b| b != 0),
    }
}
