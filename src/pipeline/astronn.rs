//! The AstroNN part of a run: labels, noise model and flags of one spectrum, and the rows of
//! `astraAllStarAstroNN` / `astraAllVisitAstroNN`.

use crate::io::fields::{Fields, Value};
use crate::io::normalized::SpectrumMeta;
use crate::nn::censored::CensoredBcnn;
use crate::nn::mc::RawLabels;
use crate::nn::network::BayesianNetwork;
use crate::pipeline::flags::{
    astronn_flag_bad, astronn_flag_warn, astronn_flags, FlagInputs, NO_RESULT,
};
use crate::pipeline::noise::NoiseModel;
use crate::pipeline::timing::Timing;
use crate::products::writer::{ProductRow, ProductWriter};
use crate::{Error, Result};

/// The abundance network of a run with its noise model: turns network output into rows.
pub struct AstroNNPredictor {
    net: CensoredBcnn,
    labels: Vec<String>,
    flag_labels: FlagLabels,
    noise_model: Option<NoiseModel>,
}

/// The AstroNN part of a run: the predictor and its tables.
pub struct AstroNNJob {
    /// Network and noise model.
    pub predictor: AstroNNPredictor,
    /// Coadded spectra (`astraAllStarAstroNN`).
    pub coadds: ProductWriter,
    /// Visit spectra (`astraAllVisitAstroNN`), when asked for.
    pub visits: Option<ProductWriter>,
}

impl AstroNNPredictor {
    /// A predictor for `net`, recalibrating errors with `noise_model` if given.
    pub fn new(net: CensoredBcnn, noise_model: Option<NoiseModel>) -> Result<Self> {
        let labels = net.label_names();
        Ok(AstroNNPredictor {
            flag_labels: FlagLabels::find(&labels)?,
            labels,
            net,
            noise_model,
        })
    }

    /// The network.
    pub fn network(&self) -> &CensoredBcnn {
        &self.net
    }

    /// The output label names.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// A row from the network's raw labels.
    pub fn row(&self, meta: SpectrumMeta, raw: RawLabels, timing: Timing) -> AstroNNRow {
        let errors = self
            .labels
            .iter()
            .zip(&raw.errors)
            .map(|(label, &e)| match &self.noise_model {
                Some(model) => model.apply(label, e),
                None => e,
            })
            .collect();
        let flags = self.flag_labels.flags(&raw.values, &raw.errors);
        AstroNNRow {
            meta,
            labels: Some(LabelResult {
                values: raw.values.clone(),
                errors,
                raw_values: raw.values,
                raw_errors: raw.errors,
                model_errors: raw.model_errors,
                predictive_errors: raw.predictive_errors,
            }),
            flags,
            timing,
        }
    }
}

impl AstroNNJob {
    /// Appends rows, coadds and visits to their tables.
    pub fn write(&mut self, rows: Vec<AstroNNRow>) -> Result<()> {
        let labels = self.predictor.labels();
        let results: Vec<Fields> = rows.iter().map(|r| r.results(labels)).collect();
        let (visits, coadds): (Vec<_>, Vec<_>) = rows
            .iter()
            .zip(&results)
            .map(|(r, results)| ProductRow {
                meta: &r.meta,
                results,
            })
            .partition(|r| r.meta.is_visit());
        self.coadds.append(&coadds)?;
        if let Some(table) = self.visits.as_mut() {
            table.append(&visits)?;
        }
        Ok(())
    }
}

/// Labels of one spectrum, after and before the noise model.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelResult {
    pub values: Vec<f64>,
    pub errors: Vec<f64>,
    pub raw_values: Vec<f64>,
    pub raw_errors: Vec<f64>,
    /// The MC-dropout part of `raw_errors` (astroNN's `pred_err['model']`).
    pub model_errors: Vec<f64>,
    /// The network's predictive part of `raw_errors` (astroNN's `pred_err['predictive']`).
    pub predictive_errors: Vec<f64>,
}

/// One AstroNN table row: identity, labels (None: NO_RESULT), flags and time.
#[derive(Debug, Clone)]
pub struct AstroNNRow {
    pub meta: SpectrumMeta,
    pub labels: Option<LabelResult>,
    pub flags: u32,
    pub timing: Timing,
}

impl AstroNNRow {
    /// The row of a spectrum without a result.
    pub fn no_result(meta: SpectrumMeta, timing: Timing) -> Self {
        AstroNNRow {
            meta,
            labels: None,
            flags: NO_RESULT,
            timing,
        }
    }

    /// The pipeline's columns of this row: each label and `e_` error, `raw_` label and
    /// `raw_e_` error, and the two parts of `raw_e_`, `e_<label>_model` (MC dropout) and
    /// `e_<label>_predictive` (NaN without a result); the flags and the times. (The DR19
    /// tables take the columns they have by name; the parts are for arrays.)
    pub fn results(&self, labels: &[String]) -> Fields {
        let mut fields = Fields::new();
        for (j, label) in labels.iter().enumerate() {
            let value = |f: fn(&LabelResult) -> &Vec<f64>| {
                self.labels.as_ref().map_or(f64::NAN, |l| f(l)[j])
            };
            fields.set_f64(label, value(|l| &l.values));
            fields.set_f64(&format!("e_{label}"), value(|l| &l.errors));
            fields.set_f64(&format!("raw_{label}"), value(|l| &l.raw_values));
            fields.set_f64(&format!("raw_e_{label}"), value(|l| &l.raw_errors));
            fields.set_f64(&format!("e_{label}_model"), value(|l| &l.model_errors));
            fields.set_f64(
                &format!("e_{label}_predictive"),
                value(|l| &l.predictive_errors),
            );
        }
        fields.set("result_flags", Value::Int(i64::from(self.flags)));
        fields.set("flag_warn", Value::Bool(astronn_flag_warn(self.flags)));
        fields.set("flag_bad", Value::Bool(astronn_flag_bad(self.flags)));
        self.timing.set_fields(&mut fields);
        fields
    }
}

/// Where the flag rules find their labels.
struct FlagLabels {
    teff: usize,
    logg: usize,
    fe_h: usize,
}

impl FlagLabels {
    fn find(labels: &[String]) -> Result<Self> {
        let index = |name: &str| {
            labels.iter().position(|l| l == name).ok_or_else(|| {
                Error::Invalid(format!(
                    "the model has no '{name}' output, needed for flags"
                ))
            })
        };
        Ok(FlagLabels {
            teff: index("teff")?,
            logg: index("logg")?,
            fe_h: index("fe_h")?,
        })
    }

    fn flags(&self, values: &[f64], errors: &[f64]) -> u32 {
        astronn_flags(FlagInputs {
            teff: values[self.teff],
            e_teff: errors[self.teff],
            logg: values[self.logg],
            e_logg: errors[self.logg],
            fe_h: values[self.fe_h],
            e_fe_h: errors[self.fe_h],
        })
    }
}
