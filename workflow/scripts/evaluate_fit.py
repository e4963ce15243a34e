#!/usr/bin/env python3
"""The benchmark verb with the object generator's sub-frames refined by Tracking by Deblatting's fit (a probe of
the sharp-objects issue, not a pipeline stage): ``python -m defmo ... evaluate ...`` unchanged, except that the
generator's inference (eval mode) returns :func:`diagnose_shape.fit_to_image` after ``--fit`` steps.

    python workflow/scripts/evaluate_fit.py --fit 50 -- --config-file results/config/run/<cpu-resolved>.yaml \\
        evaluate --dataset tbd --data data/benchmark/tbd --method defmo \\
        --checkpoint results/train/checkpoints/defmo/final.pt --output fit/tbd.json --csv fit/tbd.csv \\
        --sample fit/tbd.npz --log fit/tbd.log

(the resolved configuration is the one Snakemake wrote for the cpu run; ``--params params.yaml`` resolves the
scale too). Training mode is untouched, so only inference changes.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import diagnose_shape  # noqa: E402
from defmo.models.object_arch import ObjectGenerator  # noqa: E402


def with_fit(steps: int) -> None:
    """Make the object generator's eval-mode forward return the fitted sub-frames (``steps`` > 0)."""
    network = ObjectGenerator.forward

    def forward(self, image, background, times):
        if self.training or steps <= 0:
            return network(self, image, background, times)
        frames = diagnose_shape.fit_to_image(self, image.float(), background.float(), times.float(), steps)
        return frames, None

    ObjectGenerator.forward = forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=int, default=diagnose_shape.FIT_STEPS, help="fit steps (0: the network)")
    parser.add_argument("cli", nargs=argparse.REMAINDER, help="-- then the arguments of python -m defmo")
    args = parser.parse_args()
    with_fit(args.fit)
    sys.argv = ["defmo"] + [a for a in args.cli if a != "--"]
    runpy.run_module("defmo", run_name="__main__")


if __name__ == "__main__":
    main()
