//! Label catalogs for training AstroNN: each star's labels and errors from an allStar-like
//! catalog (FITS or CSV, see [`crate::io::catalog`]).
//!
//! By default a label is read from the column an APOGEE allStar file would give it:
//! `TEFF`, `LOGG`, `FE_H`, and for an element X the column `X_H` when the catalog has one,
//! else `X_FE + FE_H` (allStar files hold [X/Fe]). `--label name=COLUMN` overrides a
//! label's column. Errors come from `<COLUMN>_ERR` where present (for a derived [X/H],
//! sqrt(X_FE_ERR² + FE_H_ERR²)); an absent or unusable error means "unknown" (0).
//! Values of −9999 or NaN are missing labels, as in astroNN.

use crate::io::catalog::{Catalog, ColumnRequest};
use crate::train::data::is_missing;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// How the catalog's columns are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelColumns {
    /// Identifier column (allStar: `APOGEE_ID`).
    pub id: String,
    /// Label name → column, replacing the default column of those labels.
    pub overrides: BTreeMap<String, String>,
}

impl Default for LabelColumns {
    fn default() -> Self {
        LabelColumns {
            id: "APOGEE_ID".into(),
            overrides: BTreeMap::new(),
        }
    }
}

/// allStar's element name of an `x_h` label (Ti II is `TIII`, C I is `CI`).
fn element_of(label: &str) -> Option<String> {
    let element = label.strip_suffix("_h")?;
    Some(match element {
        "c_1" => "CI".to_string(),
        "ti_2" => "TIII".to_string(),
        "fe" => return None,
        other => other.to_uppercase(),
    })
}

/// Where a label's values come from, as indices into the catalog's requests.
#[derive(Debug, Clone, Copy)]
enum Source {
    Direct { value: usize, error: usize },
    PerIron { x_fe: usize, x_fe_error: usize },
}

/// A catalog's labels, in a network's label order.
#[derive(Debug, Clone)]
pub struct LabelCatalog {
    catalog: Catalog,
    sources: Vec<Source>,
    fe_h: (usize, usize),
}

impl LabelCatalog {
    /// Reads the columns of `labels` (names as the network calls them) from `path`.
    pub fn load(path: &Path, labels: &[&str], columns: &LabelColumns) -> Result<Self> {
        for name in columns.overrides.keys() {
            if !labels.contains(&name.as_str()) {
                return Err(Error::Invalid(format!(
                    "--label {name}=…: the network has no label '{name}' (labels: {})",
                    labels.join(", ")
                )));
            }
        }
        // Candidate columns: per label the direct column and its error, and for elements
        // X_FE and its error; then FE_H and its error for [X/Fe] conversions.
        let mut names: Vec<(String, String, bool)> = Vec::new();
        let mut request = |role: String, name: String, required: bool| {
            names.push((role, name, required));
            names.len() - 1
        };
        let mut candidates = Vec::new();
        for &label in labels {
            let (direct, required) = match columns.overrides.get(label) {
                Some(column) => (column.clone(), true),
                None => (default_column(label), false),
            };
            let value = request(format!("{label} label"), direct.clone(), required);
            let error = request(format!("{label} error"), format!("{direct}_ERR"), false);
            let per_iron = match (required, element_of(label)) {
                (false, Some(element)) => {
                    let x_fe = request(format!("{label} [X/Fe]"), format!("{element}_FE"), false);
                    let x_fe_error = request(
                        format!("{label} [X/Fe] error"),
                        format!("{element}_FE_ERR"),
                        false,
                    );
                    Some(Source::PerIron { x_fe, x_fe_error })
                }
                _ => None,
            };
            candidates.push((label, direct, value, error, per_iron));
        }
        let fe_h = request("[Fe/H]".into(), "FE_H".into(), false);
        let fe_h_error = request("[Fe/H] error".into(), "FE_H_ERR".into(), false);
        let requests: Vec<ColumnRequest> = names
            .iter()
            .map(|(role, name, required)| ColumnRequest {
                role,
                name,
                required: *required,
            })
            .collect();
        let catalog = Catalog::load(path, "label catalog", &columns.id, &requests)?;

        let mut sources = Vec::with_capacity(labels.len());
        for (label, direct, value, error, per_iron) in candidates {
            let chosen = if catalog.has_column(value) {
                Source::Direct { value, error }
            } else {
                match per_iron {
                    Some(Source::PerIron { x_fe, x_fe_error })
                        if catalog.has_column(x_fe) && catalog.has_column(fe_h) =>
                    {
                        Source::PerIron { x_fe, x_fe_error }
                    }
                    _ => {
                        let alternative = element_of(label)
                            .map(|e| format!(", nor {e}_FE with FE_H"))
                            .unwrap_or_default();
                        return Err(Error::file(
                            path,
                            format!(
                                "no column for label '{label}': no '{direct}'{alternative}; \
                                 name one with --label {label}=COLUMN"
                            ),
                        ));
                    }
                }
            };
            sources.push(chosen);
        }
        Ok(LabelCatalog {
            catalog,
            sources,
            fe_h: (fe_h, fe_h_error),
        })
    }

