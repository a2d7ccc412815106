#!/usr/bin/env python3
"""PyTorch reference pipeline for AstroNN / AstroNNDist, to compare with `astronn bench`.

It reproduces, with PyTorch + numpy + astropy only, what SDSS Astra's AstroNN pipelines
compute (see docs/spec.md):

* the two networks as Astra defines them (`ApogeeBCNNCensored`, `ApogeeDistBCNN`, from
  `python/astra/pipelines/astronn{,_dist}/network.py`), loaded from Astra-format checkpoints
  (`torch.save({"model_state_dict": ...})`);
* Astra's `predict()`: spectra in batches of 256, minus `input_mean` (in float64, then
  float32), and MC dropout done *as Astra does it*: dropout is always on in `forward`
  (`F.dropout(x, 0.3)`, whose default is `training=True`), and the `mc` samples are a Python
  loop of `mc` forward passes over the whole batch (`[self(batch) for i in range(mc_num)]`),
  so every (spectrum, sample) pair has its own dropout masks; mean, unbiased variance
  (`torch.var`) and mean log-variance are combined as SPEC §4;
* apStar reading (SPEC §2, astropy) and astroNN's continuum normalization (SPEC §3, numpy's
  `Chebyshev.fit`);
* distances (SPEC §5) and result flags (SPEC §6) for the end-to-end run.

Subcommands:

  check   verify against tests/fixtures (deterministic network passes, continuum
          normalization, apStar reading, MC statistics, distances); exits 1 on failure.
  bench   throughput in float32 on the CPU: each network alone at mc=100, predict end to end
          from apStar files, and training steps of the censored network (batch 64 and 256).

Examples:

  python scripts/pytorch_reference.py check
  python scripts/pytorch_reference.py bench --threads 2 --spectra 100 --files 300 tests/data/apStar-*.fits
"""

import argparse
import glob
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from astropy.io import fits
from astropy.table import Table

# PyTorch warns that padding="same" with an even kernel may copy the input; that is what
# Astra's Conv1d(kernel_size=8, padding="same") does, so the warning is expected.
warnings.filterwarnings("ignore", message="Using padding='same'")

# --------------------------------------------------------------------------------------
# Paths (relative to this file: scripts/ -> repository root). The reference fixtures are
# tests/fixtures (override with --fixtures or ASTRONN_FIXTURES), the apStar files they were
# made from tests/data, astroNN's continuum pixels data/dr17_contmask.npy.
# --------------------------------------------------------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.environ.get("ASTRONN_FIXTURES", os.path.join(REPO, "tests", "fixtures"))
APSTAR_DIR = os.path.join(REPO, "tests", "data")
CONTMASK = os.path.join(REPO, "data", "dr17_contmask.npy")


# --------------------------------------------------------------------------------------
# APOGEE grid (SPEC §1) and pixel bits (SPEC §3.6)
# --------------------------------------------------------------------------------------

APSTAR_PIXELS = 8575
NETWORK_PIXELS = 7514
CHIPS = [(246, 3274), (3585, 6080), (6344, 8335)]  # blue, green, red in apStar pixels
BAD_PIXEL_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 12]
BAD_PIXEL_MASK = sum(1 << b for b in BAD_PIXEL_BITS)
MASK_VALUE = 1.0
DROPOUT_RATE = 0.3

# Astra's database column names of the 22 labels (SPEC §4), in output order.
LABELS = ["teff", "logg", "c_h", "c_1_h", "n_h", "o_h", "na_h", "mg_h", "al_h", "si_h", "p_h",
          "s_h", "k_h", "ca_h", "ti_h", "ti_2_h", "v_h", "cr_h", "mn_h", "fe_h", "co_h", "ni_h"]


# --------------------------------------------------------------------------------------
# The networks, as in Astra (python/astra/pipelines/astronn/network.py and
# python/astra/pipelines/astronn_dist/network.py). Two additions, both off by default so the
# modules behave exactly as Astra's:
#   * `mc_dropout` (default True = Astra): False gives the deterministic pass of the fixtures;
#   * `stop_gradient` (censored network, default False = Astra's inference port): True
#     detaches teff/logg/fe_h where they enter the element heads, astroNN's training
#     recipe (SPEC §9). It changes no forward value.
# --------------------------------------------------------------------------------------


