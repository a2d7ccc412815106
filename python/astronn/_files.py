"""Whole runs over apStar files, returning DR19's tables."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union

from . import _astronn, _checks
from ._checks import PathLike

#: The file names of the tables ``predict_files`` writes into ``output_dir``.
TABLE_FILES = {
    "coadds": "astraAllStarAstroNN.fits",
    "visits": "astraAllVisitAstroNN.fits",
    "distances": "astraAllStarAstroNNdist.fits",
}

#: Primary-header cards that describe the FITS file, not the run (left out of ``meta``).
_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "CHECKSUM", "DATASUM", ""}


class Results(NamedTuple):
    """The tables of :func:`predict_files`: ``astraAllStarAstroNN`` (coadds),
    ``astraAllVisitAstroNN`` (visits, when asked for) and ``astraAllStarAstroNNdist``
    (distances, when asked for). Each is an ``astropy.table.Table`` with the run's header
    cards in ``meta``, or a dict of numpy arrays when astropy is not installed."""

    coadds: Any
    visits: Any
    distances: Any


def read_result_table(path: PathLike) -> Any:
    """Reads a table astronn wrote (``HDU 2``, ``APOGEE``): an astropy Table with the
    primary header's cards (MODEL, SEED, MC, …) in ``meta``, or without astropy a dict of
    numpy arrays of its columns (byte-array columns 2-D)."""
    try:
        from astropy.io import fits
        from astropy.table import Table
    except ImportError:
        return _astronn.read_table(os.fspath(path), "APOGEE")
    table = Table.read(os.fspath(path), hdu="APOGEE")
    header = fits.getheader(os.fspath(path), 0)
    for key, value in header.items():
        if key not in _STRUCTURAL and key not in ("COMMENT", "HISTORY"):
            table.meta[key] = value
    return table


def _inputs(inputs: Union[PathLike, Sequence[PathLike]]) -> list:
    if isinstance(inputs, (str, bytes, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fspath(i) for i in inputs]
    if not inputs:
        raise ValueError("no inputs: give apStar files, directories or @list.txt files")
    return inputs


def predict_files(
    inputs: Union[PathLike, Sequence[PathLike]],
    model: Optional[PathLike] = None,
    *,
    dist_model: Optional[PathLike] = None,
    visits: bool = False,
    distances: Optional[bool] = None,
    mc: int = 100,
    seed: Optional[int] = None,
    noise_model: Optional[PathLike] = None,
    photometry: Optional[PathLike] = None,
    photometry_columns: Optional[Tuple[str, str, str]] = None,
    sources: Optional[PathLike] = None,
    sources_id_column: Optional[str] = None,
    gaia: Optional[PathLike] = None,
    gaia_id_column: Optional[str] = None,
    normalized: Optional[PathLike] = None,
    shard: Optional[str] = None,
    strict: bool = False,
    precision: str = "f32",
    threads: Optional[int] = None,
    output_dir: Optional[PathLike] = None,
    progress: bool = False,
) -> Results:
    """Runs AstroNN (and AstroNNDist) over apStar files, as ``astronn predict`` does, and
    returns DR19's tables, column for column, value for value the CLI's.

    Parameters
    ----------
    inputs : path or list of paths
        apStar files (DR17/DR19, ``.fits`` or ``.fits.gz``), directories (searched for
        apStar files) and ``@list.txt`` files.
    model : path, optional
        AstroNN model (Astra ``.pt`` or ``.safetensors``); the embedded default without one.
    dist_model : path, optional
        AstroNNDist model; giving one turns ``distances`` on.
    visits : bool
        Also predict every visit spectrum (the ``visits`` table).
    distances : bool, optional
        Also run AstroNNDist (default: only when ``dist_model`` is given).
    mc, seed, noise_model, strict, threads
        As in :meth:`Model.predict`; the seed used is in each table's ``meta["SEED"]``.
    precision : {"f32", "bf16", "bf16-emulated"}
        As in :func:`load_model`; the arithmetic used is in each table's
        ``meta["PRECISN"]``.
    photometry, photometry_columns
        A catalog of Ks and E(B-V) per star, and its (id, k_mag, ebv) column names.
    sources, sources_id_column, gaia, gaia_id_column
        A DR19 Source catalog and Gaia DR3 astrometry, as ``--sources`` / ``--gaia``.
    normalized : path, optional
        Read normalized spectra (an ``astronn normalize`` output or a ``.npy`` array)
        instead of ``inputs``.
    shard : str, optional
        ``"K/N"``: only the K-th of N parts of the expanded input list.
    output_dir : path, optional
        Keep the FITS tables there (``astraAllStarAstroNN.fits``, …); without one they are
        written to a temporary directory and removed after reading.
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Returns
    -------
    Results
        ``(coadds, visits, distances)``; ``visits`` and ``distances`` are None unless asked
        for. A spectrum that cannot be processed is a NO_RESULT row, with an
        :class:`AstroNNWarning` naming the file and the reason.

    Example
    -------
    >>> import astronn
    >>> coadds, visits, dist = astronn.predict_files("tests/data", visits=True, seed=1)  # doctest: +SKIP
    >>> coadds["teff", "logg", "fe_h"]                                                  # doctest: +SKIP
    """
    inputs = [] if normalized is not None else _inputs(inputs)
    want_distances = dist_model is not None if distances is None else bool(distances)
    temporary = output_dir is None
    directory = tempfile.mkdtemp(prefix="astronn-") if temporary else os.fspath(output_dir)
    os.makedirs(directory, exist_ok=True)
    outputs = {"coadds": os.path.join(directory, TABLE_FILES["coadds"])}
    if visits:
        outputs["visits"] = os.path.join(directory, TABLE_FILES["visits"])
    if want_distances:
        outputs["distances"] = os.path.join(directory, TABLE_FILES["distances"])
    bar = _progress_bar() if progress else None
    try:
        summary, notes = _astronn.predict_files(
            inputs,
            outputs,
            model=_checks.path_or_none(model),
            dist_model=_checks.path_or_none(dist_model),
            normalized=_checks.path_or_none(normalized),
            shard=shard,
            mc=_checks.mc(mc),
            seed=_checks.seed(seed),
            strict=bool(strict),
            precision=precision,
            noise_model=_checks.path_or_none(noise_model),
            sources=_checks.path_or_none(sources),
            sources_id_column=sources_id_column,
            gaia=_checks.path_or_none(gaia),
            gaia_id_column=gaia_id_column,
            photometry=_checks.path_or_none(photometry),
            photometry_columns=photometry_columns,
            threads=_checks.threads(threads),
            progress=bar,
            command_line=f"astronn.predict_files({inputs!r}) (Python)",
        )
        if summary["default_model"]:
            _checks.warn_all([_checks.DEFAULT_MODEL_NOTICE])
        _checks.warn_all(notes)
        return Results(
            coadds=read_result_table(outputs["coadds"]),
            visits=read_result_table(outputs["visits"]) if visits else None,
            distances=read_result_table(outputs["distances"]) if want_distances else None,
        )
    finally:
        if bar is not None:
            bar.close()
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


class _progress_bar:
    """A tqdm bar fed by the run's progress callback."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError("progress=True needs tqdm (pip install tqdm)") from error
        self._bar = tqdm(unit=" units")

    def __call__(self, units: int, spectra: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(units)

    def close(self) -> None:
        self._bar.close()


__all__ = ["Results", "predict_files", "read_result_table", "TABLE_FILES"]
