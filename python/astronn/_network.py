"""A drop-in for Astra's PyTorch ``Network`` (``astra.pipelines.astronn.network`` and
``astra.pipelines.astronn_dist.network``): the same constructor and ``predict``, computed
by astronn's engine without PyTorch."""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import numpy as np

from . import _astronn, _checks
from ._checks import NETWORK_PIXELS, PathLike
from ._model import Model


#: Astra's names (``targetname``) of the labels whose DR19 column names differ.
ASTRA_NAMES = {"c_1_h": "c1_h", "ti_2_h": "ti2_h"}


class Network:
    """Astra's ``Network(model_path, device)``, for either network (``model_path`` may also
    be a :class:`Model` from :func:`load_model`).

    In Astra, replace ``from astra.pipelines.astronn.network import Network`` with
    ``from astronn import Network``; ``read_model``'s ``Network(path, device)`` then returns
    this, and ``network.predict(X, mc_num=100)`` gives the same ``(pred, pred_err)``.

    Example
    -------
    >>> import numpy as np, astronn
    >>> network = astronn.Network("astronn_bcnn_censored.pt", "cpu")   # doctest: +SKIP
    >>> pred, pred_err = network.predict(np.ones((4, 7514)), mc_num=100)  # doctest: +SKIP
    >>> pred.shape                                                        # doctest: +SKIP
    (4, 22)
    """

    def __init__(self, model_path: Union[PathLike, Model], device: str = "cpu"):
        if str(device) not in ("cpu", "cpu:0"):
            raise ValueError(f"astronn runs on the CPU; device must be 'cpu', not {device!r}")
        if isinstance(model_path, Model):
            self.model = model_path
        else:
            self.model = Model(_astronn.load_model(_checks.path_or_none(model_path), None))
        self.targetname: List[str] = [ASTRA_NAMES.get(label, label) for label in self.model.labels]

    def predict(
        self,
        inputs,
        batchsize: int = 256,
        mc_num: int = 100,
        *,
        seed: Optional[int] = None,
        threads: Optional[int] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Labels and errors of normalized spectra, as Astra's ``Network.predict``.

        Parameters
        ----------
        inputs : array of shape (N, 7514)
            Normalized spectra (Astra subtracts the model's input mean inside; so does this).
        batchsize : int
            Accepted for compatibility; astronn batches the MC samples of each spectrum.
        mc_num : int
            MC-dropout samples (Astra's dropout is always on); 0 gives one deterministic
            pass, which Astra cannot do. 1 is refused (no MC variance).
        seed : int, optional
            Seed of the dropout masks (Astra draws from torch's generator).

        Returns
        -------
        (pred, pred_err)
            For AstroNN, arrays of shape (N, 22) in :attr:`targetname` order (Astra's
            label names: ``c1_h`` and ``ti2_h`` where DR19's columns say ``c_1_h``,
            ``ti_2_h``): the
            de-normalised mean output and sqrt(exp(mean log-variance) + MC variance) ·
            labels_std, with no noise model (Astra applies its own later). For AstroNNDist,
            arrays of shape (N,): L_fakemag and its error. A spectrum with non-finite pixels
            gives NaN with an :class:`AstroNNWarning`.
        """
        inputs = _checks.pixels(inputs, "inputs", NETWORK_PIXELS)
        columns = self.model.predict(inputs, normalized=True, mc=mc_num, seed=seed, threads=threads)
        pred = np.column_stack([columns[f"raw_{label}"] for label in self.model.labels])
        err = np.column_stack([columns[f"raw_e_{label}"] for label in self.model.labels])
        if self.model.kind == "dist":
            return pred[:, 0], err[:, 0]
        return pred, err


__all__ = ["Network"]
