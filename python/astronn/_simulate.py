"""Simulated surveys from Python: ``astronn simulate``'s run, with its flags as keyword
arguments."""

from __future__ import annotations

import glob
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _astronn, _checks
from ._checks import PathLike


class Simulation(NamedTuple):
    """What :func:`simulate` returns: where the survey is, and its truth."""

    directory: str
    """The survey's directory."""
    truth: Any
    """``truth.fits`` as an astropy Table (a dict of arrays without astropy): every star's
    true labels, SNR and distance."""
    labels: str
    """``labels.fits``: the allStar-like catalog, for ``train(catalog=...)``."""
    normalized: Optional[str]
    """``normalized.fits`` (with ``normalized_only=True``), for ``normalized=``."""
    apstar: List[str]
    """The apStar files (none with ``normalized_only=True``), for ``predict_files``."""


def simulate(
    n: Optional[int] = None,
    *,
    output_dir: PathLike,
    seed: int = 1,
    labels: Optional[PathLike] = None,
    noise_free: bool = False,
    normalized_only: bool = False,
    restrict: Union[Dict[str, Tuple[float, float]], Sequence[str], None] = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Simulation:
    """Simulates a survey with known truth as ``astronn simulate`` does: the same seed gives
    the same files.

    Parameters
    ----------
    n : int
        Stars drawn from the survey's distribution (or give ``labels``).
    output_dir : path
        Where the survey is written; a directory that is not empty is a
        ``FileExistsError`` unless ``overwrite=True``.
    seed : int
        Every spectrum, noise draw and catalog entry follows from it.
    labels : path, optional
        A catalog of stars to render (``sdss4_apogee_id`` and the 22 labels) instead of
        drawing ``n``.
    noise_free, normalized_only
        As ``--noise-free`` and ``--normalized-only`` (only ``normalized.fits``: fast).
    restrict : dict or list of str, optional
        Bounds on the drawn stars: ``{"fe_h": (-2, 0.5)}`` or ``["fe_h=-2:0.5"]``.
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Example
    -------
    >>> import astronn
    >>> survey = astronn.simulate(500, output_dir="survey", normalized_only=True)  # doctest: +SKIP
    >>> survey.truth["teff", "logg", "fe_h"][:3]                                  # doctest: +SKIP
    """
    if isinstance(restrict, dict):
        restrict = [f"{label}={low}:{high}" for label, (low, high) in restrict.items()]
    directory = os.fspath(output_dir)
    bar = _StarBar() if progress else None
    try:
        _, warnings = _astronn.simulate(
            directory,
            n=_checks.positive(n, "n"),
            seed=_checks.seed(seed),
            labels=_checks.path_or_none(labels),
            noise_free=bool(noise_free),
            normalized_only=bool(normalized_only),
            restrict=list(restrict or []),
            progress=bar,
            command_line=f"astronn.simulate({n!r}, output_dir={directory!r}) (Python)",
            overwrite=bool(overwrite),
        )
    finally:
        if bar is not None:
            bar.close()
    _checks.warn_all(warnings)
    normalized = os.path.join(directory, "normalized.fits")
    return Simulation(
        directory=directory,
        truth=_truth_table(os.path.join(directory, "truth.fits")),
        labels=os.path.join(directory, "labels.fits"),
        normalized=normalized if os.path.exists(normalized) else None,
        apstar=sorted(glob.glob(os.path.join(glob.escape(directory), "apStar-*.fits"))),
    )


def _truth_table(path: str) -> Any:
    """``truth.fits`` as an astropy Table (a dict of arrays without astropy)."""
    columns = _astronn.read_table(path, "APOGEE")
    try:
        from astropy.table import Table
    except ImportError:
        return columns
    return Table(columns)


class _StarBar:
    """A tqdm bar fed by the simulation's progress callback."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError("progress=True needs tqdm (pip install tqdm)") from error
        self._bar = tqdm(unit=" stars")

    def __call__(self, stars: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(stars)

    def close(self) -> None:
        self._bar.close()


__all__ = ["Simulation", "simulate"]
