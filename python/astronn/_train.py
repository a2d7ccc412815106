"""Training and fine-tuning from Python: ``astronn train``'s run, with its flags as keyword
arguments."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union

from . import _astronn, _checks
from ._checks import PathLike
from ._files import _inputs, _model_argument
from ._model import Model, load_model


class Trained(NamedTuple):
    """What :func:`train` returns: the trained :class:`Model` and its history."""

    model: Model
    """The model written (the best epoch's, or the last one's with ``save="last"``)."""
    history: Any
    """An astropy Table, one row per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``lr``,
    ``seconds``, ``spectra_per_second`` and ``val_mae_<label>``; ``meta`` holds
    ``best_epoch``, ``best_loss``, ``stopped_early`` and the spectra joined."""


def train(
    inputs: Union[PathLike, Sequence[PathLike], None] = None,
    catalog: Union[PathLike, Any, None] = None,
    *,
    kind: str = "astronn",
    normalized: Optional[PathLike] = None,
    flux: Any = None,
    labels: Any = None,
    labels_err: Any = None,
    output: Optional[PathLike] = None,
    id_column: Optional[str] = None,
    label_columns: Optional[Dict[str, str]] = None,
    init: Union[PathLike, Model, None] = None,
    freeze: Union[str, Sequence[str]] = (),
    renormalize: bool = False,
    select: Optional[str] = None,
    where: Optional[str] = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    learning_rate: Optional[float] = None,
    validation: Optional[float] = None,
    early_stop: Optional[int] = None,
    save: str = "best",
    seed: Optional[int] = None,
    precision: str = "f32",
    threads: Optional[int] = None,
    checkpoint_dir: Optional[PathLike] = None,
    metrics: Optional[PathLike] = None,
    resume: Optional[PathLike] = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Trained:
    """Trains (or fine-tunes) a network as ``astronn train`` does: the same library run, so
    the same inputs and seed give a model whose tensors are bitwise the CLI's.

    Parameters
    ----------
    inputs : path or list of paths
        apStar files, directories, glob patterns and ``@list.txt`` files (their coadds), as
        :func:`predict_files` takes them; or give ``normalized``, or ``flux`` and ``labels``.
    catalog : path or astropy Table
        The label catalog (FITS or CSV, or a Table) joined on ``id_column``: AstroNN's labels
        (an APOGEE allStar file fits the defaults), or for ``kind="dist"`` parallaxes and
        photometry. A Table is written to a temporary FITS file and read as the CLI reads
        one.
    kind : {"astronn", "dist"}
        The network trained.
    normalized : path, optional
        Normalized spectra (an ``astronn normalize`` output) instead of ``inputs``.
    flux, labels, labels_err : arrays, optional
        Instead of files and a catalog: continuum-normalized spectra, shape (N, 7514), and
        their labels, shape (N, n) in the network's label order (``Model.labels``: AstroNN's
        22, or ``L_fakemag`` for ``kind="dist"``), NaN (or -9999) for a missing label; or
        ``labels`` as a mapping of label names to arrays of N values (missing names NaN).
        ``labels_err``, laid out as ``labels``, holds 1-sigma errors (0 or NaN = unknown,
        as without it). A spectrum with no label is left out, as the catalog join leaves
        it out.
    output : path, optional
        The model file written (``.safetensors``), with ``OUTPUT.checkpoints/`` and
        ``OUTPUT.metrics.json`` beside it; without one they go to a temporary directory that
        is removed once the model is loaded.
    id_column, label_columns
        The catalog's id column (``APOGEE_ID``) and label columns by name
        (``{"logg": "LOGG_SEISMO"}``), as ``--id-column`` and ``--label``.
    init : path or Model, optional
        Fine-tune this model (any model :func:`load_model` takes, astroNN folders included,
        or ``"default"``).
    freeze : str or list of str
        Parameters kept fixed: ``"conv"``, ``"trunk"`` or patterns over parameter names.
    renormalize : bool
        With ``init``: the normalisation from the new training set.
    select, where
        A DR19 selection preset (``"dr19-astronn"``, ``"dr19-dist"``) and a selection
        expression, as ``--select`` and ``--where``.
    epochs, batch_size, learning_rate, validation, early_stop, seed
        As ``--epochs`` (50), ``--batch-size`` (64), ``--lr`` (5e-4), ``--val-fraction``
        (0.1), ``--early-stop`` and ``--seed`` (0).
    save : {"best", "last"}
        Which epoch's model is written.
    precision : {"f32", "bf16", "bf16-emulated"}
        Arithmetic of ``dense_1``'s products in each step.
    threads : int, optional
        Threads to use (default: every core).
    checkpoint_dir, metrics, resume
        As ``--checkpoint-dir``, ``--metrics`` and ``--resume``.
    overwrite : bool
        Replace an existing ``output``; without it an existing one is a ``FileExistsError``
        before any work.
    progress : bool
        Show progress bars (needs ``tqdm``) and each epoch's losses.

    A bad argument is a ``ValueError`` (a missing file a ``FileNotFoundError``) before any
    spectrum is read. Ctrl-C stops training within a batch: the best model so far is written
    to ``output`` (give one to keep it) and ``KeyboardInterrupt`` is raised.

    Returns
    -------
    Trained
        ``(model, history)``.

    Example
    -------
    >>> import astronn
    >>> model, history = astronn.train("survey/", "survey/labels.csv", init="default",
    ...                                freeze="conv", epochs=5)               # doctest: +SKIP
    >>> history["epoch", "train_loss", "val_loss"]                            # doctest: +SKIP
    """
    arrays = _training_arrays(flux, labels, labels_err, kind)
    given = [name for name, value in (("inputs", inputs), ("normalized", normalized), ("flux", flux))
             if value is not None]
    if len(given) != 1:
        raise ValueError(
            "train needs one source of spectra: inputs (apStar files, directories, @lists), "
            f"normalized=FILE, or flux= with labels= (got {', '.join(given) or 'none'})"
        )
    if flux is None and catalog is None:
        raise ValueError("train needs a label catalog: catalog=PATH or an astropy Table")
    if flux is None and labels is not None:
        raise ValueError("labels= goes with flux=; a catalog's label columns are label_columns=")
    file_inputs = [] if inputs is None else _inputs(inputs)
    freeze = [freeze] if isinstance(freeze, str) else list(freeze)
    init_path = _model_argument(init, kind, "init")
    directory = tempfile.mkdtemp(prefix="astronn-train-")
    model_path = os.path.join(directory, "model.safetensors") if output is None else os.fspath(output)
    bars = _TrainBars() if progress else None
    try:
        catalog_path = _catalog_path(catalog, directory)
        report, warnings, notes = _astronn.train(
            file_inputs,
            catalog_path,
            model_path,
            kind=kind,
            normalized=_checks.path_or_none(normalized),
            **arrays,
            id_column=id_column,
            label_columns=dict(label_columns) if label_columns else None,
            init=init_path,
            renormalize=bool(renormalize),
            freeze=freeze,
            select=select,
            where_expr=where,
            epochs=_checks.positive(epochs, "epochs"),
            batch_size=_checks.positive(batch_size, "batch_size"),
            learning_rate=learning_rate,
            validation=validation,
            seed=_checks.seed(seed),
            early_stop=_checks.positive(early_stop, "early_stop"),
            precision=precision,
            save=save,
            checkpoint_dir=_checks.path_or_none(checkpoint_dir),
            metrics=_checks.path_or_none(metrics),
            resume=_checks.path_or_none(resume),
            threads=_checks.threads(threads),
            progress=bars,
            command_line=_command_line(file_inputs, normalized, catalog, flux),
            overwrite=bool(overwrite),
        )
        _checks.warn_all(warnings)
        if progress:
            for note in notes:
                print(f"train: {note}")
        model = load_model(report["model"], kind=kind, precision=precision)
        return Trained(model=model, history=_history_table(report, model))
    finally:
        if bars is not None:
            bars.close()
        shutil.rmtree(directory, ignore_errors=True)


def _training_arrays(flux, labels, labels_err, kind: str) -> Dict[str, Any]:
    """``flux``, ``labels`` and ``labels_err`` as the C-contiguous float64 arrays the
    extension takes (shapes checked, a mapping of labels made an array), or nothing."""
    import numpy as np

    if flux is None:
        if labels_err is not None:
            raise ValueError("labels_err= goes with flux= and labels=")
        return {}
    if labels is None:
        raise ValueError("flux= needs labels= (shape (N, n), NaN for a missing label)")
    flux = _checks.pixels(flux, "flux", _checks.NETWORK_PIXELS, " (normalized spectra)")
    names = _astronn.label_names(kind)
    arrays = {"flux": flux}
    for key, value in (("labels", labels), ("labels_err", labels_err)):
        if value is None:
            continue
        if hasattr(value, "keys"):
            value = _label_matrix(value, names, flux.shape[0], key)
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 1 and len(names) == 1:
            value = value[:, None]
        if value.shape != (flux.shape[0], len(names)):
            raise ValueError(
                f"{key} must have shape ({flux.shape[0]}, {len(names)}) for {flux.shape[0]} "
                f"spectra and {kind}'s labels ({', '.join(names)}), not {value.shape}"
            )
        arrays[key] = np.ascontiguousarray(value)
    return arrays


def _label_matrix(columns, names: Sequence[str], rows: int, key: str) -> Any:
    """A mapping of label names to columns as an (N, n) array, NaN for a label not given."""
    import numpy as np

    unknown = sorted(set(columns.keys()) - set(names))
    if unknown:
        raise ValueError(f"{key}: unknown label(s) {', '.join(unknown)} (the network's: {', '.join(names)})")
    matrix = np.full((rows, len(names)), np.nan)
    for index, name in enumerate(names):
        if name in columns:
            matrix[:, index] = np.ma.filled(np.ma.asarray(columns[name], dtype=np.float64), np.nan)
    return matrix


def _catalog_path(catalog, directory: str) -> Optional[str]:
    """The catalog's path: a path as given, an astropy Table written to ``directory``."""
    if catalog is None:
        return None
    if hasattr(catalog, "colnames"):
        path = os.path.join(directory, "catalog.fits")
        catalog.write(path, format="fits")
        return path
    return os.fspath(catalog)


