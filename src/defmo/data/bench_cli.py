"""``render-benchmark`` verb: synthetic sequences in the FMO benchmark layout.

Usage: ``python -m defmo render-benchmark --dataset {falling_objects,tbd3d,tbd} --out data/benchmark/<dataset>``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from defmo.data.benchmark import DATASETS, render_dataset
from defmo.data.render_cli import sources
from defmo.settings import Config
from defmo.utils.provenance import Output, render_device

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="dataset root to write (replaced as a whole)")


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The dataset root."""
    data = f"synthetic benchmark {args.dataset} (FMO layout) rendered from {sources(cfg)}"
    return [Output(args.out, data, render_device(cfg))]


def run(args: argparse.Namespace, cfg: Config) -> int:
    names = render_dataset(cfg, args.dataset, args.out)
    log.info("%s: %d sequences in %s", args.dataset, len(names), args.out)
    return 0
