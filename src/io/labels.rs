//! Label catalogs for training: each star's labels and errors from an allStar-like catalog
//! (FITS or CSV, see [`crate::io::catalog`]), for AstroNN ([`LabelCatalog`]) and for
//! AstroNNDist ([`FakemagCatalog`]); both are [`TrainingLabels`].
//!
//! AstroNN:
//! By default a label is read from the column an APOGEE allStar file would give it:
//! `TEFF`, `LOGG`, `FE_H`, and for an element X the column `X_H` when the catalog has one,
//! else `X_FE + FE_H` (allStar files hold [X/Fe]). `--label name=COLUMN` overrides a
//! label's column. Errors come from `<COLUMN>_ERR` where present (for a derived [X/H],
//! sqrt(X_FE_ERR² + FE_H_ERR²)); an absent or unusable error means "unknown" (0).
//! Values of −9999 or NaN are missing labels, as in astroNN.
//!
//! AstroNNDist: the target is L_fakemag = parallax · 10^(0.2·K0), K0 = k_mag − 0.3517·ebv,
//! with error parallax_err · 10^(0.2·K0) ([`fakemag_label`]), from the columns `parallax`,
//! `parallax_err` (mas), `k_mag` and `ebv` (`--label parallax=GAIAEDR3_PARALLAX` etc.
//! rename them).

use crate::io::catalog::{Catalog, ColumnRequest};
use crate::pipeline::distance::{k_band_extinction, valid_ebv, valid_k_mag};
use crate::train::data::{is_missing, MISSING_LABEL};
use crate::train::dist_model::DIST_LABELS;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A catalog of training labels, by APOGEE identifier.
pub trait TrainingLabels {
    /// The label columns, in the network's output order.
    fn label_names(&self) -> &'static [&'static str];

    /// The labels (NaN where missing) and errors (0 where unknown) of star `id`, or `None`
    /// when the catalog does not list it.
    fn lookup(&self, id: &str) -> Option<(Vec<f64>, Vec<f64>)>;

    /// The underlying catalog.
    fn catalog(&self) -> &Catalog;

    /// What a star needs to have a label, for the message of an empty training set.
    fn label_rule(&self) -> &'static str;
}

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
    labels: &'static [&'static str],
    catalog: Catalog,
    sources: Vec<Source>,
    fe_h: (usize, usize),
}

impl LabelCatalog {
    /// Reads the columns of `labels` (names as the network calls them) from `path`.
    pub fn load(
        path: &Path,
        labels: &'static [&'static str],
        columns: &LabelColumns,
    ) -> Result<Self> {
        check_overrides(columns, labels, ("the network has no label", "labels"))?;
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
            labels,
            catalog,
            sources,
            fe_h: (fe_h, fe_h_error),
        })
    }
}

impl TrainingLabels for LabelCatalog {
    fn label_names(&self) -> &'static [&'static str] {
        self.labels
    }

    fn lookup(&self, id: &str) -> Option<(Vec<f64>, Vec<f64>)> {
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

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn label_rule(&self) -> &'static str {
        "all NaN or -9999"
    }
}

