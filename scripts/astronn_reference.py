#!/usr/bin/env python3
"""Reference astroNN model folders, and astroNN's own predictions on them.

The Rust port reads astroNN model folders (`astroNN_model_parameter.json` +
`model_weights.h5`, as published in the astroNN_APOGEE_VAC repository) and predicts with
them. The published weights are not available here, so this script makes small, randomly
initialised models *with astroNN itself* (its own `fit`, `save` and `load_folder`) in the
styles of the published folders, and records what astroNN's `predict` returns on fixed
inputs, so the port can be checked against astroNN rather than against a re-implementation.

Folders written under tests/data/astronn_models/ (hidden sizes as small as the networks
allow; Keras 2 weights without the Adam state: ~1.1 MB for censored_dict, < 1 MB for the
others, ~2.1 MB for censored_keras3: see PROVENANCE.md):

  censored_dict    ApogeeBCNNCensored, astroNN 1.1.0's default format: dict-valued JSON with
                   three inputs (input, input_err, labels_err), input_norm_mode "3" per input,
                   labels_norm_mode "2" (like astroNN_0512_run002, the DR17 VAC model).
  censored_list    censored_dict's model (its files copied: the weights file is the same
                   bytes, stored once by git), JSON rewritten to the old single-input list
                   style of astroNN_0617_run001 (same key set: "input": [7514, 1], "labels":
                   22, list input_mean/..., scalar norm modes 3 / 2, no input_names/
                   output_names); its outputs are recomputed from the folder.
  dist_dict        ApogeeBCNN, softplus last layer, labels_norm_mode "4", 1 label
                   ("Ks-band fakemag"), labels_mean [0.0] (like astroNN_gaia_dr17_model_3).
  dist_list_mode0  ApogeeBCNN, softplus, old list style, labels_norm_mode 0 with the JSON's
                   labels_std edited to [104.31082874331778] (like
                   astroNN_constant_model_reduced).
  censored_keras3  (optional, `make --keras3` under astroNN master + Keras 3) the censored
                   model in astroNN master's format (a `.keras` file).

and (issue 32, item 5: more classes and shapes, all astroNN 1.1.0; `make --only` builds
just these, see below):

  bcnn_paper22       ApogeeBCNN, 22 targets named as astroNN_0606_run001's JSON holds them
                     ("teff", "logg", "[C/H]", "[CI/H]", ..., "[TiII/H]", ..., "[Ni/H]"),
                     linear last layer, JSON rewritten to that folder's old list style (its
                     key set: no l1/maxnorm/activation/last_layer_activation/input_names/
                     output_names/aux_length), input mode 3, labels mode 2.
  bcnn_ages          ApogeeBCNN like APOKASC2_BCNN_age_combined_dr17_4: targets age, mass,
                     softplus last layer, labels_norm_mode "4" (labels_mean [0.0]), dict JSON.
  bcnn25_dropout02   ApogeeBCNN with astroNN's default 25 targets (teff ... Ni, fakemag),
                     dropout_rate 0.2, linear last layer, dict JSON.
  bcnn_conv_shapes   ApogeeBCNN (teff, logg, Fe), num_filters [3, 5], filter_len 5,
                     pool_length 3 (7514 pixels -> 2504 pooled: the pool does not divide).
  cnn                ApogeeCNN (teff, logg, Fe): plain Keras Dropout (off at inference), no
                     variance head; predict() returns the denormalized predictions only.
  censored_dropout0  ApogeeBCNNCensored with dropout_rate 0.0 (astroNN and tf.nn.dropout
                     accept 0): MC passes give model error 0.
  bcnn_mode3s        ApogeeBCNN (Fe, alpha), linear last layer, labels_norm_mode "3s" (labels
                     trained as sigmoid(label), predictions = sigmoid_inv (logit) of the
                     network output; labels_mean [0.0], labels_std [1.0]), input mode 3,
                     dropout 0.3, dict JSON. Its build seed must also give every raw output
                     in (MODE3S_MARGIN, 1 - MODE3S_MARGIN) for every row (a finite logit).

and, for each folder, tests/data/astronn_models/reference/<folder>/ holds astroNN's outputs
on reference/inputs.npy (float64 .npy): a deterministic pass (every MCDropout layer's
`disable_layer = True`, mc_num = 2) and MC-dropout passes (mc_num = 100, one recorded run
plus five more with other seeds; no repeats for censored_keras3 by default; for `cnn`, an
ApogeeCNN without MCDropout, only the deterministic predict and the raw network output).
Every recorded prediction is made on a freshly loaded
folder (`load_folder`): astroNN's Normalizer, for labels mode "0", resets labels_std to 1
inside the first predict() (after the variances were scaled with the JSON's labels_std), so
a second predict() on the same object behaves differently; fresh loads record the
first-call behaviour every time. PROVENANCE.md beside the folders is written by this
script (what, how, versions, seeds, row layout, files, sizes).

Pinned environments (Python 3.11):

  /usr/bin/python3.11 -m venv /tmp/astronn-ref
  /tmp/astronn-ref/bin/pip install tensorflow==2.12.1 tensorflow-probability==0.20.1 \
      astroNN==1.1.0 h5py==3.16.0 astropy==7.2.3 numpy==1.24.3
  (resolved: keras 2.12.0, scikit-learn 1.9.1, ml-dtypes 0.5.4, protobuf 4.25.9)

  astroNN 1.1.0 reads `tf.keras.__version__` when a model is made (base_master_nn.py), which
  Keras >= 2.13 no longer has (AttributeError with TensorFlow 2.15.1 / tf-probability
  0.23.0), so TensorFlow 2.12 it is. `tensorflow-cpu` does not do either: astroNN requires
  the distribution named `tensorflow`, so pip would add the newest one (Keras 3) beside it.

  For --keras3: astroNN master (1.2.dev0, not on PyPI; `git archive` of the commit in
  ASTRONN_MASTER_COMMIT), whose requirements are keras>=3.6 and tensorflow~=2.18.0:
  /usr/bin/python3.11 -m venv /tmp/astronn-ref3
  /tmp/astronn-ref3/bin/pip install tensorflow-cpu==2.18.1 h5py astropy
  /tmp/astronn-ref3/bin/pip install /tmp/astronn-master        # -> keras 3.15.1, numpy 2.0.2
  run with KERAS_BACKEND=tensorflow.

Subcommands:

  make     build inputs.npy (from `target/release/astronn normalize`), every folder of
           FOLDERS (the four above and the issue-32 ones) and their reference outputs, then
           PROVENANCE.md.
             --only NAME[,NAME ...]   instead: only these folders (commas and/or spaces;
                                      `--only new` = the issue-32 folders), with the
                                      committed reference/inputs.npy (not rebuilt, so no
                                      `astronn` binary is needed) and the other folders'
                                      files and manifest entries left as they are.
             --full-size [--out DIR]  instead: one censored model at the DR17 VAC sizes
                                      (hidden [256, 96, 32, 16, 2]) in DIR (default
                                      /tmp/astronn_full/censored_full, ~47 MB, not
                                      committed) and its outputs in DIR_reference/
             --keras3                 instead: censored_keras3 with astroNN master (run with
                                      the Keras 3 venv's python)
  check    reload every folder made by this environment's astroNN and recompute its
           deterministic outputs; compare with the committed ones (exits 1 on a mismatch).
  provenance  rewrite PROVENANCE.md from reference/manifest.json and the files.
  layout   write the HDF5 layout of a model_weights.h5 (or .keras zip) and its Keras
           model_config to a text file (default /tmp/astronn_layout.txt).

  --dest DIR (before the subcommand) writes/reads DIR instead of tests/data/astronn_models.

Examples (from the repository root; `make` needs target/release/astronn, i.e.
`cargo build --release`; about 10 min for `make`, 15 for --keras3, 5 for --full-size on 2
cores):

  /tmp/astronn-ref/bin/python scripts/astronn_reference.py make
  /tmp/astronn-ref/bin/python scripts/astronn_reference.py make --only new
  /tmp/astronn-ref/bin/python scripts/astronn_reference.py make --only bcnn_ages,cnn
  KERAS_BACKEND=tensorflow /tmp/astronn-ref3/bin/python scripts/astronn_reference.py make --keras3
  /tmp/astronn-ref/bin/python scripts/astronn_reference.py make --full-size
  /tmp/astronn-ref/bin/python scripts/astronn_reference.py check
  KERAS_BACKEND=tensorflow /tmp/astronn-ref3/bin/python scripts/astronn_reference.py check
  /tmp/astronn-ref/bin/python scripts/astronn_reference.py layout \\
      tests/data/astronn_models/censored_dict/model_weights.h5
"""

