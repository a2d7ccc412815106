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
    catalog: Optional[PathLike] = None,
    *,
    kind: str = "astronn",
    normalized: Optional[PathLike] = None,
    output: Optional[PathLike] = None,
    id_column: Optional[str] = None,
    labels: Optional[Dict[str, str]] = None,
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
        :func:`predict_files` takes them; or give ``normalized``.
    catalog : path
        The label catalog (FITS or CSV) joined on ``id_column``: AstroNN's labels (an APOGEE
        allStar file fits the defaults), or for ``kind="dist"`` parallaxes and photometry.
    kind : {"astronn", "dist"}
        The network trained.
    normalized : path, optional
        Normalized spectra (an ``astronn normalize`` output) instead of ``inputs``.
    output : path, optional
        The model file written (``.safetensors``), with ``OUTPUT.checkpoints/`` and
        ``OUTPUT.metrics.json`` beside it; without one they go to a temporary directory that
        is removed once the model is loaded.
    id_column, labels
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
    if catalog is None:
        raise ValueError("train needs a label catalog: catalog=PATH")
    if normalized is None and inputs is None:
        raise ValueError("train needs inputs (apStar files, directories, @lists) or normalized=")
    file_inputs = [] if normalized is not None else _inputs(inputs)
    freeze = [freeze] if isinstance(freeze, str) else list(freeze)
    init_path = _model_argument(init, kind, "init")
    temporary = output is None
    directory = tempfile.mkdtemp(prefix="astronn-train-") if temporary else None
    model_path = os.path.join(directory, "model.safetensors") if temporary else os.fspath(output)
    bars = _TrainBars() if progress else None
    try:
        report, warnings, notes = _astronn.train(
            file_inputs,
            os.fspath(catalog),
            model_path,
            kind=kind,
            normalized=_checks.path_or_none(normalized),
            id_column=id_column,
            label_columns=dict(labels) if labels else None,
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
            command_line=f"astronn.train({file_inputs!r}, {os.fspath(catalog)!r}) (Python)",
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
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


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
