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

- ``psnr``: the composited sub-frames' PSNR (dB, per sample, the validation's measure);

each as the mean over sub-frames, overall and for the samples whose GT path bounces or curves
(:func:`defmo.evaluate.protocol.is_bounce` on the GT centroids) and those whose path is straight.

``--fit N`` (object generator only) sets the generator's fit at inference to N steps
(:mod:`defmo.models.deblat_fit`: Tracking by Deblatting's fit of the path, mask and colour to the image, started
from the network's prediction); the default is what the checkpoint was trained with (``model.fit_steps``), and
``--fit 0`` scores the network's own sub-frames.

    python workflow/scripts/diagnose_shape.py results/train/checkpoints/defmo/final.pt \
        [--val data/synthetic/val] [--samples 200] [--fit 50] [--output diagnosis.json]

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

from defmo.data.blatting import composite
from defmo.errors import UserError
from defmo.metrics import mask_ious
from defmo.evaluate.protocol import is_bounce
from defmo.models.deblat_fit import infer
from defmo.models.object_arch import ObjectGenerator
from defmo.train.validate import alpha_centres, psnr_composited

THRESHOLDS = (0.3, 0.5, 0.7)
SOFT = (0.1, 0.9)  # alpha strictly between these counts as soft


def iou_at(pred: np.ndarray, gt: np.ndarray, threshold: float) -> float:
    """The shape metrics' mask IoU (:func:`~defmo.metrics.mask_ious`: GT alpha > 0.5) of one sub-frame,
    alphas ``(H, W)``, with the prediction thresholded at ``threshold``."""
    return float(mask_ious(gt[None], (pred[None] > threshold).astype(np.float64))[0])


def subframe_diagnosis(pred: np.ndarray, gt: np.ndarray) -> dict:
    """The diagnosis of one sub-frame: alphas ``pred, gt (H, W)`` in [0, 1] -> a dict of floats (see the module
    docstring; ``centre_px`` and ``iou_centred`` are NaN when either alpha has no mass)."""
    out = {f"iou_{t}": iou_at(pred, gt, t) for t in THRESHOLDS}
    centres = alpha_centres(np.stack([pred, gt]))
    offset = centres[1] - centres[0]  # (x, y)
    if np.isnan(offset).any():
        out["centre_px"], out["iou_centred"] = float("nan"), float("nan")
    else:
        out["centre_px"] = float(np.hypot(*offset))
        moved = ndimage.shift(pred, (offset[1], offset[0]), order=1, mode="constant", cval=0.0)
        out["iou_centred"] = iou_at(moved, gt, 0.5)
    mass = gt.sum()
    out["mass"] = float(pred.sum() / mass) if mass > 0 else float("nan")
    core = (pred > 0.5).sum()
    out["soft"] = float(((pred > SOFT[0]) & (pred < SOFT[1])).sum() / core) if core else float("nan")
    return out


def sample_diagnosis(pred: np.ndarray, gt: np.ndarray) -> list[dict]:
    """Per-sub-frame diagnoses of one sample, alphas ``(N, H, W)``, in the time direction whose mean IoU at 0.5
    is higher (the shape metrics' convention, :func:`~defmo.metrics.shape_scores`: a tie keeps the
    prediction's order)."""
    if mask_ious(gt, pred[::-1]).mean() > mask_ious(gt, pred).mean():
        pred = pred[::-1]
    return [subframe_diagnosis(p, g) for p, g in zip(pred, gt)]


def summarise(rows: list[dict]) -> dict:
    """Mean over sub-frames of every key (NaN rows left out) and the count."""
    if not rows:
        return {"subframes": 0}
    keys = rows[0].keys()
    return {"subframes": len(rows), **{k: float(np.nanmean([r[k] for r in rows])) for k in keys}}


@torch.no_grad()
def diagnose(generator: torch.nn.Module, dataset, samples: int, fit: int | None = None) -> dict:
    """``overall``, ``bounce`` (GT path bounces or curves) and ``straight`` summaries over the first ``samples``
    of the generator's inference, with ``fit`` (not None) steps of the object generator's fit at inference."""
    if fit is not None:
        if not isinstance(generator, ObjectGenerator):
            if fit:
                raise UserError(f"--fit needs the object generator (model.generator: object), not "
                                f"{type(generator).__name__}")
        else:
            generator.fit_steps = fit
    generator.eval()
    groups: dict[str, list[dict]] = {"overall": [], "bounce": [], "straight": []}
    for index in range(min(samples, len(dataset))):
        item = dataset[index]
        gt = item["frames"][None]
        image, background = item["image"][None], item["background"][None]
        times = torch.linspace(0.0, 1.0, gt.shape[1])
        pred = infer(generator, image, background, times, fit=bool(getattr(generator, "fit_steps", 0)))
        gt_alpha, pred_alpha = gt[0, :, 3].numpy(), pred[0, :, 3].float().clamp(0, 1).numpy()
        rows = sample_diagnosis(pred_alpha, gt_alpha)
        psnr = float(psnr_composited(composite(pred.float().clamp(0, 1), background), composite(gt, background))[0])
        for row in rows:
            row["psnr"] = psnr
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
    parser.add_argument("--fit", type=int, help="steps of the fit at inference (0: the network alone; default: the "
                        "checkpoint's model.fit_steps)")
    parser.add_argument("--output", type=Path, help="also write the diagnosis as JSON here")
    args = parser.parse_args(argv)
    from defmo.data.dataset import SyntheticFMODataset
    from defmo.train.checkpoint import load_generator
    try:
        if args.fit is not None and args.fit < 0:
            raise UserError(f"--fit {args.fit}: must be 0 (the network alone) or more")
        if not args.val.is_dir():
            raise UserError(f"{args.val}: no validation split (render it: snakemake --cores all data)")
        generator, _ = load_generator(args.checkpoint)
        result = diagnose(generator, SyntheticFMODataset(args.val), args.samples, args.fit)
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
