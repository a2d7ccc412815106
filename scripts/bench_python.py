#!/usr/bin/env python3
"""Throughput of AstroNN from Python against `astronn bench`'s "network alone" figure,
measured in the same process on the same spectra (the Python API's overhead).

    python scripts/bench_python.py [--model M.pt] [--spectra 1000] [--mc 100] [--repeat 3] [inputs...]

Normalized spectra come from the apStar files given (default tests/data: every coadd and
visit), cycled to --spectra rows. Each measurement is repeated and the best kept.
"""

import argparse
import pathlib
import platform
import time

import numpy as np

import astronn
from astronn import _astronn


def cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def spectra(inputs, count):
    rows = []
    for path in inputs:
        files = sorted(pathlib.Path(path).glob("apStar*.fits*")) if pathlib.Path(path).is_dir() else [path]
        for file in files:
            star = astronn.read_apstar(file)
            flux, _ = astronn.normalize(star["flux"], star["e_flux"], star["bitmask"])
            rows.extend(r for r in flux if np.isfinite(r).all())
    if not rows:
        raise SystemExit("the inputs hold no usable apStar spectrum")
    return np.ascontiguousarray(np.array([rows[i % len(rows)] for i in range(count)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", default=["tests/data"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--spectra", type=int, default=1000)
    parser.add_argument("--mc", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import warnings

    warnings.simplefilter("ignore", astronn.AstroNNWarning)
    model = astronn.load_model(args.model)
    flux = spectra(args.inputs, args.spectra)
    print(f"astronn {astronn.__version__} on {cpu_name()}, {len(flux)} spectra, mc = {args.mc}")
    model.predict(flux[:16], normalized=True, mc=args.mc, seed=1)  # warm-up

    bench, python = [], []
    for _ in range(args.repeat):
        spectra_done, seconds = _astronn.bench_network(model._native, flux, len(flux), args.mc)
        bench.append(spectra_done / seconds)
        start = time.perf_counter()
        model.predict(flux, normalized=True, mc=args.mc, seed=1)
        python.append(len(flux) / (time.perf_counter() - start))
    best_bench, best_python = max(bench), max(python)
    print(f"network alone (astronn bench)   {best_bench:8.1f} spectra/s")
    print(f"Model.predict from Python       {best_python:8.1f} spectra/s")
    print(f"Python / bench                  {best_python / best_bench:8.3f}")


if __name__ == "__main__":
    main()