import argparse
import glob
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(REPO, "tests", "data", "astronn_models")  # --dest changes these
REF_DIR = os.path.join(MODELS_DIR, "reference")
MANIFEST = os.path.join(REF_DIR, "manifest.json")


def set_dest(dest):
    global MODELS_DIR, REF_DIR, MANIFEST
    MODELS_DIR = os.path.abspath(dest)
    REF_DIR = os.path.join(MODELS_DIR, "reference")
    MANIFEST = os.path.join(REF_DIR, "manifest.json")

NETWORK_PIXELS = 7514
INPUT_NOISE_SIGMA = 0.02
INPUT_NOISE_SEED = 2026
MAX_REAL_SPECTRA = 8

TRAIN_ROWS = 64
TRAIN_NOISE_SIGMA = 0.02
BATCH_SIZE = 16  # 64 rows, valsize 0.1: 58 training rows = 3 steps of 16 (64 would give 0)

MC_NUM = 100
MC_SEED = 1000  # the recorded MC run; the 5 repeats use MC_SEED + 1 .. MC_SEED + 5
MC_REPEATS = 5
MAX_SEED_TRIES = 20
LIVE_SPREAD = 1e-7
# labels_norm_mode "3s": the predictions are logit(network output), so a build seed must give
# every deterministic raw output in (MODE3S_MARGIN, 1 - MODE3S_MARGIN) for every input row.
MODE3S_MARGIN = 1e-4

# Seeds of the four committed folders (and the Keras 3 / full-size ones).
BUILD_SEEDS = {
    "censored_dict": 11,
    "dist_dict": 13,
    "dist_list_mode0": 14,
    "censored_keras3": 15,
    "censored_full": 16,
    # issue 32, item 5
    "bcnn_paper22": 21,
    "bcnn_ages": 22,
    "bcnn25_dropout02": 23,
    "bcnn_conv_shapes": 24,
    "cnn": 25,
    "censored_dropout0": 26,
    "bcnn_mode3s": 27,
}
# Sizes: the weights file holds the weights and Adam's two moment slots (3x the weights);
# the censored network's C and N branches alone have 8 * hidden[2] * (3806 + 3776) weights,
# so hidden[2] = 1 is the least, and the fullspec Dense has 7512 * hidden[0].
SMALL_CENSORED_HIDDEN = [2, 2, 1, 2, 2]
SMALL_BCNN_HIDDEN = [4, 4]
FULL_CENSORED_HIDDEN = [256, 96, 32, 16, 2]

# Key sets of the published old-style JSON files (astroNN_APOGEE_VAC repository).
OLD_CENSORED_KEYS = [  # astroNN_0617_run001
    "batch_size", "dropout_rate", "filterlen", "filternum", "hidden", "id", "input",
    "input_mean", "input_norm_mode", "input_std", "inv_tau", "l1", "l2", "labels",
    "labels_mean", "labels_norm_mode", "labels_std", "length_scale", "maxnorm",
    "pool_length", "targetname", "task", "valsize",
]
OLD_CONSTANT_KEYS = OLD_CENSORED_KEYS + ["activation", "last_layer_activation"]  # constant_model_reduced
OLD_0606_KEYS = [  # astroNN_0606_run001 (astroNN_spectra_paper_figures): no l1, no maxnorm
    "batch_size", "dropout_rate", "filterlen", "filternum", "hidden", "id", "input",
    "input_mean", "input_norm_mode", "input_std", "inv_tau", "l2", "labels", "labels_mean",
    "labels_norm_mode", "labels_std", "length_scale", "pool_length", "targetname", "task",
    "valsize",
]
CONSTANT_MODEL_LABELS_STD = 104.31082874331778

FOLDERS = {
    "censored_dict": dict(
        cls="ApogeeBCNNCensored", hidden=SMALL_CENSORED_HIDDEN, labels="censored",
        style="dict", mimics="astroNN_0512_run002",
        what="astroNN 1.1.0 default format (dict JSON: inputs input/input_err/labels_err, "
             "input_norm_mode \"3\" per input, labels_norm_mode \"2\")"),
    "censored_list": dict(
        cls="ApogeeBCNNCensored", hidden=SMALL_CENSORED_HIDDEN, labels="censored",
        style="list", mimics="astroNN_0617_run001", same_fit_as="censored_dict",
        what="censored_dict's fit (same weights file, copied), JSON rewritten to the old "
             "single-input list style (key set of "
             "0617_run001: \"input\": [7514, 1], \"labels\": 22, list means/stds, "
             "input_norm_mode 3, labels_norm_mode 2, no input_names/output_names/activation/"
             "last_layer_activation/aux_length)"),
    "dist_dict": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="dist", style="dict",
        labels_norm_mode=4, mimics="astroNN_gaia_dr17_model_3",
        what="ApogeeBCNN, softplus last layer, labels_norm_mode \"4\" (labels_mean [0.0]), "
             "1 label \"Ks-band fakemag\", dict JSON"),
    "dist_list_mode0": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="dist", style="list",
        labels_norm_mode=0, labels_std=CONSTANT_MODEL_LABELS_STD,
        mimics="astroNN_constant_model_reduced",
        what="ApogeeBCNN, softplus, JSON rewritten to the old list style (key set of "
             "constant_model_reduced), labels_norm_mode 0, labels_std edited to "
             "[104.31082874331778]"),
}
# Issue 32, item 5: more classes and shapes (astroNN 1.1.0, dict JSON unless said).
# targetname of astroNN_0606_run001 (Leung & Bovy 2019's ApogeeBCNN, astroNN 1.0.0), verbatim
PAPER22_TARGETS = ["teff", "logg", "[C/H]", "[CI/H]", "[N/H]", "[O/H]", "[Na/H]", "[Mg/H]",
                   "[Al/H]", "[Si/H]", "[P/H]", "[S/H]", "[K/H]", "[Ca/H]", "[Ti/H]",
                   "[TiII/H]", "[V/H]", "[Cr/H]", "[Mn/H]", "[Fe/H]", "[Co/H]", "[Ni/H]"]
AGES_TARGETS = ["age", "mass"]  # APOKASC2_BCNN_age_combined_dr17_4
# astroNN 1.1.0's ApogeeBCNN() / ApogeeCNN() default targetname (checked against it in make)
BCNN25_TARGETS = ["teff", "logg", "M", "alpha", "C", "C1", "N", "O", "Na", "Mg", "Al", "Si",
                  "P", "S", "K", "Ca", "Ti", "Ti2", "V", "Cr", "Mn", "Fe", "Co", "Ni",
                  "fakemag"]
