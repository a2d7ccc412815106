"""What a notebook user meets: missing inputs are loud, masks are never ignored, models pass
as paths or objects, results say what they are (flags by name, units, wavelengths, error
parts), one dropout-stream rule for arrays and files, and clear errors on foreign files."""

import os
import shutil
import warnings

import numpy as np
import pytest

import astronn
from astronn import flags

pytestmark = pytest.mark.filterwarnings("ignore:using the embedded default:astronn.AstroNNWarning")

NO_RESULT = 1 << 11
STAR = "apStar-dr17-2M17335483-2753043.fits"


@pytest.fixture(scope="module")
def default_model():
    return astronn.load_model()


@pytest.fixture
def elsewhere(tmp_path):
    """Runs the test from an empty directory, where relative paths name nothing."""
    before = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


# 1. Missing inputs fail before any work; glob patterns expand.


def test_a_missing_input_is_a_file_not_found_error(elsewhere, apstar_dir):
    with pytest.raises(FileNotFoundError, match="tests/data"):
        astronn.predict_files("tests/data", mc=0)
    with pytest.raises(FileNotFoundError, match="apStar-typo"):
        astronn.predict_files([apstar_dir / STAR, apstar_dir / "apStar-typo.fits"], mc=0)
    with pytest.raises(FileNotFoundError, match="apStarX"):
        astronn.predict_files(str(apstar_dir / "apStarX*.fits"), mc=0)
    listed = elsewhere / "inputs.txt"
    listed.write_text(f"{apstar_dir / STAR}\napStar-not-here.fits\n")
    with pytest.raises(FileNotFoundError, match="apStar-not-here"):
        astronn.predict_files(f"@{listed}", mc=0)
    assert os.listdir(elsewhere) == ["inputs.txt"]


def test_glob_patterns_expand_and_unreadable_files_stay_no_result_rows(apstar_dir, tmp_path):
    every = sorted(apstar_dir.glob("apStar-*.fits"))
    coadds, _, _ = astronn.predict_files(str(apstar_dir / "apStar-*.fits"), mc=0)
    assert len(coadds) == len(every) > 1
    assert [os.path.basename(f) for f in coadds["source_file"]] == [p.name for p in every]
    broken = tmp_path / "apStar-broken.fits"
    broken.write_bytes(b"not a FITS file")
    with pytest.warns(astronn.AstroNNWarning, match="apStar-broken.fits"):
        coadds, _, _ = astronn.predict_files([apstar_dir / STAR, broken], mc=0)
    assert list(coadds["result_flags"] & NO_RESULT) == [0, NO_RESULT]


# 2. No silent wrong answers.


def test_masked_pixels_are_bad_pixels(apstar_dir, default_model):
    star = astronn.read_apstar(apstar_dir / STAR, visits=False)
    flux, e_flux, bitmask = star["flux"], star["e_flux"], star["bitmask"]
    mask = np.zeros(flux.shape, bool)
    mask[0, 1000:4000] = True
    masked = np.ma.masked_array(flux * np.where(mask, 50.0, 1.0), mask)
    got = default_model.predict(masked, e_flux, bitmask, mc=0)
    # As bad pixels of the apStar bitmask, out of the continuum fit: flux NaN, BADPIX set.
    as_bad = default_model.predict(np.where(mask, np.nan, flux), e_flux, bitmask | mask.astype(np.uint64), mc=0)
    ignored = default_model.predict(masked.data, e_flux, bitmask, mc=0)
    np.testing.assert_array_equal(got["teff"], as_bad["teff"])
    assert got["teff"][0] != ignored["teff"][0]
    norm, _ = astronn.normalize(masked, e_flux, bitmask)
    assert np.all(norm[0, np.flatnonzero(mask[0, 246:3274])] == 1.0)
    # Normalized spectra: a masked pixel is astroNN's mask value, 1.
    spectra = np.ma.masked_array(np.full((1, 7514), 0.2), np.zeros((1, 7514), bool))
    spectra.mask[0, :3000] = True
    ones = np.full((1, 7514), 0.2)
    ones[0, :3000] = 1.0
    masked_out = default_model.predict(spectra, normalized=True, mc=0)
    assert masked_out["teff"][0] == default_model.predict(ones, normalized=True, mc=0)["teff"][0]
    assert masked_out["teff"][0] != default_model.predict(spectra.data, normalized=True, mc=0)["teff"][0]
    np.testing.assert_array_equal(default_model.jacobian(spectra), default_model.jacobian(ones))


