//! A model ready to predict: its network and noise model, applied to arrays of spectra held
//! in memory (raw apStar pixels, normalized inside, or normalized spectra). The Python
//! face's `Model` is this; file runs ([`crate::pipeline::run`]) use the same network code.

use crate::apogee::continuum::normalize;
use crate::apogee::grid::{APSTAR_PIXELS, NETWORK_PIXELS};
use crate::io::columns::ColumnData;
use crate::io::fields::{Fields, Value};
use crate::io::model_file::{ModelFile, ModelKind};
use crate::io::normalized::SpectrumMeta;
use crate::models::{dist_network, resolve_noise_model, ModelSpec};
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::pipeline::astronn::{AstroNNPredictor, LabelsNetwork};
use crate::pipeline::dist::DistPredictor;
use crate::pipeline::noise::NoiseModel;
use crate::pipeline::predict::{predict_spectra, JobNetwork, PredictOptions, PredictorRef, Row};
use crate::pipeline::prepare::Prepared;
use crate::products::generic::{DISTANCE_COLUMNS, FAKEMAG};
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::Path;

/// The network of a predictor, with its noise model.
pub enum Network {
    /// Labels: AstroNN's (Teff, log g, abundances) or any other astroNN network's.
    Labels(AstroNNPredictor),
    /// L_fakemag and distances.
    Dist(DistPredictor),
}

/// A model with its network built and its noise model chosen.
pub struct Predictor {
    model: ModelFile,
    network: Network,
    noise_model: String,
    arithmetic: Arithmetic,
}

/// The name under which spectra given as arrays appear in warnings; with the row number it
/// also keys their dropout streams.
pub const ARRAY_SOURCE: &str = "array";

/// Results of spectra given as arrays: one value per spectrum in each column.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// `(name, values)` in table order: for AstroNN each label, `e_`, `raw_` and `raw_e_`
    /// column and the MC and predictive parts of `raw_e_` (`e_<label>_model`,
    /// `e_<label>_predictive`), then `result_flags`, `flag_warn`, `flag_bad`; for AstroNNDist the columns of
    /// `astraAllStarAstroNNdist` that the network and the given photometry determine.
    pub columns: Vec<(String, ColumnData)>,
    /// One line for each spectrum without a result (it is a NO_RESULT row), naming its row.
    pub warnings: Vec<String>,
}

/// Columns of an AstroNNDist result (as [`crate::pipeline::dist::DistRow::results`] names
/// them), in the order of the DR19 table.
const DIST_COLUMNS: [&str; 19] = [
    "a_k_mag",
    "L_fakemag",
    "L_fakemag_err",
    "L_fakemag_model_err",
    "nn_dist",
    "nn_dist_err",
    "nn_dist_model_err",
    "nn_parallax",
    "nn_parallax_err",
    "nn_parallax_model_err",
    "gdr3_parallax_w_zp",
    "gdr3_parallax_err",
    "gdr3_zeropoint",
    "weighted_parallax",
    "weighted_parallax_err",
    "weighted_dist",
    "weighted_dist_err",
    "raw_L_fakemag",
    "raw_e_L_fakemag",
];

/// The flag columns every result ends with.
const FLAG_COLUMNS: [&str; 3] = ["result_flags", "flag_warn", "flag_bad"];

impl Predictor {
    /// Loads the model `spec` names, of `kind` (of whatever kind the file holds when `None`),
    /// with the noise model at `noise_model`; without one, a default model gets the default
    /// models' noise model and any other none. Its network runs `arithmetic`.
    pub fn load(
        spec: &ModelSpec,
        kind: Option<ModelKind>,
        noise_model: Option<&Path>,
        arithmetic: Arithmetic,
    ) -> Result<Self> {
        let model = match kind {
            Some(kind) => spec.load(kind)?,
            None => spec.load_any(None)?,
        };
        let (noise, name) = resolve_noise_model(noise_model, spec.is_default(model.kind))?;
        Predictor::new(model, noise, name, arithmetic)
    }

