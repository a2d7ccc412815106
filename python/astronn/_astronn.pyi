"""Type stub of the native module (built from src/python by maturin). Use the documented
wrappers in :mod:`astronn`; these take C-ordered float64 arrays and uint64 bitmasks."""

from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
APSTAR_PIXELS: int
NETWORK_PIXELS: int

class Model:
    @property
    def labels(self) -> List[str]: ...
    @property
    def columns(self) -> List[str]: ...
    @property
    def kind(self) -> str: ...
    @property
    def is_bayesian(self) -> bool: ...
    @property
    def metadata(self) -> Dict[str, str]: ...
    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def is_default(self) -> bool: ...
    @property
    def noise_model(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def precision_notice(self) -> Optional[str]: ...
    def predict_normalized(
        self,
        flux: npt.NDArray[np.float64],
        *,
        mc: int,
        seed: Optional[int],
        strict: bool = False,
        noise_model: Optional[str] = None,
        threads: Optional[int] = None,
        k_mag: Optional[npt.NDArray[np.float64]] = None,
        ebv: Optional[npt.NDArray[np.float64]] = None,
        origins: Optional[List[Tuple[str, int]]] = None,
    ) -> Tuple[Dict[str, np.ndarray], List[str]]: ...
    def predict_apstar(
        self,
        flux: npt.NDArray[np.float64],
        e_flux: npt.NDArray[np.float64],
        bitmask: npt.NDArray[np.uint64],
        *,
        mc: int,
        seed: Optional[int],
        strict: bool = False,
        noise_model: Optional[str] = None,
        threads: Optional[int] = None,
        k_mag: Optional[npt.NDArray[np.float64]] = None,
        ebv: Optional[npt.NDArray[np.float64]] = None,
        origins: Optional[List[Tuple[str, int]]] = None,
    ) -> Tuple[Dict[str, np.ndarray], List[str]]: ...

    def save(self, path: str, *, description: Optional[str] = None, overwrite: bool = False) -> None: ...
    def jacobian(
        self,
        flux: npt.NDArray[np.float64],
        *,
        mc: int = 0,
        seed: Optional[int] = None,
        log_variance: bool = False,
        threads: Optional[int] = None,
        origins: Optional[List[Tuple[str, int]]] = None,
    ) -> Tuple[npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]], List[str]]: ...

def load_model(
    path: Optional[str] = None, kind: Optional[str] = "astronn", precision: str = "f32"
) -> Model: ...
def normalize(
    flux: npt.NDArray[np.float64],
    e_flux: npt.NDArray[np.float64],
    bitmask: npt.NDArray[np.uint64],
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], List[Tuple[int, str]]]: ...
def fakemag_to_pc(
    fakemag: npt.NDArray[np.float64],
    mag: npt.NDArray[np.float64],
    fakemag_err: npt.NDArray[np.float64],
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def fakemag_to_parallax(
    fakemag: npt.NDArray[np.float64],
    mag: npt.NDArray[np.float64],
    fakemag_err: npt.NDArray[np.float64],
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def read_apstar(path: str, visits: bool = True) -> dict: ...
def read_table(path: str, hdu: str = "APOGEE") -> Dict[str, np.ndarray]: ...
def predict_files(
    inputs: List[str],
    outputs: Dict[str, str],
    *,
    model: Optional[str] = None,
    dist_model: Optional[str] = None,
    extra: List[Tuple[str, str]] = ...,
    normalized: Optional[str] = None,
    shard: Optional[str] = None,
    mc: int = 100,
    seed: Optional[int] = None,
    strict: bool = False,
    precision: str = "f32",
    noise_model: Optional[str] = None,
    sources: Optional[str] = None,
    sources_id_column: Optional[str] = None,
    gaia: Optional[str] = None,
    gaia_id_column: Optional[str] = None,
    photometry: Optional[str] = None,
    photometry_columns: Optional[Tuple[str, str, str]] = None,
    threads: Optional[int] = None,
    progress: Optional[Callable[[int, int, int], None]] = None,
    command_line: str = "",
    overwrite: bool = False,
) -> Tuple[dict, List[str]]: ...
def label_names(kind: str) -> List[str]: ...
def train(
    inputs: List[str],
    catalog: Optional[str],
    output: str,
    *,
    kind: str = "astronn",
    normalized: Optional[str] = None,
    flux: Optional[npt.NDArray[np.float64]] = None,
    labels: Optional[npt.NDArray[np.float64]] = None,
    labels_err: Optional[npt.NDArray[np.float64]] = None,
    id_column: Optional[str] = None,
    label_columns: Optional[Dict[str, str]] = None,
    init: Optional[str] = None,
    renormalize: bool = False,
    freeze: List[str] = ...,
    select: Optional[str] = None,
    where_expr: Optional[str] = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    learning_rate: Optional[float] = None,
    validation: Optional[float] = None,
    seed: Optional[int] = None,
    early_stop: Optional[int] = None,
    precision: str = "f32",
    save: str = "best",
    checkpoint_dir: Optional[str] = None,
    metrics: Optional[str] = None,
    resume: Optional[str] = None,
    threads: Optional[int] = None,
    progress: Optional[Callable[[str, int, int, Optional[dict]], None]] = None,
    command_line: str = "",
    overwrite: bool = False,
) -> Tuple[dict, List[str], List[str]]: ...
def calibrate(
    inputs: List[str],
    output: str,
    *,
    truth: Optional[str] = None,
    id_column: str = "sdss4_apogee_id",
    result_id_column: str = "sdss4_apogee_id",
    labels: List[str] = ...,
    overwrite: bool = False,
) -> Tuple[dict, List[str]]: ...
def report(
    result: str,
    truth: str,
    output_dir: str,
    *,
    id_column: str = "sdss4_apogee_id",
    result_id_column: str = "sdss4_apogee_id",
    snr_min: float = 100.0,
    model: Optional[str] = None,
    overwrite: bool = False,
) -> Tuple[dict, List[str]]: ...
def simulate(
    output: str,
    *,
    n: Optional[int] = None,
    seed: int = 1,
    labels: Optional[str] = None,
    noise_free: bool = False,
    normalized_only: bool = False,
    restrict: List[str] = ...,
    progress: Optional[Callable[[int, int], None]] = None,
    command_line: str = "",
    overwrite: bool = False,
) -> Tuple[int, List[str]]: ...
def bench_network(
    model: Model,
    flux: npt.NDArray[np.float64],
    count: int,
    mc: int = 100,
    threads: Optional[int] = None,
) -> Tuple[int, float]: ...
def run_cli(args: List[str], executable: str) -> int: ...
def result_columns(product: str) -> List[Tuple[str, str, str]]: ...
def flag_bits(product: str) -> List[Tuple[int, str, str]]: ...
def wavelengths(network: bool = False) -> npt.NDArray[np.float64]: ...
def default_model_notice(kinds: List[str]) -> str: ...
