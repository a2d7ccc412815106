"""Models through Python: the deterministic and MC outputs of both networks against the
PyTorch reference, Astra's Network.predict, NO_RESULT rows and errors."""

import warnings

import numpy as np
import pytest

import astronn
from conftest import labels_std

#: Agreement of a deterministic pass with the float32 PyTorch reference, in units of each
#: label's normalisation scale (as the Rust parity tests require).
DETERMINISTIC = 2e-4
#: MC estimates may differ by this many standard errors.
SIGMAS = 5.0
#: MC samples per spectrum in the MC comparisons.
SAMPLES = 4000


@pytest.fixture(scope="module")
def astronn_model(fixtures):
    return astronn.load_model(fixtures.path("astronn_bcnn_censored.pt"))


@pytest.fixture(scope="module")
def dist_model(fixtures):
    return astronn.load_model(fixtures.path("astronn_dist_bcnn.pt"), kind="dist")


def test_the_deterministic_pass_matches_pytorch(fixtures, astronn_model):
    inputs = fixtures.array("inputs_norm_flux.npy")
    out = astronn_model.predict(inputs, normalized=True, mc=0)
    # Our labels are DR19's column names; Astra's names differ for C I and Ti II.
    astra = [{"c_1_h": "c1_h", "ti_2_h": "ti2_h"}.get(l, l) for l in astronn_model.labels]
    assert astra == fixtures.manifest["bcnn"]["targetname"]
    want = fixtures.array("bcnn_det_pred.npy")
    std = labels_std(fixtures.array("bcnn_det_output.npy"), want)
    want_err = np.sqrt(np.exp(fixtures.array("bcnn_det_log_variance.npy"))) * std
    for j, label in enumerate(astronn_model.labels):
        assert out[f"raw_{label}"].shape == (len(inputs),)
        assert np.abs(out[f"raw_{label}"] - want[:, j]).max() <= DETERMINISTIC * std[j], label
        assert np.abs(out[f"raw_e_{label}"] - want_err[:, j]).max() <= DETERMINISTIC * std[j], label
        # A .pt model has no noise model: the errors are the network's own.
        np.testing.assert_array_equal(out[f"e_{label}"], out[f"raw_e_{label}"])
    assert out["result_flags"].dtype == np.int64 and out["flag_bad"].dtype == np.bool_


def test_the_distance_network_matches_pytorch(fixtures, dist_model):
    inputs = fixtures.array("inputs_norm_flux.npy")
    out = dist_model.predict(inputs, normalized=True, mc=0)
    want = fixtures.array("dist_det_fakemag.npy")
    std = labels_std(fixtures.array("dist_det_output.npy"), want)[0]
    assert abs(std - 104.31) < 1e-6
    assert np.abs(out["raw_L_fakemag"] - want).max() <= DETERMINISTIC * std
    want_err = np.sqrt(np.exp(fixtures.array("dist_det_log_variance.npy")[:, 0])) * std
    assert np.abs(out["raw_e_L_fakemag"] - want_err).max() <= DETERMINISTIC * std
    # Without photometry there is no distance.
    assert np.isnan(out["nn_dist"]).all()


def test_distances_follow_the_given_photometry(fixtures, dist_model):
    inputs = fixtures.array("inputs_norm_flux.npy")[:2]
    out = dist_model.predict(inputs, normalized=True, mc=0, k_mag=[9.0, 10.0], ebv=0.0)
    l = out["L_fakemag"]
    want = 1000.0 * 10 ** (0.2 * np.array([9.0, 10.0])) / l
    np.testing.assert_allclose(out["nn_dist"], np.where(l > 1e-4, want, np.nan), rtol=1e-12)


def mc_check(model, inputs, case, std, value_keys):
    """Our MC labels and errors against the reference's MC estimates (rows `case`)."""
    row = case["input_row"]
    out = model.predict(inputs[row : row + 1], normalized=True, mc=SAMPLES, seed=2024)
    variance = np.asarray(case["var_output"])
    se = std * np.sqrt(variance * (1.0 / SAMPLES + 1.0 / case["n_mc"]))
    values, errors = value_keys(out)
    ref_values = np.atleast_1d(case.get("pred", case.get("fakemag")))
    ref_errors = np.atleast_1d(case.get("pred_err", case.get("fakemag_err")))
    assert (np.abs(values - ref_values) < SIGMAS * se).all(), (values - ref_values) / se
    # The fixtures' PROVENANCE.md (MC references): the error should land within a few per cent.
    assert (np.abs(errors / ref_errors - 1.0) < 0.05).all(), errors / ref_errors


