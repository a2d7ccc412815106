//! The two catalogs a simulated survey comes with:
//! - `truth.fits`: the exact labels, Cramér–Rao bounds, S/N and distances of every star, for
//!   `astronn report`;
//! - `labels.fits`: what a survey catalog would give, in the allStar layout `astronn train`
//!   reads by default (labels with errors, some missing as −9999; parallaxes with Gaia-like
//!   errors; Ks and E(B−V)), and the quality columns DR19's training selections cut on
//!   (flags, RV scatter, Gaia EDR3 astrometric quality; [`crate::sim::flags`]).

use crate::io::columns::{ColumnData, ColumnKind, ColumnSpec};
use crate::nn::censored::LABELS;
use crate::nn::dropout::MaskStream;
use crate::random::{normal, uniform};
use crate::sim::flags::Quality;
use crate::sim::population::Star;
use crate::sim::spectrum::{FE_H, LOGG, N_LABELS, TEFF};
use crate::train::data::MISSING_LABEL;

/// Everything the catalogs say about one simulated star.
#[derive(Debug, Clone)]
pub struct StarRecord {
    /// Identifier (`sdss4_apogee_id` / `APOGEE_ID`).
    pub id: String,
    /// The apStar file name the star's spectra are (or would be) in.
    pub file: String,
    /// The true star.
    pub star: Star,
    /// Coadd S/N.
    pub snr: f64,
    /// Number of visits.
    pub nvisits: usize,
    /// Cramér–Rao bound of each label at the coadd S/N.
    pub crb: [f64; N_LABELS],
    /// The survey catalog's view of the star.
    pub observed: ObservedCatalog,
    /// The survey catalog's quality columns.
    pub quality: Quality,
}

/// A survey catalog's measurements of a star: labels with errors (NaN = missing), Ks with
/// its error, and a Gaia-like parallax.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedCatalog {
    /// Labels (AstroNN order), NaN where the catalog has none.
    pub labels: [f64; N_LABELS],
    /// Their errors.
    pub errors: [f64; N_LABELS],
    /// Measured Ks.
    pub k_mag: f64,
    /// Parallax (mas), NaN where missing.
    pub parallax: f64,
    /// Parallax error (mas).
    pub parallax_err: f64,
}

/// Error of a survey catalog label and its chance of being missing.
fn catalog_label_quality(label: usize) -> (f64, f64) {
    match label {
        TEFF => (50.0, 0.01),
        LOGG => (0.06, 0.01),
        FE_H => (0.02, 0.01),
        // C I, Na, P, S, K, Ti II, V, Co: weak or few lines.
        3 | 6 | 10 | 11 | 12 | 15 | 16 | 20 => (0.08, 0.12),
        _ => (0.04, 0.04),
    }
}

/// Error of the catalog's Ks magnitudes.
const K_MAG_ERROR: f64 = 0.02;
/// Fraction of stars without a parallax.
const MISSING_PARALLAX: f64 = 0.05;

/// Draws what a survey catalog measures of `star`.
pub fn observe_catalog(rng: &mut MaskStream, star: &Star) -> ObservedCatalog {
    let mut labels = [f64::NAN; N_LABELS];
    let mut errors = [0.0; N_LABELS];
    for label in 0..N_LABELS {
        let (error, missing) = catalog_label_quality(label);
        let noise = normal(rng);
        if uniform(rng) >= missing {
            labels[label] = star.labels[label] + error * noise;
            errors[label] = error;
        }
    }
    let k_mag = star.k_mag + K_MAG_ERROR * normal(rng);
    // Gaia G from Ks with a colour growing towards cool stars; the error grows with G.
    let g_mag = star.k_mag + 2.0 + 0.0008 * (5000.0 - star.labels[TEFF]).max(0.0);
    let parallax_err = 0.02 * 10f64.powf(0.3 * (g_mag - 15.0).max(0.0));
    let noise = normal(rng);
    let parallax = if uniform(rng) < MISSING_PARALLAX {
        f64::NAN
    } else {
        star.parallax_mas() + parallax_err * noise
    };
    ObservedCatalog {
        labels,
        errors,
        k_mag,
        parallax,
        parallax_err,
    }
}

/// allStar's name of the element of an element label (`MG`, `CI`, `TIII`, …).
fn allstar_element(label: &str) -> String {
    match label {
        "c_1_h" => "CI".into(),
        "ti_2_h" => "TIII".into(),
        other => other.trim_end_matches("_h").to_uppercase(),
    }
}

