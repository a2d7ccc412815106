"""Calibrating a noise model from Python: ``astronn calibrate``'s run, with its flags as
keyword arguments."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union

from . import _astronn, _checks
from ._checks import PathLike


class Calibration(NamedTuple):
    """What :func:`calibrate` returns."""

    noise_model: Dict[str, Dict[str, float]]
    """The noise model: per label, its ``scale`` and ``offset`` (e = scale · raw_e + offset),
    as the JSON file holds it."""
    fits: Any
    """An astropy Table, one row per fitted label: ``label``, ``samples`` (visit pairs, or
    stars against the truth), ``scale``, ``offset``, ``width_before``, ``width_after`` (the
    robust width of the residuals over their errors: 1 when the errors are right)."""


def calibrate(
    inputs: Union[PathLike, Sequence[PathLike]],
    *,
    truth: Optional[PathLike] = None,
    id_column: str = "sdss4_apogee_id",
    result_id_column: str = "sdss4_apogee_id",
    labels: Optional[Sequence[str]] = None,
    output: Optional[PathLike] = None,
    overwrite: bool = False,
) -> Calibration:
    """Fits the noise model of ``astronn calibrate``: per label, the scale and offset that make
    the reported errors match the observed scatter, from repeat visits or against a reference
    catalog. The same inputs give the CLI's JSON, byte for byte.

    Parameters
    ----------
    inputs : path or list of paths
        Visit tables (``predict_files(..., visits=True, output_dir=...)``'s
        ``astraAllVisitAstroNN.fits``); with ``truth``, any result tables.
    truth : path, optional
        A catalog of true labels (a simulation's ``truth.fits``): fit prediction − truth
        instead of visit pairs; joined on ``id_column`` and ``result_id_column``.
    labels : list of str, optional
        The labels to fit (default: every label the inputs have).
    output : path, optional
        Where the noise model is written (JSON, for ``noise_model=``); without one it is only
        returned. An existing one is a ``FileExistsError`` unless ``overwrite=True``.

    Labels left out (too few pairs or stars) are named in an :class:`AstroNNWarning`; no label
    fitted is a ``ValueError``.

    Example
    -------
    >>> import astronn
    >>> noise, fits = astronn.calibrate("out/astraAllVisitAstroNN.fits")   # doctest: +SKIP
    >>> fits["label", "scale", "offset", "width_after"]                      # doctest: +SKIP
    """
    paths = [os.fspath(inputs)] if isinstance(inputs, (str, bytes, os.PathLike)) else [os.fspath(p) for p in inputs]
    temporary = output is None
    directory = tempfile.mkdtemp(prefix="astronn-calibrate-") if temporary else None
    path = os.path.join(directory, "noise_model.json") if temporary else os.fspath(output)
    try:
        fits, warnings = _astronn.calibrate(
            paths,
            path,
            truth=_checks.path_or_none(truth),
            id_column=id_column,
            result_id_column=result_id_column,
            labels=list(labels or []),
            overwrite=bool(overwrite),
        )
        _checks.warn_all(warnings)
        with open(path) as file:
            noise_model = json.load(file)
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
    return Calibration(noise_model=noise_model, fits=_fits_table(fits))


def _fits_table(fits: Dict[str, Any]) -> Any:
    """The fits as an astropy Table (a dict of lists without astropy)."""
    unit = fits.pop("unit")
    try:
        from astropy.table import Table
    except ImportError:
        fits["unit"] = unit
        return fits
    return Table(fits, meta={"unit": unit})


__all__ = ["Calibration", "calibrate"]