class ApogeeBCNNCensored(torch.nn.Module):
    """Astra's censored Bayesian CNN (22 labels)."""

    def __init__(self, device="cpu", dtype=torch.float32):
        super().__init__()
        self.factory_kwargs = {"device": device, "dtype": dtype}
        self.filter_len = 8
        self.pool_length = 4
        self.dropout_rate = DROPOUT_RATE
        self.mc_dropout = True
        self.stop_gradient = False
        self.targetname = list(LABELS)
        self.aspcap_masks_sum = [3806, 557, 3776, 505, 13, 106, 51, 102, 24, 8, 16, 19, 31, 28,
                                 29, 46, 70, 24, 206]
        self.aspcap_masks = torch.nn.ParameterList([
            torch.nn.Parameter(torch.zeros(NETWORK_PIXELS, dtype=torch.bool, device=device),
                               requires_grad=False)
            for _ in range(19)
        ])
        self.input_mean = torch.nn.Parameter(
            torch.zeros(NETWORK_PIXELS, dtype=torch.float64, device=device), requires_grad=False)
        self.labels_mean = torch.nn.Parameter(
            torch.zeros(22, dtype=torch.float64, device=device), requires_grad=False)
        self.labels_std = torch.nn.Parameter(
            torch.zeros(22, dtype=torch.float64, device=device), requires_grad=False)
        dense1_num = np.ones(19, dtype=int) * 32
        dense1_num[0] *= 8
        dense1_num[2] *= 8
        dense2_num = np.ones(19, dtype=int) * 16
        dense2_num[0] *= 4
        dense2_num[2] *= 4
        fk = self.factory_kwargs
        self.elem_dense1 = torch.nn.ModuleList(
            [torch.nn.Linear(i, int(j), **fk) for i, j in zip(self.aspcap_masks_sum, dense1_num)])
        self.elem_dense2 = torch.nn.ModuleList(
            [torch.nn.Linear(int(i), int(j), **fk) for i, j in zip(dense1_num, dense2_num)])
        self.elem_dense_out = torch.nn.ModuleList(
            [torch.nn.Linear(int(i) + 5, 1, **fk) for i in dense2_num])
        self.elem_dense_var = torch.nn.ModuleList(
            [torch.nn.Linear(int(i) + 5, 1, **fk) for i in dense2_num])
        self.conv1 = torch.nn.Conv1d(1, 2, kernel_size=8, padding="same", **fk)
        self.conv2 = torch.nn.Conv1d(2, 4, kernel_size=8, padding="same", **fk)
        self.dense_1 = torch.nn.Linear(7512, 192, **fk)
        self.dense_2 = torch.nn.Linear(192, 96, **fk)
        self.dense_teffloggfeh = torch.nn.Linear(96, 3, **fk)
        self.dense_teffloggfeh_var = torch.nn.Linear(96, 3, **fk)
        self.dense_aux_fullspec = torch.nn.Linear(96, 2, **fk)

    def _drop(self, x):
        return F.dropout(x, self.dropout_rate, training=self.mc_dropout)

    def forward(self, inputs):
        """inputs: [B, 7514, 1] (Astra's layout); returns (output, log_variance), [B, 22]."""
        # Element branches: the spectrum at each element's window pixels.
        inputs_elem_censored = [torch.flatten(inputs, start_dim=1)[:, m] for m in self.aspcap_masks]
        elem_dense_1 = [self._drop(F.relu(layer(x)))
                        for x, layer in zip(inputs_elem_censored, self.elem_dense1)]
        elem_dense_2 = [self._drop(F.relu(layer(x)))
                        for x, layer in zip(elem_dense_1, self.elem_dense2)]
        # Full-spectrum branch (as ApogeeBCNN).
        cnn_layer_1 = self._drop(F.relu(self.conv1(inputs.permute(0, 2, 1))))
        cnn_layer_2 = F.relu(self.conv2(cnn_layer_1))  # no dropout
        pool_flattened = self._drop(torch.flatten(
            F.max_pool1d(cnn_layer_2, kernel_size=self.pool_length).permute(0, 2, 1), start_dim=1))
        layer_3 = self._drop(F.relu(self.dense_1(pool_flattened)))
        layer_4 = F.relu(self.dense_2(layer_3))  # no dropout
        teffloggfeh = self.dense_teffloggfeh(layer_4)
        teffloggfeh_var = self.dense_teffloggfeh_var(layer_4)
        aux_fullspec = self.dense_aux_fullspec(layer_4)
        shared = teffloggfeh.detach() if self.stop_gradient else teffloggfeh
        fullspec_hidden = torch.concat([aux_fullspec, shared], dim=1)
        elem_dense_out = [layer(torch.concat([x, fullspec_hidden], dim=1))
                          for x, layer in zip(elem_dense_2, self.elem_dense_out)]
        elem_dense_var = [layer(torch.concat([x, fullspec_hidden], dim=1))
                          for x, layer in zip(elem_dense_2, self.elem_dense_var)]
        output = torch.concat([teffloggfeh[:, :2], *elem_dense_out[:-2], teffloggfeh[:, -1:],
                               *elem_dense_out[-2:]], dim=1)
        log_variance_output = torch.concat([teffloggfeh_var[:, :2], *elem_dense_var[:-2],
                                            teffloggfeh_var[:, -1:], *elem_dense_var[-2:]], dim=1)
        return output, log_variance_output

    def denormalise(self, mean, std):
        """Raw labels and errors from normalised-unit mean and predictive std."""
        labels_mean = self.labels_mean.detach().cpu().numpy()
        labels_std = self.labels_std.detach().cpu().numpy()
        return mean * labels_std + labels_mean, std * labels_std


class ApogeeDistBCNN(torch.nn.Module):
    """Astra's AstroNNDist network (L_fakemag, softplus output)."""

    def __init__(self, device="cpu", dtype=torch.float32):
        super().__init__()
        self.factory_kwargs = {"device": device, "dtype": dtype}
        self.pool_length = 4
        self.dropout_rate = DROPOUT_RATE
        self.mc_dropout = True
        self.targetname = ["fakemag"]
        self.input_mean = torch.nn.Parameter(
            torch.zeros(NETWORK_PIXELS, dtype=torch.float64, device=device), requires_grad=False)
        self.labels_std = torch.nn.Parameter(
            torch.zeros(1, dtype=torch.float64, device=device), requires_grad=False)
        fk = self.factory_kwargs
        self.conv1 = torch.nn.Conv1d(1, 2, kernel_size=8, padding="same", **fk)
        self.conv2 = torch.nn.Conv1d(2, 4, kernel_size=8, padding="same", **fk)
        self.dense_1 = torch.nn.Linear(7512, 192, **fk)
        self.dense_2 = torch.nn.Linear(192, 64, **fk)
        self.dense_output = torch.nn.Linear(64, 1, **fk)
        self.dense_var = torch.nn.Linear(64, 1, **fk)

    def _drop(self, x):
        return F.dropout(x, self.dropout_rate, training=self.mc_dropout)

    def forward(self, inputs):
        cnn_layer_1 = self._drop(F.relu(self.conv1(inputs.permute(0, 2, 1))))
        cnn_layer_2 = F.relu(self.conv2(cnn_layer_1))
        pool_flattened = self._drop(torch.flatten(
            F.max_pool1d(cnn_layer_2, kernel_size=self.pool_length).permute(0, 2, 1), start_dim=1))
        layer_3 = self._drop(F.relu(self.dense_1(pool_flattened)))
        layer_4 = F.relu(self.dense_2(layer_3))
        output = F.softplus(self.dense_output(layer_4))
        log_variance_output = self.dense_var(layer_4)
        return output, log_variance_output

    def denormalise(self, mean, std):
        """L_fakemag and its error (no mean offset, SPEC §5)."""
        labels_std = self.labels_std.detach().cpu().numpy()
        return mean * labels_std, std * labels_std


