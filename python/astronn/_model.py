"""Models and spectra held in numpy arrays: load a model, predict, normalize, read apStar
files, convert L_fakemag to distances."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _astronn, _checks, _layout
from ._checks import APSTAR_PIXELS, NETWORK_PIXELS, PathLike, AstroNNWarning


class Prediction(dict):
    """What :meth:`Model.predict` returns: a dict of one numpy array per column, which also
    says what each column is: :attr:`units` (astropy unit strings, DR19's units) and
    :attr:`descriptions` (DR19's descriptions), and turns into an astropy table
    (:meth:`table`).

    Example
    -------
    >>> import numpy as np, astronn
    >>> out = astronn.load_model().predict(np.ones((1, 7514)), normalized=True, mc=0)
    >>> out.units["teff"], out.descriptions["logg"]
    ('K', 'Surface gravity')
    """

    def __init__(self, columns: dict, product: str):
        super().__init__(columns)
        described = _layout.columns(product)
        #: ``{column: astropy unit string}`` for the columns DR19 gives a unit.
        self.units: Dict[str, str] = {
            name: described[name][0] for name in columns if described.get(name, (None,))[0]
        }
        #: ``{column: description}`` for the columns DR19 describes.
        self.descriptions: Dict[str, str] = {
            name: described[name][1] for name in columns if described.get(name, (None, ""))[1]
        }

    def table(self):
        """The columns as an ``astropy.table.QTable``-ready ``Table`` with each column's
        ``unit`` and ``description`` (needs astropy)."""
        from astropy.table import Table

        table = Table(dict(self))
        for name in table.colnames:
            table[name].unit = self.units.get(name)
            table[name].description = self.descriptions.get(name)
        return table


class Model:
    """A loaded AstroNN or AstroNNDist model, ready to predict.

    Get one from :func:`load_model`. Example::

        >>> import numpy as np, astronn
        >>> model = astronn.load_model()            # the embedded default AstroNN model
        >>> out = model.predict(np.ones((2, 7514)), normalized=True, mc=10, seed=1)
        >>> out["teff"].shape, out["e_teff"].shape
        ((2,), (2,))
    """

    def __init__(self, native: "_astronn.Model"):
        self._native = native

    @property
    def labels(self) -> List[str]:
        """The labels the network predicts, in output order (``["L_fakemag"]`` for a
        distance model)."""
        return self._native.labels

    @property
    def columns(self) -> List[str]:
        """The keys of :meth:`predict`'s result, in table order."""
        return self._native.columns

    @property
    def kind(self) -> str:
        """``"astronn"`` (AstroNN's labels), ``"dist"`` (L_fakemag and distances) or
        ``"generic"`` (another astroNN network: an ``ApogeeBCNN`` of any outputs, such as
        the DR17 VAC's ages, or an ``ApogeeCNN``; :attr:`labels` names its outputs)."""
        return self._native.kind

    @property
    def is_bayesian(self) -> bool:
        """Whether the network has MC dropout and errors: an astroNN ``ApogeeCNN`` has
        neither, runs once whatever ``mc`` says, and its error columns are NaN."""
        return self._native.is_bayesian

    @property
    def precision(self) -> str:
        """The arithmetic of the network's ``dense_1``: ``"float32"``, ``"bfloat16"`` or
        ``"bfloat16 (emulated)"`` (see :func:`load_model`)."""
        return self._native.precision

    @property
    def metadata(self) -> Dict[str, str]:
        """The model's metadata (provenance, label ranges; empty for Astra ``.pt`` files)."""
        return self._native.metadata

    @property
    def path(self) -> str:
        """Where the model was read from (``default:…`` for an embedded model)."""
        return self._native.path

    @property
    def sha256(self) -> str:
        """SHA-256 of the model file, as the tables' ``MODELSHA`` header card gives it."""
        return self._native.sha256

    @property
    def is_default(self) -> bool:
        """Whether this is an embedded default model (trained on simulated spectra)."""
        return self._native.is_default

    @property
    def noise_model(self) -> str:
        """The noise model :meth:`predict` applies when given none: the default models' own
        for a default model, ``"none"`` otherwise."""
        return self._native.noise_model

    def __repr__(self) -> str:
        return repr(self._native)

    def predict(
        self,
        flux,
        e_flux=None,
        bitmask=None,
        *,
        normalized: bool = False,
        mc: int = 100,
        seed: Optional[int] = None,
        noise_model: Optional[PathLike] = None,
        threads: Optional[int] = None,
        strict: bool = False,
        k_mag=None,
        ebv=None,
        keys: Optional[Sequence[Tuple[PathLike, int]]] = None,
    ) -> "Prediction":
        """Predicts every spectrum (row) of ``flux``.

        Parameters
        ----------
        flux : array of shape (N, 8575), or (N, 7514) with ``normalized=True``
            Raw apStar pixels (continuum-normalized inside, exactly as ``astronn normalize``
            and :func:`normalize` do), or normalized spectra. float32 or float64, C or
            Fortran order. In a ``numpy.ma`` masked array (``flux``, ``e_flux`` or
            ``bitmask``), masked pixels are bad pixels: left out of the continuum fit and set
            to 1 as the apStar bitmask's bad bits are (BADPIX); in normalized spectra, set to
            1 (astroNN's mask value). A mask is never ignored.
        e_flux : array of shape (N, 8575), needed for raw pixels
            Flux errors as the continuum step takes them (:func:`read_apstar` returns them).
        bitmask : integer array of shape (N, 8575), optional
            APOGEE_PIXMASK bits of the raw pixels; zero when not given.
        normalized : bool
            Whether ``flux`` holds normalized spectra.
        mc : int
            MC-dropout samples per spectrum; 0 for one deterministic pass (dropout off).
        seed : int, optional
            Seed of the dropout masks; each spectrum has its own stream from it, keyed by
            the file and row it comes from (``keys``), so a row's result does not depend on
            the other rows. Drawn at random when not given.
        keys : sequence of (file, row) pairs, optional
            Where each row comes from: its dropout stream is then the one
            :func:`predict_files` and the CLI give that spectrum (keyed by the file's name,
            not its directory, and the row in it), so with the same ``seed`` the results are
            theirs. :func:`read_apstar` returns them (``keys``). Without ``keys`` row ``i``
            is keyed ``("array", i)``.
        noise_model : path, optional
            A noise model (``astronn calibrate`` JSON, or Astra's pickle) recalibrating the
            errors; without one, :attr:`noise_model` applies.
        threads : int, optional
            Threads to use (every core when not given). The GIL is released meanwhile.
        strict : bool
            Raise ``ValueError`` for a spectrum without a result instead of returning a
            NO_RESULT row (with an :class:`AstroNNWarning`).
        k_mag, ebv : arrays of shape (N,), optional
            For a distance model: 2MASS Ks magnitude and SFD E(B-V) per spectrum, turning
            L_fakemag into distances (without them the distances are NaN).

        Returns
        -------
        Prediction
            A dict of one 1-D array of N values per column of our tables, with each column's
            unit and description (:class:`Prediction`): for an AstroNN model each label
            (``teff``, ``logg``, ``c_h``, …), its error ``e_teff``, the network's values
            before the noise model ``raw_teff``, ``raw_e_teff``, and the two parts of
            ``raw_e_teff`` (``raw_e_teff² = e_teff_model² + e_teff_predictive²``): the
            MC-dropout part ``e_teff_model`` and the network's own predictive part
            ``e_teff_predictive``, astroNN's ``pred_err['model']`` and
            ``pred_err['predictive']``; for a distance model
            ``L_fakemag``, ``L_fakemag_err``, ``nn_dist``, ``nn_parallax`` and the rest of
            ``astraAllStarAstroNNdist``'s result columns; then ``result_flags`` (int64),
            ``flag_warn`` and ``flag_bad`` (bool). A spectrum without a result has NaN values
            and the NO_RESULT flag.

        Ctrl-C stops the call within a second with ``KeyboardInterrupt``.

        Example
        -------
        >>> import numpy as np, astronn
        >>> model = astronn.load_model()
        >>> out = model.predict(np.ones((3, 7514)), normalized=True, mc=0)
        >>> sorted(out)[:3]
        ['al_h', 'c_1_h', 'c_h']
        """
        if "L_fakemag" not in self.labels and (k_mag is not None or ebv is not None):
            raise ValueError("k_mag and ebv are for a distance model (kind 'dist', or a model with an L_fakemag output)")
        if mc and not self.is_bayesian:
            _checks.warn_all(
                [f"{self.path} is an astroNN {self.metadata.get('astronn_class', 'network')} without MC dropout or a predictive variance: it runs one deterministic pass (mc ignored) and its errors are NaN"]
            )
        width = NETWORK_PIXELS if normalized else APSTAR_PIXELS
        hint = ""
        if not normalized and np.ndim(flux) == 2 and np.shape(flux)[1] == NETWORK_PIXELS:
            hint = " (normalized spectra need normalized=True)"
        masked = _checks.mask_of(flux, e_flux, bitmask)
        fill = 1.0 if normalized else np.nan
        flux = _checks.pixels(_checks.filled(flux, fill), "flux", width, hint)
        rows = flux.shape[0]
        common = dict(
            mc=_checks.mc(mc),
            seed=_checks.seed(seed),
            strict=bool(strict),
            noise_model=_checks.path_or_none(noise_model),
            threads=_checks.threads(threads),
            k_mag=_checks.vector(k_mag, rows, "k_mag"),
            ebv=_checks.vector(ebv, rows, "ebv"),
            origins=_checks.origins(keys, rows),
        )
        if normalized:
            if e_flux is not None or bitmask is not None:
                raise ValueError("e_flux and bitmask are for raw pixels, not normalized spectra")
            columns, notes = self._native.predict_normalized(flux, **common)
        else:
            if e_flux is None:
                raise ValueError(
                    "raw apStar pixels need e_flux (read_apstar returns it); for normalized "
                    "spectra give normalized=True"
                )
            e_flux = _checks.pixels(_checks.filled(e_flux, np.nan), "e_flux", APSTAR_PIXELS)
            if e_flux.shape != flux.shape:
                raise ValueError(f"e_flux must have the flux's shape {flux.shape}; got {e_flux.shape}")
            mask = _checks.bitmask(_checks.filled(bitmask, 0), flux.shape, masked)
            columns, notes = self._native.predict_apstar(flux, e_flux, mask, **common)
        _checks.warn_all(notes)
        return Prediction(columns, "distances" if self.kind == "dist" else "coadds")

    def jacobian(
        self,
        flux,
        *,
        normalized: bool = True,
        mc: int = 0,
        seed: Optional[int] = None,
        log_variance: bool = False,
        threads: Optional[int] = None,
        keys: Optional[Sequence[Tuple[PathLike, int]]] = None,
    ):
        """Which pixels drive each label: the Jacobian d label / d pixel of every spectrum.

        Parameters
        ----------
        flux : array of shape (N, 7514)
            Normalized spectra (``normalized=False`` is not supported: normalize first with
            :func:`normalize`). Masked pixels of a ``numpy.ma`` array are set to 1, as in
            :meth:`predict`.
        mc : int
            0 differentiates the deterministic pass; otherwise the mean of the per-sample
            Jacobians over ``mc`` MC-dropout samples, each row's masks from ``seed`` and its
            key (``keys``), exactly as in :meth:`predict`.
        keys : sequence of (file, row) pairs, optional
            As in :meth:`predict`.
        log_variance : bool
            Also return the Jacobian of the predictive log-variance (normalised units).

        Returns
        -------
        numpy.ndarray of float32, shape (N, labels, 7514)
            In label units per unit of normalized flux, labels in :attr:`labels` order; with
            ``log_variance``, a pair ``(labels_jacobian, log_variance_jacobian)``. A
            spectrum that cannot be predicted (non-finite pixels: a NO_RESULT row of
            :meth:`predict`) is NaN, with an :class:`AstroNNWarning`. Plot a row against
            :func:`wavelength` ``(network=True)``.

        Example
        -------
        >>> import numpy as np, astronn
        >>> model = astronn.load_model()
        >>> model.jacobian(np.ones((2, 7514))).shape
        (2, 22, 7514)
        """
        if not normalized:
            raise ValueError("jacobian takes normalized spectra: normalize them first (astronn.normalize)")
        flux = _checks.pixels(_checks.filled(flux, 1.0), "flux", NETWORK_PIXELS)
        values, log_variances, notes = self._native.jacobian(
            flux,
            mc=_checks.mc(mc),
            seed=_checks.seed(seed),
            log_variance=bool(log_variance),
            threads=_checks.threads(threads),
            origins=_checks.origins(keys, flux.shape[0]),
        )
        _checks.warn_all(notes)
        return (values, log_variances) if log_variance else values

    def save(self, path: PathLike, *, description: Optional[str] = None, overwrite: bool = False) -> None:
        """Writes the model as a ``.safetensors`` model file, as ``astronn convert`` does:
        the same tensors, this model's metadata, and its provenance (the file it was read
        from, that file's SHA-256, this version, the time, ``description``).

        Any model :func:`load_model` reads can be saved: a trained one, an Astra ``.pt``
        checkpoint, an astroNN folder, or a default model (whose noise model stays with the
        default: the copy predicts the network's own errors unless given ``noise_model=``).
        An existing ``path`` is a ``FileExistsError`` unless ``overwrite``.

        Example
        -------
        >>> import astronn, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> astronn.load_model().save(path, description="the default model")
        >>> astronn.load_model(path).metadata["description"]
        'the default model'
        """
        self._native.save(os.fspath(path), description=description, overwrite=bool(overwrite))


def load_model(
    path: Optional[PathLike] = None, kind: Optional[str] = None, precision: str = "f32"
) -> Model:
    """Loads a model.

    Parameters
    ----------
    path : path, optional
        An Astra PyTorch checkpoint (``.pt``, read without PyTorch), an astronn
        ``.safetensors`` model, or an astroNN model folder (such as the DR17 VAC's
        ``astroNN_0512_run002``; read without TensorFlow). Without one (or with ``"default"``), the embedded default
        model of ``kind``: it was trained on simulated spectra, for trying the tool, and an
        :class:`AstroNNWarning` says so.
    kind : {None, "astronn", "dist", "generic"}
        The network expected: AstroNN's labels, L_fakemag and distances, or another astroNN
        network (``ApogeeBCNN`` of any outputs, ``ApogeeCNN``: its outputs are named as
        DR19's columns where DR19 has one, e.g. ``[Fe/H]`` and ``Fe`` as ``fe_h``, else in
        lower case, e.g. ``age``); a file holding another kind is then a ``ValueError``.
        Without one, whatever the file holds (:attr:`Model.kind` says which); without a path
        either, the default AstroNN model. An ``ApogeeCNN`` has no MC dropout and no
        predictive variance: :meth:`Model.predict` runs it once and its errors are NaN.
    precision : {"f32", "bf16", "bf16-emulated"}
        Arithmetic of ``dense_1``, the network's largest product: float32 (Astra's, the
        default); bfloat16 inputs and weights with float32 sums on a CPU with AVX512-BF16
        (elsewhere an :class:`AstroNNWarning` says so and the model runs float32); or the
        same bfloat16 arithmetic in software on any CPU (slow: to see its effect on the
        labels). :attr:`Model.precision` says which runs.

    Example
    -------
    >>> import astronn
    >>> model = astronn.load_model("astronn_bcnn_censored.pt")   # doctest: +SKIP
    >>> model.labels[:3]                                          # doctest: +SKIP
    ['teff', 'logg', 'c_h']
    """
    native = _astronn.load_model(_checks.path_or_none(path), kind, precision)
    if native.is_default:
        _checks.warn_all([_checks.default_model_notice(native.kind)])
    if native.precision_notice is not None:
        _checks.warn_all([native.precision_notice])
    return Model(native)


def normalize(flux, e_flux, bitmask=None) -> Tuple[np.ndarray, np.ndarray]:
    """Continuum-normalizes raw apStar spectra exactly as astroNN's
    ``apogee_continuum(flux, e_flux, bitmask, dr=17)`` (and ``astronn normalize``) do.

    Parameters
    ----------
    flux, e_flux : arrays of shape (N, 8575)
        Flux and flux errors as the continuum step takes them (:func:`read_apstar`).
    bitmask : integer array of shape (N, 8575), optional
        APOGEE_PIXMASK bits (zero when not given). Masked pixels of ``numpy.ma`` arrays
        are bad pixels, as in :meth:`Model.predict`.

    Returns
    -------
    (norm_flux, norm_e_flux) : arrays of shape (N, 7514)
        A row that cannot be normalized is NaN, with an :class:`AstroNNWarning`.

    Example
    -------
    >>> import astronn
    >>> star = astronn.read_apstar("tests/data/apStar-dr17-2M17335483-2753043.fits")  # doctest: +SKIP
    >>> flux, e_flux = astronn.normalize(star["flux"], star["e_flux"], star["bitmask"])  # doctest: +SKIP
    """
    masked = _checks.mask_of(flux, e_flux, bitmask)
    flux = _checks.pixels(_checks.filled(flux, np.nan), "flux", APSTAR_PIXELS)
    e_flux = _checks.pixels(_checks.filled(e_flux, np.nan), "e_flux", APSTAR_PIXELS)
    if e_flux.shape != flux.shape:
        raise ValueError(f"e_flux must have the flux's shape {flux.shape}; got {e_flux.shape}")
    mask = _checks.bitmask(_checks.filled(bitmask, 0), flux.shape, masked)
    norm_flux, norm_e_flux, failures = _astronn.normalize(flux, e_flux, mask)
    _checks.warn_all(f"row {row}: {reason}; normalized to NaN" for row, reason in failures)
    return norm_flux, norm_e_flux


def read_apstar(path: PathLike, visits: bool = True) -> dict:
    """Reads an apStar file (DR17 or DR19 layout, ``.fits`` or ``.fits.gz``).

    Returns
    -------
    dict
        ``flux``, ``e_flux`` (float64) and ``bitmask`` (uint64), each (rows, 8575): the
        coadd in row 0, then (with ``visits``) each visit, ready for :func:`normalize` and
        :meth:`Model.predict` (``e_flux`` is already derived from the file's error array as
        Astra does). ``row``, ``kind`` ("coadd"/"visit"), ``visit`` and ``visit_file`` per
        row; ``keys``: ``(file, row)`` per row, for :meth:`Model.predict`'s ``keys`` (the
        dropout streams of :func:`predict_files`); ``header``: the star's header values
        under DR19 column names (``sdss4_apogee_id``, ``ra``, ``dec``, ``snr``, ``k_mag``,
        …); ``visit_headers``: each visit's own values; ``failures``: ``(row, reason)`` for
        rows whose pixels are unusable (left NaN).

    Example
    -------
    >>> import astronn
    >>> star = astronn.read_apstar("tests/data/apStar-dr17-2M17335483-2753043.fits")  # doctest: +SKIP
    >>> star["flux"].shape, star["header"]["sdss4_apogee_id"]                         # doctest: +SKIP
    ((4, 8575), '2M17335483-2753043')
    """
    star = _astronn.read_apstar(_checks.path_or_none(path), bool(visits))
    star["keys"] = [(star["path"], row) for row in star["row"]]
    return star


def _distance_conversion(native, fakemag, mag, fakemag_err, unit: str):
    fakemag, mag = np.broadcast_arrays(np.asarray(fakemag, dtype=np.float64), np.asarray(mag, dtype=np.float64))
    shape = fakemag.shape
    errors = np.zeros(shape) if fakemag_err is None else np.broadcast_to(np.asarray(fakemag_err, dtype=np.float64), shape)
    values, value_errors = native(
        np.ascontiguousarray(fakemag.ravel()),
        np.ascontiguousarray(mag.ravel()),
        np.ascontiguousarray(errors.ravel()),
    )
    values, value_errors = values.reshape(shape), value_errors.reshape(shape)
    if shape == ():
        values, value_errors = values[()], value_errors[()]
    try:
        from astropy import units as u

        values, value_errors = values * u.Unit(unit), value_errors * u.Unit(unit)
    except ImportError:
        pass
    return values if fakemag_err is None else (values, value_errors)


def fakemag_to_pc(fakemag, mag, fakemag_err=None):
    """astroNN's ``fakemag_to_pc``: distance = 1000 · 10^(0.2·mag) / fakemag parsec from
    L_fakemag and the (extinction-corrected) apparent magnitude, and with ``fakemag_err``
    its error (fakemag_err / fakemag) · distance. astroNN's magic number −9999 where
    L_fakemag ≤ 0, or either input is NaN or −9999.

    Returns astropy Quantities in pc as astroNN does when astropy is installed, plain
    arrays (in pc) otherwise. (DR19's tables use their own rules: NaN, limits; see
    ``nn_dist`` in :meth:`Model.predict`.)

    Example
    -------
    >>> import astronn
    >>> float(astronn.fakemag_to_pc(150.0, 9.811, 10.0)[0].value)   # doctest: +SKIP
    611.0950149463729
    """
    return _distance_conversion(_astronn.fakemag_to_pc, fakemag, mag, fakemag_err, "pc")


def fakemag_to_parallax(fakemag, mag, fakemag_err=None):
    """astroNN's ``fakemag_to_parallax``: parallax = fakemag / 10^(0.2·mag) mas, and with
    ``fakemag_err`` its error (fakemag_err / fakemag) · parallax; −9999 as in
    :func:`fakemag_to_pc`. astropy Quantities in mas when astropy is installed, plain
    arrays otherwise."""
    return _distance_conversion(_astronn.fakemag_to_parallax, fakemag, mag, fakemag_err, "mas")


__all__ = [
    "AstroNNWarning",
    "Model",
    "Prediction",
    "load_model",
    "normalize",
    "read_apstar",
    "fakemag_to_pc",
    "fakemag_to_parallax",
]
