//! Stars given by the user (`simulate --labels FILE`): their labels, and optionally how they
//! are observed and where they are, read from a catalog.

use crate::io::catalog::{Catalog, ColumnRequest};
use crate::nn::censored::LABELS;
use crate::nn::dropout::MaskStream;
use crate::sim::population::{absolute_k_mag, dwarf_mass, place, Population, Star};
use crate::sim::spectrum::{LOGG, N_LABELS, TEFF};
use crate::sim::survey::GivenStar;
use crate::{Error, Result};
use std::path::Path;

/// Identifier column of a `--labels` catalog.
pub const ID_COLUMN: &str = "sdss4_apogee_id";
/// S/N of a star whose catalog gives none.
pub const DEFAULT_SNR: f64 = 100.0;
/// log g below which a given star counts as a giant (for its default mass).
const GIANT_LOGG: f64 = 3.8;
/// Mass of a given giant whose catalog gives none.
const DEFAULT_GIANT_MASS: f64 = 1.2;

/// Optional columns of a `--labels` catalog, after the 22 labels.
const OPTIONAL: [&str; 5] = ["snr", "nvisits", "mass", "dist", "ebv"];

/// Reads the stars of a `--labels` catalog (FITS or CSV): the 22 labels are required, `snr`
/// (default 100), `nvisits` (default 1), `mass`, `dist` (pc) and `ebv` are optional (a
/// missing distance and extinction are drawn as for the survey, from `rng`).
pub fn load_given_stars(path: &Path, rng: &mut MaskStream) -> Result<Vec<GivenStar>> {
    let mut requests: Vec<ColumnRequest> = LABELS
        .iter()
        .map(|name| ColumnRequest {
            role: name,
            name,
            required: true,
        })
        .collect();
    requests.extend(OPTIONAL.iter().map(|name| ColumnRequest {
        role: name,
        name,
        required: false,
    }));
    let catalog = Catalog::load(path, "label file", ID_COLUMN, &requests)?;
    (0..catalog.len())
        .map(|row| given_star(&catalog, row, rng))
        .collect()
}

fn given_star(catalog: &Catalog, row: usize, rng: &mut MaskStream) -> Result<GivenStar> {
    let id = catalog.ids()[row].clone();
    let value = |column: usize| catalog.column(column)[row];
    let mut labels = [0.0; N_LABELS];
    for (k, label) in labels.iter_mut().enumerate() {
        *label = value(k);
        if !label.is_finite() {
            return Err(Error::file(
                catalog.path(),
                format!("star '{id}': {} is not a number", LABELS[k]),
            ));
        }
    }
    // In the order of OPTIONAL; None where the catalog has no finite value.
    let [snr, nvisits, mass, dist, ebv]: [Option<f64>; OPTIONAL.len()] =
        std::array::from_fn(|i| Some(value(N_LABELS + i)).filter(|v| v.is_finite()));
    let snr = snr.unwrap_or(DEFAULT_SNR);
    let visits = nvisits.map_or(1, |v| v.round().max(1.0) as usize);
    if snr <= 0.0 {
        return Err(Error::file(
            catalog.path(),
            format!("star '{id}': snr must be positive"),
        ));
    }
    let giant = labels[LOGG] < GIANT_LOGG;
    let mass = mass.unwrap_or(if giant {
        DEFAULT_GIANT_MASS
    } else {
        dwarf_mass(labels[TEFF])
    });
    let (drawn_distance, drawn_ebv) = place(rng, absolute_k_mag(labels[TEFF], labels[LOGG], mass));
    let distance_pc = dist.unwrap_or(drawn_distance);
    let ebv = ebv.unwrap_or(drawn_ebv);
    Ok(GivenStar {
        id,
        star: Star::new(labels, Population::Given, giant, mass, distance_pc, ebv),
        snr,
        visits,
    })
}
