//! How a network's input is standardised and its outputs become labels and errors: the
//! normalisation constants a model carries and the convention of its MC statistics.
//!
//! Astra's models (SPEC §4) subtract `input_mean` from the flux, de-standardise with
//! `labels_std`/`labels_mean` and take the unbiased variance of the MC samples. astroNN's own
//! `predict` (its model folders, [`crate::io::astronn_folder`]) also divides the input by
//! `input_std`, takes the population variance (`tf.nn.moments`), and for labels
//! normalisation mode 0 scales the errors, not the values, by the folder's `labels_std`
//! (docs/astronn-models.md, "Where we differ from astroNN on these folders"). The optional parameters `input_std` and
//! `labels_error_std` hold those; absent, they are 1 and `labels_std`.

use candle_core::{DType, Result};
use candle_nn::VarBuilder;

/// Which variance of the MC samples a model's errors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum McVariance {
    /// Divide by `mc − 1` (`torch.var`, Astra).
    #[default]
    Unbiased,
    /// Divide by `mc` (`tf.nn.moments`, astroNN).
    Population,
}

impl McVariance {
    /// The name stored in model metadata.
    pub fn name(self) -> &'static str {
        match self {
            McVariance::Unbiased => "unbiased",
            McVariance::Population => "population",
        }
    }

    /// The convention a metadata value names.
    pub fn from_name(name: &str) -> Option<McVariance> {
        match name {
            "unbiased" => Some(McVariance::Unbiased),
            "population" => Some(McVariance::Population),
            _ => None,
        }
    }

    /// The variance of `n` samples whose squared deviations from their mean sum to
    /// `squares` (0 for fewer than two samples).
    pub fn of(self, squares: f64, n: usize) -> f64 {
        match (self, n) {
            (_, 0 | 1) => 0.0,
            (McVariance::Unbiased, n) => squares / (n - 1) as f64,
            (McVariance::Population, n) => squares / n as f64,
        }
    }
}

/// How a network's mean output becomes a label, before `labels_std` and `labels_mean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelsTransform {
    /// The output itself: `mean · labels_std + labels_mean` (Astra; astroNN's modes but 3s).
    #[default]
    Identity,
    /// The logit, ln(m / (1 − m)): astroNN's labels mode 3s trains on sigmoid(label) and
    /// de-normalises through its inverse (`sigmoid_inv`); the errors stay in the network's
    /// units, as astroNN's `predict` leaves them.
    Logit,
}

impl LabelsTransform {
    /// The name stored in model metadata.
    pub fn name(self) -> &'static str {
        match self {
            LabelsTransform::Identity => "identity",
            LabelsTransform::Logit => "logit",
        }
    }

    /// The transform a metadata value names.
    pub fn from_name(name: &str) -> Option<LabelsTransform> {
        match name {
            "identity" => Some(LabelsTransform::Identity),
            "logit" => Some(LabelsTransform::Logit),
            _ => None,
        }
    }

    /// The transform of a mean output `m` (NaN outside (0, 1) for the logit).
    pub fn apply(self, m: f64) -> f64 {
        match self {
            LabelsTransform::Identity => m,
            LabelsTransform::Logit => (m / (1.0 - m)).ln(),
        }
    }

    /// The mean output whose transform is `value` (the sigmoid for the logit).
    pub fn inverse(self, value: f64) -> f64 {
        match self {
            LabelsTransform::Identity => value,
            LabelsTransform::Logit => 1.0 / (1.0 + (-value).exp()),
        }
    }

    /// Its derivative at `m` (for Jacobians and the standard errors of labels).
    pub fn derivative(self, m: f64) -> f64 {
        match self {
            LabelsTransform::Identity => 1.0,
            LabelsTransform::Logit => 1.0 / (m * (1.0 - m)),
        }
    }
}

/// A network's normalisation constants and MC convention.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// Subtracted from the normalized flux.
    pub input_mean: Vec<f64>,
    /// Divides the flux after the mean is subtracted (ones for Astra's models).
    pub input_std: Vec<f64>,
    /// Added to the de-standardised outputs (zeros where the model has none).
    pub labels_mean: Vec<f64>,
    /// Scales the outputs into labels.
    pub labels_std: Vec<f64>,
    /// Scales the standardised errors (equal to `labels_std` except for astroNN's labels
    /// normalisation mode 0).
    pub labels_error_std: Vec<f64>,
    /// The variance the MC samples' spread is measured with.
    pub mc_variance: McVariance,
    /// How the mean output becomes a label.
    pub labels_transform: LabelsTransform,
}

