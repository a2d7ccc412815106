"""``astronn.calibrate``: the CLI's noise-model fit from Python, byte for byte its JSON."""

import subprocess

import pytest

import astronn


def test_calibrate_writes_the_clis_noise_model(cli, survey, results, tmp_path):
    truth = survey / "truth.fits"
    subprocess.run(
        [cli, "-q", "calibrate", "--truth", str(truth), "-o", str(tmp_path / "cli.json"), str(results)],
        check=True,
    )
    noise, fits = astronn.calibrate(results, truth=truth, output=tmp_path / "py.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    assert set(noise) == set(fits["label"]) and "teff" in noise
    row = list(fits["label"]).index("teff")
    assert noise["teff"]["scale"] == fits["scale"][row] > 0
    assert fits["samples"][row] == 48
    assert fits.meta["unit"] == "stars"
    # Without output the model is only returned; an existing output is refused.
    again, _ = astronn.calibrate(results, truth=truth)
    assert again == noise
    with pytest.raises(FileExistsError):
        astronn.calibrate(results, truth=truth, output=tmp_path / "py.json")


def test_no_label_to_fit_is_a_value_error_before_writing(results, survey, tmp_path):
    output = tmp_path / "noise.json"
    with pytest.raises(ValueError, match=r"no label is both in the results \(raw_<label>"):
        astronn.calibrate(results, truth=survey / "truth.fits", labels=["age"], output=output)
    assert not output.exists()
