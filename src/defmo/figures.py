"""``figures`` verb: one entry per kind of figure, each implemented next to the code it shows.

Every plot function has the signature ``fn(inputs: list[Path], output: Path, cfg: Config) -> None`` and
writes one PNG (atomically). Register a new figure by adding one line to ``KINDS``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from defmo.settings import Config
from defmo.utils.provenance import Output, inherited

KINDS = {
    "samples": "defmo.data.plots:plot_samples",  # synthetic training samples: I, B, GT sub-frames
    "curves": "defmo.train.plots:plot_curves",  # training loss curves from results/train/plots/*.csv
    "benchmark": "defmo.evaluate.plots:plot_benchmark_samples",  # report figures 4-6
    "memory": "defmo.ablate.plots:plot_memory",  # Table 4 grouped bars
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--inputs", nargs="*", default=[], type=Path)
    parser.add_argument("--output", required=True, type=Path)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The PNG, with the device and data of its inputs' records."""
    named = ", ".join(Path(p).as_posix() for p in args.inputs)
    data = inherited(args.inputs, "data") or f"{named or 'no inputs'} (not recorded)"
    return [Output(args.output, data, inherited(args.inputs, "device") or "n/a", tuple(args.inputs))]


def run(args: argparse.Namespace, cfg: Config) -> int:
    module, func = KINDS[args.kind].split(":")
    getattr(importlib.import_module(module), func)(list(args.inputs), args.output, cfg)
    return 0
