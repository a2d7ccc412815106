"""Whole runs from Python: predict_files gives the command line's tables, value for value."""

import os
import subprocess

import numpy as np
import pytest

import astronn
from conftest import REPO

#: Columns that time the run, and header cards that date it or name its command: they
#: differ between any two runs.
pytestmark = pytest.mark.filterwarnings("ignore:using the embedded default:astronn.AstroNNWarning")

RUN_COLUMNS = {"created", "t_elapsed", "t_overhead"}
#: (LONGSTRN announces the long-string convention, which only a long CMDLINE needs;
#: CREATED is the table's own time stamp, to the second.)
RUN_CARDS = {"DATE", "CMDLINE", "ELAPSED", "CHECKSUM", "DATASUM", "LONGSTRN", "CREATED"}


def same_values(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "SU" or b.dtype.kind in "SU":
        text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
        return [text(v) for v in a] == [text(v) for v in b]
    if a.dtype.kind == "f":
        return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return np.array_equal(a, b)


def assert_same_table(ours, theirs, what):
    assert ours.colnames == theirs.colnames, what
    assert len(ours) == len(theirs) > 0, what
    for name in ours.colnames:
        if name not in RUN_COLUMNS:
            assert same_values(ours[name], theirs[name]), f"{what}: column {name}"
    our_meta = {k: v for k, v in ours.meta.items() if k not in RUN_CARDS}
    their_meta = {k: v for k, v in theirs.meta.items() if k not in RUN_CARDS}
    assert our_meta == their_meta, what


@pytest.fixture
def in_repo():
    """Runs the test from the repository root, so that both runs name tests/data alike."""
    before = os.getcwd()
    os.chdir(REPO)
    yield
    os.chdir(before)


def test_predict_files_equals_the_command_lines_tables(cli, in_repo, tmp_path):
    pytest.importorskip("astropy")
    outputs = {name: tmp_path / f"cli_{file}" for name, file in astronn.TABLE_FILES.items()}
    subprocess.run(
        [cli, "--quiet", "predict", "--seed", "7", "--mc", "20",
         "-o", outputs["coadds"], "--visits-output", outputs["visits"],
         "--dist-output", outputs["distances"], "tests/data"],
        check=True,
    )
    with pytest.warns(astronn.AstroNNWarning, match="simulated spectra"):
        results = astronn.predict_files(
            "tests/data", visits=True, distances=True, seed=7, mc=20, output_dir=tmp_path / "py"
        )
    for name in ("coadds", "visits", "distances"):
        theirs = astronn.read_result_table(outputs[name])
        assert_same_table(getattr(results, name), theirs, name)
    assert results.coadds.meta["SEED"] == "7" and results.coadds.meta["MC"] == 20
    assert (tmp_path / "py" / "astraAllStarAstroNN.fits").is_file()


def test_predict_files_records_the_precision_it_ran(in_repo, tmp_path):
    pytest.importorskip("astropy")
    results = astronn.predict_files("tests/data", mc=0, model="default", precision="bf16-emulated")
    assert results.coadds.meta["PRECISN"] == "bfloat16 (emulated)"
    with pytest.raises(ValueError, match="unknown precision"):
        astronn.predict_files("tests/data", mc=0, model="default", precision="half")


def test_without_astropy_the_tables_are_dicts_of_arrays(cli, in_repo, tmp_path):
    astropy = pytest.importorskip("astropy")
    del astropy
    results = astronn.predict_files("tests/data", mc=0, output_dir=tmp_path, model="default")
    plain = astronn._astronn.read_table(str(tmp_path / "astraAllStarAstroNN.fits"), "APOGEE")
    for name, values in plain.items():
        assert same_values(values, results.coadds[name]), name
    assert {"teff", "e_teff", "raw_teff", "result_flags"} <= set(plain)


def test_a_broken_file_is_a_no_result_row_with_a_warning(in_repo, tmp_path):
    pytest.importorskip("astropy")
    broken = tmp_path / "apStar-broken.fits"
    broken.write_bytes(b"SIMPLE  = not really FITS")
    good = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests" / "data").glob("apStar-*.fits"))
    with pytest.warns(astronn.AstroNNWarning, match="apStar-broken.fits.*NO_RESULT"):
        results = astronn.predict_files(good + [str(broken)], model="default", mc=0)
    flags = np.asarray(results.coadds["result_flags"])
    assert len(flags) == len(good) + 1
    assert flags[-1] == 1 << 11 and not (flags[:-1] & (1 << 11)).any()


def test_bad_options_raise_before_any_work(in_repo, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        astronn.predict_files("tests/data", model=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="shard"):
        astronn.predict_files("tests/data", shard="3/2")
    with pytest.raises(ValueError, match="no inputs"):
        astronn.predict_files([])
    with pytest.raises(ValueError, match="mc = 1"):
        astronn.predict_files("tests/data", mc=1)


def test_progress_reaches_the_callback_for_every_file(in_repo, tmp_path):
    calls = []
    summary, warnings = astronn._astronn.predict_files(
        ["tests/data"],
        {"coadds": str(tmp_path / "coadds.fits")},
        mc=0,
        progress=lambda units, spectra, total: calls.append((units, spectra, total)),
    )
    assert warnings == []
    files = len(list((REPO / "tests" / "data").glob("apStar-*.fits")))
    assert sum(c[0] for c in calls) == files and {c[2] for c in calls} == {files}
    assert sum(c[1] for c in calls) == summary["spectra"] == files
    assert summary["default_models"] == ["astronn"] and summary["no_result"] == 0
