//! The AstroNNDist part of a run: L_fakemag of one star, its photometry, distance and flags,
//! and the rows of `astraAllStarAstroNNDist`.

use crate::io::normalized::SpectrumMeta;
use crate::io::photometry::{Photometry, PhotometryCatalog};
use crate::io::table::{AstraTableWriter, ColumnData, ColumnKind, ColumnSpec};
use crate::nn::dist::DistBcnn;
use crate::nn::mc::RawLabels;
use crate::pipeline::columns::{flag_columns, identity_columns, identity_data};
use crate::pipeline::distance::DistanceResult;
use crate::pipeline::noise::{Correction, NoiseModel};
use crate::Result;

/// The distance network of a run with its photometry and error recalibration: turns
/// network output into rows.
pub struct DistPredictor {
    net: DistBcnn,
    photometry: Option<PhotometryCatalog>,
    correction: Option<Correction>,
}

/// The noise-model label of AstroNNDist's output.
pub const DIST_NOISE_LABEL: &str = "L_fakemag";

/// The AstroNNDist part of a run: the predictor and its table.
pub struct DistJob {
    /// Network and photometry.
    pub predictor: DistPredictor,
    /// Coadded spectra (`astraAllStarAstroNNDist`).
    pub table: AstraTableWriter,
}

/// One AstroNNDist table row.
#[derive(Debug, Clone)]
pub struct DistRow {
    pub meta: SpectrumMeta,
    pub result: DistanceResult,
    pub t_elapsed: f64,
}

impl DistPredictor {
    /// A predictor for `net`; photometry comes from `photometry` where the star is in it,
    /// else from the apStar header; the noise model's `L_fakemag` entry, if any,
    /// recalibrates L_fakemag_err (and so dist_err and parallax_err).
    pub fn new(
        net: DistBcnn,
        photometry: Option<PhotometryCatalog>,
        noise_model: Option<&NoiseModel>,
    ) -> Self {
        DistPredictor {
            net,
            photometry,
            correction: noise_model.and_then(|model| model.correction(DIST_NOISE_LABEL)),
        }
    }

    /// The network.
    pub fn network(&self) -> &DistBcnn {
        &self.net
    }

    /// The star's Ks magnitude and E(B−V): the catalog's when it lists the star, else the
    /// header's (`K`, `SFD_EBV`).
    pub fn photometry(&self, meta: &SpectrumMeta) -> Photometry {
        self.photometry
            .as_ref()
            .and_then(|catalog| catalog.lookup(&meta.apogee_id))
            .unwrap_or(Photometry {
                k_mag: meta.k_mag,
                ebv: meta.sfd_ebv,
            })
    }

    /// A row from the network's raw L_fakemag and error.
    pub fn row(&self, meta: SpectrumMeta, raw: &RawLabels, t_elapsed: f64) -> DistRow {
        let p = self.photometry(&meta);
        let result = DistanceResult::new(raw.values[0], raw.errors[0], p.k_mag, p.ebv);
        DistRow {
            result: match &self.correction {
                Some(correction) => result.with_error(correction.apply(raw.errors[0])),
                None => result,
            },
            meta,
            t_elapsed,
        }
    }

    /// The row of a star without a network result.
    pub fn no_result(&self, meta: SpectrumMeta, t_elapsed: f64) -> DistRow {
        let p = self.photometry(&meta);
        DistRow {
            result: DistanceResult::no_result(p.k_mag, p.ebv),
            meta,
            t_elapsed,
        }
    }
}

impl DistJob {
    /// Appends rows to the table.
    pub fn write(&mut self, rows: &[DistRow]) -> Result<()> {
        self.table.append(&dist_data(rows))
    }
}

/// Result columns after the identity: name, unit, description.
const RESULT_COLUMNS: [(&str, &str, &str); 11] = [
    ("k_mag", "mag", "2MASS Ks magnitude used"),
    ("ebv", "mag", "E(B-V) used"),
    ("a_k_mag", "mag", "Ks-band extinction applied"),
    (
        "L_fakemag",
        "",
        "Ks-band pseudo-luminosity 10^(0.2 M_Ks + 2)",
    ),
    (
        "L_fakemag_err",
        "",
        "Uncertainty of L_fakemag (after the noise model)",
    ),
    (
        "raw_L_fakemag",
        "",
        "L_fakemag from the network (the same value)",
    ),
    (
        "raw_e_L_fakemag",
        "",
        "Uncertainty of L_fakemag from the network",
    ),
    ("dist", "pc", "Distance"),
    ("dist_err", "pc", "Distance uncertainty"),
    ("parallax", "mas", "Spectrophotometric parallax"),
    ("parallax_err", "mas", "Parallax uncertainty"),
];

/// Columns of the AstroNNDist table.
pub fn dist_columns() -> Vec<ColumnSpec> {
    let mut columns = identity_columns(false);
    columns.extend(
        RESULT_COLUMNS
            .iter()
            .map(|(name, unit, description)| ColumnSpec {
                unit: (!unit.is_empty()).then(|| unit.to_string()),
                description: Some(description.to_string()),
                ..ColumnSpec::new(*name, ColumnKind::F64)
            }),
    );
    columns.extend(flag_columns());
    columns
}

/// Column data of AstroNNDist rows, matching [`dist_columns`].
fn dist_data(rows: &[DistRow]) -> Vec<ColumnData> {
    let mut data = identity_data(rows.iter().map(|r| &r.meta), false);
    let values: [fn(&DistanceResult) -> f64; 11] = [
        |r| r.k_mag,
        |r| r.ebv,
        |r| r.a_k_mag,
        |r| r.l_fakemag,
        |r| r.l_fakemag_err,
        |r| r.l_fakemag,
        |r| r.raw_l_fakemag_err,
        |r| r.dist,
        |r| r.dist_err,
        |r| r.parallax,
        |r| r.parallax_err,
    ];
    for value in values {
        data.push(ColumnData::F64(
            rows.iter().map(|r| value(&r.result)).collect(),
        ));
    }
    data.push(ColumnData::I32(
        rows.iter().map(|r| r.result.flags as i32).collect(),
    ));
    data.push(ColumnData::Bool(
        rows.iter().map(|r| r.result.flag_warn()).collect(),
    ));
    data.push(ColumnData::Bool(
        rows.iter().map(|r| r.result.flag_bad()).collect(),
    ));
    data.push(ColumnData::F64(rows.iter().map(|r| r.t_elapsed).collect()));
    data
}
