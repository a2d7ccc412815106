"""What the results mean: DR19's unit and description of every column (as SDSS's data model
gives them), in astropy's spelling, and the vacuum wavelength of every pixel."""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, Optional, Tuple

import numpy as np

from . import _astronn

#: DR19 unit strings that astropy spells otherwise (the rest it reads as they are).
_ASTROPY_SPELLING = {
    "log10(cm/s^2)": "dex(cm / s2)",
    "C": "deg_C",  # degrees Celsius (FITS and astropy read "C" as coulomb)
    "millibar": "mbar",
    "arcsecond": "arcsec",
    "Vega": "mag",  # a Vega magnitude
    "Vega nMgy": "nanomaggy",  # a flux in Vega nanomaggies
}

#: The products of :func:`predict_files` by their name in :class:`Results`.
PRODUCTS = ("coadds", "visits", "distances")


def astropy_unit(dr19_unit: str) -> Optional[str]:
    """The astropy spelling of a DR19 unit (None for a column without one)."""
    if not dr19_unit:
        return None
    return _ASTROPY_SPELLING.get(dr19_unit, dr19_unit)


@lru_cache(maxsize=None)
def columns(product: str) -> Dict[str, Tuple[Optional[str], str]]:
    """``{column: (astropy unit or None, description)}`` of a product's ``APOGEE`` HDU, and
    of the error parts :meth:`Model.predict` adds (``e_<label>_model``,
    ``e_<label>_predictive``)."""
    described = {
        name: (astropy_unit(unit), description)
        for name, unit, description in _astronn.result_columns(product)
    }
    for name, (unit, _) in list(described.items()):
        if name.startswith("raw_e_"):
            label = name[len("raw_e_") :]
            described[f"e_{label}_model"] = (unit, f"MC-dropout (model) part of {name}")
            described[f"e_{label}_predictive"] = (unit, f"Predictive (network) part of {name}")
    return described


def wavelength(network: bool = False) -> np.ndarray:
    """Vacuum wavelengths (Å) of the 8575 apStar pixels, or with ``network=True`` of the 7514
    pixels the networks read (the apStar grid without the gaps between the chips): the x axis
    of :func:`read_apstar`'s and :func:`normalize`'s spectra and of :meth:`Model.jacobian`.

    Example
    -------
    >>> import astronn
    >>> lam = astronn.wavelength(network=True)
    >>> lam.shape, round(float(lam[0]), 2), round(float(lam[-1]), 2)
    ((7514,), 15152.21, 16943.53)
    """
    return _astronn.wavelengths(bool(network))


__all__ = ["wavelength"]
