#!/usr/bin/env python3
"""Writes src/products/dr19_columns.rs, the DR19 column tables, from SDSS's data model.

Usage: python3 scripts/dr19_layout.py data/datamodel/dr19_products.json > src/products/dr19_columns.rs

The data model (astraAllStarAstroNN, astraAllVisitAstroNN and astraAllStarAstroNNdist,
release DR19, as scripts/dr19_datamodel.py extracts it from SDSS's YAML files) lists every column of HDU 1 (BOSS) and HDU 2 (APOGEE)
in file order. Astra builds each HDU from the fields of Source, then of the spectrum model,
then of the pipeline's result model, leaving out a name already taken (so AstroNNdist's own
k_mag and ebv are shadowed by Source's). This script splits the columns into those groups,
checks that joining the groups that way gives back every DR19 HDU exactly, and prints them.
"""
import json
import re
import sys

PRODUCTS = ["astraAllStarAstroNN", "astraAllVisitAstroNN", "astraAllStarAstroNNdist"]
# float32 in DR19, float64 here: float32 rounds these to 1e-5 deg (ra, dec) or 0.25 d (jd).
WIDENED = {"ra", "dec", "input_ra", "input_dec", "jd"}
# 64-bit integer columns that are bit fields in Astra's models (filled with 0, not -1).
BIT_FIELDS = {"sqf_4_5", "mf4_5", "csf"}


def load(datamodel, product):
    hdus = datamodel["products"][product]["hdus"]
    fields = ("name", "type", "unit", "description")
    return [[dict(zip(fields, column)) for column in hdu["columns"]] for hdu in hdus[1:3]]


def kind(column, width):
    name, t = column["name"], column["type"]
    m = re.fullmatch(r"(\w+?)(?:\[(\d+)\])?", t)
    base, n = m.group(1), m.group(2)
    if name == "created":
        return "DateTime"  # a DateTimeField: astropy writes it A26 even without rows
    if base == "char":
        return f"Text({width})"
    if n is not None:
        # The data model writes FITS `B` (bytes) as bool; Astra stores its BigBitField
        # sdss5_target_flags as `57B`.
        return {"bool": f"Bytes({n})", "float32": f"F32s({n})"}[base]
    if base == "float32":
        return "F64" if name in WIDENED else "F32"
    if base == "int64" and (name.endswith("flags") or name in BIT_FIELDS):
        return "Bits"
    return {"int64": "I64", "int32": "I32", "bool": "Bool"}[base]


def split(columns, spectrum_start):
    names = [c["name"] for c in columns]
    task = names.index("task_pk")
    return columns[:spectrum_start], columns[spectrum_start:task], columns[task:]


def join(*groups):
    out, seen = [], set()
    for group in groups:
        for c in group:
            if c["name"] not in seen:
                seen.add(c["name"])
                out.append(c["name"])
    return out


def main(path):
    with open(path) as f:
        datamodel = json.load(f)
    star, visit, dist = (load(datamodel, p) for p in PRODUCTS)
    source, apogee_star, star_tail = split(star[1], 133)
    _, apogee_visit, visit_tail = split(visit[1], 133)
    _, boss_star, _ = split(star[0], 133)
    _, boss_visit, _ = split(visit[0], 133)
    task, astronn = star_tail[:7], star_tail[7:]
    dist_results = [c for c in dist[1][dist[1].index(next(c for c in dist[1] if c["name"] == "tag")) + 1:]]
    # AstroNNdist's own k_mag and ebv come first in its model; Source's shadow them.
    dist_results = [
        {"name": "k_mag", "type": "float32", "unit": "mag", "description": "2MASS Ks-band apparent magnitude"},
        {"name": "ebv", "type": "float32", "unit": "mag", "description": "E(B-V) reddening"},
    ] + dist_results
    assert [c["name"] for c in task] == ["task_pk", "source_pk", "v_astra", "created", "t_elapsed", "t_overhead", "tag"]
    assert visit_tail[:7] == task or [c["name"] for c in visit_tail[:7]] == [c["name"] for c in task]

    expected = {
        ("star", "apogee"): (star[1], [source, apogee_star, task, astronn]),
        ("star", "boss"): (star[0], [source, boss_star, task, astronn]),
        ("visit", "apogee"): (visit[1], [source, apogee_visit, task, astronn]),
        ("visit", "boss"): (visit[0], [source, boss_visit, task, astronn]),
        ("dist", "apogee"): (dist[1], [source, apogee_star, task, dist_results]),
        ("dist", "boss"): (dist[0], [source, boss_star, task, dist_results]),
    }
    for key, (columns, groups) in expected.items():
        assert join(*groups) == [c["name"] for c in columns], key

    widths = {}
    for product in (star, visit, dist):
        for hdu in product:
            for c in hdu:
                m = re.fullmatch(r"char\[(\d+)\]", c["type"])
                if m:
                    widths[c["name"]] = max(widths.get(c["name"], 1), int(m.group(1)))

    groups = [
        ("SOURCE", "Source: the star (identifiers, astrometry, photometry, reddening).", source),
        ("APOGEE_STAR_SPECTRUM", "ApogeeCoaddedSpectrumInApStar: a coadded apStar spectrum.", apogee_star),
        ("APOGEE_VISIT_SPECTRUM", "ApogeeVisitSpectrumInApStar: a visit spectrum of an apStar file.", apogee_visit),
        ("BOSS_STAR_SPECTRUM", "BossCombinedSpectrum (HDU 1 only; never filled).", boss_star),
        ("BOSS_VISIT_SPECTRUM", "BossVisitSpectrum (HDU 1 only; never filled).", boss_visit),
        ("TASK", "The pipeline task: Astra's metadata of every result.", task),
        ("ASTRONN_RESULTS", "AstroNN's results: labels, errors, raw values, flags.", astronn),
        ("ASTRONN_DIST_RESULTS", "AstroNNdist's results (its k_mag and ebv are shadowed by SOURCE's).", dist_results),
    ]
    print("//! DR19's columns, generated by `scripts/dr19_layout.py` from SDSS's data model")
    print("//! (`astraAllStarAstroNN`, `astraAllVisitAstroNN`, `astraAllStarAstroNNdist`, DR19).")
    print("//! Do not edit by hand: regenerate. Text widths are the widest DR19 product's; `F64`")
    print("//! marks the float32 columns kept in double precision (see docs/dr19.md).")
    print()
    print("use super::column::{Column, Kind::*};")
    print()
    for const, doc, cols in groups:
        print(f"/// {doc}")
        print(f"pub const {const}: &[Column] = &[")
        for c in cols:
            w = widths.get(c["name"], 1)
            desc = c["description"].strip().replace("\\", "\\\\").replace('"', '\\"')
            unit = c["unit"].replace('"', '\\"')
            print(f'    Column::new("{c["name"]}", {kind(c, w)}, "{unit}", "{desc}"),')
        print("];")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
