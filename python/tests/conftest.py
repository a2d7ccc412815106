"""Shared fixtures of the Python tests: the reference fixtures (../shared/fixtures, or
ASTRONN_FIXTURES), the real apStar files, and the command-line binary to compare with.

As in the Rust tests, a missing resource skips its tests with a notice, except under
CI=true, where it is a failure (CI must run every test)."""

import json
import os
import pathlib

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
    directory = pathlib.Path(os.environ.get("ASTRONN_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not (directory / "manifest.json").is_file():
        skip_or_fail(f"reference fixtures not found at {directory} (set ASTRONN_FIXTURES)")
    return Fixtures(directory)


@pytest.fixture(scope="session")
def shared_data(fixtures) -> pathlib.Path:
    """The real apStar files the continuum fixtures were made from."""
    directory = fixtures.dir.parent / "data"
    if not directory.is_dir():
        skip_or_fail(f"the fixtures' apStar files are not at {directory}")
    return directory


@pytest.fixture(scope="session")
def cli() -> str:
    """The astronn binary (ASTRONN_CLI, else target/release or target/debug)."""
    candidates = [os.environ.get("ASTRONN_CLI")] + [
        str(REPO / "target" / profile / "astronn") for profile in ("release", "debug")
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    skip_or_fail("no astronn binary (build it with cargo build, or set ASTRONN_CLI)")


def labels_std(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each label's normalisation scale σ, from reference outputs (normalised units) and
    labels (σ·output + mean) of the same rows: the slope of a straight-line fit."""
    outputs = outputs.reshape(len(outputs), -1)
    labels = labels.reshape(len(labels), -1)
    return np.array([np.polyfit(outputs[:, j], labels[:, j], 1)[0] for j in range(outputs.shape[1])])