def load_network(cls, path):
    """An Astra network from an Astra checkpoint (state dict under "model_state_dict")."""
    model = cls()
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state = checkpoint["model_state_dict"] if "model_state_dict" in checkpoint else checkpoint
    model.load_state_dict(state)
    model.eval()  # no effect on F.dropout (Astra's dropout ignores the module mode)
    return model


def predict(model, inputs, batchsize=256, mc_num=100, mc_mode="loop"):
    """Astra's `predict()`: normalised-unit (mean, predictive std, mean log-variance, MC var).

    inputs: float64 array [N, 7514] of normalized flux. mc_mode "loop" is Astra's (mc_num
    forward passes of the batch); "batch" stacks the mc_num copies of up to
    max(1, 4096 // mc_num) spectra into one forward pass instead (same statistics, not what
    Astra does; for comparison only).
    With mc_num == 0 this is the deterministic pass (dropout off): mean = output, var = 0.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    input_mean = model.input_mean.detach().cpu().numpy()
    n = inputs.shape[0]
    means, stds, mlvs, variances = [], [], [], []
    dtype = model.factory_kwargs["dtype"]
    with torch.inference_mode():
        for start in range(0, n, batchsize):
            # float64 subtraction, then float32, as Astra: torch.tensor(inputs - input_mean)
            batch = torch.tensor(inputs[start:start + batchsize] - input_mean, dtype=dtype)[:, :, None]
            if mc_num == 0:
                previous = model.mc_dropout
                model.mc_dropout = False
                try:
                    out, log_var = model(batch)
                finally:
                    model.mc_dropout = previous
                mc_dropout_var = torch.zeros_like(out)
                outputs, outputs_log_var = out, log_var
            else:
                if mc_mode == "loop":
                    temp_outputs = [model(batch) for _ in range(mc_num)]
                    samples = torch.stack([t[0] for t in temp_outputs])
                    log_vars = torch.stack([t[1] for t in temp_outputs])
                else:
                    # mc stacked copies of at most max(1, 4096 // mc) spectra per pass
                    step = max(1, 4096 // mc_num)
                    parts = []
                    for k in range(0, batch.shape[0], step):
                        sub = batch[k:k + step]
                        out, log_var = model(sub.repeat(mc_num, 1, 1))
                        parts.append((out.view(mc_num, sub.shape[0], -1),
                                      log_var.view(mc_num, sub.shape[0], -1)))
                    samples = torch.cat([q[0] for q in parts], dim=1)
                    log_vars = torch.cat([q[1] for q in parts], dim=1)
                mc_dropout_var = torch.var(samples, dim=0)  # unbiased, as Astra
                outputs = torch.mean(samples, dim=0)
                outputs_log_var = torch.mean(log_vars, dim=0)
            outputs_std = torch.sqrt(torch.exp(outputs_log_var) + mc_dropout_var)
            means.append(outputs.double().cpu().numpy())
            stds.append(outputs_std.double().cpu().numpy())
            mlvs.append(outputs_log_var.double().cpu().numpy())
            variances.append(mc_dropout_var.double().cpu().numpy())
    return (np.concatenate(means), np.concatenate(stds), np.concatenate(mlvs),
            np.concatenate(variances))


# --------------------------------------------------------------------------------------
# apStar files (SPEC §2)
# --------------------------------------------------------------------------------------


def e_flux_from_error(err):
    """Astra's e_flux = ivar**-0.5 with ivar = err**-2 and non-finite ivar set to 0, so an
    error of 0, NaN or inf becomes an infinite e_flux."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ivar = np.asarray(err, dtype=np.float64) ** -2.0
        ivar[~np.isfinite(ivar)] = 0.0
        return ivar ** -0.5


def read_apstar(path, visits=False):
    """Reads an apStar file (possibly gzipped; astropy applies BZERO/BSCALE).

    Returns (header, spectra) with spectra a list of dicts: kind ("coadd"/"visit"), row,
    visit (1-based, 0 for the coadd), flux, e_flux, bitmask (8575 each). Row 0 is the coadd;
    with visits and NVISITS > 1 visit k is row k + 1; with NVISITS = 1 the single visit is
    row 0 (the file's second row may be all zeros and is never used).
    """
    with fits.open(path, memmap=False) as hdul:
        header = hdul[0].header.copy()
        flux = np.atleast_2d(np.asarray(hdul[1].data, dtype=np.float64))
        err = np.atleast_2d(np.asarray(hdul[2].data, dtype=np.float64))
        bitmask = np.atleast_2d(np.asarray(hdul[3].data)).astype(np.int64)
    if flux.shape[-1] != APSTAR_PIXELS or flux.shape != err.shape or flux.shape != bitmask.shape:
        raise ValueError(f"{path}: not an apStar layout ({flux.shape})")
    slots = [("coadd", 0, 0)]
    if visits:
        nvisits = int(header.get("NVISITS", 1) or 1)
        if nvisits > 1:
            slots += [("visit", k + 1, k) for k in range(1, nvisits + 1)]
        else:
            slots += [("visit", 0, 1)]
    spectra = []
    for kind, row, visit in slots:
        if row >= flux.shape[0]:
            raise ValueError(f"{path}: row {row} missing")
        spectra.append(dict(kind=kind, row=row, visit=visit, flux=flux[row],
                            e_flux=e_flux_from_error(err[row]), bitmask=bitmask[row]))
    return header, spectra


