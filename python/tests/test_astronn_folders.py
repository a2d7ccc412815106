"""astroNN's model folders through Python: ``load_model`` reads the committed folders of
``tests/data/astronn_models`` and predicts what astroNN 1.1.0 predicted on them."""

from pathlib import Path

import numpy as np
import pytest

import astronn

MODELS = Path(__file__).resolve().parents[2] / "tests" / "data" / "astronn_models"
REFERENCE = MODELS / "reference"


def test_a_censored_folder_predicts_what_astronn_predicted():
    model = astronn.load_model(MODELS / "censored_dict")
    inputs = np.load(REFERENCE / "inputs.npy")
    out = model.predict(inputs, normalized=True, mc=0)
    want = np.load(REFERENCE / "censored_dict" / "det_pred.npy")
    # Agreement to 1e-4 of each label's spread over the reference rows and a floor.
    for j, label in enumerate(model.labels):
        scale = max(np.abs(want[:, j]).max(), 1.0)
        assert np.abs(out[f"raw_{label}"] - want[:, j]).max() <= 1e-4 * scale, label


def test_a_distance_folder_loads_as_the_distance_network():
    model = astronn.load_model(MODELS / "dist_dict", kind="dist")
    inputs = np.load(REFERENCE / "inputs.npy")
    out = model.predict(inputs, normalized=True, mc=0)
    want = np.load(REFERENCE / "dist_dict" / "det_pred.npy")[:, 0]
    np.testing.assert_allclose(out["raw_L_fakemag"], want, rtol=1e-4)


def test_a_folder_without_weights_raises(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    json = (MODELS / "dist_dict" / "astroNN_model_parameter.json").read_text()
    (broken / "astroNN_model_parameter.json").write_text(json)
    with pytest.raises(OSError, match="no model_weights.h5"):
        astronn.load_model(broken, kind="dist")
