//! The labels part of a run — AstroNN's, or those of any other astroNN network of APOGEE
//! spectra: labels, noise model and flags of one spectrum, and the rows of
//! `astraAllStarAstroNN` / `astraAllVisitAstroNN`, or of the table of a network DR19 has no
//! product for ([`crate::products::generic`]).

use crate::io::fields::{Fields, Value};
use crate::io::model_file::{ModelFile, ModelKind};
use crate::io::normalized::SpectrumMeta;
use crate::models::{censored_network, generic_network};
use crate::nn::bcnn::ApogeeBcnn;
use crate::nn::censored::{CensoredBcnn, LABELS};
use crate::nn::mc::RawLabels;
use crate::nn::network::BayesianNetwork;
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::Dropout;
use crate::nn::scaling::Scaling;
use crate::pipeline::distance::DistanceResult;
use crate::pipeline::flags::{
    astronn_flag_bad, astronn_flag_warn, astronn_flags, FlagInputs, NO_RESULT,
};
use crate::pipeline::noise::NoiseModel;
use crate::pipeline::timing::Timing;
use crate::products::generic::{generic_layout, FAKEMAG};
use crate::products::writer::{ProductRow, ProductWriter};
use crate::products::{Product, TableLayout};
use crate::{Error, Result};
use candle_core::Tensor;

/// A network predicting labels: AstroNN's censored network, or an astroNN `ApogeeBCNN` or
/// `ApogeeCNN` of any outputs.
#[derive(Debug, Clone)]
pub enum LabelsNetwork {
    /// AstroNN (`ApogeeBCNNCensored`).
    Censored(CensoredBcnn),
    /// `ApogeeBCNN` or `ApogeeCNN`.
    Plain(ApogeeBcnn),
}

impl LabelsNetwork {
    /// The labels network of `model` (AstroNN's, or a [`ModelKind::Generic`] one), running
    /// `arithmetic`; an AstroNNDist model is an error.
    pub fn of_model(model: &ModelFile, arithmetic: Arithmetic) -> Result<LabelsNetwork> {
        Ok(match model.kind {
            ModelKind::AstroNN => {
                LabelsNetwork::Censored(censored_network(model)?.with_arithmetic(arithmetic)?)
            }
            ModelKind::Generic => {
                LabelsNetwork::Plain(generic_network(model)?.with_arithmetic(arithmetic)?)
            }
            ModelKind::AstroNNDist => {
                return Err(Error::file(
                    &model.path,
                    "is an AstroNNDist model, but a labels network is needed here",
                ))
            }
        })
    }

    fn inner(&self) -> &dyn BayesianNetwork {
        match self {
            LabelsNetwork::Censored(net) => net,
            LabelsNetwork::Plain(net) => net,
        }
    }

    /// The model kind whose dropout streams the network draws
    /// ([`crate::pipeline::predict::dropout_stream`]).
    pub fn kind(&self) -> ModelKind {
        match self {
            LabelsNetwork::Censored(_) => ModelKind::AstroNN,
            LabelsNetwork::Plain(_) => ModelKind::Generic,
        }
    }
}

impl BayesianNetwork for LabelsNetwork {
    fn label_names(&self) -> Vec<String> {
        self.inner().label_names()
    }

    fn scaling(&self) -> &Scaling {
        self.inner().scaling()
    }

    fn is_bayesian(&self) -> bool {
        self.inner().is_bayesian()
    }

    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        self.inner().forward(x, samples, dropout)
    }

    fn forward_each(
        &self,
        x: &Tensor,
        samples: usize,
        dropouts: &mut [Dropout],
    ) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
        self.inner().forward_each(x, samples, dropouts)
    }
}

/// A labels network of a run with its noise model: turns network output into rows.
pub struct AstroNNPredictor {
    net: LabelsNetwork,
    labels: Vec<String>,
    /// Where the flag rules find Teff, log g and [Fe/H]; a network without all three
    /// flags only the spectra without a result.
    flag_labels: Option<FlagLabels>,
    /// The output index of `L_fakemag`, whose distance the row then carries.
    fakemag: Option<usize>,
    noise_model: Option<NoiseModel>,
    /// The network's class, named in a generic table's `PIPELINE` card.
    class: String,
}

/// The labels part of a run: the predictor and its tables.
pub struct AstroNNJob {
    /// Network and noise model.
    pub predictor: AstroNNPredictor,
    /// Coadded spectra (`astraAllStarAstroNN`, or the network's own table).
    pub coadds: ProductWriter,
    /// Visit spectra (`astraAllVisitAstroNN`, or the network's own table), when asked for.
    pub visits: Option<ProductWriter>,
}

impl AstroNNPredictor {
    /// A predictor for `net` (of astroNN class `class`), recalibrating errors with
    /// `noise_model` if given.
    pub fn new(net: LabelsNetwork, noise_model: Option<NoiseModel>, class: String) -> Self {
        let labels = net.label_names();
        AstroNNPredictor {
            flag_labels: FlagLabels::find(&labels).ok(),
            fakemag: labels.iter().position(|l| l == FAKEMAG),
            labels,
            net,
            noise_model,
            class,
        }
    }

    /// The network.
    pub fn network(&self) -> &LabelsNetwork {
        &self.net
    }

    /// The network's class.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The output label names.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Whether the outputs are AstroNN's 22 labels, whose tables are DR19's.
    pub fn predicts_astronn_labels(&self) -> bool {
        let mut labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let mut astronn = LABELS.to_vec();
        labels.sort_unstable();
        astronn.sort_unstable();
        labels == astronn
    }

    /// The layout of the table of coadds (or of visits): DR19's for AstroNN's 22 labels,
    /// else the network's own ([`generic_layout`]).
    pub fn layout(&self, visits: bool) -> Result<TableLayout> {
        if self.predicts_astronn_labels() {
            let product = match visits {
                true => Product::AllVisitAstroNN,
                false => Product::AllStarAstroNN,
            };
            return Ok(product.layout());
        }
        generic_layout(&self.labels, visits, &self.class).map_err(Error::Invalid)
    }

    /// A row from the network's raw labels.
    pub fn row(&self, meta: SpectrumMeta, raw: RawLabels, timing: Timing) -> AstroNNRow {
        let errors: Vec<f64> = self
            .labels
            .iter()
            .zip(&raw.errors)
            .map(|(label, &e)| match &self.noise_model {
                Some(model) => model.apply(label, e),
                None => e,
            })
            .collect();
        let flags = self
            .flag_labels
            .as_ref()
            .map_or(0, |f| f.flags(&raw.values, &raw.errors));
        let distance = self.fakemag.map(|i| {
            let fields = &meta.fields;
            DistanceResult::new(
                raw.values[i],
                errors[i],
                raw.model_errors[i],
                fields.f64("k_mag"),
                fields.f64("ebv"),
            )
        });
        AstroNNRow {
            meta,
            distance,
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
    /// The distance of an `L_fakemag` output (as AstroNNdist derives it), when the network
    /// has one and a result.
    pub distance: Option<DistanceResult>,
}

impl AstroNNRow {
    /// The row of a spectrum without a result.
    pub fn no_result(meta: SpectrumMeta, timing: Timing) -> Self {
        AstroNNRow {
            meta,
            labels: None,
            flags: NO_RESULT,
            timing,
            distance: None,
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
        for (name, value) in self.distance.iter().flat_map(|d| d.distance_columns()) {
            fields.set_f64(name, value);
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
