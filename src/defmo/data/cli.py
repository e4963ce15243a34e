"""``data`` verb: render one synthetic split into shards, or one embedded benchmark dataset in the FMO layout.

Usage::

    python -m defmo data --split train --out data/synthetic/train [--samples K]
    python -m defmo data --benchmark tbd --out data/benchmark/tbd
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from defmo.data.benchmark import DATASETS, render_dataset
from defmo.data.generate import render_split
from defmo.settings import Config
from defmo.utils.provenance import Output, render_device

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--split", choices=("train", "val"), help="a synthetic split (shards + manifest.json)")
    what.add_argument("--benchmark", choices=DATASETS, metavar="DATASET",
                      help=f"an embedded benchmark dataset ({', '.join(DATASETS)}), in the FMO benchmark layout")
    parser.add_argument("--output-dir", "--out", dest="out", type=Path, required=True,
                        help="output folder (replaced as a whole)")
    parser.add_argument("--samples", type=int, default=None,
                        help="--split: number of samples (default: data.train_samples / data.val_samples)")


def sources(cfg: Config) -> str:
    """What the synthetic samples are rendered from: the embedded assets, or the real folders params name."""
    keys = ("meshes", "textures", "backgrounds", "val_meshes", "val_backgrounds")
    real = [f"{k} {getattr(cfg.data, k)}" for k in keys if getattr(cfg.data, k) not in (None, "embedded")]
    return "real assets (" + ", ".join(real) + ")" if real else "embedded synthetic assets"


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The shards folder, or the benchmark dataset root (provenance records, written by defmo.cli)."""
    if args.benchmark is not None:
        data = f"synthetic benchmark {args.benchmark} (FMO layout) rendered from {sources(cfg)}"
    else:
        data = f"{args.split} split rendered from {sources(cfg)}"
    return [Output(args.out, data, render_device(cfg))]


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.benchmark is not None:
        names = render_dataset(cfg, args.benchmark, args.out)
        log.info("%s: %d sequences in %s", args.benchmark, len(names), args.out)
        return 0
    manifest = render_split(cfg, args.split, args.out, args.samples)
    log.info("%s: %d samples in %d shards, %.1f MB", args.out, manifest["count"], len(manifest["shards"]),
             manifest["bytes"] / 1e6)
    return 0