# --------------------------------------------------------------------------------------
# Continuum normalization (SPEC §3, astroNN's apogee_continuum with dr=17)
# --------------------------------------------------------------------------------------


def gap_delete(array):
    """8575 apStar pixels -> 7514 (the three chips, gaps deleted)."""
    return np.concatenate([array[..., a:b] for a, b in CHIPS], axis=-1)


def chip_slices():
    out, start = [], 0
    for a, b in CHIPS:
        out.append(slice(start, start + (b - a)))
        start += b - a
    return out


CHIP_SLICES = chip_slices()


def apogee_continuum(flux, e_flux, bitmask, contmask, deg=2):
    """Normalized flux and error (7514 each) of one spectrum, as SPEC §3."""
    flux = gap_delete(np.asarray(flux, dtype=np.float64))
    e_flux = gap_delete(np.asarray(e_flux, dtype=np.float64))
    norm = np.empty(NETWORK_PIXELS)
    norm_err = np.empty(NETWORK_PIXELS)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for chip in CHIP_SLICES:
            y, e, cont = flux[chip], e_flux[chip], contmask[chip]
            x = np.arange(y.size)
            # continuum pixels with a finite flux (newer astroNN leaves non-finite ones out)
            use = cont & np.isfinite(y)
            # numpy weights the *unsquared* residuals; domain = [min, max] of the fitted x
            weights = 1.0 / (e[use] ** 2 + 1e-8)
            fit = np.polynomial.Chebyshev.fit(x[use], y[use], deg=deg, w=weights)
            continuum = fit(x)
            norm[chip] = y / continuum
            norm_err[chip] = e / continuum
    norm[norm < 0] = 0.0
    norm[~np.isfinite(norm)] = MASK_VALUE  # the error is left as computed (as astroNN)
    bad = (gap_delete(np.asarray(bitmask).astype(np.int64)) & BAD_PIXEL_MASK) != 0
    norm[bad] = MASK_VALUE
    norm_err[bad] = MASK_VALUE
    return norm, norm_err


# --------------------------------------------------------------------------------------
# Distances (SPEC §5) and flags (SPEC §6)
# --------------------------------------------------------------------------------------


def missing_k_mag(k):
    return (not np.isfinite(k)) or k >= 98 or k <= -1


def missing_ebv(ebv):
    return (not np.isfinite(ebv)) or ebv >= 98 or ebv <= 0


def distance(l_fakemag, l_fakemag_err, k_mag, ebv):
    """(dist, dist_err, a_k_mag, flags) in pc; NaN where there is no distance."""
    flags = 0
    if not np.isfinite(l_fakemag) or not np.isfinite(l_fakemag_err) or \
            l_fakemag_err >= 0.2 * l_fakemag:
        flags |= 1  # FAKEMAG_UNRELIABLE
    if missing_k_mag(k_mag):
        flags |= 2  # MISSING_PHOTOMETRY
    if missing_ebv(ebv):
        flags |= 4  # MISSING_EXTINCTION
        ebv = 0.0
    a_k = 0.3517 * ebv
    if a_k < -1:
        a_k = 0.0
    if flags & 2 or not (l_fakemag > 0):
        return np.nan, np.nan, a_k, flags
    k0 = k_mag - a_k
    dist = 1000.0 * 10 ** (0.2 * k0) / l_fakemag
    dist_err = dist * l_fakemag_err / l_fakemag
    if not dist <= 1e10:
        dist = np.nan
    if not dist_err <= 1e10:
        dist_err = np.nan
    return dist, dist_err, a_k, flags


def astronn_flags(raw, raw_err):
    """result_flags of each row from raw labels/errors [N, 22] (SPEC §6)."""
    t, g, fe = LABELS.index("teff"), LABELS.index("logg"), LABELS.index("fe_h")
    with np.errstate(divide="ignore", invalid="ignore"):
        logg = (raw_err[:, g] > 0.2) & (np.abs(raw_err[:, g] / raw[:, g]) > 0.075)
        teff = raw_err[:, t] > 300
        feh = (raw_err[:, fe] > 0.2) & (np.abs(raw_err[:, fe] / raw[:, fe]) > 0.12)
    return logg.astype(np.int32) | (teff.astype(np.int32) << 1) | (feh.astype(np.int32) << 2)


# --------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------


class Checker:
    def __init__(self):
        self.failures = []

    def report(self, name, value, tol):
        ok = bool(np.isfinite(value) and value <= tol)
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<58} {value:.3e}  (tolerance {tol:.0e})")
        if not ok:
            self.failures.append(name)


