//! Catalogs that replace what the apStar header says about a star: a DR19 Source catalog
//! (`--sources`), Gaia DR3 astrometry (`--gaia`) and photometry (`--photometry`).
//!
//! They apply in that order, after the header, each replacing the fields it holds for the
//! stars it lists; a star a catalog does not list keeps what it had. The Gaia catalog is
//! joined on the `gaia_dr3_source_id` the Source catalog gave (or on another shared column).

use crate::io::columns::ColumnKind;
use crate::io::fields::Value;
use crate::io::normalized::SpectrumMeta;
use crate::io::photometry::PhotometryCatalog;
use crate::io::star_catalog::{CatalogColumn, StarCatalog};
use crate::products::dr19_columns::SOURCE;
use crate::Result;
use std::path::Path;

/// A catalog and the field of the spectra its identifier column is matched against.
#[derive(Debug, Clone)]
pub struct JoinedCatalog {
    /// The catalog.
    pub catalog: StarCatalog,
    /// The spectra's field holding the identifier.
    pub key: String,
}

impl JoinedCatalog {
    /// The catalog's fields for `meta`'s star, if it lists it.
    fn lookup(&self, meta: &SpectrumMeta) -> Option<crate::io::fields::Fields> {
        let key = meta.fields.get(&self.key)?.as_text()?;
        if key.is_empty() {
            return None;
        }
        self.catalog.lookup(&key)
    }
}

/// Gaia DR3 columns read from `--gaia` (Gaia's names) and the fields they fill.
const GAIA_COLUMNS: [(&str, &str, ColumnKind); 12] = [
    ("parallax", "plx", ColumnKind::F32),
    ("parallax_error", "e_plx", ColumnKind::F32),
    ("pmra", "pmra", ColumnKind::F32),
    ("pmra_error", "e_pmra", ColumnKind::F32),
    ("pmdec", "pmde", ColumnKind::F32),
    ("pmdec_error", "e_pmde", ColumnKind::F32),
    ("ra", "ra", ColumnKind::F64),
    ("dec", "dec", ColumnKind::F64),
    ("phot_g_mean_mag", "phot_g_mean_mag", ColumnKind::F64),
    (
        "nu_eff_used_in_astrometry",
        "nu_eff_used_in_astrometry",
        ColumnKind::F64,
    ),
    ("pseudocolour", "pseudocolour", ColumnKind::F64),
    ("ecl_lat", "ecl_lat", ColumnKind::F64),
];

/// Gaia's solution type, an integer.
const SOLVED: (&str, &str, ColumnKind) = (
    "astrometric_params_solved",
    "astrometric_params_solved",
    ColumnKind::I64,
);

/// The catalog column for one of [`GAIA_COLUMNS`].
fn gaia_column(&(name, field, kind): &(&str, &str, ColumnKind)) -> CatalogColumn {
    CatalogColumn {
        name: name.to_string(),
        field: field.to_string(),
        kind,
    }
}

/// The catalogs of a run.
#[derive(Debug, Clone, Default)]
pub struct StarCatalogs {
    /// DR19 Source columns.
    pub sources: Option<JoinedCatalog>,
    /// Gaia DR3 astrometry and the zero-point inputs.
    pub gaia: Option<JoinedCatalog>,
    /// Ks magnitude and E(B−V).
    pub photometry: Option<PhotometryCatalog>,
}

/// What applying the catalogs to one spectrum found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// A Source catalog was given but does not list the star.
    pub missing_source: bool,
}

impl StarCatalogs {
    /// Reads a Source catalog (DR19's `mwmAllStar`, or any table with DR19 Source column
    /// names) joined on `id_column`, matched against the spectra's field of that name
    /// (`sdss4_apogee_id` by default; `sdss_id` works when both sides have it). Every DR19
    /// Source column it has is copied, and Gaia's zero-point inputs under Gaia's names.
    pub fn load_sources(path: &Path, id_column: &str) -> Result<JoinedCatalog> {
        let mut wanted: Vec<CatalogColumn> = SOURCE
            .iter()
            .map(|c| CatalogColumn {
                name: c.name.to_string(),
                field: c.name.to_string(),
                kind: c.storage(),
            })
            .collect();
        wanted.extend(GAIA_COLUMNS[8..].iter().chain([&SOLVED]).map(gaia_column));
        Ok(JoinedCatalog {
            catalog: StarCatalog::load(path, "sources catalog", id_column, &wanted)?,
            key: id_column.trim().to_ascii_lowercase(),
        })
    }

    /// Reads a Gaia DR3 catalog with Gaia's own column names (`parallax`, `parallax_error`,
    /// `phot_g_mean_mag`, `nu_eff_used_in_astrometry`, `pseudocolour`, `ecl_lat`,
    /// `astrometric_params_solved`, …) joined on `id_column`: Gaia's `source_id` is matched
    /// against the spectra's `gaia_dr3_source_id`, any other name against the field of that
    /// name.
    pub fn load_gaia(path: &Path, id_column: &str) -> Result<JoinedCatalog> {
        let wanted: Vec<CatalogColumn> = GAIA_COLUMNS
            .iter()
            .chain([&SOLVED])
            .map(gaia_column)
            .collect();
        let id = id_column.trim().to_ascii_lowercase();
        let key = if id == "source_id" {
            "gaia_dr3_source_id".to_string()
        } else {
            id
        };
        Ok(JoinedCatalog {
            catalog: StarCatalog::load(path, "Gaia catalog", id_column, &wanted)?,
            key,
        })
    }

    /// Replaces `meta`'s fields with what the catalogs say about its star.
    pub fn apply(&self, meta: &mut SpectrumMeta) -> Applied {
        let mut applied = Applied {
            missing_source: false,
        };
        if let Some(sources) = &self.sources {
            match sources.lookup(meta) {
                Some(fields) => meta.fields.extend_from(&fields),
                None => applied.missing_source = true,
            }
        }
        if let Some(fields) = self.gaia.as_ref().and_then(|gaia| gaia.lookup(meta)) {
            meta.fields.extend_from(&fields);
        }
        if let Some(p) = self
            .photometry
            .as_ref()
            .and_then(|catalog| catalog.lookup(&meta.apogee_id()))
        {
            meta.fields.set("k_mag", Value::Float(p.k_mag));
            meta.fields.set("ebv", Value::Float(p.ebv));
        }
        applied
    }
}
