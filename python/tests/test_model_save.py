"""``Model.save``: any loaded model written as ``astronn convert`` writes it."""

import numpy as np
import pytest

import astronn


def test_a_saved_model_predicts_as_the_original(tmp_path):
    original = astronn.load_model()
    path = tmp_path / "default.safetensors"
    original.save(path, description="the embedded model, saved")
    saved = astronn.load_model(path)
    assert saved.metadata["description"] == "the embedded model, saved"
    assert saved.metadata["source_sha256"] == original.sha256
    assert saved.metadata["source_file"] == original.path
    assert saved.labels == original.labels
    flux = np.random.default_rng(1).normal(1, 0.01, (3, astronn.NETWORK_PIXELS))
    before = original.predict(flux, normalized=True, mc=5, seed=2)
    after = saved.predict(flux, normalized=True, mc=5, seed=2)
    for column in ("teff", "mg_h", "raw_e_teff", "raw_e_mg_h"):
        np.testing.assert_array_equal(after[column], before[column])
    # The default models' noise model belongs to them, not to a copy: the copy's errors are
    # the network's own.
    assert saved.noise_model == "none"
    np.testing.assert_array_equal(after["e_teff"], after["raw_e_teff"])


def test_saving_over_a_file_needs_overwrite(cli, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"yesterday's model")
    model = astronn.load_model("default-dist", kind="dist")
    with pytest.raises(FileExistsError):
        model.save(path)
    assert path.read_bytes() == b"yesterday's model"
    model.save(path, overwrite=True)
    assert astronn.load_model(path, kind="dist").kind == "dist"