impl Scaling {
    /// Reads `input_mean` (`pixels`), `labels_std` (`labels`), `labels_mean` when
    /// `offset` (else zeros) and the optional `input_std` and `labels_error_std`, all as
    /// f64 whatever their stored type. The MC convention is Astra's; see
    /// [`Scaling::with_mc_variance`].
    pub fn load(vb: &VarBuilder, pixels: usize, labels: usize, offset: bool) -> Result<Self> {
        let vector = |name: &str, n: usize| -> Result<Vec<f64>> {
            vb.get_with_hints_dtype(n, name, candle_nn::Init::Const(0.0), DType::F64)?
                .to_vec1::<f64>()
        };
        let optional = |name: &str, n: usize, absent: Vec<f64>| -> Result<Vec<f64>> {
            if vb.contains_tensor(name) {
                vector(name, n)
            } else {
                Ok(absent)
            }
        };
        let labels_std = vector("labels_std", labels)?;
        Ok(Scaling {
            input_mean: vector("input_mean", pixels)?,
            input_std: optional("input_std", pixels, vec![1.0; pixels])?,
            labels_mean: if offset {
                vector("labels_mean", labels)?
            } else {
                vec![0.0; labels]
            },
            labels_error_std: optional("labels_error_std", labels, labels_std.clone())?,
            labels_std,
            mc_variance: McVariance::Unbiased,
            labels_transform: LabelsTransform::Identity,
        })
    }

    /// The same constants with the mean output turned into a label by `transform`.
    pub fn with_labels_transform(mut self, transform: LabelsTransform) -> Self {
        self.labels_transform = transform;
        self
    }

    /// The same constants with the MC convention `mc_variance`.
    pub fn with_mc_variance(mut self, mc_variance: McVariance) -> Self {
        self.mc_variance = mc_variance;
        self
    }

    /// The network input of a normalized spectrum: (flux − input_mean) / input_std,
    /// computed in f64 and rounded to f32.
    pub fn standardize(&self, normalized_flux: &[f64]) -> Vec<f32> {
        normalized_flux
            .iter()
            .zip(self.input_mean.iter().zip(&self.input_std))
            .map(|(f, (m, s))| ((f - m) / s) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use std::collections::HashMap;

    fn builder(tensors: &[(&str, Vec<f64>)]) -> VarBuilder<'static> {
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(name, v)| {
                let t = Tensor::from_vec(v.clone(), v.len(), &Device::Cpu).unwrap();
                (name.to_string(), t)
            })
            .collect();
        VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
    }

    #[test]
    fn astra_models_have_unit_input_std_and_error_scale_equal_to_labels_std() {
        let vb = builder(&[
            ("input_mean", vec![1.0, 2.0]),
            ("labels_std", vec![3.0]),
            ("labels_mean", vec![4.0]),
        ]);
        let s = Scaling::load(&vb, 2, 1, true).unwrap();
        assert_eq!(s.input_std, vec![1.0, 1.0]);
        assert_eq!(s.labels_error_std, vec![3.0]);
        assert_eq!(s.labels_mean, vec![4.0]);
        assert_eq!(s.mc_variance, McVariance::Unbiased);
        assert_eq!(s.standardize(&[1.5, 1.0]), vec![0.5, -1.0]);
        let no_offset = Scaling::load(&vb, 2, 1, false).unwrap();
        assert_eq!(no_offset.labels_mean, vec![0.0]);
    }

    #[test]
    fn optional_constants_are_read_when_present() {
        let vb = builder(&[
            ("input_mean", vec![1.0, 2.0]),
            ("input_std", vec![2.0, 4.0]),
            ("labels_std", vec![1.0]),
            ("labels_error_std", vec![104.0]),
        ]);
        let s = Scaling::load(&vb, 2, 1, false).unwrap();
        assert_eq!(s.standardize(&[3.0, 0.0]), vec![1.0, -0.5]);
        assert_eq!(s.labels_error_std, vec![104.0]);
    }

    #[test]
    fn variances_divide_by_n_minus_one_or_n() {
        assert_eq!(McVariance::Unbiased.of(6.0, 4), 2.0);
        assert_eq!(McVariance::Population.of(6.0, 4), 1.5);
        assert_eq!(McVariance::Population.of(6.0, 1), 0.0);
        for v in [McVariance::Unbiased, McVariance::Population] {
            assert_eq!(McVariance::from_name(v.name()), Some(v));
        }
    }
}
