#!/usr/bin/env bash
# Validates the embedded default models on held-out simulated surveys (the numbers in the
# README's "Validation on the simulated survey" section come from this script):
#   1. a calibration survey (seed 3003, 2,000 stars, normalized spectra) fixes the noise
#      model of both networks against the truth (`calibrate --truth`);
#   2. an evaluation survey (seed 2002, 2,000 stars, apStar files) is predicted end to end
#      with both default networks and that noise model, and compared with its truth.
# Neither seed overlaps the training survey's (1001).
#
# Usage: scripts/validate_default_models.sh [WORK_DIR]   (a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/validation}"
mkdir -p "$work"
cargo build --release
astronn=target/release/astronn

rm -rf "$work/calibration" "$work/evaluation"
"$astronn" simulate --n 2000 --seed 3003 --normalized-only -o "$work/calibration"
"$astronn" predict --seed 1 --normalized "$work/calibration/normalized.fits" \
    -o "$work/calibration/astronn.fits" --dist-output "$work/calibration/dist.fits"
"$astronn" calibrate --truth "$work/calibration/truth.fits" \
    "$work/calibration/astronn.fits" "$work/calibration/dist.fits" -o "$work/noise_model.json"

"$astronn" simulate --n 2000 --seed 2002 -o "$work/evaluation"
"$astronn" predict --seed 1 --noise-model "$work/noise_model.json" \
    -o "$work/evaluation/astronn.fits" --dist-output "$work/evaluation/dist.fits" \
    "$work/evaluation"
"$astronn" report "$work/evaluation/astronn.fits" "$work/evaluation/truth.fits" \
    --model default -o "$work/report_astronn"
"$astronn" report "$work/evaluation/dist.fits" "$work/evaluation/truth.fits" \
    -o "$work/report_dist"
echo "reports: $work/report_astronn/summary.md $work/report_dist/summary.md"