FEW_TARGETS = ["teff", "logg", "Fe"]
MODE3S_TARGETS = ["Fe", "alpha"]
NEW_FOLDERS = {
    "bcnn_paper22": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="censored", style="list",
        targets=PAPER22_TARGETS, last_layer_activation="linear", list_keys=OLD_0606_KEYS,
        mimics="astroNN_0606_run001",
        what="ApogeeBCNN, 22 targets named as 0606_run001's JSON (\"[C/H]\" ...), linear last "
             "layer, labels_norm_mode 2, JSON rewritten to 0606_run001's old list style (its key "
             "set: no l1/maxnorm/activation/last_layer_activation/input_names/output_names/"
             "aux_length)"),
    "bcnn_ages": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="ages", style="dict",
        targets=AGES_TARGETS, last_layer_activation="softplus", labels_norm_mode=4,
        mimics="APOKASC2_BCNN_age_combined_dr17_4 (there hidden [128, 64])",
        what="ApogeeBCNN, targets age, mass, softplus last layer, labels_norm_mode \"4\" "
             "(labels_mean [0.0]), dict JSON"),
    "bcnn25_dropout02": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="bcnn25", style="dict",
        targets=BCNN25_TARGETS, last_layer_activation="linear", dropout_rate=0.2,
        mimics="astroNN's default ApogeeBCNN targets",
        what="ApogeeBCNN, astroNN's default 25 targets (teff ... Ni, fakemag), dropout_rate "
             "0.2, linear last layer, labels_norm_mode 2, dict JSON"),
    "bcnn_conv_shapes": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="few", style="dict",
        targets=FEW_TARGETS, last_layer_activation="linear", num_filters=[3, 5],
        filter_len=5, pool_length=3, mimics="(non-default convolution shapes)",
        what="ApogeeBCNN (teff, logg, Fe), num_filters [3, 5], filter_len 5, pool_length 3 "
             "(7514 -> 2504 after the pool, which does not divide 7514), linear, dict JSON"),
    "cnn": dict(
        cls="ApogeeCNN", hidden=SMALL_BCNN_HIDDEN, labels="few", style="dict",
        targets=FEW_TARGETS, mimics="astroNN's ApogeeCNN",
        what="ApogeeCNN (teff, logg, Fe): Keras Dropout 0.1 (off at inference), no variance "
             "head, linear last layer (CNNBase forces it for regression), labels_norm_mode 2, "
             "astroNN's ApogeeCNN defaults (he_normal, l2 1e-5, lr 0.005), dict JSON"),
    "censored_dropout0": dict(
        cls="ApogeeBCNNCensored", hidden=SMALL_CENSORED_HIDDEN, labels="censored",
        style="dict", dropout_rate=0.0, mimics="astroNN_0512_run002 with dropout_rate 0",
        what="ApogeeBCNNCensored like censored_dict but dropout_rate 0.0 (accepted by astroNN "
             "1.1.0 and tf.nn.dropout: every MC sample is the same), dict JSON"),
    "bcnn_mode3s": dict(
        cls="ApogeeBCNN", hidden=SMALL_BCNN_HIDDEN, labels="mode3s", style="dict",
        targets=MODE3S_TARGETS, last_layer_activation="linear", labels_norm_mode="3s",
        dropout_rate=0.3, mimics="astroNN's labels_norm_mode \"3s\" (sigmoid labels)",
        what="ApogeeBCNN, targets Fe, alpha, linear last layer, labels_norm_mode \"3s\" "
             "(trained on sigmoid(label); predict applies sigmoid_inv to the output; labels_mean "
             "[0.0], labels_std [1.0]), input_norm_mode 3, dropout 0.3, dict JSON"),
}
for _spec in NEW_FOLDERS.values():
    _spec["distinct_rows"] = True  # the stricter seed rule (build_folder)
FOLDERS.update(NEW_FOLDERS)
KERAS3_FOLDER = "censored_keras3"
# The astroNN master sources installed in the Keras 3 venv (git archive of this commit).
ASTRONN_MASTER_COMMIT = "3346072fb376155d9867554b16d8336e70a4c29b"

CENSORED_TARGETS = ["teff", "logg", "C", "C1", "N", "O", "Na", "Mg", "Al", "Si", "P", "S",
                    "K", "Ca", "Ti", "Ti2", "V", "Cr", "Mn", "Fe", "Co", "Ni"]
DIST_TARGETS = ["Ks-band fakemag"]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def log(msg):
    print(f"[astronn_reference] {msg}", flush=True)


def keras_major():
    import keras
    return int(keras.__version__.split(".")[0])


def seed_everything(seed):
    """Python, numpy and TensorFlow/Keras seeds (set_random_seed sets all of them)."""
    import tensorflow as tf
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    if keras_major() >= 3:
        import keras
        keras.utils.set_random_seed(seed)  # also Keras 3's global SeedGenerator
    else:
        tf.keras.utils.set_random_seed(seed)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save64(path, arr):
    # np.ma results (labels mode "3s": sigmoid_inv is np.ma.log) would be saved as their raw
    # data where masked (log of a value outside (0, 1)): refuse those, and non-finite values
    if np.ma.is_masked(arr) or not np.all(np.isfinite(np.ma.getdata(arr))):
        raise SystemExit(f"{path}: masked or non-finite values, not saved")
    np.save(path, np.asarray(arr, dtype=np.float64))


def pip_versions(names):
    from importlib import metadata
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


VERSION_PACKAGES = ["astroNN", "tensorflow", "tensorflow-cpu", "tensorflow-probability",
                    "keras", "tf-keras", "numpy", "h5py", "astropy", "scikit-learn",
                    "ml-dtypes", "protobuf"]


def load_manifest():
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            return json.load(f)
    return {"folders": {}}


def save_manifest(man):
    os.makedirs(REF_DIR, exist_ok=True)
    with open(MANIFEST, "w") as f:
        json.dump(man, f, indent=2, sort_keys=True)
        f.write("\n")


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------

def make_inputs(astronn_bin, data_dir):
    """Real spectra from `astronn normalize`, then seeded noisy copies; saved as inputs.npy."""
    from astropy.io import fits
    with tempfile.TemporaryDirectory() as tmp:
        norm = os.path.join(tmp, "norm.fits")
        cmd = [astronn_bin, "normalize", "-q", "-o", norm, os.path.relpath(data_dir, REPO)]
        log("running " + " ".join(cmd))
        subprocess.run(cmd, check=True, cwd=REPO)
        with fits.open(norm) as h:
            flux = np.array(h["FLUX"].data, dtype=np.float64)
            table = h["SPECTRA"].data
            sources = [(os.path.relpath(os.path.join(REPO, str(table["source_file"][i])), REPO),
                        int(table["row"][i]), str(table["kind"][i])) for i in range(len(table))]
    flux = flux[:MAX_REAL_SPECTRA]
    sources = sources[:MAX_REAL_SPECTRA]
    assert flux.shape[1] == NETWORK_PIXELS and np.all(np.isfinite(flux)), flux.shape
    rng = np.random.default_rng(INPUT_NOISE_SEED)
    noisy = flux + rng.normal(0.0, INPUT_NOISE_SIGMA, size=flux.shape)
    inputs = np.concatenate([flux, noisy]).astype(np.float64)
    rows = []
    for i, (src, row, kind) in enumerate(sources):
        rows.append(f"{i}: {src} (HDU row {row}, {kind}), continuum-normalized by `astronn normalize`")
    for i, (src, row, kind) in enumerate(sources):
        rows.append(f"{len(sources) + i}: row {i} + N(0, {INPUT_NOISE_SIGMA}) noise "
                    f"(numpy default_rng({INPUT_NOISE_SEED}).normal over the {len(sources)}x{NETWORK_PIXELS} block)")
    return inputs, rows


def training_set(real, labels_kind, seed):
    """~64 synthetic training rows: real spectra + noise, plausible random labels."""
    rng = np.random.default_rng(seed)
    idx = np.arange(TRAIN_ROWS) % real.shape[0]
    x = real[idx] + rng.normal(0.0, TRAIN_NOISE_SIGMA, size=(TRAIN_ROWS, real.shape[1]))
    if labels_kind == "censored":
        y = np.empty((TRAIN_ROWS, 22))
        y[:, 0] = rng.normal(4600.0, 500.0, TRAIN_ROWS)
        y[:, 1] = rng.normal(2.5, 1.0, TRAIN_ROWS)
        y[:, 2:] = rng.normal(-0.1, 0.2, (TRAIN_ROWS, 20))
    elif labels_kind == "ages":  # age [Gyr], mass [Msun]
        y = np.empty((TRAIN_ROWS, 2))
        y[:, 0] = rng.uniform(1.0, 13.0, TRAIN_ROWS)
        y[:, 1] = rng.uniform(0.8, 2.5, TRAIN_ROWS)
    elif labels_kind == "bcnn25":  # teff, logg, M, alpha, 20 abundances, fakemag
        y = np.empty((TRAIN_ROWS, 25))
        y[:, 0] = rng.normal(4600.0, 500.0, TRAIN_ROWS)
        y[:, 1] = rng.normal(2.5, 1.0, TRAIN_ROWS)
        y[:, 2:24] = rng.normal(-0.1, 0.2, (TRAIN_ROWS, 22))
        y[:, 24] = rng.uniform(50.0, 300.0, TRAIN_ROWS)
    elif labels_kind == "mode3s":  # Fe, alpha: modest, so sigmoid(label) is well inside (0, 1)
        y = np.empty((TRAIN_ROWS, 2))
        y[:, 0] = rng.uniform(-1.0, 0.4, TRAIN_ROWS)
        y[:, 1] = rng.uniform(-0.1, 0.35, TRAIN_ROWS)
    elif labels_kind == "few":  # teff, logg, Fe
        y = np.empty((TRAIN_ROWS, 3))
        y[:, 0] = rng.normal(4600.0, 500.0, TRAIN_ROWS)
        y[:, 1] = rng.normal(2.5, 1.0, TRAIN_ROWS)
        y[:, 2] = rng.normal(-0.1, 0.2, TRAIN_ROWS)
    else:
        y = rng.uniform(50.0, 300.0, (TRAIN_ROWS, 1))
    return x, y


# --------------------------------------------------------------------------------------
# Folders (astroNN's own fit / save / load_folder / predict; same calls in 1.1.0 and master)
# --------------------------------------------------------------------------------------