    /// Whether the model is an embedded default model (`spec` named it so).
    pub fn is_default(&self, spec: &ModelSpec) -> bool {
        spec.is_default(self.model.kind)
    }

    /// Builds the network of `model` (checking every parameter), recalibrating errors with
    /// `noise_model` (named `noise_name` in output headers) if given, running `arithmetic`.
    pub fn new(
        model: ModelFile,
        noise_model: Option<NoiseModel>,
        noise_name: String,
        arithmetic: Arithmetic,
    ) -> Result<Self> {
        let network = match model.kind {
            ModelKind::AstroNN | ModelKind::Generic => Network::Labels(AstroNNPredictor::new(
                LabelsNetwork::of_model(&model, arithmetic)?,
                noise_model,
                model.class_name(),
            )),
            ModelKind::AstroNNDist => Network::Dist(DistPredictor::new(
                dist_network(&model)?.with_arithmetic(arithmetic)?,
                noise_model.as_ref(),
            )),
        };
        Ok(Predictor {
            model,
            network,
            noise_model: noise_name,
            arithmetic,
        })
    }

    /// The same network with another noise model.
    pub fn with_noise_model(
        &self,
        noise_model: Option<NoiseModel>,
        noise_name: String,
    ) -> Result<Self> {
        let network = match &self.network {
            Network::Labels(p) => Network::Labels(AstroNNPredictor::new(
                p.network().clone(),
                noise_model,
                p.class().to_string(),
            )),
            Network::Dist(p) => Network::Dist(DistPredictor::new(
                p.network().clone(),
                noise_model.as_ref(),
            )),
        };
        Ok(Predictor {
            model: self.model.clone(),
            network,
            noise_model: noise_name,
            arithmetic: self.arithmetic,
        })
    }

    /// Whether the network has MC dropout and errors (astroNN's `ApogeeCNN` has neither).
    pub fn is_bayesian(&self) -> bool {
        match &self.network {
            Network::Labels(p) => p.network().is_bayesian(),
            Network::Dist(_) => true,
        }
    }

    /// The arithmetic the network runs.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }

    /// The model file (identity, checksum, metadata).
    pub fn model(&self) -> &ModelFile {
        &self.model
    }

    /// The network with its noise model.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network with its noise model, for a run that owns it.
    pub fn into_network(self) -> Network {
        self.network
    }

    /// The noise model's name as output headers give it ("none" without one).
    pub fn noise_model_name(&self) -> &str {
        &self.noise_model
    }

    /// The labels the network predicts (`L_fakemag` for AstroNNDist).
    pub fn labels(&self) -> Vec<String> {
        match &self.network {
            Network::Labels(p) => p.labels().to_vec(),
            Network::Dist(_) => vec![crate::pipeline::dist::DIST_NOISE_LABEL.to_string()],
        }
    }

