"""The `astronn` command the package installs: the Rust binary's command line, run by the
extension module (`astronn._cli`), with the binary's exit statuses and messages."""

import pathlib
import subprocess
import sys

import astronn
import pytest
from conftest import TEST_DATA


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)


def test_the_command_is_the_packages_own_when_installed(cli):
    # Where the package is installed (as the test command installs the wheel), the command
    # tested is the one installed beside this interpreter, not a binary built elsewhere.
    if "site-packages" in astronn.__file__:
        assert pathlib.Path(cli) == pathlib.Path(sys.executable).parent / "astronn"


def test_version_and_help(cli):
    version = run(cli, "--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"astronn {astronn.__version__}"
    helped = run(cli, "predict", "--help")
    assert helped.returncode == 0
    assert "--visits-output" in helped.stdout and "Usage: astronn predict" in helped.stdout


def test_bad_options_exit_2_before_any_work(cli, tmp_path):
    out = tmp_path / "stars.fits"
    bad = run(cli, "predict", "--threads", "0", "-o", str(out), str(TEST_DATA))
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --threads must be at least 1"
    assert not out.exists()
    unknown = run(cli, "predict", "--no-such-flag")
    assert unknown.returncode == 2
    assert "--no-such-flag" in unknown.stderr


def test_a_run_writes_its_table_and_summary(cli, tmp_path):
    pytest.importorskip("astropy")
    out = tmp_path / "stars.fits"
    done = run(cli, "predict", "-q", "--mc", "5", "--seed", "3", "-o", str(out),
               str(TEST_DATA / "apStar-dr17-2M19485057+5005279.fits"))
    assert done.returncode == 0, done.stderr
    table = astronn.read_result_table(out)
    assert len(table["teff"]) == 1
    assert table.meta["CMDLINE"].startswith("astronn predict -q --mc 5 --seed 3")
