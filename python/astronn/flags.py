"""The bits of ``result_flags``, by name, for both products: AstroNN's (``coadds`` and
``visits`` tables, :meth:`Model.predict` of an AstroNN model) and AstroNNDist's
(``distances``, a distance model).

Decode a value into names, build a value from names, or select rows::

    >>> from astronn import flags
    >>> flags.names(2050)
    ['UNCERTAIN_TEFF', 'NO_RESULT']
    >>> flags.value("UNCERTAIN_LOGG", "UNCERTAIN_FE_H")
    5
    >>> flags.has([0, 2, 2048], "NO_RESULT").tolist()
    [False, False, True]
    >>> flags.names(2, kind="dist")
    ['MISSING_PHOTOMETRY']

``flag_warn`` and ``flag_bad`` summarise them (see :func:`describe` for each bit's rule).
"""

from __future__ import annotations

from typing import Dict, List, Tuple, Union

import numpy as np

from . import _astronn

_PRODUCT_OF_KIND = {"astronn": "coadds", "dist": "distances"}


def _bits(kind: str) -> List[Tuple[int, str, str]]:
    if kind not in _PRODUCT_OF_KIND:
        raise ValueError(f'kind must be "astronn" or "dist", not {kind!r}')
    return _astronn.flag_bits(_PRODUCT_OF_KIND[kind])


def bits(kind: str = "astronn") -> Dict[str, int]:
    """``{name: value}`` of every bit of ``kind``'s ``result_flags``."""
    return {name: value for value, name, _ in _bits(kind)}


def describe(kind: str = "astronn") -> List[Tuple[int, str, str]]:
    """``(bit number, name, rule)`` of every bit, as the CLI reference lists them."""
    return [(int(value).bit_length() - 1, name, rule) for value, name, rule in _bits(kind)]


def value(*names: str, kind: str = "astronn") -> int:
    """The ``result_flags`` value with the named bits set; an unknown name is a
    ``ValueError`` listing the known ones."""
    known = bits(kind)
    total = 0
    for name in names:
        if name not in known:
            raise ValueError(f"{name!r} is not a {kind} flag; the flags are {', '.join(known)}")
        total |= known[name]
    return total


def names(flags: Union[int, "np.ndarray", List[int]], kind: str = "astronn"):
    """The names of the bits set in ``flags``: a list for one value, a list of lists for an
    array (or column) of them. Bits without a name are given as ``"BIT<n>"``."""
    known = _bits(kind)

    def decode(flag: int) -> List[str]:
        flag = int(flag)
        out = [name for bit, name, _ in known if flag & bit]
        named = 0
        for bit, _, _ in known:
            named |= bit
        rest = flag & ~named
        out += [f"BIT{n}" for n in range(rest.bit_length()) if rest >> n & 1]
        return out

    array = np.asarray(flags)
    if array.ndim == 0:
        return decode(array)
    return [decode(f) for f in array.ravel()]


def has(flags, *names: str, kind: str = "astronn") -> np.ndarray:
    """Whether any of the named bits is set, per value of ``flags`` (a boolean array, or a
    bool for one value)."""
    mask = value(*names, kind=kind)
    result = (np.asarray(flags, dtype=np.int64) & mask) != 0
    return bool(result) if result.ndim == 0 else result


__all__ = ["bits", "describe", "has", "names", "value"]
