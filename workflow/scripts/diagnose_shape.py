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

``--fit N`` (object generator only) scores instead the sub-frames after :func:`fit_to_image`: N steps of
Tracking by Deblatting's fit at inference, started from the network's prediction, which tells how much of the
error the image itself can correct (no training; see docs/CPU_TRAINING.md).

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

from defmo.data.blatting import blat, composite
from defmo.errors import UserError
from defmo.evaluate.metrics import mask_ious
from defmo.evaluate.protocol import is_bounce
from defmo.models.object_arch import ObjectGenerator, gather, place
from defmo.models.unet_arch import COVER_STEPS, deblat_appearance
from defmo.train.validate import alpha_centres, psnr_composited

THRESHOLDS = (0.3, 0.5, 0.7)
SOFT = (0.1, 0.9)  # alpha strictly between these counts as soft
# The fit's Adam step (pixels for the path's offsets, logits for the mask and colour), the knots of the path's
# offsets (piecewise linear between them) and the clamps of the starting mask and colour before their logits:
# 50 steps at 0.3 were the best of the probes in docs/CPU_TRAINING.md (100 steps or 9 knots did no better).
FIT_STEPS = 50
FIT_LR = 0.3
FIT_KNOTS = 5
FIT_CLAMP = 0.01


def knot_weights(times: torch.Tensor, knots: int) -> torch.Tensor:
    """Piecewise-linear interpolation weights ``(T, K)`` of ``knots`` equally spaced in [0, 1] at ``times (T,)``."""
    return (1.0 - (times[:, None] * (knots - 1) - torch.arange(knots, dtype=times.dtype)).abs()).clamp_min(0.0)


def fit_to_image(generator: ObjectGenerator, image: torch.Tensor, background: torch.Tensor, times: torch.Tensor,
                 steps: int, lr: float = FIT_LR, knots: int = FIT_KNOTS) -> torch.Tensor:
    """The object generator's sub-frames refined on the image they came from, as Tracking by Deblatting fits its
    model: the path's positions (an offset at each of ``knots`` times, zero at the start), the object's mask and
    its colour in the object's own frame (the network's template and the deblatted appearance gathered along the
    path at the start) minimise ``|I - mean_t(F_t M_t) - (1 - mean_t M_t) B|_1`` over the exposure by ``steps``
    Adam steps; the network's weights are not touched.

    ``image, background (B, 3, H, W)`` in [0, 1], ``times (T,)`` -> sub-frames ``(B, T, 4, H, W)`` in [0, 1].
    """
    size = tuple(image.shape[-2:])
    grid = torch.linspace(0.0, 1.0, COVER_STEPS, dtype=image.dtype)
    with torch.no_grad():
        path, trunk, _ = generator.path(image, background)
        template = generator.object_template(path, trunk, image, background)
        start, angles = path.positions(grid), path.angles(grid)
        coverage = place(template[:, :1], start, angles, size)[:, :, 0].mean(dim=1)
        colour = gather(deblat_appearance(image, background, coverage), start, angles, template.shape[-1])
    offsets = torch.zeros(len(image), knots, 2, dtype=image.dtype, requires_grad=True)
    mask = torch.logit(template[:, :1].clamp(FIT_CLAMP, 1 - FIT_CLAMP)).requires_grad_(True)
    colour = torch.logit(colour.clamp(FIT_CLAMP, 1 - FIT_CLAMP)).requires_grad_(True)

    def render(at: torch.Tensor) -> torch.Tensor:
        positions = path.positions(at) + torch.einsum("tk,bkc->btc", knot_weights(at, knots), offsets)
        obj = torch.cat((torch.sigmoid(colour), torch.sigmoid(mask)), dim=1)
        return place(obj, positions, path.angles(at), size)  # (B, T, 4, H, W)

    optimiser = torch.optim.Adam([offsets, mask, colour], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = (blat(render(grid), background) - image).abs().sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        return render(times).clamp(0.0, 1.0)


def iou_at(pred: np.ndarray, gt: np.ndarray, threshold: float) -> float:
    """The shape metrics' mask IoU (:func:`~defmo.evaluate.metrics.mask_ious`: GT alpha > 0.5) of one sub-frame,
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
    is higher (the shape metrics' convention, :func:`~defmo.evaluate.metrics.shape_scores`: a tie keeps the
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
def diagnose(generator: torch.nn.Module, dataset, samples: int, fit: int = 0) -> dict:
    """``overall``, ``bounce`` (GT path bounces or curves) and ``straight`` summaries over the first ``samples``;
    with ``fit`` > 0 of the sub-frames after that many steps of :func:`fit_to_image`."""
    if fit and not isinstance(generator, ObjectGenerator):
        raise UserError(f"--fit needs the object generator (model.generator: object), not {type(generator).__name__}")
    generator.eval()
    groups: dict[str, list[dict]] = {"overall": [], "bounce": [], "straight": []}
    for index in range(min(samples, len(dataset))):
        item = dataset[index]
        gt = item["frames"][None]
        image, background = item["image"][None], item["background"][None]
        times = torch.linspace(0.0, 1.0, gt.shape[1])
        pred = fit_to_image(generator, image, background, times, fit) if fit else generator(image, background, times)[0]
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
    parser.add_argument("--fit", type=int, default=0, help="steps of the fit at inference (0: the network alone)")
    parser.add_argument("--output", type=Path, help="also write the diagnosis as JSON here")
    args = parser.parse_args(argv)
    from defmo.data.dataset import SyntheticFMODataset
    from defmo.train.checkpoint import load_generator
    try:
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
