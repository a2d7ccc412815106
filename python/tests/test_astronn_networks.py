"""Every astroNN network of APOGEE spectra from Python: an ApogeeBCNN of any outputs (the
DR17 VAC's ages network's shape), an ApogeeCNN, and several networks in one pass, against
astroNN 1.1.0's own predictions (tests/data/astronn_models, see its PROVENANCE.md)."""

import json
import os
import warnings

import numpy as np
import pytest

import astronn

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
MODELS = os.path.join(REPO, "tests", "data", "astronn_models")
DATA = os.path.join(REPO, "tests", "data")


def folder(name):
    return os.path.join(MODELS, name)


def reference(name, array):
    return np.load(os.path.join(MODELS, "reference", name, array))


def labels_std(name):
    with open(os.path.join(folder(name), "astroNN_model_parameter.json")) as f:
        std = json.load(f)["labels_std"]
    return np.asarray(std["output"] if isinstance(std, dict) else std, dtype=float)


def per_label(values, labels):
    """A JSON mean or std for each label (astroNN stores one value for several)."""
    return np.broadcast_to(values, (len(labels),))


@pytest.mark.parametrize(
    "name, labels",
    [
        ("bcnn_ages", ["age", "mass"]),
        ("cnn", ["teff", "logg", "fe_h"]),
        ("bcnn_conv_shapes", ["teff", "logg", "fe_h"]),
        # labels mode 3s: the label is the logit of the network's output
        ("bcnn_mode3s", ["fe_h", "alpha_m"]),
    ],
)
def test_outputs_are_named_as_columns_and_match_astronn(name, labels):
    model = astronn.load_model(folder(name))
    assert model.kind == "generic"
    assert model.labels == labels
    inputs = reference("", "inputs.npy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model.predict(inputs, normalized=True, mc=0)
    expected = reference(name, "det_pred.npy")
    std = per_label(labels_std(name), labels)
    for j, label in enumerate(labels):
        assert set(f"{p}{label}" for p in ("", "e_", "raw_", "raw_e_")) <= set(out)
        np.testing.assert_allclose(out[label], expected[:, j], rtol=0, atol=1e-4 * std[j])
    if model.is_bayesian:
        predictive = reference(name, "det_predictive_err.npy")
        np.testing.assert_allclose(out[f"e_{labels[0]}"], predictive[:, 0], rtol=1e-4)
    else:
        assert np.isnan(out[f"e_{labels[0]}"]).all()


def test_an_apogee_cnn_asked_for_mc_samples_says_it_runs_once():
    model = astronn.load_model(folder("cnn"))
    assert not model.is_bayesian
    inputs = reference("", "inputs.npy")
    with pytest.warns(astronn.AstroNNWarning, match="mc ignored"):
        out = model.predict(inputs, normalized=True, mc=50, seed=1)
    np.testing.assert_array_equal(out["teff"], model.predict(inputs, normalized=True, mc=0)["teff"])
    assert np.isnan(out["e_logg"]).all()


def test_an_l_fakemag_output_takes_photometry_for_its_distance():
    model = astronn.load_model(folder("bcnn25_dropout02"))
    assert model.labels[2:4] == ["m_h", "alpha_m"] and model.labels[-1] == "L_fakemag"
    inputs = reference("", "inputs.npy")
    out = model.predict(inputs, normalized=True, mc=0, k_mag=np.full(4, 10.0), ebv=np.zeros(4))
    # With no extinction, the distance is 1000 · 10^(0.2 K) / L_fakemag pc.
    np.testing.assert_allclose(out["nn_dist"], 1000 * 10 ** 2.0 / out["L_fakemag"], rtol=1e-9)


def test_abundances_distances_and_ages_in_one_pass_equal_separate_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", astronn.AstroNNWarning)
        together = astronn.predict_files(
            DATA,
            folder("censored_dict"),
            dist_model=folder("dist_dict"),
            extra={"ages": folder("bcnn_ages")},
            seed=7,
            mc=20,
        )
        alone = astronn.predict_files(DATA, folder("bcnn_ages"), seed=7, mc=20)
    coadds, visits, distances = together
    assert visits is None and "fe_h" in coadds.colnames and "nn_dist" in distances.colnames
    ages = together.extra["ages"]
    assert ages.meta["NNCLASS"] == "ApogeeBCNN"
    for column in ("age", "e_age", "mass", "raw_e_mass"):
        np.testing.assert_array_equal(ages[column], alone.coadds[column])
    assert "Error on age" in ages["e_age"].description
    assert ages["sdss_id"].description


def test_a_bad_extra_name_is_a_value_error_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="not a plain name"):
        astronn.predict_files(DATA, extra={"../ages": folder("bcnn_ages")}, output_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