def rel_diff(a, b):
    """max |a - b| / max(|b|, 1e-300), NaN-aware: both NaN counts as equal, one NaN as inf."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    if np.any(np.isnan(a) != np.isnan(b)) or np.any(np.isinf(a) != np.isinf(b)):
        return np.inf
    keep = ~(both | same_inf)
    if not keep.any():
        return 0.0
    return float(np.max(np.abs(a[keep] - b[keep]) / np.maximum(np.abs(b[keep]), 1e-300)))


def cmd_check(args):
    fx = args.fixtures
    manifest = json.load(open(os.path.join(fx, "manifest.json")))
    c = Checker()
    torch.manual_seed(args.seed)
    inputs = np.load(os.path.join(fx, "inputs_norm_flux.npy"))

    print("censored network (deterministic pass, normalised units):")
    bcnn = load_network(ApogeeBCNNCensored, os.path.join(fx, manifest["bcnn"]["checkpoint"]))
    mean, std, mlv, _ = predict(bcnn, inputs, mc_num=0)
    det_out = np.load(os.path.join(fx, manifest["bcnn"]["deterministic_output"]))
    det_lv = np.load(os.path.join(fx, manifest["bcnn"]["deterministic_log_variance"]))
    det_pred = np.load(os.path.join(fx, manifest["bcnn"]["deterministic_pred"]))
    c.report("max |output - bcnn_det_output|", np.max(np.abs(mean - det_out)), 1e-5)
    c.report("max |log_variance - bcnn_det_log_variance|", np.max(np.abs(mlv - det_lv)), 1e-5)
    pred, _ = bcnn.denormalise(mean, std)
    c.report("max |pred - bcnn_det_pred| / labels_std",
             np.max(np.abs(pred - det_pred) / bcnn.labels_std.detach().numpy()), 1e-5)

    print("distance network (deterministic pass):")
    dist_net = load_network(ApogeeDistBCNN, os.path.join(fx, manifest["dist"]["checkpoint"]))
    mean_d, std_d, mlv_d, _ = predict(dist_net, inputs, mc_num=0)
    c.report("max |output - dist_det_output|",
             np.max(np.abs(mean_d - np.load(os.path.join(fx, "dist_det_output.npy")))), 1e-5)
    c.report("max |log_variance - dist_det_log_variance|",
             np.max(np.abs(mlv_d - np.load(os.path.join(fx, "dist_det_log_variance.npy")))), 1e-5)
    fakemag, _ = dist_net.denormalise(mean_d, std_d)
    c.report("max |L_fakemag - dist_det_fakemag| / L_fakemag",
             rel_diff(fakemag[:, 0], np.load(os.path.join(fx, "dist_det_fakemag.npy"))), 1e-5)

    print("continuum normalization and apStar reading:")
    contmask = np.load(CONTMASK).astype(bool)
    worst_flux = worst_err = 0.0
    for entry in manifest["continuum"]:
        flux = np.load(os.path.join(fx, entry["flux"]))
        e_flux = np.load(os.path.join(fx, entry["e_flux"]))
        bitmask = np.load(os.path.join(fx, entry["bitmask"]))
        ref = np.load(os.path.join(fx, entry["norm_flux"]))
        ref_err = np.load(os.path.join(fx, entry["norm_e_flux"]))
        norm, norm_err = apogee_continuum(flux, e_flux, bitmask, contmask)
        label = f"{entry['file']} row {entry['row']}"
        d_flux = rel_diff(norm, ref)
        finite = np.isfinite(ref_err) & np.isfinite(norm_err)
        d_err = rel_diff(norm_err[finite], ref_err[finite])
        if np.any(np.isfinite(ref_err) != np.isfinite(norm_err)):
            d_err = np.inf
        worst_flux, worst_err = max(worst_flux, d_flux), max(worst_err, d_err)
        c.report(f"norm flux rel. {label}", d_flux, 1e-9)
        # the apStar reader must hand the continuum step exactly the fixture's inputs
        path = os.path.join(APSTAR_DIR, entry["file"])
        if os.path.exists(path):
            _, spectra = read_apstar(path, visits=True)
            row = [s for s in spectra if s["row"] == entry["row"]]
            if not row:  # row 1 of a NVISITS > 1 file: the second combination
                with fits.open(path) as h:
                    row = [dict(flux=np.asarray(h[1].data[entry["row"]], dtype=np.float64),
                                e_flux=e_flux_from_error(h[2].data[entry["row"]]),
                                bitmask=np.asarray(h[3].data[entry["row"]]).astype(np.int64))]
            s = row[0]
            d_read = max(rel_diff(s["flux"], flux), float(np.any(s["bitmask"] != bitmask)))
            c.report(f"apStar read rel. {label}", d_read, 0.0)
            # e_flux is two powers (err**-2, then **-0.5): numpy builds round them differently
            # by up to an ulp each (1.2e-16 with numpy 2.4 against the fixtures).
            c.report(f"apStar e_flux rel. {label}", rel_diff(s["e_flux"], e_flux), 5e-16)
    c.report("norm error rel. (finite pixels), all rows", worst_err, 1e-9)

    print(f"MC dropout statistics (mc = {args.check_mc}) vs manifest mc_reference (20,000 samples):")
    for net, key in ((bcnn, "bcnn"), (dist_net, "dist")):
        refs = manifest[key]["mc_reference"]
        rows = [r["input_row"] for r in refs]
        mean, std, mlv, var = predict(net, inputs[rows], mc_num=args.check_mc)
        worst_z = worst_e = 0.0
        for i, r in enumerate(refs):
            ref_mean, ref_var = np.array(r["mean_output"]), np.array(r["var_output"])
            z = np.abs(mean[i] - ref_mean) / np.sqrt(ref_var / args.check_mc + 1e-30)
            ref_std = np.sqrt(np.exp(np.array(r["mean_log_variance"])) + ref_var)
            worst_z = max(worst_z, float(np.max(z)))
            worst_e = max(worst_e, float(np.max(np.abs(std[i] / ref_std - 1))))
        c.report(f"{key}: max |mean - ref| in MC standard errors", worst_z, 5.0)
        c.report(f"{key}: max relative error of the predictive std", worst_e, 0.05)

    print("distances (fakemag_to_pc):")
    worst = 0.0
    for r in manifest["dist"]["fakemag_to_pc"]:
        d, de, a_k, _ = distance(r["L_fakemag"], r["L_fakemag_err"], r["k_mag"], r["ebv"])
        ref_d = np.nan if r["dist_pc"] == -9999 else r["dist_pc"]
        ref_de = np.nan if r["dist_err_pc"] == -9999 else r["dist_err_pc"]
        worst = max(worst, rel_diff(d, ref_d), rel_diff(de, ref_de),
                    rel_diff(a_k, r["a_k_mag"]))
    c.report("max rel. |dist, dist_err, a_k_mag - reference|", worst, 1e-12)

    if c.failures:
        print(f"check FAILED ({len(c.failures)}): " + "; ".join(c.failures))
        return 1
    print("check passed")
    return 0


# --------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------


def machine(threads):
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {threads} threads"


def show(name, spectra, seconds):
    print(f"{name:<40} {spectra / max(seconds, 1e-12):>8.1f} spectra/s  "
          f"({spectra} spectra in {seconds:.2f} s)", flush=True)


def bench_alone(name, model, inputs, count, mc, mc_mode):
    """Astra's predict() on `count` already-normalized spectra (cycled rows of `inputs`)."""
    spectra = inputs[np.arange(count) % inputs.shape[0]]
    predict(model, spectra[:2], mc_num=2, mc_mode=mc_mode)  # warm-up (allocator, kernels)
    start = time.perf_counter()
    predict(model, spectra, mc_num=mc, mc_mode=mc_mode)
    show(name, count, time.perf_counter() - start)