def build_folder(name, spec, real, folder, probe):
    """Seeded random model, one epoch of astroNN's own fit, saved with astroNN's save.

    With so few hidden units a ReLU layer is often dead for every input (the spectra are
    alike, so each unit's sign is the same for all of them), and then some outputs do not
    depend on the input at all, which would make a weak reference. So the build seed is the
    first of BUILD_SEEDS[name] + 100 k (k = 0, 1, ...) for which, with dropout off, every
    output and log-variance column varies over the probe spectra (peak-to-peak > 1e-7 in
    normalized units; a dead path gives exactly 0) (and, with `distinct_rows`, no two probe
    rows give the same outputs; with labels_norm_mode "3s", every output is in
    (MODE3S_MARGIN, 1 - MODE3S_MARGIN), so that its logit is finite). Returns (seed,
    rejected seeds).
    """
    import tensorflow as tf
    from astroNN.models import ApogeeBCNN, ApogeeBCNNCensored, ApogeeCNN
    classes = {"ApogeeBCNN": ApogeeBCNN, "ApogeeBCNNCensored": ApogeeBCNNCensored,
               "ApogeeCNN": ApogeeCNN}
    if "targets" in spec and len(spec["targets"]) == 25:  # astroNN's default 25
        assert list(ApogeeBCNN().targetname) == BCNN25_TARGETS == list(ApogeeCNN().targetname)
    rejected = []
    for k in range(MAX_SEED_TRIES):
        seed = BUILD_SEEDS[name] + 100 * k
        clear_session()  # layer names (dense, dense_1, ...) restart, whatever ran before
        seed_everything(seed)
        tf.config.experimental.enable_op_determinism()
        x, y = training_set(real, spec["labels"], seed)
        net = classes[spec["cls"]]()
        net.num_hidden = list(spec["hidden"])
        net.max_epochs = 1
        net.batch_size = BATCH_SIZE
        net.verbose = 0
        if spec["cls"] == "ApogeeBCNN":
            net._last_layer_activation = spec.get("last_layer_activation", "softplus")
            net.targetname = list(spec.get("targets", DIST_TARGETS))
        elif "targets" in spec:
            net.targetname = list(spec["targets"])
        for attr in ("dropout_rate", "num_filters", "filter_len", "pool_length"):
            if attr in spec:
                setattr(net, attr, spec[attr])
        if "labels_norm_mode" in spec:
            net.labels_norm_mode = spec["labels_norm_mode"]
        net.fit(x, y)
        if is_bayesian(net):
            layers = mc_layers(net)
            for layer in layers:
                layer.disable_layer = True
            raw, logvar = raw_outputs(net, probe)
            for layer in layers:
                layer.disable_layer = False
        else:  # ApogeeCNN: Keras Dropout, off in predict; one head
            raw, logvar = raw_outputs(net, probe)
            logvar = np.zeros((raw.shape[0], 0))
        both = np.concatenate([raw, logvar], axis=1)
        spread = np.ptp(both, axis=0)
        # issue-32 folders also: no two rows alike (a row whose ReLU path is dead throughout
        # gives the bare biases, e.g. rows 0 and 2 of a first `cnn` try)
        alike = []
        if spec.get("distinct_rows"):
            alike = [(i, j) for i in range(len(both)) for j in range(i + 1, len(both))
                     if np.max(np.abs(both[i] - both[j])) <= LIVE_SPREAD]
        outside = []
        if str(spec.get("labels_norm_mode")) == "3s":  # predictions = logit(raw output)
            outside = [(i, j) for i in range(raw.shape[0]) for j in range(raw.shape[1])
                       if not MODE3S_MARGIN < raw[i, j] < 1.0 - MODE3S_MARGIN]
        if np.all(spread > LIVE_SPREAD) and not alike and not outside:
            break
        if outside:
            log(f"{name}: seed {seed} rejected, outputs {outside} (row, label) not in "
                f"({MODE3S_MARGIN}, {1 - MODE3S_MARGIN}): {np.round(raw, 4).tolist()}")
        elif alike:
            log(f"{name}: seed {seed} rejected, rows {alike} give the same outputs")
        else:
            log(f"{name}: seed {seed} rejected, {np.sum(spread <= LIVE_SPREAD)} of {spread.size} "
                "outputs do not vary over the inputs (dead ReLU units)")
        rejected.append(seed)
    else:
        raise SystemExit(f"{name}: no seed with live outputs in {MAX_SEED_TRIES} tries")
    if os.path.exists(folder):
        shutil.rmtree(folder)
    net.save(folder)  # astroNN's save: folder, hyperparameter.txt, weights, JSON, history
    if spec["style"] == "list":
        rewrite_list_style(folder, spec)
    if os.path.exists(os.path.join(folder, "model_weights.h5")):  # Keras 2 only (not .keras)
        drop_optimizer_state(os.path.join(folder, "model_weights.h5"))
    return seed, rejected


def drop_optimizer_state(path):
    """Rewrites a Keras 2 model file without its `optimizer_weights` (Adam's m and v, two
    thirds of the weights' bytes): the root attributes and `model_weights` copied by h5py.
    astroNN's load_folder reads it (warning that the optimizer starts afresh) and predicts
    identically; it keeps the committed folders small."""
    import h5py
    tmp = path + ".tmp"
    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        src.copy(src["model_weights"], dst, "model_weights")
    os.replace(tmp, path)


def rewrite_list_style(folder, spec):
    """Rewrite astroNN 1.1.0's dict JSON to the old single-input list style."""
    path = os.path.join(folder, "astroNN_model_parameter.json")
    with open(path) as f:
        p = json.load(f)
    keys = spec.get("list_keys") or (
        OLD_CENSORED_KEYS if spec["cls"] == "ApogeeBCNNCensored" else OLD_CONSTANT_KEYS)
    new = {k: p[k] for k in keys}
    new["input"] = list(p["input"]["input"])
    new["labels"] = p["labels"]["output"]
    new["input_mean"] = p["input_mean"]["input"]
    new["input_std"] = p["input_std"]["input"]
    new["labels_mean"] = p["labels_mean"]["output"]
    new["labels_std"] = p["labels_std"]["output"]
    new["input_norm_mode"] = int(p["input_norm_mode"]["input"])
    new["labels_norm_mode"] = int(p["labels_norm_mode"]["output"])
    if "labels_std" in spec:
        new["labels_std"] = [spec["labels_std"]]
    with open(path, "w") as f:
        json.dump(new, f, indent=4, sort_keys=True)


def is_bayesian(net):
    """ApogeeBCNN / ApogeeBCNNCensored (MCDropout, variance head), not ApogeeCNN."""
    from astroNN.models.base_bayesian_cnn import BayesianCNNBase
    return isinstance(net, BayesianCNNBase)


def mc_layers(net):
    """Every MCDropout layer; keras_model and keras_model_predict share the layer objects."""
    from astroNN.nn.layers import MCDropout
    a = [l for l in net.keras_model.layers if isinstance(l, MCDropout)]
    b = {id(l) for l in net.keras_model_predict.layers if isinstance(l, MCDropout)}
    assert a and {id(l) for l in a} == b, \
        "keras_model and keras_model_predict do not share their MCDropout layers"
    return a


def clear_session():
    if keras_major() >= 3:
        import keras
        keras.backend.clear_session()
    else:
        import tensorflow as tf
        tf.keras.backend.clear_session()


def fresh_load(folder, seed):
    from astroNN.models import load_folder
    clear_session()
    net = load_folder(folder)
    seed_everything(seed)
    return net


def raw_outputs(net, inputs):
    """keras_model_predict on astroNN's own normalized input: (output, log-variance); for
    ApogeeCNN keras_model's single output and None."""
    norm = net.input_normalizer.normalize({"input": np.array(inputs)}, calc=False)["input"]
    x = norm[:, :, None]
    if not is_bayesian(net):
        return np.asarray(net.keras_model.predict(x, verbose=0), np.float64), None
    if keras_major() >= 3:
        r = net.keras_model_predict.predict({"input": x}, verbose=0)
        return np.asarray(r["output"], np.float64), np.asarray(r["variance_output"], np.float64)
    r = np.asarray(net.keras_model_predict.predict(x, verbose=0), np.float64)
    half = r.shape[1] // 2
    return r[:, :half], r[:, half:]


