#!/usr/bin/env python3
"""How far a reduced-precision run's labels moved from a float32 run's, in units of the
reported error.

Usage: compare_precision.py F32.fits OTHER.fits [--json OUT.json]

Both tables are `astronn predict` (or `astronn dist`) outputs of the same spectra with the
same seed; rows are matched by position (the runs read the same inputs in the same order).
For every network label (`teff` with `e_teff`, ..., or `L_fakemag` with `L_fakemag_err`,
`nn_dist`, `nn_parallax`) it prints, over the rows both runs have a finite value for, the 50th,
99th and 100th percentiles of |other − f32| / e (e from the float32 run) and of the change
of the error itself, |e_other − e_f32| / e_f32. Needs numpy and astropy.
"""

import argparse
import json
import sys

import numpy as np
from astropy.io import fits
from astropy.table import Table


# AstroNNdist's network outputs and what follows from them alone (with the star's Ks).
DIST_LABELS = [("L_fakemag", "L_fakemag_err"), ("nn_dist", "nn_dist_err"),
               ("nn_parallax", "nn_parallax_err")]


def labels(table):
    """(label, error column) pairs in table order: AstroNN's labels (those with `e_` and
    `raw_` columns) or AstroNNdist's."""
    pairs = [(name, f"e_{name}") for name in table.colnames
             if f"e_{name}" in table.colnames and f"raw_{name}" in table.colnames]
    return pairs + [p for p in DIST_LABELS if p[0] in table.colnames]


def read(path):
    """The result rows (DR19's layout: the APOGEE HDU) and the run's primary header."""
    with fits.open(path) as hdus:
        header = hdus[0].header
        hdu = "APOGEE" if "APOGEE" in hdus else 1
    return Table.read(path, hdu=hdu), header


def compare(reference, other):
    """Per label: rows compared and the percentiles of the value and error changes."""
    if len(reference) != len(other):
        sys.exit(f"the tables have {len(reference)} and {len(other)} rows: not the same run")
    rows = []
    for name, error in labels(reference):
        value = np.asarray(reference[name], dtype=float)
        e = np.asarray(reference[error], dtype=float)
        value_other = np.asarray(other[name], dtype=float)
        e_other = np.asarray(other[error], dtype=float)
        ok = np.isfinite(value) & np.isfinite(value_other) & np.isfinite(e) & (e > 0)
        if not ok.any():
            continue
        shift = np.abs(value_other[ok] - value[ok]) / e[ok]
        error_change = np.abs(e_other[ok] - e[ok]) / e[ok]
        rows.append(
            {
                "label": name,
                "rows": int(ok.sum()),
                "shift_p50": float(np.percentile(shift, 50)),
                "shift_p99": float(np.percentile(shift, 99)),
                "shift_max": float(shift.max()),
                "error_change_p99": float(np.percentile(error_change, 99)),
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", help="the float32 run's table")
    parser.add_argument("other", help="the reduced-precision run's table")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    reference, reference_header = read(args.reference)
    other, other_header = read(args.other)
    print(f"reference: {reference_header.get('PRECISN', 'float32')}, other: "
          f"{other_header.get('PRECISN', '?')}; seeds {reference_header.get('SEED')} and "
          f"{other_header.get('SEED')}")
    rows = compare(reference, other)
    print(f"{'label':<12} {'rows':>6} {'|Δ|/e p50':>10} {'p99':>8} {'max':>8} {'|Δe|/e p99':>11}")
    for r in rows:
        print(f"{r['label']:<12} {r['rows']:>6} {r['shift_p50']:>10.4f} {r['shift_p99']:>8.4f} "
              f"{r['shift_max']:>8.4f} {r['error_change_p99']:>11.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