    /// The columns of a result, in table order.
    pub fn column_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.network {
            Network::Labels(p) => p
                .labels()
                .iter()
                .flat_map(|l| {
                    [
                        l.clone(),
                        format!("e_{l}"),
                        format!("raw_{l}"),
                        format!("raw_e_{l}"),
                        format!("e_{l}_model"),
                        format!("e_{l}_predictive"),
                    ]
                })
                .collect(),
            Network::Dist(_) => DIST_COLUMNS.iter().map(|c| c.to_string()).collect(),
        };
        if let Network::Labels(p) = &self.network {
            if p.labels().iter().any(|l| l == FAKEMAG) {
                names.extend(DISTANCE_COLUMNS.iter().map(|c| c.to_string()));
            }
        }
        names.extend(FLAG_COLUMNS.iter().map(|c| c.to_string()));
        names
    }

    /// Predicts normalized spectra: `flux` holds `rows` spectra of [`NETWORK_PIXELS`] values,
    /// described by `rows_info` (photometry for a distance model, origins keying the dropout
    /// streams). A row with non-finite flux is a NO_RESULT row.
    pub fn predict_normalized(
        &self,
        flux: &[f64],
        rows_info: &ArrayRows,
        options: &PredictOptions,
    ) -> Result<Predictions> {
        let rows = checked_rows(flux.len(), NETWORK_PIXELS, "normalized flux")?;
        let metas = rows_info.metas(rows)?;
        let spectra = metas
            .into_iter()
            .enumerate()
            .map(|(i, meta)| {
                let row = &flux[i * NETWORK_PIXELS..(i + 1) * NETWORK_PIXELS];
                let data = normalized_row_problem(row).map_or(Ok(row.to_vec()), Err);
                array_spectrum(meta, data)
            })
            .collect();
        self.predict_prepared(spectra, options)
    }

    /// Predicts raw apStar spectra (`rows` × [`APSTAR_PIXELS`] flux, flux errors as the
    /// continuum step takes them, and pixel bitmasks), normalizing each exactly as
    /// `normalize` does, described by `rows_info`. A row that cannot be normalized is a
    /// NO_RESULT row.
    pub fn predict_apstar(
        &self,
        pixels: &ApStarPixels,
        rows_info: &ArrayRows,
        options: &PredictOptions,
    ) -> Result<Predictions> {
        let normalized = normalize_rows(pixels)?;
        let metas = rows_info.metas(normalized.len())?;
        let spectra = normalized
            .into_iter()
            .zip(metas)
            .map(|(normalized, meta)| array_spectrum(meta, normalized.map(|(flux, _)| flux)))
            .collect();
        self.predict_prepared(spectra, options)
    }

    fn predict_prepared(
        &self,
        spectra: Vec<Prepared<Vec<f64>>>,
        options: &PredictOptions,
    ) -> Result<Predictions> {
        let predictor = match &self.network {
            Network::Labels(p) => PredictorRef::Labels(p),
            Network::Dist(p) => PredictorRef::Dist(p),
        };
        let network = JobNetwork {
            predictor,
            visits: true,
        };
        let outcomes = predict_spectra(spectra, &[network], options)?;
        let mut warnings = Vec::new();
        let mut rows = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            if let Some((spectrum, reason)) = &outcome.failure {
                if options.strict {
                    return Err(Error::Invalid(format!("{spectrum}: {reason}")));
                }
                warnings.push(format!("{spectrum}: {reason}; NO_RESULT"));
            }
            rows.push(
                match (&self.network, outcome.rows.into_iter().next().flatten()) {
                    (Network::Labels(p), Some(Row::Labels(row))) => row.results(p.labels()),
                    (_, Some(Row::Dist(row))) => row.results(),
                    _ => unreachable!("every spectrum has a row of the predictor's network"),
                },
            );
        }
        Ok(Predictions {
            columns: self
                .column_names()
                .into_iter()
                .map(|name| {
                    let values = column(&rows, &name);
                    (name, values)
                })
                .collect(),
            warnings,
        })
    }
}

/// Raw apStar spectra held in memory, row-major.
pub struct ApStarPixels<'a> {
    /// Flux, `rows` × [`APSTAR_PIXELS`].
    pub flux: &'a [f64],
    /// Flux errors as the continuum step takes them (see [`crate::io::apstar::e_flux_from_error`]).
    pub e_flux: &'a [f64],
    /// Pixel bitmasks (`APOGEE_PIXMASK`); all zero when not known.
    pub bitmask: &'a [u64],
}

/// A row's normalized flux and flux error ([`NETWORK_PIXELS`] values each), or the reason
/// it cannot be normalized.
pub type NormalizedRow = std::result::Result<(Vec<f64>, Vec<f64>), String>;