def test_mc_dropout_matches_the_reference_estimates(fixtures, astronn_model):
    inputs = fixtures.array("inputs_norm_flux.npy")
    std = labels_std(fixtures.array("bcnn_det_output.npy"), fixtures.array("bcnn_det_pred.npy"))
    labels = astronn_model.labels
    cases = fixtures.manifest["bcnn"]["mc_reference"]
    assert len(cases) >= 3
    for case in cases:
        mc_check(
            astronn_model,
            inputs,
            case,
            std,
            lambda out: (
                np.array([out[f"raw_{l}"][0] for l in labels]),
                np.array([out[f"raw_e_{l}"][0] for l in labels]),
            ),
        )


def test_mc_dropout_of_the_distance_network_matches_the_reference(fixtures, dist_model):
    inputs = fixtures.array("inputs_norm_flux.npy")
    cases = fixtures.manifest["dist"]["mc_reference"]
    assert len(cases) >= 2
    for case in cases:
        mc_check(
            dist_model,
            inputs,
            case,
            104.31,
            lambda out: (out["raw_L_fakemag"], out["raw_e_L_fakemag"]),
        )


def test_astras_network_interface(fixtures):
    inputs = fixtures.array("inputs_norm_flux.npy")
    network = astronn.Network(fixtures.path("astronn_bcnn_censored.pt"), "cpu")
    assert network.targetname == fixtures.manifest["bcnn"]["targetname"]
    pred, err = network.predict(inputs, mc_num=0)
    want = fixtures.array("bcnn_det_pred.npy")
    std = labels_std(fixtures.array("bcnn_det_output.npy"), want)
    assert pred.shape == err.shape == want.shape
    assert (np.abs(pred - want) <= DETERMINISTIC * std).all()
    # With MC dropout, shaped as Astra's own predict() returned it with mc_num = 100.
    pred, err = network.predict(inputs, batchsize=256, mc_num=100, seed=3)
    assert pred.shape == fixtures.array("bcnn_astra_predict_mc100_pred.npy").shape
    assert err.shape == fixtures.array("bcnn_astra_predict_mc100_err.npy").shape
    assert np.isfinite(pred).all() and (err > 0).all()

    dist = astronn.Network(fixtures.path("astronn_dist_bcnn.pt"), device="cpu")
    fakemag, fakemag_err = dist.predict(inputs, mc_num=0)
    assert fakemag.shape == fakemag_err.shape == (len(inputs),)
    assert np.abs(fakemag - fixtures.array("dist_det_fakemag.npy")).max() <= DETERMINISTIC * 104.31
    with pytest.raises(ValueError, match="CPU"):
        astronn.Network(fixtures.path("astronn_dist_bcnn.pt"), device="cuda:0")


def test_raw_pixels_are_normalized_as_normalize_does(fixtures, apstar_dir, astronn_model):
    star = astronn.read_apstar(sorted(apstar_dir.glob("apStar-*.fits"))[0])
    raw = astronn_model.predict(star["flux"], star["e_flux"], star["bitmask"], mc=10, seed=5)
    norm, _ = astronn.normalize(star["flux"], star["e_flux"], star["bitmask"])
    normalized = astronn_model.predict(norm, normalized=True, mc=10, seed=5)
    for column in astronn_model.columns:
        np.testing.assert_array_equal(raw[column], normalized[column], err_msg=column)


def test_results_do_not_depend_on_threads_dtype_or_order(fixtures, astronn_model):
    inputs = fixtures.array("inputs_norm_flux.npy").astype(np.float32)
    base = astronn_model.predict(inputs.astype(np.float64), normalized=True, mc=20, seed=9)
    one_thread = astronn_model.predict(np.asfortranarray(inputs), normalized=True, mc=20, seed=9, threads=1)
    for column in astronn_model.columns:
        np.testing.assert_array_equal(base[column], one_thread[column], err_msg=column)
    # Each row has its own dropout stream: a row's result does not depend on the others.
    alone = astronn_model.predict(inputs[:1].astype(np.float64), normalized=True, mc=20, seed=9)
    assert alone["teff"][0] == base["teff"][0]


def test_a_spectrum_without_a_result_is_a_no_result_row(fixtures, astronn_model):
    inputs = fixtures.array("inputs_norm_flux.npy")[:3].copy()
    inputs[1, 100] = np.nan
    with pytest.warns(astronn.AstroNNWarning, match="array row 1: .*non-finite"):
        out = astronn_model.predict(inputs, normalized=True, mc=0)
    assert np.isnan(out["teff"][1]) and np.isfinite(out["teff"][[0, 2]]).all()
    NO_RESULT = 1 << 11
    assert out["result_flags"][1] == NO_RESULT and out["result_flags"][0] & NO_RESULT == 0
    with pytest.raises(ValueError, match="array row 1"):
        astronn_model.predict(inputs, normalized=True, mc=0, strict=True)