    /// The labels (NaN where missing) and errors (0 where unknown) of star `id`, or `None`
    /// when the catalog does not list it.
    pub fn lookup(&self, id: &str) -> Option<(Vec<f64>, Vec<f64>)> {
        let row = self.catalog.row_of(id)?;
        let at = |column: usize| self.catalog.column(column)[row];
        let known = |v: f64| if is_missing(v) { f64::NAN } else { v };
        let error = |e: f64| if e.is_finite() && e > 0.0 { e } else { 0.0 };
        let (fe_h, fe_h_error) = (known(at(self.fe_h.0)), error(at(self.fe_h.1)));
        let (values, errors) = self
            .sources
            .iter()
            .map(|source| match *source {
                Source::Direct { value, error: e } => (known(at(value)), error(at(e))),
                Source::PerIron { x_fe, x_fe_error } => {
                    let x_fe_error = error(at(x_fe_error));
                    let combined = if x_fe_error > 0.0 && fe_h_error > 0.0 {
                        x_fe_error.hypot(fe_h_error)
                    } else {
                        0.0
                    };
                    (known(at(x_fe)) + fe_h, combined)
                }
            })
            .unzip();
        Some((values, errors))
    }

    /// The underlying catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

/// allStar's column for a label when no override names one.
fn default_column(label: &str) -> String {
    match element_of(label) {
        Some(element) => format!("{element}_H"),
        None => label.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: [&str; 4] = ["teff", "c_1_h", "ti_2_h", "fe_h"];

    fn load(text: &str, columns: &LabelColumns) -> Result<LabelCatalog> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        std::fs::write(&path, text).unwrap();
        LabelCatalog::load(&path, &LABELS, columns)
    }

    #[test]
    fn allstar_columns_with_per_iron_abundances() {
        let text = "APOGEE_ID,TEFF,TEFF_ERR,CI_FE,CI_FE_ERR,TIII_FE,FE_H,FE_H_ERR\n\
                    2M1,4500,50,0.1,0.03,-9999,-0.5,0.04\n\
                    2M2,-9999,,0.2,,0.3,,\n";
        let catalog = load(text, &LabelColumns::default()).unwrap();
        let (values, errors) = catalog.lookup("2M1").unwrap();
        assert_eq!(values[0], 4500.0);
        assert!((values[1] - (-0.4)).abs() < 1e-12);
        assert!(values[2].is_nan(), "-9999 is missing");
        assert_eq!(values[3], -0.5);
        assert_eq!(errors[0], 50.0);
        assert!((errors[1] - 0.05).abs() < 1e-12, "sqrt(0.03² + 0.04²)");
        assert_eq!(errors[2], 0.0, "no TIII_FE_ERR column: unknown");
        let (values, errors) = catalog.lookup("2M2").unwrap();
        assert!(values[0].is_nan());
        assert!(values[1].is_nan(), "no [Fe/H]: no [X/H]");
        assert_eq!(errors, vec![0.0; 4]);
        assert!(catalog.lookup("2M3").is_none());
    }

    #[test]
    fn direct_x_h_columns_and_overrides() {
        let text = "sdss4_apogee_id,T,CI_H,TIII_H,FE_H\n2M1,5000,0.1,0.2,0.3\n";
        let mut columns = LabelColumns {
            id: "sdss4_apogee_id".into(),
            ..LabelColumns::default()
        };
        columns.overrides.insert("teff".into(), "T".into());
        let (values, _) = load(text, &columns).unwrap().lookup("2M1").unwrap();
        assert_eq!(values, vec![5000.0, 0.1, 0.2, 0.3]);
    }

    #[test]
    fn missing_columns_are_clear_errors() {
        let text = "APOGEE_ID,TEFF,FE_H\n2M1,5000,0.3\n";
        let err = load(text, &LabelColumns::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c_1_h") && err.contains("CI_FE") && err.contains("--label"),
            "{err}"
        );
        let mut columns = LabelColumns::default();
        columns.overrides.insert("teff".into(), "NOPE".into());
        let err = load("APOGEE_ID,CI_H,TIII_H,FE_H\n", &columns)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'NOPE'"), "{err}");
        columns.overrides.insert("tef".into(), "TEFF".into());
        let err = load(text, &columns).unwrap_err().to_string();
        assert!(err.contains("no label 'tef'"), "{err}");
    }
}