def _command_line(inputs, normalized, catalog, flux) -> str:
    """How the model's metadata records the call."""
    if flux is not None:
        return f"astronn.train(flux=<{len(flux)} spectra>, labels=...) (Python)"
    source = repr(inputs) if normalized is None else f"normalized={os.fspath(normalized)!r}"
    table = "<astropy Table>" if hasattr(catalog, "colnames") else repr(os.fspath(catalog))
    return f"astronn.train({source}, {table}) (Python)"


def _history_table(report: Dict[str, Any], model: Model) -> Any:
    """The run's history as an astropy Table (a dict of arrays without astropy)."""
    import numpy as np

    rows = report["history"]
    columns = {
        name: np.array([row[name] for row in rows], dtype=dtype)
        for name, dtype in [
            ("epoch", np.int64),
            ("train_loss", np.float64),
            ("val_loss", np.float64),
            ("lr", np.float64),
            ("seconds", np.float64),
            ("spectra_per_second", np.float64),
        ]
    }
    for index, label in enumerate(model.labels):
        columns[f"val_mae_{label}"] = np.array(
            [row["val_mae"][index] for row in rows], dtype=np.float64
        )
    meta = {
        key: report[key] for key in ("best_epoch", "best_loss", "stopped_early", "join")
    }
    try:
        from astropy.table import Table
    except ImportError:
        columns["meta"] = meta
        return columns
    return Table(columns, meta=meta)


class _TrainBars:
    """tqdm bars fed by the run's progress: reading, then one per epoch with its losses."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError("progress=True needs tqdm (pip install tqdm)") from error
        self._tqdm = tqdm
        self._bar = None
        self._event = None

    def __call__(self, event: str, done: int, total: int, metrics) -> None:
        if event == "epoch_finished":
            self.close()
            best = " (best)" if metrics["best"] else ""
            print(
                f"epoch {done}/{total}: train loss {metrics['train_loss']:.4f}, validation "
                f"loss {metrics['val_loss']:.4f}{best}, lr {metrics['lr']:.2e}"
            )
            return
        if self._event != event or self._bar is None:
            self.close()
            unit = " units" if event == "reading" else " spectra"
            self._bar = self._tqdm(total=total, unit=unit, desc=event)
            self._event = event
        if event == "reading":
            self._bar.update(done)
        else:
            self._bar.n = done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._event = None


__all__ = ["Trained", "train"]
