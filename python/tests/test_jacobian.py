"""Model.jacobian: PyTorch autograd's Jacobians (tests/data/jacobian_reference), and the
command line's cube."""

import json
import subprocess

import numpy as np
import pytest

import astronn
from conftest import REPO

REFERENCE = REPO / "tests" / "data" / "jacobian_reference"


@pytest.mark.parametrize("checkpoint, kind, name", [
    ("astronn_bcnn_censored.pt", "astronn", "astronn"),
    ("astronn_dist_bcnn.pt", "dist", "dist"),
])
def test_jacobians_match_pytorch(fixtures, checkpoint, kind, name):
    rows = json.loads((REFERENCE / "manifest.json").read_text())["rows"]
    model = astronn.load_model(fixtures.path(checkpoint), kind=kind)
    flux = fixtures.array("inputs_norm_flux.npy")[rows]
    values, log_variance = model.jacobian(flux, log_variance=True)
    assert values.shape == (len(rows), len(model.labels), 7514) and values.dtype == np.float32
    for ours, theirs in [(values, np.load(REFERENCE / f"{name}_label.npy")),
                         (log_variance[:1], np.load(REFERENCE / f"{name}_log_variance.npy"))]:
        scale = np.abs(theirs).max(axis=2, keepdims=True)
        assert (np.abs(ours - theirs) <= 1e-4 * scale).all()


def test_the_cube_of_the_command_line_holds_the_same_jacobians(fixtures, cli, tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    files = sorted((REPO / "tests" / "data").glob("apStar-*.fits"))
    out = tmp_path / "jacobian.fits"
    subprocess.run([cli, "--quiet", "jacobian", "--model", fixtures.path("astronn_bcnn_censored.pt"),
                    "-o", str(out)] + [str(f) for f in files], check=True)
    with fits.open(out) as hdus:
        cube = hdus["JACOBIAN"].data
        assert hdus["JACOBIAN"].header["LABEL1"] == "teff"
        assert len(hdus["SPECTRA"].data) == len(files)
    model = astronn.load_model(fixtures.path("astronn_bcnn_censored.pt"))
    coadds = []
    for f in files:
        star = astronn.read_apstar(f, visits=False)
        coadds.append(astronn.normalize(star["flux"], star["e_flux"], star["bitmask"])[0][0])
    np.testing.assert_allclose(cube, model.jacobian(np.array(coadds)), rtol=1e-6, atol=1e-9)


def test_mc_jacobians_depend_on_the_seed_only(fixtures):
    model = astronn.load_model(fixtures.path("astronn_bcnn_censored.pt"))
    flux = fixtures.array("inputs_norm_flux.npy")[:2]
    a = model.jacobian(flux, mc=8, seed=4)
    np.testing.assert_array_equal(a, model.jacobian(flux, mc=8, seed=4, threads=1))
    assert not np.array_equal(a, model.jacobian(flux, mc=8, seed=5))
    with pytest.raises(ValueError, match="normalize"):
        model.jacobian(np.ones((1, 8575)), normalized=False)