def test_the_default_model_runs_out_of_the_box():
    with pytest.warns(astronn.AstroNNWarning, match="simulated spectra"):
        model = astronn.load_model()
    assert model.is_default and model.kind == "astronn" and "label_range" in model.metadata
    assert model.noise_model.startswith("default:")
    out = model.predict(np.ones((2, 7514)), normalized=True, mc=10)
    assert set(out) == set(model.columns)
    assert out["teff"].shape == (2,) and np.isfinite(out["teff"]).all()
    # The default noise model recalibrates the errors; the raw ones are the network's.
    assert not np.array_equal(out["e_teff"], out["raw_e_teff"])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: m.predict(np.ones((2, 8000)), normalized=True), ValueError, r"\(N, 7514\)"),
        (lambda m: m.predict(np.ones((2, 7514))), ValueError, "normalized=True"),
        (lambda m: m.predict(np.ones(7514), normalized=True), ValueError, "shape"),
        (lambda m: m.predict(np.ones((2, 7514), np.float16), normalized=True), ValueError, "float16"),
        (lambda m: m.predict(np.ones((2, 8575))), ValueError, "e_flux"),
        (lambda m: m.predict(np.ones((2, 7514)), normalized=True, mc=1), ValueError, "mc = 1"),
        (lambda m: m.predict(np.ones((2, 7514)), normalized=True, threads=0), ValueError, "threads"),
        (lambda m: m.predict(np.ones((2, 7514)), normalized=True, seed=-1), ValueError, "seed"),
        (lambda m: m.predict(np.ones((2, 7514)), normalized=True, noise_model="/nonexistent.json"), OSError, "nonexistent"),
        (lambda m: m.predict(np.ones((2, 7514)), normalized=True, k_mag=[9.0, 9.0]), ValueError, "distance model"),
    ],
)
def test_bad_arguments_raise_clear_exceptions(astronn_model, call, error, message):
    with pytest.raises(error, match=message):
        call(astronn_model)


def test_bad_models_raise_clear_exceptions(fixtures, tmp_path):
    with pytest.raises(ValueError, match="is an AstroNNDist model, but an AstroNN model"):
        astronn.load_model(fixtures.path("astronn_dist_bcnn.pt"), kind="astronn")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        astronn.load_model(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(OSError, match="garbage.pt"):
        astronn.load_model(garbage)
    with pytest.raises(ValueError, match="kind"):
        astronn.load_model(kind="labels")


def test_bf16_is_opt_in_close_to_float32_and_never_silently_float32(fixtures, astronn_model):
    assert astronn_model.precision == "float32"
    path = fixtures.path("astronn_bcnn_censored.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        native = astronn.load_model(path, precision="bf16")
    said = [str(w.message) for w in caught if issubclass(w.category, astronn.AstroNNWarning)]
    if native.precision == "float32":
        # This CPU has no AVX512-BF16: the model says so out loud.
        assert any("no AVX512-BF16" in message for message in said), said
    else:
        assert native.precision == "bfloat16" and not said
    emulated = astronn.load_model(path, precision="bf16-emulated")
    assert emulated.precision == "bfloat16 (emulated)"
    inputs = fixtures.array("inputs_norm_flux.npy")
    want = astronn_model.predict(inputs, normalized=True, mc=20, seed=3)
    got = emulated.predict(inputs, normalized=True, mc=20, seed=3)
    for label in astronn_model.labels:
        shift = np.abs(got[f"raw_{label}"] - want[f"raw_{label}"]) / want[f"raw_e_{label}"]
        # docs/performance.md's threshold for harmless is 0.1 at the 99th percentile; the fixtures
        # measured at most 0.0003.
        assert shift.max() < 0.01, label
    assert not np.array_equal(got["raw_teff"], want["raw_teff"])
    with pytest.raises(ValueError, match="bf16-emulated"):
        astronn.load_model(path, precision="fp8")


def test_prediction_releases_the_gil(fixtures, astronn_model):
    import threading

    inputs = fixtures.array("inputs_norm_flux.npy")
    worker = threading.Thread(target=lambda: astronn_model.predict(inputs, normalized=True, mc=400, seed=1))
    worker.start()
    spins = 0
    while worker.is_alive():
        spins += 1
    worker.join()
    # Holding the GIL for the whole call would leave this thread a handful of turns.
    assert spins > 10_000
