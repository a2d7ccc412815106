#!/usr/bin/env bash
# Validates the embedded default models on a held-out simulated survey (the numbers in the
# docs/simulation.md's "Validation on the simulated survey" section come from this script): the
# evaluation survey (seed 2002, 2,000 stars, apStar files) is predicted end to end with both
# default networks and their default noise model, and compared with its truth. Its seed
# overlaps neither the training survey's (1001) nor the noise model's calibration survey's
# (3003). Pass another seed as the second argument to check another survey.
#
# Usage: scripts/validate_default_models.sh [WORK_DIR [SEED]]   (about a minute on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/validation}"
seed="${2:-2002}"
mkdir -p "$work"
cargo build --release
astronn=target/release/astronn

rm -rf "$work/evaluation"
"$astronn" simulate --n 2000 --seed "$seed" -o "$work/evaluation"
"$astronn" predict --seed 1 \
    -o "$work/evaluation/astronn.fits" --dist-output "$work/evaluation/dist.fits" \
    "$work/evaluation"
"$astronn" report "$work/evaluation/astronn.fits" "$work/evaluation/truth.fits" \
    --model default -o "$work/report_astronn"
"$astronn" report "$work/evaluation/dist.fits" "$work/evaluation/truth.fits" \
    -o "$work/report_dist"
echo "reports: $work/report_astronn/summary.md $work/report_dist/summary.md"
