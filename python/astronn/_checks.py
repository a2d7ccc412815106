"""Argument checks shared by the public functions: arrays of the right shape and kind,
converted to what the native module takes (C-ordered float64, uint64 bitmasks)."""

from __future__ import annotations

import os
import warnings
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from . import _astronn

APSTAR_PIXELS: int = _astronn.APSTAR_PIXELS
NETWORK_PIXELS: int = _astronn.NETWORK_PIXELS

def default_model_notice(*kinds: str) -> str:
    """What a run using the embedded default models of ``kinds`` ("astronn", "dist") says,
    naming them, as the command line says it."""
    return (
        f"{_astronn.default_model_notice(list(kinds))} (give the path of another, e.g. an "
        "Astra .pt checkpoint, or a loaded Model)."
    )


#: What :func:`load_model` says of the embedded default AstroNN model.
DEFAULT_MODEL_NOTICE: str = default_model_notice("astronn")

PathLike = Union[str, "os.PathLike[str]"]


class AstroNNWarning(UserWarning):
    """A spectrum without a result, a default model in use, or another note from astronn."""


def warn_all(messages: Iterable[str]) -> None:
    """Issues each message as an :class:`AstroNNWarning`."""
    for message in messages:
        warnings.warn(message, AstroNNWarning, stacklevel=3)


def pixels(array, name: str, width: int, hint: str = "") -> np.ndarray:
    """``array`` as a C-ordered float64 (N, ``width``) array, or a ValueError saying what
    was expected. float32 and float64 arrays in C or Fortran order are accepted."""
    array = np.asarray(array)
    expected = f"{name} must be a float32 or float64 array of shape (N, {width})"
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        raise ValueError(f"{expected}; got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(f"{expected}; got shape {array.shape}{hint}")
    return np.ascontiguousarray(array, dtype=np.float64)


#: APOGEE_PIXMASK's BADPIX bit: how a masked pixel of a numpy masked array is passed on.
BADPIX = 1


def mask_of(*arrays) -> Optional[np.ndarray]:
    """The pixels masked in any of ``arrays`` that is a ``numpy.ma`` masked array (None when
    none is one): they are treated as bad pixels."""
    masks = [np.ma.getmaskarray(a) for a in arrays if np.ma.isMaskedArray(a)]
    if not masks:
        return None
    return np.logical_or.reduce(np.broadcast_arrays(*masks)) if len(masks) > 1 else masks[0]


def filled(array, value: float):
    """A masked array's data with its masked pixels set to ``value`` (other arrays as they
    are)."""
    if not np.ma.isMaskedArray(array):
        return array
    data = np.asarray(array.data)
    if data.dtype.kind != "f":
        return data
    return np.where(np.ma.getmaskarray(array), data.dtype.type(value), data)


def bitmask(array, shape: Sequence[int], masked: Optional[np.ndarray] = None) -> np.ndarray:
    """A pixel bitmask of ``shape`` as C-ordered uint64 (zeros when ``array`` is None), with
    BADPIX set where ``masked``."""
    if array is None:
        array = np.zeros(shape, dtype=np.uint64)
    array = np.asarray(array)
    if array.dtype.kind not in "iu":
        raise ValueError(f"bitmask must be an integer array; got dtype {array.dtype}")
    if array.shape != tuple(shape):
        raise ValueError(f"bitmask must have the flux's shape {tuple(shape)}; got {array.shape}")
    if array.dtype.kind == "i" and (array < 0).any():
        raise ValueError("bitmask must not hold negative values")
    array = np.ascontiguousarray(array, dtype=np.uint64)
    if masked is not None:
        if np.shape(masked) != tuple(shape):
            raise ValueError(f"the mask must have the flux's shape {tuple(shape)}; got {np.shape(masked)}")
        array = array | np.where(masked, np.uint64(BADPIX), np.uint64(0))
    return array


def origins(keys, rows: int) -> Optional[list]:
    """``keys``, (file, row) per spectrum, as the native module takes them (None stays
    None)."""
    if keys is None:
        return None
    keys = list(keys)
    if len(keys) != rows:
        raise ValueError(f"keys must have one (file, row) pair per spectrum ({rows}); got {len(keys)}")
    out = []
    for key in keys:
        try:
            path, row = key
            out.append((os.fspath(path), int(row)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"each key must be a (file, row) pair; got {key!r}") from error
    return out


def vector(values, rows: int, name: str) -> Optional[np.ndarray]:
    """Per-spectrum values as a float64 vector of ``rows`` (None stays None)."""
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(rows, float(array))
    if array.shape != (rows,):
        raise ValueError(f"{name} must have one value per spectrum ({rows}); got shape {array.shape}")
    return np.ascontiguousarray(array)


def path_or_none(path: Optional[PathLike]) -> Optional[str]:
    """A path argument as text (None stays None)."""
    return None if path is None else os.fspath(path)


def positive(value: Optional[int], name: str) -> Optional[int]:
    """An argument that is None (its default) or a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}")
    return int(value)


def threads(value: Optional[int]) -> Optional[int]:
    """A ``threads`` argument: None (every core) or a positive integer."""
    return positive(value, "threads")


def mc(value: int) -> int:
    """An ``mc`` argument: 0 (deterministic) or at least 2 samples."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"mc must be a non-negative integer; got {value!r}")
    if value == 1:
        raise ValueError("mc = 1 gives no MC variance: use 0 (deterministic) or at least 2 samples")
    return int(value)


def seed(value: Optional[int]) -> Optional[int]:
    """A ``seed`` argument: None (drawn) or a non-negative integer below 2**64."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64) or None; got {value!r}")
    return int(value)