def deterministic_pass(folder, inputs):
    net = fresh_load(folder, MC_SEED)
    if not is_bayesian(net):  # ApogeeCNN: predict() is deterministic and returns no error
        raw, _ = raw_outputs(net, inputs)
        pred = net.predict(np.array(inputs))
        return pred, None, raw, None, 0
    layers = mc_layers(net)
    for layer in layers:
        layer.disable_layer = True
    raw, logvar = raw_outputs(net, inputs)
    net.mc_num = 2
    pred, err = net.predict(np.array(inputs))
    assert np.all(err["model"] == 0.0), "dropout was not off in the deterministic pass"
    return pred, err, raw, logvar, len(layers)


def mc_pass(folder, inputs, seed):
    net = fresh_load(folder, seed)
    net.mc_num = MC_NUM
    return net.predict(np.array(inputs))


def reference_outputs(folder, inputs, out, repeats=MC_REPEATS):
    """astroNN's predictions on inputs (fresh load before every recorded predict)."""
    os.makedirs(out, exist_ok=True)
    pred, err, raw, logvar, n_layers = deterministic_pass(folder, inputs)
    if err is None:  # ApogeeCNN: no MCDropout, no variance head, no MC passes
        save64(os.path.join(out, "det_pred.npy"), pred)
        save64(os.path.join(out, "det_raw_output.npy"), raw)
        return n_layers
    save64(os.path.join(out, "det_pred.npy"), pred)
    save64(os.path.join(out, "det_predictive_err.npy"), err["predictive"])
    save64(os.path.join(out, "det_raw_output.npy"), raw)
    save64(os.path.join(out, "det_raw_logvar.npy"), logvar)
    pred, err = mc_pass(folder, inputs, MC_SEED)
    save64(os.path.join(out, "mc_pred.npy"), pred)
    save64(os.path.join(out, "mc_total_err.npy"), err["total"])
    save64(os.path.join(out, "mc_model_err.npy"), err["model"])
    save64(os.path.join(out, "mc_predictive_err.npy"), err["predictive"])
    if not repeats:
        return n_layers
    runs = [mc_pass(folder, inputs, MC_SEED + k) for k in range(1, repeats + 1)]
    save64(os.path.join(out, "mc_pred_runs.npy"), np.stack([r[0] for r in runs]))
    save64(os.path.join(out, "mc_model_err_runs.npy"), np.stack([r[1]["model"] for r in runs]))
    save64(os.path.join(out, "mc_predictive_err_runs.npy"),
           np.stack([r[1]["predictive"] for r in runs]))
    return n_layers


def env_entry():
    return {"python": sys.version.split()[0], "packages": pip_versions(VERSION_PACKAGES)}


def record(man, name, spec, seed, n_layers, env):
    import astroNN
    entry = dict(spec)
    entry.update({"build_seed": seed[0], "rejected_seeds": seed[1],
                  "astroNN": astroNN.__version__, "env": env,
                  "mc_dropout_layers": n_layers})
    man["folders"][name] = entry


def load_inputs():
    path = os.path.join(REF_DIR, "inputs.npy")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run `make` (astroNN 1.1.0 venv) first")
    return np.load(path)


