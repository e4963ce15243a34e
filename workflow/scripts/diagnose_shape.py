#!/usr/bin/env python3
"""Where a trained generator's mask IoU is lost, on the synthetic validation split (a probe tool, not a stage).

The shape bar of the sharp-objects issue (mean mask IoU at 0.5) mixes three errors: the sub-frame in the wrong
place, the right place but the wrong outline, and a soft alpha whose 0.5 contour is not the object's. Per
sub-frame (the better time direction per sample, as the shape metrics) this reports:

- ``iou_0.3``, ``iou_0.5``, ``iou_0.7``: mask IoU with the prediction thresholded at 0.3 / 0.5 / 0.7 (the GT at
  0.5): a soft alpha shows as IoU falling on both sides of 0.5, a halo as 0.3 below 0.5;
- ``centre_px``: distance between the alpha-weighted centroids of the predicted and GT alpha, pixels;
- ``iou_centred``: IoU at 0.5 after moving the predicted alpha onto the GT centroid (bilinear shift): what
  perfect positions would give with the predicted outline;
- ``mass``: predicted alpha mass over the GT's; ``soft``: pixels with alpha in (0.1, 0.9) over pixels above 0.5;

each as the mean over sub-frames, overall and for the samples whose GT path bounces or curves
(:func:`defmo.evaluate.protocol.is_bounce` on the GT centroids) and those whose path is straight.

    python workflow/scripts/diagnose_shape.py results/train/checkpoints/defmo/final.pt \
        [--val data/synthetic/val] [--samples 200] [--output diagnosis.json]

Exit status 0, or 2 when an input is missing (the message says which and how to make it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from defmo.errors import UserError
from defmo.evaluate.protocol import is_bounce
from defmo.train.validate import alpha_centres

THRESHOLDS = (0.3, 0.5, 0.7)
SOFT = (0.1, 0.9)  # alpha strictly between these counts as soft


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks ``(H, W)``; 1 when both are empty."""
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def subframe_diagnosis(pred: np.ndarray, gt: np.ndarray) -> dict:
    """The diagnosis of one sub-frame: alphas ``pred, gt (H, W)`` in [0, 1] -> a dict of floats (see the module
    docstring; ``centre_px`` and ``iou_centred`` are NaN when either alpha has no mass)."""
    mask_gt = gt > 0.5
    out = {f"iou_{t}": iou(pred > t, mask_gt) for t in THRESHOLDS}
    centres = alpha_centres(np.stack([pred, gt]))
    offset = centres[1] - centres[0]  # (x, y)
    if np.isnan(offset).any():
        out["centre_px"], out["iou_centred"] = float("nan"), float("nan")
    else:
        out["centre_px"] = float(np.hypot(*offset))
        moved = ndimage.shift(pred, (offset[1], offset[0]), order=1, mode="constant", cval=0.0)
        out["iou_centred"] = iou(moved > 0.5, mask_gt)
    mass = gt.sum()
    out["mass"] = float(pred.sum() / mass) if mass > 0 else float("nan")
    core = (pred > 0.5).sum()
    out["soft"] = float(((pred > SOFT[0]) & (pred < SOFT[1])).sum() / core) if core else float("nan")
    return out


def sample_diagnosis(pred: np.ndarray, gt: np.ndarray) -> list[dict]:
    """Per-sub-frame diagnoses of one sample, alphas ``(N, H, W)``, in the time direction whose mean IoU at 0.5
    is higher (the shape metrics' convention)."""
    forward = [subframe_diagnosis(p, g) for p, g in zip(pred, gt)]
    backward = [subframe_diagnosis(p, g) for p, g in zip(pred[::-1], gt)]
    mean = lambda rows: np.mean([r["iou_0.5"] for r in rows])  # noqa: E731
    return forward if mean(forward) >= mean(backward) else backward


def summarise(rows: list[dict]) -> dict:
    """Mean over sub-frames of every key (NaN rows left out) and the count."""
    if not rows:
        return {"subframes": 0}
    keys = rows[0].keys()
    return {"subframes": len(rows), **{k: float(np.nanmean([r[k] for r in rows])) for k in keys}}


@torch.no_grad()
def diagnose(generator: torch.nn.Module, dataset, samples: int) -> dict:
    """``overall``, ``bounce`` (GT path bounces or curves) and ``straight`` summaries over the first ``samples``."""
    generator.eval()
    groups: dict[str, list[dict]] = {"overall": [], "bounce": [], "straight": []}
    for index in range(min(samples, len(dataset))):
        item = dataset[index]
        gt = item["frames"][None]
        pred, _ = generator(item["image"][None], item["background"][None], torch.linspace(0.0, 1.0, gt.shape[1]))
        gt_alpha, pred_alpha = gt[0, :, 3].numpy(), pred[0, :, 3].float().clamp(0, 1).numpy()
        rows = sample_diagnosis(pred_alpha, gt_alpha)
        centres = alpha_centres(gt_alpha)
        kind = "bounce" if not np.isnan(centres).any() and is_bounce(centres) else "straight"
        groups["overall"] += rows
        groups[kind] += rows
    return {name: summarise(rows) for name, rows in groups.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (train's final.pt)")
    parser.add_argument("--val", type=Path, default=Path("data/synthetic/val"), help="validation split folder")
    parser.add_argument("--samples", type=int, default=200, help="first validation samples to diagnose")
    parser.add_argument("--output", type=Path, help="also write the diagnosis as JSON here")
    args = parser.parse_args(argv)
    from defmo.data.dataset import SyntheticFMODataset
    from defmo.train.checkpoint import load_generator
    try:
        if not args.val.is_dir():
            raise UserError(f"{args.val}: no validation split (render it: snakemake --cores all data)")
        generator, _ = load_generator(args.checkpoint)
        result = diagnose(generator, SyntheticFMODataset(args.val), args.samples)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
