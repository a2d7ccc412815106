#!/usr/bin/env bash
# Measures training at DR17 scale (docs/training.md's "Training at DR17 scale" numbers): peak RSS
# and throughput of `astronn train` on simulated surveys of 20,000 and 100,000 spectra
# (2 epochs each, batch 64), and the memory each spectrum costs (the slope between the two).
#
# The 100,000-star survey's normalized FITS is about 12 GB (flux and error as f64); the
# training set holds the flux as f32 (30 KB a spectrum). Run on an otherwise idle machine.
#
# Usage: scripts/measure_training_scale.sh [WORK_DIR]   (about 20 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/training-scale}"
mkdir -p "$work"
cargo build --release
astronn=target/release/astronn

rss_kib() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

for n in 20000 100000; do
    rm -rf "$work/survey-$n"
    "$astronn" simulate -q --n "$n" --seed 5000 --normalized-only -o "$work/survey-$n"
    /usr/bin/time -v "$astronn" train --normalized "$work/survey-$n/normalized.fits" \
        --labels "$work/survey-$n/labels.fits" --epochs 2 --batch-size 64 --seed 1 \
        -o "$work/model-$n.safetensors" 2> "$work/train-$n.log"
    grep -E "^(train|epoch)" "$work/train-$n.log"
    echo "spectra $n: peak RSS $(rss_kib "$work/train-$n.log") KiB"
    rm -rf "$work/survey-$n"
done
small=$(rss_kib "$work/train-20000.log")
large=$(rss_kib "$work/train-100000.log")
echo "bytes per spectrum (slope): $(( (large - small) * 1024 / 80000 ))"
