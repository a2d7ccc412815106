"""Whole runs over apStar files, returning DR19's tables."""

from __future__ import annotations

import errno
import glob
import os
import shutil
import tempfile
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from . import _astronn, _checks, _layout
from ._checks import PathLike
from ._model import Model

#: The file names of the tables ``predict_files`` writes into ``output_dir``.
TABLE_FILES = {
    "coadds": "astraAllStarAstroNN.fits",
    "visits": "astraAllVisitAstroNN.fits",
    "distances": "astraAllStarAstroNNdist.fits",
}

#: Primary-header cards that describe the FITS file, not the run (left out of ``meta``).
_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "CHECKSUM", "DATASUM", ""}


class Results(tuple):
    """The tables of :func:`predict_files`: ``astraAllStarAstroNN`` (coadds),
    ``astraAllVisitAstroNN`` (visits, when asked for) and ``astraAllStarAstroNNdist``
    (distances, when asked for), unpacked as ``coadds, visits, distances = results``; and
    ``extra``, a dict of the tables of the ``extra`` networks by the names they were given.
    Each is an ``astropy.table.Table`` with the run's header cards in ``meta``, or a dict
    of numpy arrays when astropy is not installed."""

    def __new__(cls, coadds: Any, visits: Any, distances: Any, extra: Optional[Dict[str, Any]] = None):
        results = super().__new__(cls, (coadds, visits, distances))
        results.extra = dict(extra or {})
        return results

    @property
    def coadds(self) -> Any:
        """``astraAllStarAstroNN``, or the table the ``model``'s outputs call for."""
        return self[0]

    @property
    def visits(self) -> Any:
        """``astraAllVisitAstroNN``, or None."""
        return self[1]

    @property
    def distances(self) -> Any:
        """``astraAllStarAstroNNdist``, or None."""
        return self[2]


#: The ``PIPELINE`` card of each product's primary header.
_PIPELINES = {"AstroNN", "AstroNNdist"}


def _product_of(pipeline: str, colnames) -> str:
    """Which of :data:`_layout.PRODUCTS` a table is."""
    if pipeline == "AstroNNdist":
        return "distances"
    return "visits" if "visit_file" in colnames or "mjd" in colnames else "coadds"


def read_result_table(path: PathLike) -> Any:
    """Reads a table astronn (or Astra, as DR19's ``astraAllStarAstroNN…`` files) wrote:
    HDU 2, ``APOGEE``, as an astropy Table with each column's ``unit`` and ``description``
    from DR19's data model (astropy's spelling: ``dex``, ``K``, ``km / s``, …) and the
    primary header's cards (MODEL, SEED, MC, …) in ``meta``; without astropy a dict of numpy
    arrays of its columns (byte-array columns 2-D).

    The table of another astroNN network (its primary header's ``NNCLASS`` names the
    class; its ``PIPELINE`` is that class) is read the same way, each column's unit and
    description from the file's own header.

    A file that is not such a table (no ``APOGEE`` HDU, or a primary header without
    ``PIPELINE = 'AstroNN'`` or ``'AstroNNdist'`` or astronn's ``NNCLASS``) is a
    ``ValueError`` saying so.
    """
    path = os.fspath(path)
    try:
        from astropy.io import fits
        from astropy.table import Table
    except ImportError:
        return _astronn.read_table(path, "APOGEE")
    with fits.open(path) as hdus:
        header = hdus[0].header.copy()
        names = [hdu.name for hdu in hdus]
        table_header = hdus["APOGEE"].header.copy() if "APOGEE" in names else None
    pipeline = header.get("PIPELINE")
    generic = pipeline not in _PIPELINES and "NNCLASS" in header
    if "APOGEE" not in names or not (pipeline in _PIPELINES or generic):
        raise ValueError(
            f"{path} is not an AstroNN result table: expected an 'APOGEE' table HDU and "
            f"PIPELINE = 'AstroNN' or 'AstroNNdist' in the primary header (as astronn and "
            f"DR19 write them); found HDUs {names} and PIPELINE = {pipeline!r}"
        )
    table = Table.read(path, hdu="APOGEE")
    for key, value in header.items():
        if key not in _STRUCTURAL and key not in ("COMMENT", "HISTORY"):
            table.meta[key] = value
    if generic:
        described = _described_in_header(table_header)
    else:
        described = _layout.columns(_product_of(pipeline, table.colnames))
    for name in table.colnames:
        unit, description = described.get(name, (None, ""))
        if unit is not None:
            table[name].unit = unit
        if description:
            table[name].description = description
    return table


