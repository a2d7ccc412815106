"""Arrays in and out: continuum normalization, apStar reading and astroNN's distance
conversions against the reference fixtures; shapes and dtypes refused clearly."""

import warnings

import numpy as np
import pytest

import astronn


def continuum_case(fixtures, case):
    return (
        fixtures.array(case["flux"]),
        fixtures.array(case["e_flux"]),
        fixtures.array(case["bitmask"]),
        fixtures.array(case["norm_flux"]),
        fixtures.array(case["norm_e_flux"]),
    )


def relative(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def test_normalize_matches_astronn_on_every_fixture_row(fixtures):
    cases = [continuum_case(fixtures, c) for c in fixtures.manifest["continuum"]]
    assert len(cases) >= 6
    flux, e_flux, bitmask, want_flux, want_err = (np.stack(parts) for parts in zip(*cases))
    got_flux, got_err = astronn.normalize(flux, e_flux, bitmask)
    assert got_flux.shape == got_err.shape == (len(cases), 7514)
    assert relative(got_flux, want_flux).max() <= 1e-7
    finite = np.isfinite(want_err)
    assert finite.sum(axis=1).min() > 7000
    assert relative(got_err[finite], want_err[finite]).max() <= 1e-7
    assert not np.isfinite(got_err[~finite]).any()


def test_read_apstar_gives_the_pixels_astra_hands_the_continuum_step(fixtures, apstar_dir):
    compared = 0
    for case in fixtures.manifest["continuum"]:
        star = astronn.read_apstar(apstar_dir / case["file"])
        if case["row"] not in star["row"]:
            continue  # apStar row 1 is the second combined spectrum, which no pipeline reads
        row = star["row"].index(case["row"])
        compared += 1
        flux, e_flux, bitmask = continuum_case(fixtures, case)[:3]
        assert star["flux"].dtype == np.float64 and star["bitmask"].dtype == np.uint64
        np.testing.assert_array_equal(star["flux"][row], flux)
        # e_flux = (err**-2)**-0.5 is computed in Rust, not numpy: equal to a few ulp.
        np.testing.assert_allclose(star["e_flux"][row], e_flux, rtol=1e-14)
        np.testing.assert_array_equal(star["bitmask"][row], bitmask.astype(np.uint64))
        assert star["kind"][0] == "coadd" and set(star["kind"][1:]) <= {"visit"}
        assert star["header"]["sdss4_apogee_id"] in case["file"]
        assert len(star["visit_headers"]) == star["kind"].count("visit")
    assert compared >= 5


def test_read_apstar_without_visits_reads_the_coadd_only(apstar_dir):
    path = sorted(apstar_dir.glob("apStar-*.fits"))[0]
    star = astronn.read_apstar(path, visits=False)
    assert star["flux"].shape == (1, 8575) and star["kind"] == ["coadd"]


def test_a_row_that_cannot_be_normalized_is_nan_with_a_warning(fixtures):
    flux, e_flux, bitmask = continuum_case(fixtures, fixtures.manifest["continuum"][0])[:3]
    flux = np.stack([flux, np.full_like(flux, np.nan)])
    e_flux = np.stack([e_flux, e_flux])
    with pytest.warns(astronn.AstroNNWarning, match="row 1"):
        norm, _ = astronn.normalize(flux, e_flux, np.stack([bitmask, bitmask]))
    assert np.isfinite(norm[0]).all() and np.isnan(norm[1]).all()


def test_float32_and_fortran_order_give_what_float64_c_order_gives(fixtures):
    flux, e_flux, bitmask = continuum_case(fixtures, fixtures.manifest["continuum"][0])[:3]
    flux32 = np.asfortranarray(np.stack([flux, flux]).astype(np.float32))
    e32 = np.asfortranarray(np.stack([e_flux, e_flux]).astype(np.float32))
    mask = np.stack([bitmask, bitmask]).astype(np.int32)
    got = astronn.normalize(flux32, e32, mask)
    want = astronn.normalize(flux32.astype(np.float64, order="C"), e32.astype(np.float64, order="C"), mask)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize(
    "flux, message",
    [
        (np.ones((2, 8000)), r"shape \(N, 8575\); got shape \(2, 8000\)"),
        (np.ones(8575), r"shape \(N, 8575\); got shape \(8575,\)"),
        (np.ones((2, 8575), dtype=np.float16), "float32 or float64.*got dtype float16"),
        (np.ones((2, 8575), dtype=np.int64), "got dtype int64"),
    ],
)
def test_wrong_shapes_and_dtypes_are_value_errors(flux, message):
    with pytest.raises(ValueError, match=message):
        astronn.normalize(flux, np.ones((2, 8575)))


def test_a_bitmask_must_be_integers_of_the_flux_shape():
    flux = np.ones((2, 8575))
    with pytest.raises(ValueError, match="integer array"):
        astronn.normalize(flux, flux, np.ones((2, 8575)))
    with pytest.raises(ValueError, match="shape"):
        astronn.normalize(flux, flux, np.zeros((1, 8575), dtype=np.int64))


def test_fakemag_to_pc_matches_astronn(fixtures):
    cases = fixtures.manifest["dist"]["fakemag_to_pc"]
    fakemag = np.array([c["L_fakemag"] for c in cases])
    error = np.array([c["L_fakemag_err"] for c in cases])
    mag = np.array([c["k_mag_corrected"] for c in cases])
    want = np.array([c["dist_pc"] for c in cases])
    want_err = np.array([c["dist_err_pc"] for c in cases])
    pc, pc_err = astronn.fakemag_to_pc(fakemag, mag, error)
    pc, pc_err = np.asarray(getattr(pc, "value", pc)), np.asarray(getattr(pc_err, "value", pc_err))
    magic = want == -9999.0
    assert magic.sum() == 2
    np.testing.assert_array_equal(pc[magic], -9999.0)
    np.testing.assert_array_equal(pc_err[magic], -9999.0)
    assert relative(pc[~magic], want[~magic]).max() <= 1e-12
    assert relative(pc_err[~magic], want_err[~magic]).max() <= 1e-12
    parallax, parallax_err = astronn.fakemag_to_parallax(fakemag, mag, error)
    parallax = np.asarray(getattr(parallax, "value", parallax))
    assert relative(parallax[~magic], 1000.0 / want[~magic]).max() <= 1e-12
    np.testing.assert_array_equal(parallax[magic], -9999.0)


def test_fakemag_conversions_keep_astropy_units_and_scalars():
    units = pytest.importorskip("astropy.units")
    pc = astronn.fakemag_to_pc(150.0, 9.811)
    assert pc.unit == units.pc and pc.shape == ()
    assert abs(pc.value - 1000.0 * 10 ** (0.2 * 9.811) / 150.0) < 1e-9
    assert astronn.fakemag_to_parallax([1.0, 2.0], 5.0).unit == units.mas
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert astronn.fakemag_to_pc(np.nan, 10.0).value == -9999.0