def prepare_file(task):
    """Reads and normalizes the spectra of one apStar file (Astra's _prepare_data): returns
    (path, header values, [(kind, row, visit, normalized flux or None)])."""
    path, visits, contmask = task
    try:
        header, spectra = read_apstar(path, visits=visits)
    except Exception as error:  # unreadable: one NO_RESULT coadd row
        return path, {"error": str(error)}, [("coadd", 0, 0, None)]
    meta = {k: header.get(k.upper(), np.nan) for k in ("objid", "telescop", "field", "ra", "dec",
                                                      "snr", "k", "sfd_ebv")}
    out = []
    for s in spectra:
        try:
            norm, _ = apogee_continuum(s["flux"], s["e_flux"], s["bitmask"], contmask)
        except Exception:
            norm = None
        out.append((s["kind"], s["row"], s["visit"], norm))
    return path, meta, out


def end_to_end(paths, count, visits, mc, mc_mode, bcnn, dist_net, contmask, workers,
               batch_size, write_dir):
    """Astra's pipeline over `count` apStar files (cycled from `paths`): read + continuum
    normalize every wanted spectrum (coadd, and visits with `visits`), then per batch of
    `batch_size` spectra (Astra's task default 100) predict() with mc samples, de-normalise,
    flags, distances (coadds, from the header's K and SFD_EBV), and write FITS tables as
    the Rust predict does. Returns (spectra processed, seconds)."""
    files = [paths[i % len(paths)] for i in range(count)]
    tasks = [(p, visits, contmask) for p in files]
    astronn_rows, dist_rows = [], []
    start = time.perf_counter()
    pool = None
    if workers > 0:
        pool = multiprocessing.get_context("fork").Pool(workers)
        prepared = pool.imap(prepare_file, tasks, chunksize=4)
    else:
        prepared = map(prepare_file, tasks)

    pending = []  # (path, meta, kind, row, visit, flux)

    def flush(batch):
        ok = [b for b in batch if b[5] is not None]
        for b in batch:
            if b[5] is None:
                astronn_rows.append(dict(source_file=b[0], kind=b[2], row=b[3], result_flags=1 << 11))
        if not ok:
            return
        flux = np.stack([b[5] for b in ok])
        mean, std, _, _ = predict(bcnn, flux, mc_num=mc, mc_mode=mc_mode)
        raw, raw_err = bcnn.denormalise(mean, std)
        flags = astronn_flags(raw, raw_err)
        for i, b in enumerate(ok):
            row = dict(source_file=os.path.basename(b[0]), kind=b[2], row=b[3], visit=b[4],
                       sdss4_apogee_id=str(b[1].get("objid", "")), snr=float(b[1].get("snr", np.nan)),
                       result_flags=int(flags[i]))
            for j, name in enumerate(LABELS):
                row[name] = raw[i, j]
                row["e_" + name] = raw_err[i, j]  # no noise model in the bench
                row["raw_" + name] = raw[i, j]
                row["raw_e_" + name] = raw_err[i, j]
            astronn_rows.append(row)
        if dist_net is not None:
            coadds = [i for i, b in enumerate(ok) if b[2] == "coadd"]
            if coadds:
                m, s, _, _ = predict(dist_net, flux[coadds], mc_num=mc, mc_mode=mc_mode)
                fm, fm_err = dist_net.denormalise(m, s)
                for k, i in enumerate(coadds):
                    b = ok[i]
                    k_mag, ebv = float(b[1].get("k", np.nan)), float(b[1].get("sfd_ebv", np.nan))
                    d, de, a_k, f = distance(fm[k, 0], fm_err[k, 0], k_mag, ebv)
                    dist_rows.append(dict(source_file=os.path.basename(b[0]), row=b[3], k_mag=k_mag,
                                          ebv=ebv, a_k_mag=a_k, L_fakemag=fm[k, 0],
                                          L_fakemag_err=fm_err[k, 0], dist=d, dist_err=de,
                                          result_flags=f))

    n_spectra = 0
    for path, meta, spectra in prepared:
        for kind, row, visit, norm in spectra:
            pending.append((path, meta, kind, row, visit, norm))
            n_spectra += 1
            if len(pending) >= batch_size:
                flush(pending)
                pending = []
    if pending:
        flush(pending)
    if pool is not None:
        pool.close()
        pool.join()
    for name, rows in (("astronn.fits", astronn_rows), ("dist.fits", dist_rows)):
        if rows:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            table = Table({k: [r.get(k, np.nan if k not in ("source_file", "kind", "sdss4_apogee_id")
                                     else "") for r in rows] for k in keys})
            fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(Table(), name="BOSS"),
                          fits.BinTableHDU(table, name="APOGEE")]).writeto(
                os.path.join(write_dir, name), overwrite=True)
    return n_spectra, time.perf_counter() - start


