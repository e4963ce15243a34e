"""``render`` verb: render the synthetic training or validation split into shards + manifest.

Usage: ``python -m defmo render --split train --out data/synthetic/train [--samples K]``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from defmo.data.generate import render_split
from defmo.settings import Config
from defmo.utils.provenance import Output, render_device

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", choices=("train", "val"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="output folder (shards + manifest.json)")
    parser.add_argument("--samples", type=int, default=None,
                        help="number of samples (default: data.train_samples / data.val_samples)")


def sources(cfg: Config) -> str:
    """What the synthetic samples are rendered from: the embedded assets, or the real folders params name."""
    keys = ("meshes", "textures", "backgrounds", "val_meshes", "val_backgrounds")
    real = [f"{k} {getattr(cfg.data, k)}" for k in keys if getattr(cfg.data, k) not in (None, "embedded")]
    return "real assets (" + ", ".join(real) + ")" if real else "embedded synthetic assets"


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The shards folder."""
    return [Output(args.out, f"{args.split} split rendered from {sources(cfg)}", render_device(cfg))]


def run(args: argparse.Namespace, cfg: Config) -> int:
    manifest = render_split(cfg, args.split, args.out, args.samples)
    log.info("%s: %d samples in %d shards, %.1f MB", args.out, manifest["count"], len(manifest["shards"]),
             manifest["bytes"] / 1e6)
    return 0