def _described_in_header(header) -> Dict[str, Tuple[Optional[str], str]]:
    """Each column's (unit, description) as astronn writes them in a table header:
    ``TTYPEn``'s comment, "description [unit]" (units FITS does not define are only there)."""
    described = {}
    for index in range(1, header.get("TFIELDS", 0) + 1):
        name = header.get(f"TTYPE{index}")
        comment = header.comments[f"TTYPE{index}"] if name else ""
        unit = None
        if comment.endswith("]") and " [" in comment:
            comment, unit = comment[:-1].rsplit(" [", 1)
            unit = _layout.astropy_unit(unit)
        described[name] = (unit, comment)
    return described


def _exists(path: str) -> bool:
    """Whether ``path`` exists (following links); a path that cannot be looked at for
    another reason (permissions) counts as existing: reading it will say why it cannot."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _expand(input: str) -> list:
    """One input as paths: a glob pattern (``*``, ``?``, ``[``) that is not itself a path
    expands to its matches, sorted; a path or pattern that names nothing is a
    ``FileNotFoundError``."""
    if input.startswith("@") or _exists(input):
        return [input]
    if glob.has_magic(input):
        matches = sorted(glob.glob(input))
        if matches:
            return matches
        raise FileNotFoundError(errno.ENOENT, "No file matches the pattern", input)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), input)


def _inputs(inputs: Union[PathLike, Sequence[PathLike]]) -> list:
    if isinstance(inputs, (str, bytes, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fsdecode(os.fspath(i)) for i in inputs]
    if not inputs:
        raise ValueError("no inputs: give apStar files, directories, glob patterns or @list.txt files")
    return [path for i in inputs for path in _expand(i)]


def _model_argument(model, kind: Optional[str], name: str) -> Optional[str]:
    """A model argument as the native module takes it: a path, or a loaded :class:`Model`
    (of ``kind``, any kind when None) as the path it was read from (``default``/
    ``default-dist`` for an embedded model)."""
    if model is None or isinstance(model, (str, bytes, os.PathLike)):
        return _checks.path_or_none(model)
    if not isinstance(model, Model):
        raise TypeError(f"{name} must be a path or a Model from astronn.load_model; got {type(model).__name__}")
    if kind is None:
        if model.is_default:
            return "default-dist" if model.kind == "dist" else "default"
        return model.path
    if model.kind != kind:
        wanted = "an AstroNN" if kind == "astronn" else "an AstroNNDist (kind 'dist')"
        raise ValueError(f"{name} must be {wanted} model; {model.path} is kind {model.kind!r}")
    if model.is_default:
        return "default" if kind == "astronn" else "default-dist"
    return model.path


#: :attr:`Model.precision` as :func:`load_model`'s ``precision`` names it.
_PRECISION_ARGUMENT = {"float32": "f32", "bfloat16": "bf16", "bfloat16 (emulated)": "bf16-emulated"}


def predict_files(
    inputs: Union[PathLike, Sequence[PathLike]],
    model: Union[PathLike, Model, None] = None,
    *,
    dist_model: Union[PathLike, Model, None] = None,
    extra: Optional[Mapping[str, Union[PathLike, Model]]] = None,
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
    precision: Optional[str] = None,
    threads: Optional[int] = None,
    output_dir: Optional[PathLike] = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Results:
    """Runs AstroNN (and AstroNNDist) over apStar files, as ``astronn predict`` does, and
    returns DR19's tables, column for column, value for value the CLI's.

    Parameters
    ----------
    inputs : path or list of paths
        apStar files (DR17/DR19, ``.fits`` or ``.fits.gz``), directories (searched for
        apStar files), glob patterns (``"data/apStar-*.fits"``) and ``@list.txt`` files. A
        path that does not exist, or a pattern that matches nothing, is a
        ``FileNotFoundError`` before any work; a file that exists but cannot be read is a
        NO_RESULT row with a warning.
    model : path or Model, optional
        AstroNN model (Astra ``.pt``, ``.safetensors``, an astroNN folder, or a
        :class:`Model` from :func:`load_model`: the file it was read from); the embedded
        default without one, with an :class:`AstroNNWarning` naming it. Any other astroNN
        network of APOGEE spectra (an ``ApogeeBCNN`` of any outputs, an ``ApogeeCNN``)
        may stand here: ``coadds`` is then the table its outputs call for.
    dist_model : path or Model, optional
        AstroNNDist model; giving one turns ``distances`` on.
    extra : dict of name to path or Model, optional
        Further networks run on the same read of each coadd (e.g. the DR17 VAC's ages
        network beside the abundance and distance networks); each one's table is
        ``results.extra[name]`` (``<name>.fits`` in ``output_dir``).
    visits : bool
        Also predict every visit spectrum (the ``visits`` table).
    distances : bool, optional
        Also run AstroNNDist (default: only when ``dist_model`` is given); without
        ``dist_model``, the embedded default AstroNNDist model, with a warning naming it.
    mc, seed, noise_model, strict, threads
        As in :meth:`Model.predict`; the seed used is in each table's ``meta["SEED"]``.
        Each spectrum's dropout stream is keyed by its file's name and its row, so
        ``Model.predict(..., seed=s, keys=star["keys"])`` on :func:`read_apstar`'s arrays
        gives this function's values for the same ``seed``.
    precision : {"f32", "bf16", "bf16-emulated"}, optional
        As in :func:`load_model` (default: a :class:`Model`'s own, else ``"f32"``); the
        arithmetic used is in each table's ``meta["PRECISN"]``.
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
    overwrite : bool
        Replace tables that already exist in ``output_dir``; without it an existing one is a
        ``FileExistsError`` before any work (as astropy's ``writeto(overwrite=False)``).
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Ctrl-C stops the run within a second: ``KeyboardInterrupt``, and no table or temporary
    file is left behind.

    Returns
    -------
    Results
        ``(coadds, visits, distances)``; ``visits`` and ``distances`` are None unless asked
        for; ``results.extra`` holds the ``extra`` networks' tables. Columns carry DR19's
        units and descriptions (:func:`read_result_table`); decode ``result_flags`` with
        :mod:`astronn.flags`. A spectrum that cannot be processed is a
        NO_RESULT row, with an :class:`AstroNNWarning` naming the file and the reason.

    Example
    -------
    >>> import astronn
    >>> coadds, visits, dist = astronn.predict_files("tests/data", visits=True, seed=1)  # doctest: +SKIP
    >>> coadds["teff", "logg", "fe_h"]                                                  # doctest: +SKIP
    """
    inputs = [] if normalized is not None else _inputs(inputs)
    want_distances = dist_model is not None if distances is None else bool(distances)
    if precision is None:
        loaded = [m for m in (model, dist_model) if isinstance(m, Model)]
        precision = _PRECISION_ARGUMENT.get(loaded[0].precision, "f32") if loaded else "f32"
    model = _model_argument(model, None, "model")
    extra = dict(extra or {})
    for name in extra:
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            raise ValueError(f"extra names a table file: {name!r} is not a plain name")
    dist_model = _model_argument(dist_model, "dist", "dist_model")
    temporary = output_dir is None
    directory = tempfile.mkdtemp(prefix="astronn-") if temporary else os.fspath(output_dir)
    os.makedirs(directory, exist_ok=True)
    extra_outputs = {name: os.path.join(directory, f"{name}.fits") for name in extra}
    extra_models = [
        (_model_argument(m, None, f"extra[{name!r}]"), extra_outputs[name]) for name, m in extra.items()
    ]
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
            model=model,
            dist_model=dist_model,
            extra=extra_models,
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
            overwrite=bool(overwrite),
        )
        if summary["default_models"]:
            _checks.warn_all([_checks.default_model_notice(*summary["default_models"])])
        _checks.warn_all(notes)
        return Results(
            coadds=read_result_table(outputs["coadds"]),
            visits=read_result_table(outputs["visits"]) if visits else None,
            distances=read_result_table(outputs["distances"]) if want_distances else None,
            extra={name: read_result_table(path) for name, path in extra_outputs.items()},
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
