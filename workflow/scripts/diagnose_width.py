"""The object generator's half-width logits on a fixed set of training samples: how many collapsed.

A width logit that drifts far below 0 makes the object's prior ellipse vanish (and, before the radius floor,
overflowed to NaN gradients on an AMD EPYC). Prints the summary of
:func:`defmo.train.validate.width_logits` for each checkpoint and optionally writes them as JSON.

    python workflow/scripts/diagnose_width.py results/train/checkpoints/*/final.pt --data data/synthetic/train
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from defmo.data.dataset import SyntheticFMODataset
from defmo.train.checkpoint import load_generator
from defmo.train.validate import width_logits, width_record
from defmo.utils.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="final.pt or last.pt files")
    parser.add_argument("--data", type=Path, default=Path("data/synthetic/train"), help="training shards")
    parser.add_argument("--count", type=int, default=320, help="samples (the first of the split)")
    parser.add_argument("--output", type=Path, help="JSON with one summary per checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(2)
    dataset = SyntheticFMODataset(args.data, flips=False)
    out = {}
    for path in args.checkpoints:
        generator, _ = load_generator(path, torch.device("cpu"))
        out[path.as_posix()] = width_record(width_logits(generator, dataset, torch.device("cpu"), args.count))
        print(path, json.dumps(out[path.as_posix()]))
    if args.output:
        write_json(args.output, out)


if __name__ == "__main__":
    main()