def test_jacobian_of_a_spectrum_that_cannot_be_predicted_is_nan_with_a_warning(default_model):
    flux = np.ones((3, 7514))
    flux[1] = np.nan
    with pytest.warns(astronn.AstroNNWarning, match="array row 1: .*non-finite.*NaN"):
        cube = default_model.jacobian(flux)
    assert np.isnan(cube[1]).all()
    assert np.isfinite(cube[[0, 2]]).all() and np.abs(cube[0]).max() > 0


# 3. Models: detected, passed as objects, named when defaulted.


def test_load_model_reads_the_kind_from_the_file(fixtures):
    assert astronn.load_model(fixtures.path("astronn_dist_bcnn.pt")).kind == "dist"
    assert astronn.load_model(fixtures.path("astronn_bcnn_censored.pt")).kind == "astronn"
    with pytest.raises(ValueError, match="AstroNNDist model, but an AstroNN model"):
        astronn.load_model(fixtures.path("astronn_dist_bcnn.pt"), kind="astronn")


def test_loaded_models_are_accepted_where_paths_are(fixtures, apstar_dir):
    star = str(apstar_dir / STAR)
    labels = astronn.load_model(fixtures.path("astronn_bcnn_censored.pt"))
    dist = astronn.load_model(fixtures.path("astronn_dist_bcnn.pt"))
    by_object = astronn.predict_files(star, labels, dist_model=dist, mc=4, seed=2)
    by_path = astronn.predict_files(
        star, fixtures.path("astronn_bcnn_censored.pt"), dist_model=fixtures.path("astronn_dist_bcnn.pt"), mc=4, seed=2
    )
    for name in ("coadds", "distances"):
        ours, theirs = getattr(by_object, name), getattr(by_path, name)
        for column in ("teff", "L_fakemag") if name == "coadds" else ("L_fakemag",):
            if column in ours.colnames:
                np.testing.assert_array_equal(ours[column], theirs[column])
        assert ours.meta["MODELSHA"] == theirs.meta["MODELSHA"]
    network = astronn.Network(labels)
    pred, _ = network.predict(np.ones((1, 7514)), mc_num=0)
    np.testing.assert_array_equal(pred, astronn.Network(fixtures.path("astronn_bcnn_censored.pt")).predict(np.ones((1, 7514)), mc_num=0)[0])
    with pytest.raises(ValueError, match="dist_model must be an AstroNNDist"):
        astronn.predict_files(star, dist_model=labels, mc=0)
    with pytest.raises(TypeError, match="model must be a path or a Model"):
        astronn.predict_files(star, model=42, mc=0)