def make_v1(args):
    if keras_major() >= 3:
        raise SystemExit("make: needs astroNN 1.1.0 with Keras 2 (the /tmp/astronn-ref venv)")
    if args.full_size:
        out_folder = os.path.abspath(args.out)
        inputs = load_inputs()
        real = inputs[: inputs.shape[0] // 2]
        spec = dict(cls="ApogeeBCNNCensored", hidden=FULL_CENSORED_HIDDEN, labels="censored",
                    style="dict")
        os.makedirs(os.path.dirname(out_folder), exist_ok=True)
        log(f"building the full-size censored model in {out_folder}")
        build_folder("censored_full", spec, real, out_folder, inputs)
        ref = out_folder + "_reference"
        reference_outputs(out_folder, inputs, ref)
        log(f"full-size censored model in {out_folder}, its outputs in {ref}")
        return
    man = load_manifest()
    os.makedirs(REF_DIR, exist_ok=True)
    only = parse_only(args.only)
    env = env_entry()
    if only and os.path.exists(os.path.join(REF_DIR, "inputs.npy")) and "inputs" in man:
        # --only: the committed inputs (not rebuilt), the other folders left alone
        inputs = load_inputs()
        log(f"--only {','.join(only)}: using the committed {os.path.relpath(REF_DIR, REPO)}/inputs.npy")
    else:
        inputs, rows = make_inputs(args.astronn, args.data)
        save64(os.path.join(REF_DIR, "inputs.npy"), inputs)
        man["inputs"] = {"rows": rows, "shape": list(inputs.shape)}
    if not only or "env_keras2" not in man:
        man["env_keras2"] = env
    real = inputs[: inputs.shape[0] // 2]
    for name in (only or list(FOLDERS)):
        spec = FOLDERS[name]
        folder = os.path.join(MODELS_DIR, name)
        if "same_fit_as" in spec:
            # the same trained model as another folder (its files copied byte for byte: git
            # stores the weights once), only the JSON rewritten to the old list style
            src = os.path.join(MODELS_DIR, spec["same_fit_as"])
            if spec["same_fit_as"] not in man["folders"] or not os.path.isdir(src):
                raise SystemExit(f"{name} needs {spec['same_fit_as']}: make it first")
            log(f"{name}: copy of {spec['same_fit_as']}, JSON rewritten")
            if os.path.exists(folder):
                shutil.rmtree(folder)
            shutil.copytree(src, folder)
            rewrite_list_style(folder, spec)
            seed = (man["folders"][spec["same_fit_as"]]["build_seed"],
                    man["folders"][spec["same_fit_as"]]["rejected_seeds"])
        else:
            log(f"building {name}")
            seed = build_folder(name, spec, real, folder, inputs)
        log(f"reference outputs of {name}")
        n_layers = reference_outputs(folder, inputs, os.path.join(REF_DIR, name))
        record(man, name, spec, seed, n_layers, "keras2")
        if man["env_keras2"] != env:  # --only under other versions than the rest: say so
            man["folders"][name]["env_detail"] = env
        if "same_fit_as" in spec:
            for f in sorted(glob.glob(os.path.join(REF_DIR, name, "det_*.npy"))):
                other = os.path.join(REF_DIR, spec["same_fit_as"], os.path.basename(f))
                same = np.array_equal(np.load(f), np.load(other))
                log(f"{name}: {os.path.basename(f)} {'equals' if same else 'DIFFERS from'} "
                    f"{spec['same_fit_as']}'s")
                man["folders"][name].setdefault("det_equal_to_" + spec["same_fit_as"], []).append(
                    [os.path.basename(f), bool(same)])
    save_manifest(man)
    write_provenance(man)


def parse_only(values):
    """`--only a,b c` -> [a, b, c] (FOLDERS order kept as given); `new` = the issue-32 folders."""
    names = []
    for v in values or []:
        for n in v.split(","):
            n = n.strip()
            if not n:
                continue
            for m in (list(NEW_FOLDERS) if n == "new" else [n]):
                if m not in FOLDERS:
                    raise SystemExit(f"--only: unknown folder {m!r} (known: "
                                     f"{', '.join(FOLDERS)}, or new)")
                if m not in names:
                    names.append(m)
    return names


def make_keras3(args):
    if keras_major() < 3:
        raise SystemExit("make --keras3: needs astroNN master with Keras 3 (the /tmp/astronn-ref3 venv)")
    man = load_manifest()
    inputs = load_inputs()
    real = inputs[: inputs.shape[0] // 2]
    spec = dict(FOLDERS["censored_dict"])
    spec["mimics"] = "astroNN master (1.2.dev0) format of a censored model"
    spec["what"] = ("ApogeeBCNNCensored saved by astroNN master with Keras 3: model_weights.keras "
                    "(zip: config.json, metadata.json, model.weights.h5) + dict JSON")
    folder = os.path.join(MODELS_DIR, KERAS3_FOLDER)
    log(f"building {KERAS3_FOLDER}")
    seed = build_folder(KERAS3_FOLDER, spec, real, folder, inputs)
    log(f"reference outputs of {KERAS3_FOLDER}")
    # astroNN master's FastMCInference on TensorFlow stacks mc_num calls of the network in one
    # graph (a Python loop): ~10 min per mc_num = 100 prediction on 2 cores, so no repeats.
    n_layers = reference_outputs(folder, inputs, os.path.join(REF_DIR, KERAS3_FOLDER),
                                 repeats=args.keras3_repeats)
    man["env_keras3"] = env_entry()
    man["astronn_master_commit"] = args.master_commit
    record(man, KERAS3_FOLDER, spec, seed, n_layers, "keras3")
    save_manifest(man)
    write_provenance(man)


# --------------------------------------------------------------------------------------
# check: recompute the deterministic outputs of the committed folders
# --------------------------------------------------------------------------------------

def check(args):
    man = load_manifest()
    env = "keras3" if keras_major() >= 3 else "keras2"
    inputs = load_inputs()
    failed = False
    names = [n for n, e in sorted(man["folders"].items()) if e["env"] == env]
    for name in names:
        pred, err, raw, logvar, _ = deterministic_pass(os.path.join(MODELS_DIR, name), inputs)
        pairs = [("det_pred.npy", pred), ("det_raw_output.npy", raw)]
        if err is not None:
            pairs[1:1] = [("det_predictive_err.npy", err["predictive"])]
            pairs.append(("det_raw_logvar.npy", logvar))
        for fname, got in pairs:
            want = np.load(os.path.join(REF_DIR, name, fname))
            ok = got.shape == want.shape and np.allclose(got, want, rtol=1e-6, atol=1e-6)
            failed |= not ok
            log(f"{name}/{fname}: max |diff| {np.max(np.abs(got - want)):.3g} "
                f"{'ok' if ok else 'MISMATCH'}")
    log(f"{len(names)} folders checked with {env}: {'FAILED' if failed else 'ok'}")
    sys.exit(1 if failed else 0)


# --------------------------------------------------------------------------------------
# HDF5 / Keras layout
# --------------------------------------------------------------------------------------

def h5_layout(path, lines):
    import h5py
    with open(path, "rb") as f:
        head = f.read(16)
    lines.append(f"file: {path} ({os.path.getsize(path)} bytes)")
    lines.append(f"first 16 bytes: {head.hex(' ')}  (superblock version = byte 8 = {head[8]})")
    with h5py.File(path, "r") as f:
        lines.append(f"read with h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}); "
                     f"h5py's libver bounds when opening: {f.libver} (not a property of the file)")
        fcpl = f.id.get_create_plist()
        lines.append(f"sizeof(offsets), sizeof(lengths): {fcpl.get_sizes()}; userblock {fcpl.get_userblock()}")
        versions = set()
        mtimes = set()

        def hdr(name, obj):
            oi = h5py.h5o.get_info(obj.id)
            versions.add((type(obj).__name__, oi.hdr.version))
            mtimes.add(oi.mtime)
        hdr("/", f)
        f.visititems(hdr)
        lines.append("object header versions (kind, version): " + str(sorted(versions)))
        with open(path, "rb") as raw:
            data = raw.read()
        sigs = {sig.decode(): data.count(sig) for sig in
                (b"TREE", b"HEAP", b"SNOD", b"GCOL", b"OHDR", b"FRHP", b"BTHD", b"FHDB")}
        lines.append(f"structure signatures in the file (count of the 4 bytes): {sigs}; TREE/HEAP/SNOD ="
                     " old-style symbol-table groups (v1 B-trees, local heaps), GCOL = global heap"
                     " collections (variable-length strings), OHDR/FRHP/BTHD/FHDB = new-style (v2) structures")
        lines.append(f"object modification times recorded: {sorted(mtimes)[:5]} (0 = not tracked)")

        def attrs(obj, indent):
            for k in obj.attrs:
                aid = obj.attrs.get_id(k)
                tid = aid.get_type()
                space = aid.shape
                if isinstance(tid, h5py.h5t.TypeStringID):
                    kind = ("variable-length" if tid.is_variable_str() else f"fixed-length {tid.get_size()} bytes")
                    cset = {h5py.h5t.CSET_ASCII: "ASCII", h5py.h5t.CSET_UTF8: "UTF-8"}.get(tid.get_cset(), tid.get_cset())
                    pad = {h5py.h5t.STR_NULLTERM: "NULLTERM", h5py.h5t.STR_NULLPAD: "NULLPAD", h5py.h5t.STR_SPACEPAD: "SPACEPAD"}.get(tid.get_strpad(), tid.get_strpad())
                    tdesc = f"string {kind}, {cset}, {pad}"
                else:
                    tdesc = f"{aid.dtype}"
                v = obj.attrs[k]
                if isinstance(v, (str, bytes)) and len(v) > 120:
                    shown = repr(v[:120]) + f"... ({len(v)} chars)"
                elif isinstance(v, np.ndarray) and v.size > 8:
                    shown = repr(v[:8].tolist()) + f"... ({v.size} items)"
                else:
                    shown = repr(v.tolist() if isinstance(v, np.ndarray) else v)
                lines.append(f"{indent}@{k}: {tdesc}, dataspace shape {space}: {shown}")

        def walk(g, indent):
            attrs(g, indent + "  ")
            for k in g:
                obj = g[k]
                if isinstance(obj, h5py.Group):
                    lines.append(f"{indent}  {k}/  (group)")
                    walk(obj, indent + "  ")
                else:
                    dcpl = obj.id.get_create_plist()
                    layout = {h5py.h5d.COMPACT: "compact", h5py.h5d.CONTIGUOUS: "contiguous", h5py.h5d.CHUNKED: "chunked"}[dcpl.get_layout()]
                    filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
                    lines.append(f"{indent}  {k}: dataset {obj.dtype} {obj.shape}, {layout}"
                                 f"{', chunks ' + str(obj.chunks) if obj.chunks else ''}"
                                 f"{', filters ' + str(filters) if filters else ', no filters'}")
                    attrs(obj, indent + "    ")
        lines.append("/  (root group)")
        walk(f, "")
        cfg = f.attrs.get("model_config")
    return cfg


def model_config_layers(cfg, lines):
    if isinstance(cfg, bytes):
        cfg = cfg.decode()
    c = json.loads(cfg)
    lines.append(f"model_config: class_name {c.get('class_name')}, config.name {c['config'].get('name')}")
    lines.append(f"input_layers: {c['config'].get('input_layers')}")
    lines.append(f"output_layers: {c['config'].get('output_layers')}")
    for i, layer in enumerate(c["config"]["layers"]):
        inbound = []
        for node in layer.get("inbound_nodes", []):
            if isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
                inbound += [t[0] for t in node]
            elif isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
                def find(o):
                    if isinstance(o, dict):
                        if o.get("class_name") == "__keras_tensor__":
                            inbound.append(o["config"]["keras_history"][0])
                        else:
                            for v in o.values():
                                find(v)
                    elif isinstance(o, list):
                        for v in o:
                            find(v)
                find(node)
        cfgl = layer.get("config", {})
        extra = []
        for key in ("units", "activation", "filters", "kernel_size", "padding", "pool_size", "rate", "axis", "use_bias"):
            if key in cfgl:
                extra.append(f"{key}={cfgl[key]}")
        lines.append(f"  {i:3d} {layer['class_name']:<20} {layer.get('name', cfgl.get('name')):<22} <- {inbound}  {' '.join(extra)}")


def layout(args):
    lines = []
    path = args.path
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            lines.append(f"zip {path}:")
            for info in z.infolist():
                lines.append(f"  {info.filename}: {info.file_size} bytes, compress_type {info.compress_type}")
            with tempfile.TemporaryDirectory() as tmp:
                z.extractall(tmp)
                cfg_json = open(os.path.join(tmp, "config.json")).read()
                lines.append("")
                h5_layout(os.path.join(tmp, "model.weights.h5"), lines)
                lines.append("")
                lines.append("config.json (the functional config):")
                model_config_layers(json.dumps(json.loads(cfg_json)), lines)
    else:
        cfg = h5_layout(path, lines)
        lines.append("")
        if cfg is not None:
            model_config_layers(cfg, lines)
    text = "\n".join(lines) + "\n"
    with open(args.output, "w") as f:
        f.write(text)
    print(text)


# --------------------------------------------------------------------------------------
# PROVENANCE.md
# --------------------------------------------------------------------------------------

def architecture_row(name):
    """One row of PROVENANCE.md's architecture table, from the folder's JSON."""
    path = os.path.join(MODELS_DIR, name, "astroNN_model_parameter.json")
    if not os.path.exists(path):
        return f"| `{name}/` | (missing) | | | | | | | | |"
    with open(path) as f:
        p = json.load(f)
    targets = p.get("targetname", [])
    shown = ", ".join(targets) if len(targets) <= 3 else \
        f"{len(targets)}: {', '.join(targets[:3])}, ..., {targets[-1]}"
    mode = p.get("labels_norm_mode")
    if isinstance(mode, dict):
        mode = mode.get("output")
    last = p.get("last_layer_activation", "(absent)")
    return (f"| `{name}/` | {p.get('id')} | {shown} | {p.get('hidden')} | {p.get('filternum')} | "
            f"{p.get('filterlen')} | {p.get('pool_length')} | {p.get('dropout_rate')} | {last} | "
            f"{json.dumps(mode)} |")


def write_provenance(man):
    """PROVENANCE.md from the manifest and the files on disk."""
    L = []
    a = L.append
    a("# astroNN reference model folders")
    a("")
    a("Made by `scripts/astronn_reference.py` (read its docstring): small, randomly initialised")
    a("models built, trained for one epoch, saved and loaded **by astroNN itself**, in the styles")
    a("of the folders published in the astroNN_APOGEE_VAC repository (whose weights are not")
    a("available here), and astroNN's own predictions on fixed inputs. For checking the Rust")
    a("reader and predictor against astroNN. Regenerate (from the repository root, after")
    a("`cargo build --release`):")
    a("")
    a("```")
    a("/tmp/astronn-ref/bin/python scripts/astronn_reference.py make            # Keras 2 folders + inputs")
    a("/tmp/astronn-ref/bin/python scripts/astronn_reference.py make --only new # just the issue-32 folders")
    a("/tmp/astronn-ref3/bin/python scripts/astronn_reference.py make --keras3  # censored_keras3")
    a("/tmp/astronn-ref/bin/python scripts/astronn_reference.py check           # recompute, compare")
    a("```")
    a("")
    a("## Environments")
    a("")
    for key, title in (("env_keras2", "astroNN 1.1.0 (PyPI), Keras 2: venv /tmp/astronn-ref"),
                       ("env_keras3", "astroNN master (1.2.dev0, git sources), Keras 3, "
                                      "KERAS_BACKEND=tensorflow: venv /tmp/astronn-ref3")):
        if key in man:
            pk = man[key]["packages"]
            a(f"- {title}; Python {man[key]['python']}: "
              + ", ".join(f"`{k}=={v}`" for k, v in sorted(pk.items())))
    if "env_keras3" in man:
        a("  (astroNN master: commit " + man.get("astronn_master_commit", "?") + " of")
        a("  github.com/henrysky/astroNN, installed with `pip install <its source tree>`)")
    a("")
    a("astroNN 1.1.0 reads `tf.keras.__version__`, which Keras >= 2.13 no longer has, so it")
    a("needs TensorFlow <= 2.12 (and the distribution `tensorflow`, not `tensorflow-cpu`, which")
    a("does not satisfy its requirement).")
    a("")
    a("## Folders")
    a("")
    a("| folder | class | hidden | mimics | format | build seed (rejected) |")
    a("|---|---|---|---|---|---|")
    for name, e in sorted(man["folders"].items()):
        rej = ", ".join(str(r) for r in e.get("rejected_seeds", [])) or "none"
        a(f"| `{name}/` | {e['cls']} | {e['hidden']} | {e['mimics']} | {e['what']} | "
          f"{e['build_seed']} ({rej}) |")
    a("")
    a("Architectures, as each folder's `astroNN_model_parameter.json` holds them (list-style JSON")
    a("files lack `last_layer_activation` / `activation`: astroNN then uses linear / relu):")
    a("")
    a("| folder | id | targetname | hidden | filternum | filterlen | pool_length | dropout_rate | last layer | labels_norm_mode |")
    a("|---|---|---|---|---|---|---|---|---|---|")
    for name in sorted(man["folders"]):
        a(architecture_row(name))
    a("")
    a("Each: `astroNN_model_parameter.json`, the weights (`model_weights.h5`: Keras 2 HDF5 from")
    a("`keras_model.save`, with `model_config`/`training_config` attributes; its Adam state")
    a("(`optimizer_weights`) removed afterwards by `drop_optimizer_state`, an h5py copy of the")
    a("rest: astroNN loads it, warns that the optimizer starts afresh, and predicts the")
    a("same; `model_weights.keras` for Keras 3, kept whole: astroNN master's loader needs")
    a("its optimizer variables), `hyperparameter.txt` and")
    a("`training_history.csv` as astroNN wrote them. Built by `fit` (1 epoch, `max_epochs=1`,")
    a(f"batch size {BATCH_SIZE}, Adam lr 0.0005, valsize 0.1) on {TRAIN_ROWS} synthetic rows: the real")
    a(f"spectra of `inputs.npy` (rows 0..n-1) cycled, + N(0, {TRAIN_NOISE_SIGMA}) noise from")
    a("`numpy.random.default_rng(build seed)`; labels from the same generator: censored 22 labels,")
    a("teff ~ N(4600, 500), logg ~ N(2.5, 1), the 20 abundances ~ N(-0.1, 0.2); dist 1 label,")
    a("fakemag ~ U(50, 300); ages (`bcnn_ages`) age ~ U(1, 13), mass ~ U(0.8, 2.5); bcnn25 (`bcnn25_dropout02`)")
    a("teff, logg as censored, M, alpha and the 20 abundances ~ N(-0.1, 0.2), fakemag ~ U(50, 300);")
    a("few (`bcnn_conv_shapes`, `cnn`) teff, logg, Fe as censored; mode3s (`bcnn_mode3s`) Fe ~ U(-1, 0.4),")
    a("alpha ~ U(-0.1, 0.35), trained as sigmoid(label) (labels_norm_mode \"3s\"). `cnn` (ApogeeCNN) trains with")
    a("astroNN's ApogeeCNN default Adam lr 0.005. Seeds: `random.seed`, `np.random.seed`, `tf.random.set_seed` and")
    a("Keras' `set_random_seed` with the build seed, and `tf.config.experimental.enable_op_determinism()`.")
    a("The list-style JSON files were rewritten after `save` (keys, values and order as the")
    a("published ones; the weights untouched), then loaded again by astroNN's `load_folder`, whose")
    a("predictions are the ones recorded.")
    a("")
    a("Build seeds: with so few units a ReLU layer is often dead for every input, and then some")
    a("outputs do not depend on the spectrum. The build seed is the first of base, base + 100,")
    a("base + 200, ... (bases: " + ", ".join(f"{k} {v}" for k, v in BUILD_SEEDS.items()) + ")")
    a("whose fitted model, dropout off, has every output and log-variance column varying over the")
    a(f"rows of inputs.npy (peak-to-peak > {LIVE_SPREAD:g}, normalized units); the rejected ones are listed.")
    a("A few units are still dead for some rows (e.g. ReLU exactly 0 for one star), as in real use.")
    a("The issue-32 folders (" + ", ".join(f"`{n}`" for n in NEW_FOLDERS) + ") follow a stricter")
    a("rule: also no two rows of inputs.npy may give the same outputs (max |diff| <= 1e-07): a row")
    a("whose every ReLU path is dead gives the bare biases, as rows 0 and 2 did for `cnn` with")
    a("seed 25 (ApogeeCNN columns: the output head only).")
    if "bcnn_mode3s" in man["folders"]:
        a("`bcnn_mode3s` (labels_norm_mode \"3s\": predictions = logit(network output)) also needs")
        a(f"every deterministic raw output in ({MODE3S_MARGIN:g}, {1 - MODE3S_MARGIN:g}) for every row of inputs.npy.")
    a("")
    a("Sizes: the hidden sizes are as small as the architectures allow. The C and N branches")
    a("have 8 x hidden[2] x (3806 + 3776) weights even at hidden[2] = 1, HDF5's metadata for ~190")
    a("layer groups is ~0.4 MB, and the dict JSON is ~370 kB (3 x 7514 input means), so")
    a("`censored_dict/` is ~1.1 MB (the other Keras 2 folders are under 1 MB) and")
    a("`censored_keras3/` ~2.1 MB (with its optimizer state). `censored_list` is")
    a("`censored_dict`'s fit (same files, JSON rewritten; git stores the identical weights once)")
    a("and its recorded outputs are bit-identical to `censored_dict`'s.")
    a("")
    a("## Inputs: `reference/inputs.npy`")
    a("")
    shape = man["inputs"]["shape"]
    a(f"float64, shape {shape[0]} x {shape[1]}, exactly the array given to `net.predict`. Real spectra first")
    a("(`target/release/astronn normalize -o <tmp>/norm.fits tests/data`, HDU FLUX, all rows), then")
    a("noisy copies in the same order:")
    a("")
    for r in man["inputs"]["rows"]:
        a(f"- row {r}")
    a("")
    a("## Reference outputs: `reference/<folder>/` (float64 .npy, n = rows of inputs.npy, L = labels)")
    a("")
    a("Every recorded prediction comes from a **fresh `load_folder`** of the folder. astroNN's")
    a("Normalizer, for labels mode \"0\" (`dist_list_mode0`), resets `labels_std[\"output\"]` to [1.0]")
    a("inside the first `predict()` (its denormalize), after that call had already scaled the")
    a("variances with the JSON's labels_std (104.31...): so the predictions are the raw network")
    a("outputs (not multiplied by 104.31) while the errors are multiplied by 104.31; a second")
    a("`predict()` on the same object would use 1.0 for the errors too. Fresh loads record this")
    a("first-call behaviour every time. astroNN casts the input to float32 before subtracting")
    a("`input_mean` (float64 arithmetic, result stored in float32).")
    a("")
    a("- `det_pred.npy` (n x L), `det_predictive_err.npy` (n x L): `net.predict` with every")
    a("  `MCDropout` layer's `disable_layer = True` (the layers are shared by `keras_model` and")
    a("  `keras_model_predict`) and `mc_num = 2`; the \"model\" error is then exactly 0.")
    a("- `det_raw_output.npy`, `det_raw_logvar.npy` (n x L): the same pass's network outputs before")
    a("  denormalisation: `keras_model_predict` on astroNN's normalized input (Normalizer.normalize),")
    a("  the output head and the log-variance head (predictive err = sqrt(exp(logvar)) x labels_std).")
    a("- `mc_pred.npy`, `mc_total_err.npy`, `mc_model_err.npy`, `mc_predictive_err.npy` (n x L):")
    a(f"  `net.mc_num = {MC_NUM}`, `net.predict`, seed {MC_SEED} (set after the load). astroNN's")
    a("  MC statistics: mean over samples, population variance (tf.nn.moments) for the model error,")
    a("  exp(mean of the log-variances) for the predictive one.")
    a(f"- `mc_pred_runs.npy`, `mc_model_err_runs.npy`, `mc_predictive_err_runs.npy` ({MC_REPEATS} x n x L): the")
    a(f"  same MC prediction {MC_REPEATS} more times, seeds {MC_SEED + 1}..{MC_SEED + MC_REPEATS}, a fresh load each: their spread")
    a("  is astroNN's own MC scatter. The dropout masks are TensorFlow's (stateless Philox streams")
    a("  seeded from the global seed), so another implementation can match the MC outputs only")
    a("  statistically: compare with the runs' spread, not to the digit.")
    no_runs = [n for n in sorted(man["folders"])
               if not os.path.exists(os.path.join(REF_DIR, n, "mc_pred_runs.npy"))
               and man["folders"][n]["cls"] != "ApogeeCNN"]
    cnns = [n for n in sorted(man["folders"]) if man["folders"][n]["cls"] == "ApogeeCNN"]
    if cnns:
        a("- " + ", ".join(f"`{n}`" for n in cnns) + " (ApogeeCNN): only `det_pred.npy` (n x L, what")
        a("  `net.predict` returns: the denormalized predictions, no error dict) and `det_raw_output.npy`")
        a("  (n x L, `keras_model.predict` on the normalized input). ApogeeCNN has plain Keras `Dropout`")
        a("  layers (inactive at inference), no MCDropout, no variance head and no MC inference, so")
        a("  there is nothing to disable and no MC file to write.")
    if no_runs:
        a("- " + ", ".join(f"`{n}`" for n in no_runs) + ": no `*_runs.npy`: astroNN master's")
        a("  FastMCInference on TensorFlow stacks the mc_num network calls in one graph (a Python")
        a("  loop), ~10 min per mc_num = 100 prediction on 2 cores (`make --keras3 --keras3-repeats 5`")
        a("  makes them).")
    if "censored_dropout0" in man["folders"]:
        a("- `censored_dropout0`: dropout_rate 0.0, so MCDropout (`tf.nn.dropout(rate=0)`) keeps every")
        a("  unit: `mc_pred.npy` and all of `mc_pred_runs.npy` are bit-identical to `det_pred.npy`,")
        a("  `mc_predictive_err*.npy` and `mc_total_err.npy` equal `det_predictive_err.npy`, and")
        a("  `mc_model_err*.npy` are 0 or float32 rounding (<= 1.5e-7 in label units: tf.nn.moments'")
        a("  variance of 100 equal samples is not always exactly 0).")
    if "bcnn_mode3s" in man["folders"]:
        a("- `bcnn_mode3s` (labels_norm_mode \"3s\"): the Normalizer's denormalize applies astroNN's")
        a("  `sigmoid_inv` (`np.ma.log(x / (1 - x))`, in float32) to the float32 output (or MC mean")
        a("  output), then `*= [1.0]; += [0.0]`; the errors are the variances scaled by the JSON's")
        a("  labels_std ([1.0]) with no transform: they stay in sigmoid (network) units.")
    if KERAS3_FOLDER in man["folders"]:
        a("")
        a(f"`{KERAS3_FOLDER}`: astroNN master writes `model_weights.keras` (Keras 3 zip: `metadata.json`,")
        a("`config.json` with the functional config and compile config, `model.weights.h5`) and the")
        a("same dict JSON as 1.1.0 (input means in float32 precision there too). Its `load_folder`")
        a("cannot read the Keras 2 folders above (it opens `f[\"optimizer\"][\"vars\"]` before")
        a("looking at the format: KeyError), so the two sets are checked by their own astroNN.")
    a("")
    if man.get("reproducibility"):
        a("## Reproducibility")
        a("")
        a(man["reproducibility"])
        a("")
    a("`reference/manifest.json` is the script's record of all this (it writes this file from it).")
    a("")
    a("## Files")
    a("")
    a("| file | bytes | SHA-256 |")
    a("|---|---|---|")
    total = 0
    folder_sizes = {}
    for path in sorted(glob.glob(os.path.join(MODELS_DIR, "**", "*"), recursive=True)):
        if os.path.isdir(path) or os.path.basename(path) in ("PROVENANCE.md", "LAYOUTS.md"):
            continue
        rel = os.path.relpath(path, MODELS_DIR)
        size = os.path.getsize(path)
        total += size
        top = rel.split(os.sep)[0] if os.sep in rel else "."
        if top == "reference":
            top = os.sep.join(rel.split(os.sep)[:2]) if rel.count(os.sep) > 1 else "reference"
        folder_sizes[top] = folder_sizes.get(top, 0) + size
        a(f"| `{rel}` | {size} | `{sha256(path)[:16]}...` |")
    a("")
    a("Sizes: " + ", ".join(f"`{k}/` {v / 1e6:.2f} MB" for k, v in sorted(folder_sizes.items()))
      + f"; total {total / 1e6:.2f} MB.")
    with open(os.path.join(MODELS_DIR, "PROVENANCE.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=MODELS_DIR,
                    help="where the folders and reference/ go (default tests/data/astronn_models)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="build the folders and their reference outputs")
    m.add_argument("--astronn", default=os.path.join(REPO, "target", "release", "astronn"))
    m.add_argument("--data", default=os.path.join(REPO, "tests", "data"))
    m.add_argument("--only", nargs="+", metavar="NAME[,NAME]",
                   help="only these folders (comma/space separated; `new` = the issue-32 ones: "
                        + ", ".join(NEW_FOLDERS) + "); reuses reference/inputs.npy")
    m.add_argument("--full-size", action="store_true")
    m.add_argument("--out", default="/tmp/astronn_full/censored_full")
    m.add_argument("--keras3", action="store_true")
    m.add_argument("--keras3-repeats", type=int, default=0,
                   help="MC repeats for --keras3 (default 0: each takes ~10 min)")
    m.add_argument("--master-commit", default=ASTRONN_MASTER_COMMIT,
                   help="the astroNN master commit installed in the Keras 3 venv (recorded only)")
    sub.add_parser("check", help="recompute the deterministic outputs and compare")
    sub.add_parser("provenance", help="rewrite PROVENANCE.md from reference/manifest.json")
    la = sub.add_parser("layout", help="HDF5 layout and model_config of a weights file")
    la.add_argument("path")
    la.add_argument("-o", "--output", default="/tmp/astronn_layout.txt")
    args = ap.parse_args()
    set_dest(args.dest)
    if args.cmd == "make":
        if args.keras3:
            make_keras3(args)
        else:
            make_v1(args)
    elif args.cmd == "check":
        check(args)
    elif args.cmd == "provenance":
        write_provenance(load_manifest())
    else:
        layout(args)


if __name__ == "__main__":
    main()