# ---- training (SPEC §9) ---------------------------------------------------------------


def robust_loss(y_pred, log_var, y_true, sigma):
    """astroNN's mse_var_wrapper with the magic-number correction: per label
    ½((y−ŷ)²/v + ln v), v = exp(s) + σ²; missing labels (NaN or −9999) contribute 0 and the
    per-spectrum mean is scaled by labels / present labels (= mean over present labels)."""
    present = ~(torch.isnan(y_true) | (y_true == -9999.0))
    target = torch.where(present, y_true, torch.zeros_like(y_true))
    v = torch.exp(log_var) + sigma ** 2
    per_label = 0.5 * ((target - y_pred) ** 2 / v + torch.log(v))
    per_label = torch.where(present, per_label, torch.zeros_like(per_label))
    n_present = present.sum(dim=1).to(per_label.dtype)
    per_spectrum = per_label.sum(dim=1) / n_present.clamp(min=1.0)  # 0 without labels
    return per_spectrum.mean()


def max_norm_(weight, max_value=0.5, eps=1e-7):
    """Keras MaxNorm on a Dense kernel: each output unit's vector of input weights (a row of
    PyTorch's [out, in] weight) scaled to norm ≤ max_value."""
    with torch.no_grad():
        norms = weight.norm(dim=1, keepdim=True)
        weight.mul_(norms.clamp(0, max_value) / (eps + norms))