/// Columns of `truth.fits`.
pub fn truth_columns() -> Vec<ColumnSpec> {
    let described = |name: String, kind, unit: &str, description: String| ColumnSpec {
        name,
        kind,
        unit: (!unit.is_empty()).then(|| unit.to_string()),
        description: Some(description),
    };
    let mut columns = vec![
        described(
            "sdss4_apogee_id".into(),
            ColumnKind::Str { width: 24 },
            "",
            "star identifier".into(),
        ),
        described(
            "source_file".into(),
            ColumnKind::Str { width: 40 },
            "",
            "apStar file of the star".into(),
        ),
        described(
            "population".into(),
            ColumnKind::Str { width: 8 },
            "",
            "thin, thick, halo or given".into(),
        ),
        described(
            "giant".into(),
            ColumnKind::Bool,
            "",
            "on the giant branch".into(),
        ),
        described(
            "nvisits".into(),
            ColumnKind::I32,
            "",
            "number of visits".into(),
        ),
        described(
            "snr".into(),
            ColumnKind::F64,
            "",
            "coadd S/N per pixel at the continuum".into(),
        ),
    ];
    for label in LABELS {
        let unit = label_unit(label);
        columns.push(described(
            label.into(),
            ColumnKind::F64,
            unit,
            format!("true {label}"),
        ));
    }
    for label in LABELS {
        let unit = label_unit(label);
        columns.push(described(
            format!("crb_{label}"),
            ColumnKind::F64,
            unit,
            format!("Cramer-Rao bound of {label} at the coadd S/N"),
        ));
    }
    for (name, unit, description) in [
        ("mass", "Msun", "mass"),
        ("m_ks", "mag", "absolute Ks magnitude"),
        ("L_fakemag", "", "Ks pseudo-luminosity 10^(0.2 M_Ks + 2)"),
        ("dist", "pc", "distance"),
        ("parallax", "mas", "true parallax"),
        ("k_mag", "mag", "apparent Ks, extinction included"),
        ("ebv", "mag", "E(B-V)"),
        ("a_k_mag", "mag", "Ks extinction 0.3517 E(B-V)"),
    ] {
        columns.push(described(
            name.into(),
            ColumnKind::F64,
            unit,
            description.into(),
        ));
    }
    columns
}

fn label_unit(label: &str) -> &'static str {
    match label {
        "teff" => "K",
        _ => "dex",
    }
}

/// The truth rows of `records`, in [`truth_columns`] order.
pub fn truth_rows(records: &[StarRecord]) -> Vec<ColumnData> {
    let f64s = |f: &dyn Fn(&StarRecord) -> f64| ColumnData::F64(records.iter().map(f).collect());
    let mut data = vec![
        ColumnData::Str(records.iter().map(|r| r.id.clone()).collect()),
        ColumnData::Str(records.iter().map(|r| r.file.clone()).collect()),
        ColumnData::Str(
            records
                .iter()
                .map(|r| r.star.population.name().to_string())
                .collect(),
        ),
        ColumnData::Bool(records.iter().map(|r| r.star.giant).collect()),
        ColumnData::I32(records.iter().map(|r| r.nvisits as i32).collect()),
        f64s(&|r| r.snr),
    ];
    for k in 0..N_LABELS {
        data.push(f64s(&|r| r.star.labels[k]));
    }
    for k in 0..N_LABELS {
        data.push(f64s(&|r| r.crb[k]));
    }
    data.extend([
        f64s(&|r| r.star.mass),
        f64s(&|r| r.star.abs_k_mag),
        f64s(&|r| r.star.l_fakemag()),
        f64s(&|r| r.star.distance_pc),
        f64s(&|r| r.star.parallax_mas()),
        f64s(&|r| r.star.k_mag),
        f64s(&|r| r.star.ebv),
        f64s(&|r| 0.3517 * r.star.ebv),
    ]);
    data
}