/// Continuum-normalizes every row of `pixels` (in parallel); a stop request
/// ([`crate::cancel`]) is an [`Error::Cancelled`].
pub fn normalize_rows(pixels: &ApStarPixels) -> Result<Vec<NormalizedRow>> {
    let rows = checked_rows(pixels.flux.len(), APSTAR_PIXELS, "flux")?;
    for (what, len) in [
        ("e_flux", pixels.e_flux.len()),
        ("bitmask", pixels.bitmask.len()),
    ] {
        if len != pixels.flux.len() {
            return Err(Error::Invalid(format!(
                "{what} has {len} values but flux has {}: they must have the same shape",
                pixels.flux.len()
            )));
        }
    }
    let row = |i: usize| i * APSTAR_PIXELS..(i + 1) * APSTAR_PIXELS;
    let normalized = (0..rows)
        .into_par_iter()
        .map(|i| {
            crate::cancel::check().map_err(|e| e.to_string())?;
            normalize(
                &pixels.flux[row(i)],
                &pixels.e_flux[row(i)],
                &pixels.bitmask[row(i)],
            )
            .map(|n| (n.flux, n.e_flux))
        })
        .collect();
    crate::cancel::check()?;
    Ok(normalized)
}

/// The number of rows of `len` values `width` wide, refusing a ragged length.
pub(crate) fn checked_rows(len: usize, width: usize, what: &str) -> Result<usize> {
    if !len.is_multiple_of(width) {
        return Err(Error::Invalid(format!(
            "{what} must have {width} pixels per spectrum; {len} values are not whole rows"
        )));
    }
    Ok(len / width)
}

/// Why a normalized spectrum cannot be predicted (non-finite pixels), or None.
pub fn normalized_row_problem(row: &[f64]) -> Option<String> {
    match row.iter().filter(|v| !v.is_finite()).count() {
        0 => None,
        bad => Some(format!("normalized flux has {bad} non-finite pixels")),
    }
}

/// What is known of the rows of an array of spectra besides their pixels.
#[derive(Debug, Clone, Default)]
pub struct ArrayRows {
    /// Each row's fields: photometry (`k_mag`, `ebv`) and astrometry for a distance model
    /// (none: NaN distances).
    pub fields: Option<Vec<Fields>>,
    /// Each row's origin, `(file, row in file)`: its dropout stream is then the one a file
    /// run gives that spectrum ([`crate::pipeline::predict::stream_key`]: the file's name
    /// and the row). Without origins, row `i` is row `i` of [`ARRAY_SOURCE`].
    pub origins: Option<Vec<(String, i64)>>,
}

impl ArrayRows {
    /// The description of each of `rows` rows, or an error when fields or origins are given
    /// for another number of rows.
    pub fn metas(&self, rows: usize) -> Result<Vec<SpectrumMeta>> {
        for (what, len) in [
            ("fields", self.fields.as_ref().map(Vec::len)),
            ("origins", self.origins.as_ref().map(Vec::len)),
        ] {
            if let Some(len) = len.filter(|&len| len != rows) {
                return Err(Error::Invalid(format!(
                    "{len} {what} given for {rows} spectra: give one per spectrum"
                )));
            }
        }
        Ok((0..rows)
            .map(|i| {
                let mut meta = match self.origins.as_ref().map(|o| &o[i]) {
                    Some((file, row)) => SpectrumMeta {
                        row: *row,
                        ..SpectrumMeta::anonymous(file, 0)
                    },
                    None => SpectrumMeta::anonymous(ARRAY_SOURCE, i),
                };
                if let Some(fields) = self.fields.as_ref().map(|f| &f[i]) {
                    meta.fields = fields.clone();
                }
                meta
            })
            .collect())
    }
}

/// A spectrum given as a row of an array.
fn array_spectrum(
    meta: SpectrumMeta,
    data: std::result::Result<Vec<f64>, String>,
) -> Prepared<Vec<f64>> {
    Prepared {
        meta,
        data,
        seconds: 0.0,
    }
}

/// One column of `rows`: floats, or integers and logicals for the flag columns.
fn column(rows: &[Fields], name: &str) -> ColumnData {
    match rows.first().and_then(|r| r.get(name)) {
        Some(Value::Int(_)) => {
            ColumnData::I64(rows.iter().map(|r| r.i64(name).unwrap_or(0)).collect())
        }
        Some(Value::Bool(_)) => ColumnData::Bool(
            rows.iter()
                .map(|r| matches!(r.get(name), Some(Value::Bool(true))))
                .collect(),
        ),
        _ => ColumnData::F64(rows.iter().map(|r| r.f64(name)).collect()),
    }
}
