#!/usr/bin/env python3
"""Reference grid of the Gaia DR3 parallax zero-point, for `tests/gaia_zeropoint.rs`.

Evaluates `zero_point.zpt.get_zpt` of the PyPI package `gaiadr3-zeropoint` (Lindegren et al.
2021, A&A 649, A4; tables z5_200720 and z6_200720) the way SDSS Astra's astronn_dist_v2 calls
it in `get_gaiadata`: with numpy arrays of length 1, so the array code path runs, and with
its default `_warnings=True`, so out-of-range G, nu_eff and pseudocolour still evaluate
(their warnings are suppressed here). 5-parameter rows (astrometric_params_solved = 31) have
pseudocolour = NaN and 6-parameter rows (95) have nu_eff_used_in_astrometry = NaN, as in
Gaia's catalogue. The grid covers 6 <= G <= 21 (every table node and points between),
nu_eff 1.1..1.9 with the basis-function kinks 1.24, 1.48 and 1.72, pseudocolour 1.24..1.72
and ecliptic latitudes -90..90, plus out-of-range points (G 5 and 22, colours outside
their ranges), a few rows with a NaN input (NaN out), and seeded random points. Values are
written with `repr`, which round-trips every float exactly.

Usage:

    python -m venv /tmp/zpenv && /tmp/zpenv/bin/pip install gaiadr3-zeropoint
    /tmp/zpenv/bin/python scripts/gaia_zeropoint_grid.py [OUTPUT]

OUTPUT defaults to tests/data/gaia_zeropoint_grid.csv next to this script's directory.
"""

import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
from zero_point import zpt

HEADER = (
    "phot_g_mean_mag,nu_eff_used_in_astrometry,pseudocolour,ecl_lat,"
    "astrometric_params_solved,zero_point_mas"
)

# The G nodes of both coefficient tables.
G_NODES = [6.0, 10.8, 11.2, 11.8, 12.2, 12.9, 13.1, 15.9, 16.1, 17.5, 19.0, 20.0, 21.0]
# The nodes, the midpoints between them, and G 5 and 22 out of range.
G_VALUES = sorted(set(G_NODES) | {(a + b) / 2 for a, b in zip(G_NODES, G_NODES[1:])} | {5.0, 22.0})
# nu_eff: the valid range 1.1..1.9 with the kinks 1.24, 1.48, 1.72, and 1.0, 2.0 outside.
NU_EFF_VALUES = [1.0, 1.1, 1.17, 1.24, 1.36, 1.48, 1.6, 1.72, 1.81, 1.9, 2.0]
# pseudocolour: the valid range 1.24..1.72 with its middle kink 1.48, and 1.2, 1.8 outside.
PSEUDOCOLOUR_VALUES = [1.2, 1.24, 1.36, 1.48, 1.6, 1.72, 1.8]
ECL_LAT_VALUES = [-90.0, -37.5, 0.0, 15.0, 90.0]
RANDOM_ROWS = 500
NAN = float("nan")


def zero_point(g, nu_eff, pseudocolour, ecl_lat, params_solved):
    """get_zpt on length-1 arrays, as Astra calls it; its range warnings are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return zpt.get_zpt(
            np.array([g]),
            np.array([nu_eff]),
            np.array([pseudocolour]),
            np.array([ecl_lat]),
            np.array([params_solved]),
        )[0]


def grid_inputs():
    """The (G, nu_eff, pseudocolour, ecl_lat, astrometric_params_solved) rows to evaluate."""
    for g, nu, lat in itertools.product(G_VALUES, NU_EFF_VALUES, ECL_LAT_VALUES):
        yield g, nu, NAN, lat, 31
    for g, pc, lat in itertools.product(G_VALUES, PSEUDOCOLOUR_VALUES, ECL_LAT_VALUES):
        yield g, NAN, pc, lat, 95
    # A NaN in the colour used, G or ecl_lat gives NaN.
    yield 12.0, NAN, NAN, 10.0, 31
    yield 12.0, NAN, NAN, 10.0, 95
    yield NAN, 1.5, NAN, 10.0, 31
    yield 12.0, 1.5, NAN, NAN, 31
    yield NAN, NAN, 1.5, 10.0, 95
    yield 12.0, NAN, 1.5, NAN, 95
    rng = np.random.default_rng(20210521)
    for _ in range(RANDOM_ROWS):
        g, lat = rng.uniform(6.0, 21.0), rng.uniform(-90.0, 90.0)
        if rng.random() < 0.5:
            yield g, rng.uniform(1.1, 1.9), NAN, lat, 31
        else:
            yield g, NAN, rng.uniform(1.24, 1.72), lat, 95


def main():
    default = Path(__file__).resolve().parent.parent / "tests" / "data" / "gaia_zeropoint_grid.csv"
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    zpt.load_tables()
    lines = [HEADER]
    for g, nu, pc, lat, aps in grid_inputs():
        z = zero_point(g, nu, pc, lat, aps)
        fields = [repr(float(v)) for v in (g, nu, pc, lat)] + [str(aps), repr(float(z))]
        lines.append(",".join(fields))
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 1} rows to {output}")


if __name__ == "__main__":
    main()
