"""The notebook session of docs/python.md runs as written (with a stand-in for matplotlib
where it is not installed), and finds what its comments say it finds."""

import importlib.machinery
import sys
import types
from unittest import mock

import numpy as np
import pytest

import astronn
from conftest import REPO


def notebook_code() -> str:
    text = (REPO / "docs" / "python.md").read_text()
    section = text[text.index("## A notebook session") :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def pyplot(monkeypatch):
    """matplotlib's pyplot drawing off screen, or a stand-in that records nothing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        monkeypatch.setattr(plt, "show", lambda: None)
        return plt
    except ImportError:
        plt = mock.MagicMock()
        plt.subplots.return_value = (mock.MagicMock(), (mock.MagicMock(), mock.MagicMock()))
        package = types.ModuleType("matplotlib")
        package.__spec__ = importlib.machinery.ModuleSpec("matplotlib", None)
        package.pyplot = plt
        monkeypatch.setitem(sys.modules, "matplotlib", package)
        monkeypatch.setitem(sys.modules, "matplotlib.pyplot", plt)
        return plt


@pytest.mark.filterwarnings("ignore::astronn.AstroNNWarning")
def test_the_notebook_session_runs(pyplot, monkeypatch):
    pytest.importorskip("astropy")
    monkeypatch.chdir(REPO)
    names = {}
    exec(compile(notebook_code(), "docs/python.md", "exec"), names)
    stars, visits, cube = names["stars"], names["visits"], names["cube"]
    assert 0 < len(stars) <= len(visits)
    assert not astronn.flags.has(stars["result_flags"], "NO_RESULT", "UNCERTAIN_TEFF").any()
    assert cube.shape == (1, len(names["labels_model"].labels), 7514) and np.isfinite(cube).all()
    out = names["out"]
    np.testing.assert_allclose(np.hypot(out["e_teff_model"], out["e_teff_predictive"]), out["raw_e_teff"])
