//! The AstroNNDist part of a run: L_fakemag of one star, its photometry, distance, Gaia
//! parallax, weighted distance and flags, and the rows of `astraAllStarAstroNNdist`.

use crate::io::fields::{Fields, Value};
use crate::io::normalized::SpectrumMeta;
use crate::nn::dist::DistBcnn;
use crate::nn::mc::RawLabels;
use crate::pipeline::distance::DistanceResult;
use crate::pipeline::gaia::{
    gaia_parallax, weighted_distance, GaiaParallax, WeightedDistance, ZeroPointInputs,
};
use crate::pipeline::noise::{Correction, NoiseModel};
use crate::pipeline::timing::Timing;
use crate::products::writer::{ProductRow, ProductWriter};
use crate::Result;

/// The distance network of a run with its error recalibration: turns network output into
/// rows.
pub struct DistPredictor {
    net: DistBcnn,
    correction: Option<Correction>,
}

/// The noise-model label of AstroNNDist's output.
pub const DIST_NOISE_LABEL: &str = "L_fakemag";

/// The AstroNNDist part of a run: the predictor and its table.
pub struct DistJob {
    /// Network and error recalibration.
    pub predictor: DistPredictor,
    /// Coadded spectra (`astraAllStarAstroNNdist`).
    pub table: ProductWriter,
}

/// One AstroNNDist table row.
#[derive(Debug, Clone)]
pub struct DistRow {
    pub meta: SpectrumMeta,
    pub result: DistanceResult,
    pub gaia: GaiaParallax,
    pub weighted: WeightedDistance,
    pub timing: Timing,
}

/// The zero-point inputs of a star, if its Gaia astrometry row is known
/// (`astrometric_params_solved` present). They are fields named as Gaia names its columns
/// (from `--gaia`, or a Source catalog holding them); `phot_g_mean_mag` falls back on the
/// Source's `g_mag`, the same quantity.
fn zero_point_inputs(fields: &Fields) -> Option<ZeroPointInputs> {
    let solved = fields.i64("astrometric_params_solved")?;
    let g = match fields.f64("phot_g_mean_mag") {
        g if g.is_nan() => fields.f64("g_mag"),
        g => g,
    };
    Some(ZeroPointInputs {
        phot_g_mean_mag: g,
        nu_eff_used_in_astrometry: fields.f64("nu_eff_used_in_astrometry"),
        pseudocolour: fields.f64("pseudocolour"),
        ecl_lat: fields.f64("ecl_lat"),
        astrometric_params_solved: solved,
    })
}

impl DistPredictor {
    /// A predictor for `net`; the noise model's `L_fakemag` entry, if any, recalibrates
    /// L_fakemag_err (and so the distance and parallax errors).
    pub fn new(net: DistBcnn, noise_model: Option<&NoiseModel>) -> Self {
        DistPredictor {
            net,
            correction: noise_model.and_then(|model| model.correction(DIST_NOISE_LABEL)),
        }
    }

    /// The network.
    pub fn network(&self) -> &DistBcnn {
        &self.net
    }

    /// A row from the network's raw L_fakemag and errors; photometry and Gaia astrometry come
    /// from the spectrum's fields (`k_mag`, `ebv`, `plx`, `e_plx`, the zero-point inputs).
    pub fn row(&self, meta: SpectrumMeta, raw: &RawLabels, timing: Timing) -> DistRow {
        let f = &meta.fields;
        let result = DistanceResult::new(
            raw.values[0],
            raw.errors[0],
            raw.model_errors[0],
            f.f64("k_mag"),
            f.f64("ebv"),
        );
        let result = match &self.correction {
            Some(correction) => result.with_error(correction.apply(raw.errors[0])),
            None => result,
        };
        dist_row(meta, result, timing)
    }

    /// The row of a star without a network result (its Gaia parallax still reported).
    pub fn no_result(&self, meta: SpectrumMeta, timing: Timing) -> DistRow {
        let result = DistanceResult::no_result(meta.fields.f64("k_mag"), meta.fields.f64("ebv"));
        dist_row(meta, result, timing)
    }
}

/// A row: the network's result with the star's Gaia parallax and their combination.
fn dist_row(meta: SpectrumMeta, result: DistanceResult, timing: Timing) -> DistRow {
    let f = &meta.fields;
    let gaia = gaia_parallax(f.f64("plx"), f.f64("e_plx"), zero_point_inputs(f).as_ref());
    let weighted = weighted_distance(
        result.parallax,
        result.parallax_model_err,
        gaia.parallax_w_zp,
        gaia.parallax_err,
    );
    DistRow {
        meta,
        result,
        gaia,
        weighted,
        timing,
    }
}

impl DistRow {
    /// The pipeline's columns of this row.
    pub fn results(&self) -> Fields {
        let r = &self.result;
        let mut fields = Fields::new();
        let network = [
            ("L_fakemag", r.l_fakemag),
            ("L_fakemag_err", r.l_fakemag_err),
            ("L_fakemag_model_err", r.l_fakemag_model_err),
        ];
        for (name, value) in r.distance_columns().into_iter().chain(network).chain([
            ("gdr3_parallax_w_zp", self.gaia.parallax_w_zp),
            ("gdr3_parallax_err", self.gaia.parallax_err),
            ("gdr3_zeropoint", self.gaia.zero_point),
            ("weighted_parallax", self.weighted.parallax),
            ("weighted_parallax_err", self.weighted.parallax_err),
            ("weighted_dist", self.weighted.dist),
            ("weighted_dist_err", self.weighted.dist_err),
            ("raw_L_fakemag", r.l_fakemag),
            ("raw_e_L_fakemag", r.raw_l_fakemag_err),
        ]) {
            fields.set_f64(name, value);
        }
        fields.set("result_flags", Value::Int(i64::from(r.flags)));
        fields.set("flag_warn", Value::Bool(r.flag_warn()));
        fields.set("flag_bad", Value::Bool(r.flag_bad()));
        self.timing.set_fields(&mut fields);
        fields
    }
}

impl DistJob {
    /// Appends rows to the table.
    pub fn write(&mut self, rows: &[DistRow]) -> Result<()> {
        let results: Vec<Fields> = rows.iter().map(DistRow::results).collect();
        let rows: Vec<ProductRow> = rows
            .iter()
            .zip(&results)
            .map(|(r, results)| ProductRow {
                meta: &r.meta,
                results,
            })
            .collect();
        self.table.append(&rows)
    }
}
