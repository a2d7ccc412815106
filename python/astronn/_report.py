"""Validation reports from Python: ``astronn report``'s run, with its flags as keyword
arguments."""

from __future__ import annotations

import os
from typing import Any, Dict, List, NamedTuple, Optional, Union

from . import _astronn
from ._checks import PathLike
from ._files import _model_argument
from ._model import Model


class ValidationReport(NamedTuple):
    """What :func:`report` returns."""

    summary: Any
    """``summary.csv`` as an astropy Table (a list of row dicts without astropy): per label
    (or distance) and star set, the bias, scatter, Cramér–Rao comparison and z width."""
    counts: Dict[str, int]
    """Rows of the join: ``result_rows``, ``no_result``, ``unmatched``, ``matched``."""
    files: List[str]
    """Every file written: ``summary.md``, ``summary.csv`` and the figures."""


def report(
    result: PathLike,
    truth: PathLike,
    *,
    output_dir: PathLike,
    id_column: str = "sdss4_apogee_id",
    result_id_column: str = "sdss4_apogee_id",
    snr_min: float = 100.0,
    model: Union[PathLike, Model, None] = None,
    overwrite: bool = False,
) -> ValidationReport:
    """Compares a result table with a reference catalog as ``astronn report`` does, writing the
    same tables and figures into ``output_dir``.

    Parameters
    ----------
    result : path
        A table of :func:`predict_files` (``output_dir=``) or ``astronn predict``.
    truth : path
        The reference catalog (a simulation's ``truth.fits``, an allStar file, …), joined on
        ``id_column`` and ``result_id_column``.
    output_dir : path
        Where the report is written; a directory that is not empty is a
        ``FileExistsError`` unless ``overwrite=True``.
    snr_min : float
        The SNR threshold of the second star set.
    model : path or Model, optional
        The model the results came from: stars outside its training ranges are counted.

    Example
    -------
    >>> import astronn
    >>> summary, counts, files = astronn.report("out/astraAllStarAstroNN.fits",
    ...                                         "survey/truth.fits", output_dir="report")  # doctest: +SKIP
    >>> summary[summary["label"] == "teff"]                                             # doctest: +SKIP
    """
    model_path = None
    if model is not None:
        kind = model.kind if isinstance(model, Model) else "astronn"
        model_path = _model_argument(model, kind, "model")
    counts, files = _astronn.report(
        os.fspath(result),
        os.fspath(truth),
        os.fspath(output_dir),
        id_column=id_column,
        result_id_column=result_id_column,
        snr_min=float(snr_min),
        model=model_path,
        overwrite=bool(overwrite),
    )
    summary_path = os.path.join(os.fspath(output_dir), "summary.csv")
    return ValidationReport(summary=_summary_table(summary_path), counts=counts, files=files)


def _summary_table(path: str) -> Any:
    """``summary.csv`` as an astropy Table (a list of row dicts without astropy)."""
    try:
        from astropy.table import Table
    except ImportError:
        import csv

        with open(path, newline="") as file:
            return list(csv.DictReader(file))
    return Table.read(path, format="ascii.csv")


__all__ = ["ValidationReport", "report"]
