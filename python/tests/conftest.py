"""Shared fixtures of the Python tests: the reference fixtures (tests/fixtures, which ship
with the repository, or ASTRONN_FIXTURES), the real apStar files, and the `astronn` command
to compare with.

As in the Rust tests, a missing reference fixture is a failure; a missing command skips its
tests with a notice, except under CI=true, where it is a failure (CI must run every test)."""

import json
import os
import subprocess
import pathlib
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TEST_DATA = REPO / "tests" / "data"


def skip_or_fail(why: str) -> None:
    """Skips the test, or under CI=true fails it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI=true requires it")
    pytest.skip(why)


class Fixtures:
    """The reference fixtures: arrays by file name and the manifest."""

    def __init__(self, directory: pathlib.Path):
        self.dir = directory
        self.manifest = json.loads((directory / "manifest.json").read_text())

    def array(self, name: str) -> np.ndarray:
        return np.load(self.dir / name)

    def path(self, name: str) -> str:
        return str(self.dir / name)


@pytest.fixture(scope="session")
def fixtures() -> Fixtures:
    directory = pathlib.Path(os.environ.get("ASTRONN_FIXTURES", REPO / "tests" / "fixtures"))
    if not (directory / "manifest.json").is_file():
        pytest.fail(
            f"the reference fixtures are missing at {directory} (they ship in tests/fixtures; "
            "ASTRONN_FIXTURES names another copy)"
        )
    return Fixtures(directory)


@pytest.fixture(scope="session")
def apstar_dir() -> pathlib.Path:
    """The real apStar files the continuum fixtures were made from (tests/data)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def cli() -> str:
    """The astronn command: ASTRONN_CLI, else the one the package installed beside this
    interpreter, else a binary built in target/ (release, then debug)."""
    candidates = [
        os.environ.get("ASTRONN_CLI"),
        str(pathlib.Path(sys.executable).parent / "astronn"),
        *(str(REPO / "target" / profile / "astronn") for profile in ("release", "debug")),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    skip_or_fail("no astronn command (install the package, build it with cargo build, or set ASTRONN_CLI)")


def labels_std(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each label's normalisation scale σ, from reference outputs (normalised units) and
    labels (σ·output + mean) of the same rows: the slope of a straight-line fit."""
    outputs = outputs.reshape(len(outputs), -1)
    labels = labels.reshape(len(labels), -1)
    return np.array([np.polyfit(outputs[:, j], labels[:, j], 1)[0] for j in range(outputs.shape[1])])


@pytest.fixture(scope="session")
def survey(tmp_path_factory, cli) -> pathlib.Path:
    """A small simulated survey (``astronn simulate``): normalized spectra, an allStar-like
    label catalog and the truth."""
    directory = tmp_path_factory.mktemp("survey")
    subprocess.run(
        [cli, "-q", "simulate", "--n", "48", "--normalized-only", "--seed", "2", "-o", str(directory / "survey")],
        check=True,
    )
    return directory / "survey"


@pytest.fixture(scope="session")
def results(survey, tmp_path_factory) -> pathlib.Path:
    """The default model's coadd table of the simulated survey (``survey``)."""
    import warnings

    import astronn

    directory = tmp_path_factory.mktemp("results")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", astronn.AstroNNWarning)
        astronn.predict_files([], normalized=survey / "normalized.fits", mc=10, seed=1, output_dir=directory)
    return directory / astronn.TABLE_FILES["coadds"]