/// Refuses an override of a name that is not in `names`, saying (`problem` 'name' (`what`:
/// names)).
fn check_overrides(
    columns: &LabelColumns,
    names: &[&str],
    (problem, what): (&str, &str),
) -> Result<()> {
    for name in columns.overrides.keys() {
        if !names.contains(&name.as_str()) {
            return Err(Error::Invalid(format!(
                "--label {name}=…: {problem} '{name}' ({what}: {})",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// The catalog quantities AstroNNDist's target is made of, with their default columns.
pub const FAKEMAG_INPUTS: [&str; 4] = ["parallax", "parallax_err", "k_mag", "ebv"];

/// AstroNNDist's training target from a star's Gaia parallax and 2MASS photometry:
/// `(L_fakemag, error)` = (parallax, parallax_err) · 10^(0.2·K0) with K0 = k_mag − A_Ks,
/// A_Ks = 0.3517 · ebv (SPEC §5; parallaxes in mas). Photometry is judged as in
/// [`crate::pipeline::distance`]: a missing E(B−V) counts as 0; without a valid Ks
/// magnitude, or with a non-finite parallax or error (or astroNN's −9999 and allStar's
/// −9999.99 sentinels), there is no target (`None`). Negative parallaxes are kept: training
/// in parallax space is what makes faint, distant stars usable. A zero or negative error
/// is kept as given (the training set treats it as unknown).
pub fn fakemag_label(parallax: f64, parallax_err: f64, k_mag: f64, ebv: f64) -> Option<(f64, f64)> {
    // Anything at or below astroNN's magic number is a sentinel, not a parallax.
    let usable = |v: f64| v.is_finite() && v > MISSING_LABEL;
    if !(usable(parallax) && usable(parallax_err)) {
        return None;
    }
    let k_mag = valid_k_mag(k_mag)?;
    let a_k = valid_ebv(ebv).map_or(0.0, k_band_extinction);
    let scale = 10f64.powf(0.2 * (k_mag - a_k));
    Some((parallax * scale, parallax_err * scale))
}

/// A catalog's AstroNNDist targets: L_fakemag and its error per star ([`fakemag_label`]).
#[derive(Debug, Clone)]
pub struct FakemagCatalog {
    catalog: Catalog,
}

impl FakemagCatalog {
    /// Reads the parallax, parallax error, Ks magnitude and E(B−V) columns of `path`:
    /// by default `parallax`, `parallax_err`, `k_mag` and `ebv` (ignoring case); an override
    /// `parallax=GAIAEDR3_PARALLAX` in `columns` renames one. All four must exist.
    pub fn load(path: &Path, columns: &LabelColumns) -> Result<Self> {
        let problem = ("AstroNNDist's target has no input", "inputs");
        check_overrides(columns, &FAKEMAG_INPUTS, problem)?;
        let names: Vec<String> = FAKEMAG_INPUTS
            .iter()
            .map(|&name| {
                columns
                    .overrides
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| name.to_string())
            })
            .collect();
        let roles = ["parallax", "parallax error", "Ks magnitude", "E(B-V)"];
        let requests: Vec<ColumnRequest> = roles
            .iter()
            .zip(&names)
            .map(|(role, name)| ColumnRequest {
                role,
                name,
                required: true,
            })
            .collect();
        let catalog = Catalog::load(path, "label catalog", &columns.id, &requests)?;
        Ok(FakemagCatalog { catalog })
    }
}

impl TrainingLabels for FakemagCatalog {
    fn label_names(&self) -> &'static [&'static str] {
        &DIST_LABELS
    }

    /// `[L_fakemag]` and `[error]`, NaN and 0 when the star has no target.
    fn lookup(&self, id: &str) -> Option<(Vec<f64>, Vec<f64>)> {
        let row = self.catalog.row_of(id)?;
        let at = |column: usize| self.catalog.column(column)[row];
        let (value, error) = fakemag_label(at(0), at(1), at(2), at(3)).unwrap_or((f64::NAN, 0.0));
        Some((vec![value], vec![error]))
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn label_rule(&self) -> &'static str {
        "a finite parallax and parallax error and a valid Ks magnitude are needed"
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

#[cfg(test)]
mod fakemag_tests {
    use super::*;

    fn load(text: &str, columns: &LabelColumns) -> Result<FakemagCatalog> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parallaxes.csv");
        std::fs::write(&path, text).unwrap();
        FakemagCatalog::load(&path, columns)
    }

    #[test]
    fn fakemag_is_the_parallax_scaled_by_the_dereddened_ks_flux() {
        // K0 = 10 − 0.3517·0.5; L = ϖ · 10^(0.2·K0).
        let scale = 10f64.powf(0.2 * (10.0 - 0.3517 * 0.5));
        let (l, e) = fakemag_label(0.8, 0.05, 10.0, 0.5).unwrap();
        assert!((l - 0.8 * scale).abs() < 1e-12 * l);
        assert!((e - 0.05 * scale).abs() < 1e-12 * e);
        // 1 mas at K0 = 10 is L_fakemag = 100 (M_Ks = 0).
        assert!((fakemag_label(1.0, 0.1, 10.0, f64::NAN).unwrap().0 - 100.0).abs() < 1e-9);
        // Negative parallaxes are kept.
        let (l, e) = fakemag_label(-0.3, 0.2, 12.0, 0.0).unwrap();
        assert!(l < 0.0 && e > 0.0);
        // Missing E(B−V) (NaN, ≤ 0, ≥ 98) counts as no extinction.
        let plain = fakemag_label(0.5, 0.1, 11.0, 0.0).unwrap();
        for ebv in [f64::NAN, -1.0, 99.0] {
            assert_eq!(fakemag_label(0.5, 0.1, 11.0, ebv).unwrap(), plain);
        }
        // No target without a valid Ks magnitude, parallax or error.
        for k in [f64::NAN, 99.999, -9999.0] {
            assert!(fakemag_label(0.5, 0.1, k, 0.1).is_none());
        }
        for (p, e) in [
            (f64::NAN, 0.1),
            (0.5, f64::INFINITY),
            (-9999.0, 0.1),
            (-9999.99, 0.1),
        ] {
            assert!(fakemag_label(p, e, 11.0, 0.1).is_none(), "{p} {e}");
        }
    }

    #[test]
    fn catalog_columns_default_and_override() {
        let text = "APOGEE_ID,Parallax,PARALLAX_ERR,k_mag,EBV\n\
                    2M1,0.5,0.02,10,0.1\n\
                    2M2,-0.1,0.05,99.999,0.1\n\
                    2M3,-0.2,0.05,12,\n";
        let catalog = load(text, &LabelColumns::default()).unwrap();
        assert_eq!(catalog.label_names(), &["L_fakemag"]);
        let (v, e) = catalog.lookup("2M1").unwrap();
        assert_eq!((v, e), {
            let (l, e) = fakemag_label(0.5, 0.02, 10.0, 0.1).unwrap();
            (vec![l], vec![e])
        });
        let (v, e) = catalog.lookup("2M2").unwrap();
        assert!(v[0].is_nan() && e[0] == 0.0, "invalid Ks: no target");
        let (v, _) = catalog.lookup("2M3").unwrap();
        assert!((v[0] - fakemag_label(-0.2, 0.05, 12.0, 0.0).unwrap().0).abs() < 1e-12);
        assert!(catalog.lookup("2M4").is_none());

        let text = "ID,GAIAEDR3_PARALLAX,GAIAEDR3_PARALLAX_ERROR,K,SFD_EBV\n2M1,1,0.1,10,0\n";
        let mut columns = LabelColumns {
            id: "ID".into(),
            ..LabelColumns::default()
        };
        for (name, column) in [
            ("parallax", "GAIAEDR3_PARALLAX"),
            ("parallax_err", "GAIAEDR3_PARALLAX_ERROR"),
            ("k_mag", "K"),
            ("ebv", "SFD_EBV"),
        ] {
            columns.overrides.insert(name.into(), column.into());
        }
        let (v, _) = load(text, &columns).unwrap().lookup("2M1").unwrap();
        assert!((v[0] - 100.0).abs() < 1e-9);
    }

    #[test]
    fn missing_columns_and_unknown_names_are_clear_errors() {
        let err = load("APOGEE_ID,parallax,k_mag,ebv\n", &LabelColumns::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("parallax error column 'parallax_err'"),
            "{err}"
        );
        let mut columns = LabelColumns::default();
        columns.overrides.insert("teff".into(), "TEFF".into());
        let err = load("APOGEE_ID\n", &columns).unwrap_err().to_string();
        assert!(
            err.contains("'teff'") && err.contains("parallax_err"),
            "{err}"
        );
    }
}
