#!/usr/bin/env bash
# astronn against the PyTorch reference pipeline, on this machine, in one run.
#
#   scripts/compare_with_pytorch.sh [OUT_DIR]
#
# Needs Python 3 with torch, numpy and astropy (PYTHON=/path/to/python to choose one; e.g.
# `python3 -m venv venv && venv/bin/pip install torch numpy astropy`); the reference
# checkpoints and fixtures are tests/fixtures (or ASTRONN_FIXTURES). It checks the PyTorch pipeline against the fixtures,
# then runs `astronn bench` and `scripts/pytorch_reference.py bench` (stock, as Astra runs,
# and with glibc's malloc thresholds raised, as astronn sets them for itself) on the same
# checkpoints, inputs, mc and thread count, and prints astronn's speed-up per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-vs-pytorch}
python=${PYTHON:-python3}
fixtures=${ASTRONN_FIXTURES:-tests/fixtures}
mkdir -p "$out"

cargo build --release --quiet
"$python" scripts/pytorch_reference.py check
./target/release/astronn bench --training \
    --model "$fixtures/astronn_bcnn_censored.pt" --dist-model "$fixtures/astronn_dist_bcnn.pt" \
    tests/data | tee "$out/astronn.txt"
"$python" scripts/pytorch_reference.py bench tests/data/apStar-*.fits | tee "$out/pytorch.txt"
"$python" scripts/pytorch_reference.py bench --malloc-tuned tests/data/apStar-*.fits \
    | tee "$out/pytorch_malloc_tuned.txt"

"$python" - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def rates(name):
    found = {}
    for line in open(f"{out}/{name}"):
        m = re.match(r"^(\S.*?)\s+([0-9.]+) spectra/s", line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found
ours, stock, tuned = rates("astronn.txt"), rates("pytorch.txt"), rates("pytorch_malloc_tuned.txt")
lines = ["| measurement | astronn | PyTorch | astronn / PyTorch | PyTorch, malloc tuned | ratio |",
         "|---|---|---|---|---|---|"]
for what, rate in ours.items():
    if what in stock:
        lines.append(f"| {what} | {rate:.1f} | {stock[what]:.1f} | {rate / stock[what]:.1f}× "
                     f"| {tuned.get(what, float('nan')):.1f} | {rate / tuned.get(what, float('nan')):.1f}× |")
table = "\n".join(lines)
print("\n" + table)
open(f"{out}/comparison.md", "w").write(table + "\n")
PY
