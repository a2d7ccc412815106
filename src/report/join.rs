//! Reading a result table and a reference catalog, and matching their rows by star.
//!
//! The result is an `astronn predict` or `astronn dist` table (HDU `APOGEE`), coadd or
//! visit layout: every row is matched, so a star observed several times counts once per
//! visit. Rows flagged NO_RESULT (bit 11 of `result_flags`) are left out. The reference is
//! a [`Catalog`] (FITS or CSV) whose columns are all optional: labels, `crb_<label>`,
//! `snr`, `dist` and `L_fakemag`.

use crate::io::catalog::{Catalog, ColumnRequest};
use crate::io::columns::ColumnData;
use crate::io::table::{read_table, Table, APOGEE_HDU};
use crate::nn::censored::LABELS;
use crate::pipeline::flags::NO_RESULT;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Where to read a comparison from and which columns hold the star identifiers.
#[derive(Debug, Clone)]
pub struct JoinSpec<'a> {
    /// Result table (`astronn predict` or `astronn dist`).
    pub result: &'a Path,
    /// Reference catalog (FITS or CSV).
    pub truth: &'a Path,
    /// Identifier column of the result.
    pub result_id: &'a str,
    /// Identifier column of the catalog.
    pub truth_id: &'a str,
}

/// Result rows matched with catalog rows.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The result table's path.
    pub result_path: PathBuf,
    /// The catalog's path.
    pub truth_path: PathBuf,
    /// Rows in the result table.
    pub result_rows: usize,
    /// Result rows flagged NO_RESULT (left out).
    pub no_result: usize,
    /// Result rows (with a result) whose star the catalog does not list.
    pub unmatched: usize,
    /// Distinct stars in the catalog.
    pub truth_stars: usize,
    result: Table,
    truth: Catalog,
    truth_names: Vec<String>,
    /// `(result row, catalog row)` of each matched row.
    matches: Vec<(usize, usize)>,
}

impl Joined {
    /// Matched rows.
    pub fn len(&self) -> usize {
        self.matches.len()
    }

    /// Whether no row matched.
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty()
    }

    /// The result column `name` (any numeric type, ignoring case) at the matched rows, or
    /// `None` when the result has no such numeric column.
    pub fn result_column(&self, name: &str) -> Option<Vec<f64>> {
        let values = self.result.column(name)?.to_f64s()?;
        Some(self.matches.iter().map(|&(r, _)| values[r]).collect())
    }

    /// The catalog column `name` at the matched rows, or `None` when the catalog lacks it.
    /// Only the columns listed in [`truth_columns`] are read.
    pub fn truth_column(&self, name: &str) -> Option<Vec<f64>> {
        let index = self
            .truth_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        if !self.truth.has_column(index) {
            return None;
        }
        let values = self.truth.column(index);
        Some(self.matches.iter().map(|&(_, t)| values[t]).collect())
    }
}

/// The catalog columns a comparison may use: each label and its `crb_` bound, `snr`,
/// `dist` and `L_fakemag`.
pub fn truth_columns() -> Vec<String> {
    LABELS
        .iter()
        .flat_map(|l| [l.to_string(), format!("crb_{l}")])
        .chain(["snr", "dist", "L_fakemag"].map(String::from))
        .collect()
}

/// Reads both files and matches every result row with a result to the catalog row of its
/// star. Errors name the file.
pub fn join(spec: &JoinSpec) -> Result<Joined> {
    let result = read_table(spec.result, APOGEE_HDU)?;
    let truth_names = truth_columns();
    let requests: Vec<ColumnRequest> = truth_names
        .iter()
        .map(|name| ColumnRequest {
            role: "reference",
            name,
            required: false,
        })
        .collect();
    let truth = Catalog::load(spec.truth, "reference catalog", spec.truth_id, &requests)?;
    let ids = match result.column(spec.result_id) {
        Some(ColumnData::Str(ids)) => ids.clone(),
        Some(ColumnData::I64(ids)) => ids.iter().map(i64::to_string).collect(),
        Some(ColumnData::I32(ids)) => ids.iter().map(i32::to_string).collect(),
        _ => {
            return Err(Error::file(
                spec.result,
                format!(
                    "the result table has no identifier column '{}' (columns: {})",
                    spec.result_id,
                    column_names(&result)
                ),
            ))
        }
    };
    let flags = match result.column("result_flags") {
        Some(data) => data
            .to_f64s()
            .ok_or_else(|| Error::file(spec.result, "the 'result_flags' column is not numeric"))?,
        None => vec![0.0; ids.len()],
    };
    let (mut no_result, mut unmatched, mut matches) = (0, 0, Vec::new());
    for (row, id) in ids.iter().enumerate() {
        if (flags[row] as i64) & i64::from(NO_RESULT) != 0 {
            no_result += 1;
        } else if let Some(t) = truth.row_of(id) {
            matches.push((row, t));
        } else {
            unmatched += 1;
        }
    }
    Ok(Joined {
        result_path: spec.result.to_path_buf(),
        truth_path: spec.truth.to_path_buf(),
        result_rows: ids.len(),
        no_result,
        unmatched,
        truth_stars: truth.len(),
        result,
        truth,
        truth_names,
        matches,
    })
}

fn column_names(table: &Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
    names.join(", ")
}
