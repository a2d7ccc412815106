"""``astronn.simulate``: the CLI's simulated survey from Python, the same data."""

import subprocess

import numpy as np
import pytest
from astropy.io import fits

import astronn


def same_data(a, b):
    """Whether two FITS files hold the same HDUs with the same data (headers may differ in
    the command line and the time)."""
    with fits.open(a) as first, fits.open(b) as second:
        assert [h.name for h in first] == [h.name for h in second]
        for x, y in zip(first, second):
            if x.data is None:
                assert y.data is None
            elif x.is_image:
                np.testing.assert_array_equal(x.data, y.data)
            else:
                assert x.columns.names == y.columns.names
                for name in x.columns.names:
                    np.testing.assert_array_equal(x.data[name], y.data[name])
    return True


def test_simulate_writes_the_clis_survey(cli, tmp_path):
    subprocess.run(
        [cli, "-q", "simulate", "--n", "12", "--normalized-only", "--seed", "5", "--restrict", "fe_h=-1:0",
         "-o", str(tmp_path / "cli")],
        check=True,
    )
    survey = astronn.simulate(12, output_dir=tmp_path / "py", seed=5, normalized_only=True,
                              restrict={"fe_h": (-1, 0)})
    for name in ("normalized.fits", "truth.fits", "labels.fits"):
        assert same_data(tmp_path / "cli" / name, tmp_path / "py" / name)
    assert len(survey.truth) == 12
    assert np.all((survey.truth["fe_h"] >= -1) & (survey.truth["fe_h"] <= 0))
    assert survey.normalized == str(tmp_path / "py" / "normalized.fits")
    assert survey.apstar == []


def test_apstar_files_are_listed_and_a_used_directory_refused(tmp_path):
    survey = astronn.simulate(2, output_dir=tmp_path / "s", seed=1)
    assert len(survey.apstar) == 2 and survey.normalized is None
    with pytest.raises(FileExistsError):
        astronn.simulate(2, output_dir=tmp_path / "s")
    with pytest.raises(ValueError, match="--restrict teff=5000: expected MIN:MAX after '='"):
        astronn.simulate(2, output_dir=tmp_path / "t", restrict=["teff=5000"])
    with pytest.raises(ValueError, match="needs a number of stars"):
        astronn.simulate(output_dir=tmp_path / "u")
