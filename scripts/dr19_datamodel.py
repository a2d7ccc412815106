#!/usr/bin/env python3
"""Writes data/datamodel/dr19_products.json, the part of SDSS's DR19 data model that astronn
reproduces, from the data model's YAML files (one per product, as the SDSS data-model
repository publishes them).

Usage: python3 scripts/dr19_datamodel.py DATAMODEL_DIR > data/datamodel/dr19_products.json

DATAMODEL_DIR holds astraAllStarAstroNN.yaml, astraAllVisitAstroNN.yaml and
astraAllStarAstroNNdist.yaml. For each product, release DR19, HDUs 0-2 in file order: every
column as `[name, type as the data model writes it, unit, description]` and every header keyword
as `[key, comment]`, plus each YAML file's SHA-256. Needs PyYAML. The tests
(tests/dr19_products.rs) check our tables against this file, and scripts/dr19_layout.py
generates src/products/dr19_columns.rs from it.
"""
import hashlib
import json
import sys

import yaml

PRODUCTS = ["astraAllStarAstroNN", "astraAllVisitAstroNN", "astraAllStarAstroNNdist"]
RELEASE = "DR19"


def product(path):
    raw = open(path, "rb").read()
    model = yaml.safe_load(raw)
    hdus = model["releases"][RELEASE]["hdus"]
    return {
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "hdus": [
            {
                "name": hdus[key]["name"],
                "columns": [
                    [column[k] for k in ("name", "type", "unit", "description")]
                    for column in (hdus[key].get("columns") or {}).values()
                ],
                "keywords": [[card["key"], card["comment"]] for card in hdus[key]["header"]],
            }
            for key in ("hdu0", "hdu1", "hdu2")
        ],
    }


def main(datamodel):
    out = {
        "about": f"SDSS {RELEASE} data model of astronn's products, made by "
        "scripts/dr19_datamodel.py from the data model's YAML files (SHA-256 of each below)",
        "release": RELEASE,
        "products": {name: product(f"{datamodel}/{name}.yaml") for name in PRODUCTS},
    }
    print(compact(out))


def compact(value, indent=0):
    """JSON with one column or keyword a line: short lists stay on their line."""
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {compact(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        items = [f"{pad}{compact(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(value, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
