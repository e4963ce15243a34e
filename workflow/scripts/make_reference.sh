#!/usr/bin/env bash
# Score another run's checkpoints on this checkout's validation split and embedded benchmark, for the bar's
# comparisons (workflow/scripts/check_training_bar.py --reference): the same verbs the pipeline runs, so the
# reference's records have the pipeline's layout.
#
#   workflow/scripts/make_reference.sh CHECKPOINTS OUT [APPROACH ...]
#
# CHECKPOINTS: a results/train/checkpoints folder of the other run (<approach>/final.pt; each checkpoint carries
# the configuration it was trained with, so its generator is rebuilt as trained); OUT: e.g.
# results/reference/streak. Validation data: data/synthetic/val; benchmark: data/benchmark/<dataset>
# (run `snakemake --cores all data` first). The evaluation settings are this checkout's params.yaml.
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,12p' "$0"
    exit 2
fi
ckpts=$1
out=$2
shift 2
if [ $# -eq 0 ]; then approaches=(defmo proposed); else approaches=("$@"); fi
for a in "${approaches[@]}"; do
    [ -f "$ckpts/$a/final.pt" ] || { echo "missing $ckpts/$a/final.pt: train that run first" >&2; exit 2; }
done
[ -d data/synthetic/val ] || { echo "missing data/synthetic/val: run 'snakemake --cores all data' first" >&2; exit 2; }
mkdir -p "$out/train/metrics" "$out/logs"
for a in "${approaches[@]}"; do
    python -m defmo validate --checkpoint "$ckpts/$a/final.pt" --val data/synthetic/val \
        --output "$out/train/metrics/$a.json" --log "$out/logs/validate_$a.log"
    for d in falling_objects tbd3d tbd; do
        mkdir -p "$out/evaluate/metrics/$d" "$out/evaluate/plots/$d"
        python -m defmo evaluate --dataset "$d" --data "data/benchmark/$d" --method "$a" \
            --checkpoint "$ckpts/$a/final.pt" --output "$out/evaluate/metrics/$d/$a.json" \
            --csv "$out/evaluate/plots/$d/$a.csv" --log "$out/logs/evaluate_${d}_$a.log"
    done
done
