#!/usr/bin/env bash
# Train one approach from other seeds with the pipeline's settings (params.yaml, default scale) and keep each
# run's validation metrics (network alone, and with the fit under `fit`), to measure the run-to-run spread the
# README states beside the committed run's numbers. Outside the pipeline; each run takes as long as the
# approach's training (about 10 minutes for defmo at the cpu scale on 2 cores).
#
#   workflow/scripts/seed_spread.sh APPROACH SEED [SEED ...]
#
# Writes results/spread/<approach>_seed<S>.json (the train verb's metrics JSON); checkpoints and resume state
# go to results/spread/runs/ (not committed). A killed run resumes when started again.
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,10p' "$0"
    exit 2
fi
approach=$1
shift
[ -d data/synthetic/train ] || { echo "missing data/synthetic/train: run 'snakemake --cores all data' first" >&2; exit 2; }
for seed in "$@"; do
    run=results/spread/runs/${approach}_seed$seed
    mkdir -p "$run"
    python -m defmo train --approach "$approach" --seed "$seed" --data data/synthetic/train --val data/synthetic/val \
        --out "$run/final.pt" --curve "$run/curve.csv" --metrics "results/spread/${approach}_seed$seed.json" \
        --resume-dir "$run/resume" --log "$run/train.log"
done
