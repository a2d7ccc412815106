"""``astronn.report``: the CLI's validation report from Python, the same files."""

import subprocess

import pytest

import astronn


def test_report_writes_the_clis_tables(cli, survey, results, tmp_path):
    truth = survey / "truth.fits"
    subprocess.run([cli, "-q", "report", str(results), str(truth), "-o", str(tmp_path / "cli")], check=True)
    summary, counts, files = astronn.report(results, truth, output_dir=tmp_path / "py")
    for name in ("summary.csv", "summary.md"):
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "py").iterdir()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert len(files) == len(list((tmp_path / "py").iterdir()))
    assert counts["matched"] == counts["result_rows"] == 48
    teff = summary[summary["label"] == "teff"]
    assert len(teff) == 2 and all(teff["n"] > 0)


def test_a_report_directory_in_use_is_refused_unless_overwrite(survey, results, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        astronn.report(results, survey / "truth.fits", output_dir=tmp_path)
    astronn.report(results, survey / "truth.fits", output_dir=tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="--snr-min must be a finite number"):
        astronn.report(results, survey / "truth.fits", output_dir=tmp_path / "new", snr_min=float("nan"))
