"""astronn: the SDSS AstroNN pipelines (APOGEE stellar labels and distances, as in Data
Release 19) on a fast Rust engine, with no deep-learning framework to install.

Spectra in numpy arrays::

    >>> import numpy as np, astronn
    >>> model = astronn.load_model()                   # or an Astra .pt checkpoint
    >>> out = model.predict(np.ones((2, 7514)), normalized=True, mc=10, seed=1)
    >>> sorted(out)[:4]
    ['al_h', 'c_1_h', 'c_h', 'ca_h']

apStar files to DR19's tables::

    >>> coadds, visits, dist = astronn.predict_files("tests/data", visits=True)  # doctest: +SKIP

- :func:`load_model` → :class:`Model` (``.predict`` on raw or normalized spectra →
  :class:`Prediction`, ``.jacobian``)
- :func:`normalize`, :func:`read_apstar`, :func:`wavelength`
- :func:`predict_files` → :class:`Results` of astropy Tables (with DR19's units and
  descriptions); :func:`read_result_table`
- :mod:`astronn.flags`: ``result_flags`` bits by name
- :func:`fakemag_to_pc`, :func:`fakemag_to_parallax` (as in astroNN)
- :func:`train` → :class:`Trained` (the model and its history): train or fine-tune as
  ``astronn train`` does
- :func:`calibrate` → :class:`Calibration`: a noise model, as ``astronn calibrate``;
  :func:`report` → :class:`ValidationReport`: results against a reference, as ``astronn
  report``; :func:`simulate` → :class:`Simulation`: a survey with known truth
- :class:`Network`: a drop-in for Astra's PyTorch ``Network``
"""

from ._astronn import __version__
from ._checks import APSTAR_PIXELS, NETWORK_PIXELS, DEFAULT_MODEL_NOTICE, AstroNNWarning
from . import flags
from ._files import Results, TABLE_FILES, predict_files, read_result_table
from ._layout import wavelength
from ._model import (
    Model,
    Prediction,
    fakemag_to_parallax,
    fakemag_to_pc,
    load_model,
    normalize,
    read_apstar,
)
from ._network import Network
from ._train import Trained, train
from ._calibrate import Calibration, calibrate
from ._report import ValidationReport, report
from ._simulate import Simulation, simulate

__all__ = [
    "__version__",
    "APSTAR_PIXELS",
    "NETWORK_PIXELS",
    "DEFAULT_MODEL_NOTICE",
    "AstroNNWarning",
    "Calibration",
    "Model",
    "Network",
    "Prediction",
    "Results",
    "Simulation",
    "TABLE_FILES",
    "ValidationReport",
    "Trained",
    "calibrate",
    "fakemag_to_parallax",
    "fakemag_to_pc",
    "flags",
    "load_model",
    "normalize",
    "predict_files",
    "read_apstar",
    "read_result_table",
    "report",
    "simulate",
    "train",
    "wavelength",
]