def test_a_default_model_used_in_place_of_a_given_one_is_named(fixtures, apstar_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        astronn.predict_files(apstar_dir / STAR, fixtures.path("astronn_bcnn_censored.pt"), distances=True, mc=0)
    notes = [str(w.message) for w in caught if issubclass(w.category, astronn.AstroNNWarning)]
    assert any("AstroNNDist model 'default-dist'" in n for n in notes), notes
    assert not any("AstroNN model 'default'" in n for n in notes), notes


# 4. Results say what they are.


def test_flags_decode_and_encode_both_products():
    assert flags.bits() == {"UNCERTAIN_LOGG": 1, "UNCERTAIN_TEFF": 2, "UNCERTAIN_FE_H": 4, "NO_RESULT": 2048}
    assert flags.bits("dist") == {
        "FAKEMAG_UNRELIABLE": 1, "MISSING_PHOTOMETRY": 2, "MISSING_EXTINCTION": 4, "NO_RESULT": 2048
    }
    assert flags.names(2 | 2048) == ["UNCERTAIN_TEFF", "NO_RESULT"]
    assert flags.names([0, 5, 1 << 20]) == [[], ["UNCERTAIN_LOGG", "UNCERTAIN_FE_H"], ["BIT20"]]
    assert flags.value(*flags.names(2055)) == 2055
    assert flags.has(np.array([0, 4, 2048]), "NO_RESULT", "UNCERTAIN_FE_H").tolist() == [False, True, True]
    assert flags.has(2, "MISSING_PHOTOMETRY", kind="dist") is True
    assert flags.describe()[1] == (1, "UNCERTAIN_TEFF", "raw_e_teff > 300 K")
    with pytest.raises(ValueError, match="UNCERTAIN_TEFF"):
        flags.value("UNCERTAIN_TEF")
    with pytest.raises(ValueError, match="kind"):
        flags.names(1, kind="labels")


def test_flags_agree_with_the_tables_flag_columns(apstar_dir, fixtures):
    coadds, _, dist = astronn.predict_files(
        apstar_dir, fixtures.path("astronn_bcnn_censored.pt"), dist_model=fixtures.path("astronn_dist_bcnn.pt"),
        mc=4, seed=1,
    )
    bad = flags.has(coadds["result_flags"], "UNCERTAIN_TEFF") | (
        flags.has(coadds["result_flags"], "UNCERTAIN_LOGG") & flags.has(coadds["result_flags"], "UNCERTAIN_FE_H")
    )
    np.testing.assert_array_equal(bad, coadds["flag_bad"])
    assert coadds["flag_bad"].any()  # the reference weights are random: Teff is uncertain
    np.testing.assert_array_equal(
        flags.has(dist["result_flags"], "MISSING_EXTINCTION", kind="dist"), dist["flag_warn"]
    )


def test_tables_carry_units_and_descriptions(apstar_dir, tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    import astropy.units as u

    coadds, visits, dist = astronn.predict_files(
        apstar_dir / STAR, visits=True, distances=True, mc=0, output_dir=tmp_path
    )
    assert coadds["teff"].unit == u.K and coadds["e_logg"].unit == u.dex
    assert coadds["teff"].description == "Effective temperature"
    assert visits["v_rad"].unit == u.km / u.s
    assert dist["nn_dist"].unit == u.pc and dist["nn_parallax"].unit == u.mas
    assert coadds["sdss_id"].unit is None
    # In the FITS file, TUNIT only for FITS-standard units: K, not dex.
    header = fits.getheader(tmp_path / astronn.TABLE_FILES["coadds"], "APOGEE")
    units = {header[f"TTYPE{i}"]: header.get(f"TUNIT{i}") for i in range(1, header["TFIELDS"] + 1)}
    assert units["teff"] == "K" and units["ra"] == "deg" and units["logg"] is None


def test_wavelength_grids():
    apstar, network = astronn.wavelength(), astronn.wavelength(network=True)
    assert apstar.shape == (8575,) and network.shape == (7514,)
    np.testing.assert_allclose(apstar, 10 ** (4.179 + 6e-6 * np.arange(8575)), rtol=1e-14)
    chips = np.r_[246:3274, 3585:6080, 6344:8335]
    np.testing.assert_array_equal(network, apstar[chips])


def test_each_error_splits_into_its_mc_and_predictive_parts(fixtures, default_model):
    inputs = fixtures.array("inputs_norm_flux.npy")[:4]
    out = default_model.predict(inputs, normalized=True, mc=20, seed=3)
    for label in default_model.labels:
        np.testing.assert_allclose(
            np.hypot(out[f"e_{label}_model"], out[f"e_{label}_predictive"]), out[f"raw_e_{label}"], rtol=1e-12
        )
        assert (out[f"e_{label}_model"] > 0).all()
    assert out.units["e_teff_model"] == "K"
    deterministic = default_model.predict(inputs, normalized=True, mc=0)
    assert (deterministic["e_teff_model"] == 0).all()
    np.testing.assert_array_equal(deterministic["e_teff_predictive"], deterministic["raw_e_teff"])
    table = out.table()
    assert str(table["teff"].unit) == "K" and table["logg"].description == "Surface gravity"


# 5. One dropout-stream rule.


def test_model_predict_with_keys_reproduces_a_file_run(apstar_dir, default_model):
    path = apstar_dir / STAR
    coadds, visits, _ = astronn.predict_files(path, visits=True, mc=10, seed=5)
    star = astronn.read_apstar(path)
    out = default_model.predict(star["flux"], star["e_flux"], star["bitmask"], mc=10, seed=5, keys=star["keys"])
    table = np.concatenate([coadds["teff"], visits["teff"]])
    np.testing.assert_array_equal(out["teff"].astype(np.float32), table)
    keyed_by_row = default_model.predict(star["flux"], star["e_flux"], star["bitmask"], mc=10, seed=5)
    assert not np.array_equal(keyed_by_row["teff"], out["teff"])
    # The Jacobian follows the same rule.
    norm, _ = astronn.normalize(star["flux"][:1], star["e_flux"][:1], star["bitmask"][:1])
    a = default_model.jacobian(norm, mc=4, seed=5, keys=star["keys"][:1])
    b = default_model.jacobian(norm, mc=4, seed=5, keys=[(shutil.os.path.join("elsewhere", STAR), 0)])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, default_model.jacobian(norm, mc=4, seed=5))
    with pytest.raises(ValueError, match="one \\(file, row\\) pair per spectrum"):
        default_model.predict(norm, normalized=True, keys=[])


# 6. Foreign files.


def test_read_result_table_refuses_a_foreign_file(apstar_dir, tmp_path):
    pytest.importorskip("astropy")
    with pytest.raises(ValueError, match="not an AstroNN result table.*APOGEE"):
        astronn.read_result_table(apstar_dir / STAR)