def bench_training(spectra, masks_from, count, batch_size, seed, lr=5e-4, l2=5e-9):
    """Training throughput of the censored network: the second of two epochs over `count`
    spectra (cycled) with the Rust bench's synthetic labels, Adam lr 5e-4 (eps 1e-7 as
    Keras), loss + L2 5e-9 on the weights, dropout on, stop-gradient, max-norm; fresh
    N(0, 0.05) weights and zero biases. Returns (spectra, seconds) of the timed epoch."""
    torch.manual_seed(seed)
    model = ApogeeBCNNCensored()
    with torch.no_grad():
        for i, mask in enumerate(masks_from.aspcap_masks):
            model.aspcap_masks[i].copy_(mask)
        for name, p in model.named_parameters():
            if p.requires_grad:
                if name.endswith(".weight"):
                    p.normal_(0.0, 0.05)
                else:
                    p.zero_()
    model.mc_dropout = True
    model.stop_gradient = True
    model.train()
    # training set: spectra minus their mean spectrum, labels standardised (SPEC §9)
    flux = spectra[np.arange(count) % spectra.shape[0]]
    flux = torch.tensor(flux - flux.mean(axis=0), dtype=torch.float32)[:, :, None]
    i, j = np.meshgrid(np.arange(count), np.arange(22), indexing="ij")
    labels = ((i * 31 + j * 7) % 97) / 97.0
    mu, sd = np.nanmean(labels, axis=0), np.nanstd(labels, axis=0)
    sd[~(sd > 0)] = 1.0
    labels = torch.tensor((labels - mu) / sd, dtype=torch.float32)
    sigma = torch.zeros_like(labels)  # label errors unknown (as the Rust bench)
    params = [p for p in model.parameters() if p.requires_grad]
    weights = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith(".weight")]
    optimizer = torch.optim.Adam(params, lr=lr, eps=1e-7)
    generator = torch.Generator().manual_seed(seed)

    def epoch():
        order = torch.randperm(count, generator=generator)
        for start in range(0, count, batch_size):
            idx = order[start:start + batch_size]
            y, s = model(flux.index_select(0, idx))
            loss = robust_loss(y, s, labels.index_select(0, idx), sigma.index_select(0, idx))
            loss = loss + l2 * sum((w ** 2).sum() for w in weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            max_norm_(model.dense_aux_fullspec.weight, 0.5)

    epoch()  # warm-up
    start = time.perf_counter()
    epoch()
    return count, time.perf_counter() - start


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fx = args.fixtures
    contmask = np.load(CONTMASK).astype(bool)
    inputs = np.load(os.path.join(fx, "inputs_norm_flux.npy"))
    paths = sorted(p for pattern in args.inputs for p in (glob.glob(pattern) or [pattern]))
    paths = [p for p in paths if os.path.isfile(p)]
    print(f"pytorch reference bench on {machine(torch.get_num_threads())}")
    malloc = ", ".join(f"{k}={os.environ[k]}" for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
                       if k in os.environ) or "stock glibc malloc"
    print(f"mc = {args.mc} ({args.mc_mode}), float32, {len(paths)} apStar files, {malloc}")

    bcnn = load_network(ApogeeBCNNCensored, args.model)
    dist_net = load_network(ApogeeDistBCNN, args.dist_model)
    if not args.skip_alone:
        bench_alone("AstroNN network alone", bcnn, inputs, args.spectra, args.mc, args.mc_mode)
        bench_alone("AstroNNDist network alone", dist_net, inputs, args.spectra, args.mc, args.mc_mode)
    if not args.skip_end_to_end:
        if not paths:
            print("no apStar files given: end to end skipped")
        else:
            with tempfile.TemporaryDirectory(prefix="pytorch-reference-") as tmp:
                variants = {"astronn": [False], "both": [True], "each": [False, True]}[args.e2e]
                for with_dist in variants:
                    what = "AstroNN + AstroNNDist" if with_dist else "AstroNN"
                    if args.with_visits:
                        what += ", with visits"
                    n, seconds = end_to_end(paths, args.files, args.with_visits, args.mc,
                                            args.mc_mode, bcnn, dist_net if with_dist else None,
                                            contmask, args.prep_workers, args.batch_size, tmp)
                    show(f"predict end to end ({what})", n, seconds)
    if not args.skip_training:
        for batch in args.train_batches:
            n, seconds = bench_training(inputs, bcnn, args.train_spectra, batch, args.seed)
            show(f"training, batch {batch}", n, seconds)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `%(prog)s check -h` / `%(prog)s bench -h` for the options of each.")
    parser.add_argument("--fixtures", default=FIXTURES,
                        help="the reference fixtures directory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="torch seed (default 1)")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="verify against the reference fixtures; exit 1 on failure")
    check.add_argument("--check-mc", type=int, default=2000,
                       help="MC samples for the MC-statistics check (default 2000)")
    check.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))

    bench = sub.add_parser("bench", help="measure throughput (float32, CPU)",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bench.add_argument("inputs", nargs="*", default=[os.path.join(REPO, "tests", "data", "apStar-*.fits")],
                       help="apStar files (globs allowed) for the end-to-end measurement")
    bench.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                       help="torch.set_num_threads (default: all cores)")
    bench.add_argument("--mc", type=int, default=100, help="MC-dropout samples per spectrum")
    bench.add_argument("--mc-mode", choices=["loop", "batch"], default="loop",
                       help="loop = Astra's (mc forward passes of the batch); batch = one forward pass "
                            "of mc stacked copies of each spectrum (not Astra; for comparison)")
    bench.add_argument("--spectra", type=int, default=100,
                       help="spectra per network-alone measurement (rows of inputs_norm_flux.npy, cycled)")
    bench.add_argument("--files", type=int, default=300,
                       help="apStar files read end to end (the inputs, cycled)")
    vis = bench.add_mutually_exclusive_group()
    vis.add_argument("--coadds-only", dest="with_visits", action="store_false", default=False,
                     help="end to end: the coadd row of each file only (the default, as the Rust bench)")
    vis.add_argument("--with-visits", dest="with_visits", action="store_true",
                     help="end to end: every visit too (AstroNN only; AstroNNDist is for coadds)")
    bench.add_argument("--e2e", choices=["astronn", "both", "each"], default="each",
                       help="end-to-end networks: AstroNN only, AstroNN + AstroNNDist, or each of "
                            "the two in turn (the Rust bench runs AstroNN + AstroNNDist when "
                            "given both models)")
    bench.add_argument("--batch-size", type=int, default=100,
                       help="end to end: spectra per predict() call (Astra's task default 100)")
    bench.add_argument("--prep-workers", type=int, default=0,
                       help="end to end: processes reading/normalizing apStar files alongside "
                            "the network (Astra uses a multiprocessing pool); 0 = in the main "
                            "process, sequentially")
    bench.add_argument("--train-spectra", type=int, default=4096,
                       help="spectra per training measurement (one timed epoch after a warm-up epoch)")
    bench.add_argument("--train-batches", type=int, nargs="+", default=[64, 256])
    bench.add_argument("--skip-alone", action="store_true", help="skip the network-alone measurements")
    bench.add_argument("--skip-end-to-end", action="store_true", help="skip the end-to-end measurement")
    bench.add_argument("--skip-training", action="store_true", help="skip the training measurements")
    bench.add_argument("--model", default=None, help="AstroNN checkpoint (default: fixtures')")
    bench.add_argument("--dist-model", default=None, help="AstroNNDist checkpoint (default: fixtures')")

    bench.add_argument("--malloc-tuned", action="store_true",
                       help="re-run this process with glibc's MALLOC_MMAP_THRESHOLD_ and "
                            "MALLOC_TRIM_THRESHOLD_ raised to 1 GB, so large tensors are not "
                            "handed back to the OS after every op (stock PyTorch on glibc does "
                            "this at batches of ~100+ spectra, costing page faults; Astra runs "
                            "stock, hence off by default)")

    args = parser.parse_args(argv)
    if getattr(args, "malloc_tuned", False) and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1000000000",
                   MALLOC_TRIM_THRESHOLD_="1000000000")
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] +
                  (sys.argv[1:] if argv is None else list(argv)), env)
    if args.command == "check":
        torch.set_num_threads(args.threads)
        return cmd_check(args)
    fx = args.fixtures
    args.model = args.model or os.path.join(fx, "astronn_bcnn_censored.pt")
    args.dist_model = args.dist_model or os.path.join(fx, "astronn_dist_bcnn.pt")
    return cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
