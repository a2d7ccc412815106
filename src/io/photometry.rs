//! Photometry catalogs (`--photometry CAT`): each star's 2MASS Ks magnitude and SFD E(B−V)
//! by APOGEE identifier, for AstroNNDist's distances.
//!
//! A [`Catalog`] (FITS or CSV) with three columns, found by name ignoring case: the
//! identifier (`sdss4_apogee_id` by default), the Ks magnitude (`k_mag`) and the reddening
//! (`ebv`); [`PhotometryColumns`] renames them, e.g. `APOGEE_ID`, `K` and `SFD_EBV` for an
//! allStar file. Values are kept as stored, sentinels included: AstroNNDist's rules
//! ([`crate::pipeline::distance`]) judge them.

use crate::io::catalog::{Catalog, ColumnRequest};
use crate::Result;
use std::path::Path;

/// Names of the catalog columns to use (compared ignoring case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotometryColumns {
    /// The APOGEE identifier (matched against `sdss4_apogee_id` of the spectra).
    pub id: String,
    /// The 2MASS Ks magnitude.
    pub k_mag: String,
    /// The SFD reddening E(B−V).
    pub ebv: String,
}

impl Default for PhotometryColumns {
    /// Astra's names: `sdss4_apogee_id`, `k_mag`, `ebv`.
    fn default() -> Self {
        PhotometryColumns {
            id: "sdss4_apogee_id".into(),
            k_mag: "k_mag".into(),
            ebv: "ebv".into(),
        }
    }
}

/// One star's photometry as stored in the catalog (invalid values included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Photometry {
    /// 2MASS Ks magnitude.
    pub k_mag: f64,
    /// SFD E(B−V).
    pub ebv: f64,
}

/// A photometry catalog, indexed by APOGEE identifier.
#[derive(Debug, Clone)]
pub struct PhotometryCatalog {
    catalog: Catalog,
}

impl PhotometryCatalog {
    /// Reads a catalog (FITS or CSV, see [`crate::io::catalog`]). Errors name the file, and
    /// for a missing column list the columns the file has.
    pub fn load(path: &Path, columns: &PhotometryColumns) -> Result<Self> {
        let requests = [
            ColumnRequest {
                role: "Ks magnitude",
                name: &columns.k_mag,
                required: true,
            },
            ColumnRequest {
                role: "E(B-V)",
                name: &columns.ebv,
                required: true,
            },
        ];
        let catalog = Catalog::load(path, "photometry catalog", &columns.id, &requests)?;
        Ok(PhotometryCatalog { catalog })
    }

    /// The photometry of the star `apogee_id` (blanks around it ignored), or `None` when the
    /// catalog does not hold it.
    pub fn lookup(&self, apogee_id: &str) -> Option<Photometry> {
        self.catalog.row_of(apogee_id).map(|row| Photometry {
            k_mag: self.catalog.column(0)[row],
            ebv: self.catalog.column(1)[row],
        })
    }

    /// The underlying catalog (file, identifiers, row counts).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}