/// Columns of `labels.fits` (allStar names: `TEFF`, `LOGG`, `FE_H`, `<X>_FE` and their
/// `_ERR`, `K`, `SFD_EBV`; the inputs of AstroNNDist training; then the quality columns, with
/// the Gaia EDR3 ones named as a join of `gaia_source` onto allStar would name them).
pub fn label_catalog_columns() -> Vec<ColumnSpec> {
    let mut names = vec!["TEFF".to_string(), "LOGG".into(), "FE_H".into()];
    names.extend(element_labels().map(|(_, label)| format!("{}_FE", allstar_element(label))));
    let mut columns = vec![ColumnSpec::new("APOGEE_ID", ColumnKind::Str { width: 24 })];
    for name in names {
        columns.push(ColumnSpec::new(name.clone(), ColumnKind::F64));
        columns.push(ColumnSpec::new(format!("{name}_ERR"), ColumnKind::F64));
    }
    for name in [
        "K",
        "K_ERR",
        "SFD_EBV",
        "SNR",
        "parallax",
        "parallax_err",
        "k_mag",
        "ebv",
    ] {
        columns.push(ColumnSpec::new(name, ColumnKind::F64));
    }
    for (name, kind) in QUALITY_COLUMNS {
        columns.push(ColumnSpec::new(name, kind));
    }
    columns
}

/// The quality columns of `labels.fits`, after the others.
const QUALITY_COLUMNS: [(&str, ColumnKind); 10] = [
    ("ASPCAPFLAG", ColumnKind::I64),
    ("STARFLAG", ColumnKind::I64),
    ("ANDFLAG", ColumnKind::I64),
    ("VSCATTER", ColumnKind::F64),
    ("NVISITS", ColumnKind::I32),
    ("GAIAEDR3_PARALLAX", ColumnKind::F64),
    ("GAIAEDR3_PARALLAX_ERROR", ColumnKind::F64),
    ("GAIAEDR3_RUWE", ColumnKind::F64),
    ("GAIAEDR3_IPD_FRAC_MULTI_PEAK", ColumnKind::I16),
    ("GAIAEDR3_IPD_GOF_HARMONIC_AMPLITUDE", ColumnKind::F64),
];

/// The element labels (index, name): every label but Teff, log g and [Fe/H].
fn element_labels() -> impl Iterator<Item = (usize, &'static str)> {
    LABELS
        .iter()
        .copied()
        .enumerate()
        .filter(|(k, _)| ![TEFF, LOGG, FE_H].contains(k))
}

/// The label-catalog rows of `records`, in [`label_catalog_columns`] order.
pub fn label_catalog_rows(records: &[StarRecord]) -> Vec<ColumnData> {
    let f64s = |f: &dyn Fn(&StarRecord) -> f64| ColumnData::F64(records.iter().map(f).collect());
    let or_missing = |v: f64| if v.is_nan() { MISSING_LABEL } else { v };
    let mut data = vec![ColumnData::Str(
        records.iter().map(|r| r.id.clone()).collect(),
    )];
    for k in [TEFF, LOGG, FE_H] {
        data.push(f64s(&|r| or_missing(r.observed.labels[k])));
        data.push(f64s(&|r| or_missing_error(r, k)));
    }
    for (k, _) in element_labels() {
        // [X/Fe] needs both the element and [Fe/H] measured.
        data.push(f64s(&|r| {
            or_missing(r.observed.labels[k] - r.observed.labels[FE_H])
        }));
        data.push(f64s(&|r| {
            let o = &r.observed;
            if (o.labels[k] - o.labels[FE_H]).is_nan() {
                MISSING_LABEL
            } else {
                o.errors[k]
            }
        }));
    }
    data.extend([
        f64s(&|r| r.observed.k_mag),
        f64s(&|_| K_MAG_ERROR),
        f64s(&|r| r.star.ebv),
        f64s(&|r| r.snr),
        f64s(&|r| r.observed.parallax),
        f64s(&|r| r.observed.parallax_err),
        f64s(&|r| r.observed.k_mag),
        f64s(&|r| r.star.ebv),
    ]);
    let flags = |f: &dyn Fn(&Quality) -> u64| {
        ColumnData::I64(records.iter().map(|r| f(&r.quality) as i64).collect())
    };
    data.extend([
        flags(&|q| q.aspcapflag),
        flags(&|q| q.starflag),
        flags(&|q| q.andflag),
        f64s(&|r| r.quality.vscatter),
        ColumnData::I32(records.iter().map(|r| r.nvisits as i32).collect()),
        f64s(&|r| r.observed.parallax),
        f64s(&|r| r.observed.parallax_err),
        f64s(&|r| r.quality.ruwe),
        ColumnData::I16(
            records
                .iter()
                .map(|r| r.quality.ipd_frac_multi_peak)
                .collect(),
        ),
        f64s(&|r| r.quality.ipd_gof_harmonic_amplitude),
    ]);
    data
}

fn or_missing_error(record: &StarRecord, label: usize) -> f64 {
    if record.observed.labels[label].is_nan() {
        MISSING_LABEL
    } else {
        record.observed.errors[label]
    }
}
