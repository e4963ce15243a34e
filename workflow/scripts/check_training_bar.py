#!/usr/bin/env python3
"""Check issue 3's bar from the training outputs (not a timed test):

1. at scale ``cpu``, training ``defmo`` and ``proposed`` together took under 15 minutes (the Snakemake
   ``benchmark:`` wall time of each train rule when present and not a mere resume of a finished training, else
   the metrics' ``train_seconds``, the training steps' time summed over resumed runs);
2. each trained model beats both trivial baselines (Image, Background) in PSNR of the composited
   sub-frames on the synthetic validation set (``results/metrics/val_<approach>.json``): the network's own
   sub-frames; the PSNR after the blatting projection is printed alongside but does not count.

    python workflow/scripts/check_training_bar.py [--root .] [--limit-min 15] [--approaches defmo proposed]

Exit status 0 when the bar is met, 1 when not, 2 when an input is missing.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def wall_seconds(root: Path, approach: str, metrics: dict) -> tuple[float, str]:
    """Training time of ``approach``: the Snakemake ``benchmark:`` wall time of its train rule, unless that
    run was shorter than the training steps themselves (``train_seconds``, summed over resumed runs), i.e. the
    rule last ran as a resume of a finished training; then ``train_seconds``."""
    steps = float(metrics["train_seconds"])
    tsv = root / "results" / "benchmarks" / "rules" / "train" / f"train_{approach}.tsv"
    if tsv.is_file():
        with open(tsv, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if rows and float(rows[-1]["s"]) >= steps:
            return float(rows[-1]["s"]), "snakemake benchmark"
        if rows:
            return steps, "train_seconds: the last train rule run only resumed a finished training"
    return steps, "train_seconds (training steps only)"


def check(root: Path, approaches: list[str], limit_min: float) -> tuple[bool, list[str]]:
    lines, ok, total = [], True, 0.0
    for approach in approaches:
        path = root / "results" / "metrics" / f"val_{approach}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run `snakemake --cores all train` first")
        m = json.loads(path.read_text())
        seconds, source = wall_seconds(root, approach, m)
        total += seconds
        p = m["psnr"]
        best = max(p["image"], p["background"])
        beats = p["model"] > best
        ok &= beats and m["scale"] == "cpu"
        lines.append(f"{approach:>10}: scale {m['scale']}, {m['steps']} steps, {seconds / 60:.1f} min ({source}); "
                     f"PSNR model {p['model']:.2f} dB vs image {p['image']:.2f}, background {p['background']:.2f}"
                     f" -> {'beats both' if beats else 'DOES NOT beat both'}")
        if "model_projected" in p:  # reported, not part of the bar: the bar is the network's own sub-frames
            proj = p["model_projected"] > best
            lines.append(f"{'':>10}  after the blatting projection: {p['model_projected']:.2f} dB -> "
                         f"{'beats both' if proj else 'does not beat both'} (reported only)")
    ok &= total < limit_min * 60
    lines.append(f"total training time {total / 60:.1f} min (limit {limit_min:g}) -> {'ok' if total < limit_min * 60 else 'TOO SLOW'}")
    return ok, lines


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path("."))
    p.add_argument("--limit-min", type=float, default=15.0)
    p.add_argument("--approaches", nargs="+", default=["defmo", "proposed"])
    args = p.parse_args(argv)
    try:
        ok, lines = check(args.root, args.approaches, args.limit_min)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    print("BAR MET" if ok else "BAR NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
