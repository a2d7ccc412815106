//! The AstroNN part of a run: labels, noise model and flags of one spectrum, and the rows of
//! `astraAllStarAstroNN` / `astraAllVisitAstroNN`.

use crate::io::normalized::SpectrumMeta;
use crate::io::table::{AstraTableWriter, ColumnData, ColumnSpec};
use crate::nn::censored::CensoredBcnn;
use crate::nn::mc::RawLabels;
use crate::nn::network::BayesianNetwork;
use crate::pipeline::columns::{flag_columns, identity_columns, identity_data, label_columns};
use crate::pipeline::flags::{
    astronn_flag_bad, astronn_flag_warn, astronn_flags, FlagInputs, NO_RESULT,
};
use crate::pipeline::noise::NoiseModel;
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
    pub coadds: AstraTableWriter,
    /// Visit spectra (`astraAllVisitAstroNN`), when asked for.
    pub visits: Option<AstraTableWriter>,
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
    pub fn row(&self, meta: SpectrumMeta, raw: RawLabels, t_elapsed: f64) -> AstroNNRow {
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
            }),
            flags,
            t_elapsed,
        }
    }
}

impl AstroNNJob {
    /// Appends rows, coadds and visits to their tables.
    pub fn write(&mut self, rows: Vec<AstroNNRow>) -> Result<()> {
        let (visits, coadds): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.meta.kind == "visit");
        let labels = self.predictor.labels.len();
        self.coadds.append(&astronn_data(&coadds, labels, false))?;
        if let Some(table) = self.visits.as_mut() {
            table.append(&astronn_data(&visits, labels, true))?;
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
}

/// One AstroNN table row: identity, labels (None: NO_RESULT), flags and time.
#[derive(Debug, Clone)]
pub struct AstroNNRow {
    pub meta: SpectrumMeta,
    pub labels: Option<LabelResult>,
    pub flags: u32,
    pub t_elapsed: f64,
}

impl AstroNNRow {
    /// The row of a spectrum without a result.
    pub fn no_result(meta: SpectrumMeta, t_elapsed: f64) -> Self {
        AstroNNRow {
            meta,
            labels: None,
            flags: NO_RESULT,
            t_elapsed,
        }
    }
}

/// Columns of an AstroNN table with these labels.
pub fn astronn_columns(labels: &[String], visits: bool) -> Vec<ColumnSpec> {
    let mut columns = identity_columns(visits);
    columns.extend(label_columns(labels));
    columns.extend(flag_columns());
    columns
}

/// Column data of AstroNN rows, matching [`astronn_columns`].
fn astronn_data(rows: &[AstroNNRow], labels: usize, visits: bool) -> Vec<ColumnData> {
    let mut data = identity_data(rows.iter().map(|r| &r.meta), visits);
    let pick = |f: fn(&LabelResult) -> &Vec<f64>, j: usize| {
        ColumnData::F64(
            rows.iter()
                .map(|r| r.labels.as_ref().map_or(f64::NAN, |l| f(l)[j]))
                .collect(),
        )
    };
    for j in 0..labels {
        data.push(pick(|l| &l.values, j));
        data.push(pick(|l| &l.errors, j));
    }
    for j in 0..labels {
        data.push(pick(|l| &l.raw_values, j));
        data.push(pick(|l| &l.raw_errors, j));
    }
    data.push(ColumnData::I32(
        rows.iter().map(|r| r.flags as i32).collect(),
    ));
    data.push(ColumnData::Bool(
        rows.iter().map(|r| astronn_flag_warn(r.flags)).collect(),
    ));
    data.push(ColumnData::Bool(
        rows.iter().map(|r| astronn_flag_bad(r.flags)).collect(),
    ));
    data.push(ColumnData::F64(rows.iter().map(|r| r.t_elapsed).collect()));
    data
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
