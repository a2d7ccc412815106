//! AstroNN's censored Bayesian CNN (`ApogeeBCNNCensored`, SPEC §4): a full-spectrum branch
//! for Teff, log g and [Fe/H], and 19 element branches that each see only their element's
//! ASPCAP windows plus five shared values from the full-spectrum branch.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::apogee::masks::BRANCH_ELEMENTS;
use crate::nn::dense::layer_width;
use crate::nn::dropout::DropoutRate;
use crate::nn::network::{check_group, BayesianNetwork};
use crate::nn::precision::Arithmetic;
use crate::nn::sampling::{repeat_rows, Dropout};
use crate::nn::scaling::{LabelsTransform, McVariance, Scaling};
use crate::nn::trunk::SpectrumTrunk;
use crate::nn::window_dense::WindowDense;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

/// Output labels, in network order, with the column names Astra uses.
pub const LABELS: [&str; 22] = [
    "teff", "logg", "c_h", "c_1_h", "n_h", "o_h", "na_h", "mg_h", "al_h", "si_h", "p_h", "s_h",
    "k_h", "ca_h", "ti_h", "ti_2_h", "v_h", "cr_h", "mn_h", "fe_h", "co_h", "ni_h",
];

/// Output index of [Fe/H]: after Teff, log g and the first 17 element branches.
pub const FE_H_OUTPUT: usize = 19;

/// Output index of element branch `branch` (see `assemble`).
pub const fn branch_output(branch: usize) -> usize {
    if branch + 2 < FE_H_OUTPUT {
        branch + 2
    } else {
        branch + 3
    }
}

/// Widths of each element branch's two dense layers (d1, d2), in branch order, in Astra's
/// network (the one `train` builds): C and N are wide, the others narrow. A loaded model's
/// widths come from its parameters.
pub(crate) const BRANCH_WIDTHS: [(usize, usize); 19] = {
    let mut widths = [(32, 16); 19];
    widths[0] = (256, 64);
    widths[2] = (256, 64);
    widths
};

/// Values the full-spectrum branch hands every element head in Astra's network: aux (2),
/// teff, logg, fe_h.
pub(crate) const SHARED_HIDDEN: usize = 5;
/// Width of `dense_2`, the last hidden layer of the full-spectrum branch, in Astra's network.
pub(crate) const DENSE_2_WIDTH: usize = 96;

/// One element branch: four dense layers, the first on its pixel window.
#[derive(Debug, Clone)]
struct ElementBranch {
    dense1: WindowDense,
    dense2: Linear,
    out: Linear,
    log_variance: Linear,
}

/// The pixels a branch reads: the indices where its mask (`aspcap_masks.{i}`) is set.
pub(crate) fn window_pixels(mask: &[u8]) -> Vec<u32> {
    mask.iter()
        .enumerate()
        .filter(|(_, &inside)| inside != 0)
        .map(|(pixel, _)| pixel as u32)
        .collect()
}

impl ElementBranch {
    /// Loads branch `index`; its layer widths come from the parameters, `shared` is the
    /// number of values the full-spectrum branch hands it.
    fn load(vb: &VarBuilder, index: usize, shared: usize) -> Result<Self> {
        let mask = vb.get_with_hints_dtype(
            NETWORK_PIXELS,
            &format!("aspcap_masks.{index}"),
            candle_nn::Init::Const(0.0),
            DType::U8,
        )?;
        let window: Vec<usize> = window_pixels(&mask.to_vec1::<u8>()?)
            .into_iter()
            .map(|p| p as usize)
            .collect();
        let d1 = layer_width(vb, &format!("elem_dense1.{index}"))?;
        let d2 = layer_width(vb, &format!("elem_dense2.{index}"))?;
        Ok(ElementBranch {
            dense1: WindowDense::load(window, d1, vb.pp(format!("elem_dense1.{index}")))?,
            dense2: linear(d1, d2, vb.pp(format!("elem_dense2.{index}")))?,
            out: linear(d2 + shared, 1, vb.pp(format!("elem_dense_out.{index}")))?,
            log_variance: linear(d2 + shared, 1, vb.pp(format!("elem_dense_var.{index}")))?,
        })
    }

    /// relu(dense1(window pixels)) of each row of `x`: independent of the dropout masks.
    fn first_activations(&self, x: &Tensor) -> Result<Tensor> {
        self.dense1.forward(x)?.relu()
    }

    /// The branch's (output, log-variance) for each sample row.
    fn forward(
        &self,
        first: &Tensor,
        hidden: &Tensor,
        dropout: &mut Dropout,
        rate: DropoutRate,
    ) -> Result<(Tensor, Tensor)> {
        let a1 = dropout.apply(first, rate)?;
        let a2 = dropout.apply(&self.dense2.forward(&a1)?.relu()?, rate)?;
        let joined = Tensor::cat(&[&a2, hidden], 1)?;
        Ok((
            self.out.forward(&joined)?,
            self.log_variance.forward(&joined)?,
        ))
    }
}

/// The censored Bayesian CNN with its normalisation constants.
#[derive(Debug, Clone)]
pub struct CensoredBcnn {
    scaling: Scaling,
    trunk: SpectrumTrunk,
    dense_2: Linear,
    teff_logg_feh: Linear,
    teff_logg_feh_log_variance: Linear,
    aux: Linear,
    branches: Vec<ElementBranch>,
}

impl CensoredBcnn {
    /// Loads the network from Astra's parameter names (SPEC §4 table). The hidden layers'
    /// widths are the parameters' own (astroNN's folders choose them); the MC convention is
    /// Astra's (see [`CensoredBcnn::with_mc_variance`]).
    pub fn load(vb: &VarBuilder) -> Result<Self> {
        let trunk = SpectrumTrunk::load(vb)?;
        let dense_2_width = layer_width(vb, "dense_2")?;
        let aux_width = layer_width(vb, "dense_aux_fullspec")?;
        let branches = (0..BRANCH_ELEMENTS.len())
            .map(|i| ElementBranch::load(vb, i, aux_width + 3))
            .collect::<Result<Vec<_>>>()?;
        Ok(CensoredBcnn {
            scaling: Scaling::load(vb, NETWORK_PIXELS, LABELS.len(), true)?,
            dense_2: linear(trunk.width(), dense_2_width, vb.pp("dense_2"))?,
            teff_logg_feh: linear(dense_2_width, 3, vb.pp("dense_teffloggfeh"))?,
            teff_logg_feh_log_variance: linear(dense_2_width, 3, vb.pp("dense_teffloggfeh_var"))?,
            aux: linear(dense_2_width, aux_width, vb.pp("dense_aux_fullspec"))?,
            trunk,
            branches,
        })
    }

    /// The network with `dense_1`'s product in `arithmetic` (float32 as loaded).
    pub fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Result<Self> {
        self.trunk = self.trunk.with_arithmetic(arithmetic)?;
        Ok(self)
    }

    /// The network with its MC statistics measured with `variance`.
    pub fn with_mc_variance(mut self, variance: McVariance) -> Self {
        self.scaling = self.scaling.with_mc_variance(variance);
        self
    }

    /// The network with its mean outputs turned into labels by `transform` (the identity
    /// as loaded; astroNN's labels mode 3s takes the logit).
    pub fn with_labels_transform(mut self, transform: LabelsTransform) -> Self {
        self.scaling = self.scaling.with_labels_transform(transform);
        self
    }

    /// The network dropping out at `rate` (Astra's 0.3 as loaded; an astroNN folder's own).
    pub fn with_dropout_rate(mut self, rate: DropoutRate) -> Self {
        self.trunk = self.trunk.with_dropout_rate(rate);
        self
    }
}

/// Assembles the 22 outputs: [teff, logg, branches 0–16, fe_h, branches 17–18].
pub(crate) fn assemble(teff_logg_feh: &Tensor, branches: &[Tensor]) -> Result<Tensor> {
    let teff_logg = teff_logg_feh.narrow(1, 0, 2)?;
    let feh = teff_logg_feh.narrow(1, 2, 1)?;
    let mut parts: Vec<&Tensor> = Vec::with_capacity(LABELS.len());
    let before_feh = FE_H_OUTPUT - 2;
    parts.push(&teff_logg);
    parts.extend(&branches[..before_feh]);
    parts.push(&feh);
    parts.extend(&branches[before_feh..]);
    Tensor::cat(&parts, 1)
}

impl CensoredBcnn {
    /// Every branch's first activations (`[rows, d1]`) for the rows of `x`.
    fn first_activations(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        self.branches
            .iter()
            .map(|branch| branch.first_activations(x))
            .collect()
    }

    /// [`BayesianNetwork::forward`] given the branches' first activations of `x`.
    fn forward_with(
        &self,
        x: &Tensor,
        firsts: &[Tensor],
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)> {
        let conv1 = self.trunk.conv1_activations(x)?;
        let l3 = self.trunk.forward_from_conv1(&conv1, samples, dropout)?;
        let l4 = self.dense_2.forward(&l3)?.relu()?;
        let t = self.teff_logg_feh.forward(&l4)?;
        let t_log_variance = self.teff_logg_feh_log_variance.forward(&l4)?;
        let aux = self.aux.forward(&l4)?;
        // The element heads see teff/logg/fe_h through a stop-gradient (SPEC §9).
        let hidden = Tensor::cat(&[&aux, &t.detach()], 1)?;
        let mut outputs = Vec::with_capacity(self.branches.len());
        let mut log_variances = Vec::with_capacity(self.branches.len());
        for (branch, first) in self.branches.iter().zip(firsts) {
            let first = repeat_rows(first, samples)?;
            let (out, log_variance) =
                branch.forward(&first, &hidden, dropout, self.trunk.dropout_rate())?;
            outputs.push(out);
            log_variances.push(log_variance);
        }
        Ok((
            assemble(&t, &outputs)?,
            assemble(&t_log_variance, &log_variances)?,
        ))
    }
}

impl BayesianNetwork for CensoredBcnn {
    fn label_names(&self) -> Vec<String> {
        LABELS.iter().map(|s| s.to_string()).collect()
    }

    fn scaling(&self) -> &Scaling {
        &self.scaling
    }

    fn forward(
        &self,
        x: &Tensor,
        samples: usize,
        dropout: &mut Dropout,
    ) -> Result<(Tensor, Tensor)> {
        self.forward_with(x, &self.first_activations(x)?, samples, dropout)
    }

    /// The branches' first layers (8.3 MB of weights in Astra's network) run once for the
    /// whole group, so their weights are read once per group instead of once per spectrum.
    fn forward_each(
        &self,
        x: &Tensor,
        samples: usize,
        dropouts: &mut [Dropout],
    ) -> Result<Vec<(Tensor, Tensor)>> {
        check_group(x, dropouts)?;
        let firsts = self.first_activations(x)?;
        dropouts
            .iter_mut()
            .enumerate()
            .map(|(i, dropout)| {
                let own = firsts
                    .iter()
                    .map(|first| first.narrow(0, i, 1))
                    .collect::<Result<Vec<_>>>()?;
                self.forward_with(&x.narrow(0, i, 1)?, &own, samples, dropout)
            })
            .collect()
    }
}
