"""Validation PSNR of the composited sub-frames on the synthetic validation set, for a model and the two
trivial baselines (Image: the input n times; Background: the background n times); and the model's shape
metrics; the ``validate`` verb, which scores a checkpoint on a validation split and writes them as JSON.

PSNR per sample: one MSE over all n composited sub-frames (each RGBA sub-frame over the sample's background,
:func:`defmo.data.blatting.composite`), peak 1.0, 100 dB when the MSE is 0, the better of the two time
directions of the estimate; then the mean over samples. ``model_projected``: the model's composited sub-frames
after the blatting projection onto the input image (:func:`defmo.data.blatting.project_to_image`).

Shape metrics (:func:`defmo.metrics.shape_scores`, as on the benchmark): the predicted alpha against
the GT alpha (``frames[:, :, 3]``), with the GT centres the alpha-weighted centroids of the GT sub-frames, in
the time direction with the better mean mask IoU per sample; mask IoU averaged and length ratios pooled over
all sub-frames of the set.

    python -m defmo validate --checkpoint results/train/checkpoints/defmo/final.pt --val data/synthetic/val \
        --output out.json
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from defmo.data.blatting import composite, project_to_image
from defmo.errors import UserError
from defmo import metrics
from defmo.losses.probe import best_direction_mse
from defmo.models.deblat_fit import infer
from defmo.settings import Config
from defmo.utils.io import write_json
from defmo.utils.provenance import Output, digest_label
from defmo.utils.runtime import configure_threads, resolve_device

log = logging.getLogger(__name__)


def psnr_composited(est: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """PSNR per sample of composited sub-frames, the better time direction of ``est``.

    Args:
        est, gt: ``(B, N, 3, H, W)`` in [0, 1].
    Returns:
        ``(B,)`` PSNR in dB (100 where the MSE is 0).
    """
    mse = best_direction_mse(est, gt).double()
    psnr = 10.0 * torch.log10(1.0 / mse.clamp_min(1e-20))
    return torch.where(mse > 0, psnr, torch.full_like(psnr, 100.0)).float()


def _batch_psnr(pred: torch.Tensor, image: torch.Tensor, bg: torch.Tensor, gt: torch.Tensor) -> dict:
    """Per-sample PSNR ``(B,)`` of the model (``pred`` ``(B, N, 4, H, W)``), its projection and both
    baselines."""
    target = composite(gt, bg)
    est = composite(pred.float().clamp(0, 1), bg)
    return {
        "model": psnr_composited(est, target),
        "model_projected": psnr_composited(project_to_image(est, image), target),
        "image": psnr_composited(image.unsqueeze(1).expand_as(target), target),
        "background": psnr_composited(bg.unsqueeze(1).expand_as(target), target),
    }


def alpha_centres(alpha: np.ndarray) -> np.ndarray:
    """Alpha-weighted centroids of masks ``(..., H, W)`` in [0, 1] -> ``(..., 2)`` (x = column, y = row),
    0-based pixels; NaN where a mask has no mass."""
    alpha = np.asarray(alpha, np.float64)
    mass = alpha.sum(axis=(-2, -1))
    x = (alpha.sum(axis=-2) * np.arange(alpha.shape[-1])).sum(axis=-1)
    y = (alpha.sum(axis=-1) * np.arange(alpha.shape[-2])).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass[..., None] > 0, np.stack([x, y], axis=-1) / mass[..., None], np.nan)


def batch_shape(pred_alpha: np.ndarray, gt_alpha: np.ndarray) -> list[dict]:
    """:func:`defmo.metrics.shape_scores` per sample of alphas ``(B, N, H, W)`` in [0, 1] (the GT
    centres: :func:`alpha_centres` of ``gt_alpha``)."""
    centres = alpha_centres(gt_alpha)
    return [metrics.shape_scores(g, p, c) for g, p, c in zip(gt_alpha, pred_alpha, centres)]


def shape_record(scores: list[dict]) -> dict:
    """The shape metrics pooled over every sub-frame of ``scores`` (:func:`batch_shape`'s): ``mask_iou``
    (mean, None without sub-frames), ``length_ratio`` ``{median, q25, q75}`` (None without any),
    ``subframes`` and ``skipped`` (sub-frames without a length ratio: a mask empty or the object static)."""
    ious = np.concatenate([s["mask_iou"] for s in scores]) if scores else np.empty(0)
    ratios = np.concatenate([s["length_ratio"] for s in scores]) if scores else np.empty(0)
    return {"mask_iou": float(ious.mean()) if ious.size else None,
            "length_ratio": metrics.ratio_summary(ratios), "subframes": int(ious.size),
            "skipped": int(np.isnan(ratios).sum())}


@torch.no_grad()
def evaluate(generator: nn.Module, dataset, device: torch.device, batch_size: int,
             samples: list | None = None, fit: bool = False) -> dict:
    """Mean PSNR (dB) of the model and both baselines over ``dataset`` and the model's shape metrics
    (``shape``: :func:`shape_record`); returns a JSON-ready dict. The model is the network alone, or with
    ``fit`` the network plus its fit at inference (:func:`defmo.models.deblat_fit.infer`). With ``samples`` (a
    list), appends one row per sample in dataset order, what the seed study pairs: ``psnr`` (dB) and
    ``mask_iou`` (mean over its sub-frames).

    Leaves every RNG and the generator's mode and weights as they were (safe to call during training).
    """
    # A private generator: a DataLoader iterator otherwise draws its base seed from the global RNG, and a
    # validation during training would then change the training run's later random draws (flips).
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         generator=torch.Generator())
    was_training = generator.training
    generator.eval()
    sums = {"model": 0.0, "model_projected": 0.0, "image": 0.0, "background": 0.0}
    count, scores = 0, []
    for batch in tqdm(loader, desc="validation", leave=False):
        image, bg, gt = (batch[k].to(device) for k in ("image", "background", "frames"))
        pred = infer(generator, image, bg, torch.linspace(0.0, 1.0, gt.shape[1], device=device), fit)
        psnr = _batch_psnr(pred, image, bg, gt)
        for key, value in psnr.items():
            sums[key] += float(value.sum())
        shape = batch_shape(pred[:, :, 3].float().clamp(0, 1).cpu().numpy(), gt[:, :, 3].cpu().numpy())
        scores += shape
        if samples is not None:
            samples += [{"psnr": float(m), "mask_iou": float(np.mean(sc["mask_iou"]))}
                        for m, sc in zip(psnr["model"], shape)]
        count += int(image.shape[0])
    generator.train(was_training)
    return _result(sums, count, shape_record(scores))


def _result(sums: dict, count: int, shape: dict) -> dict:
    psnr = {k: v / max(count, 1) for k, v in sums.items()}
    best_baseline = max(psnr["image"], psnr["background"])
    ratio = shape.get("length_ratio") or {}
    iou = "n/a" if shape.get("mask_iou") is None else f"{shape['mask_iou']:.3f}"
    median = "n/a" if ratio.get("median") is None else (f"{ratio['median']:.2f} [{ratio.get('q25', 0):.2f}, "
                                                       f"{ratio.get('q75', 0):.2f}]")
    log.info("validation PSNR over %d samples: model %.2f (%.2f after the blatting projection), image %.2f, "
             "background %.2f dB; mask IoU %s, length ratio median %s", count, psnr["model"],
             psnr["model_projected"], psnr["image"], psnr["background"], iou, median)
    return {"samples": count, "psnr": psnr, "beats_baselines": psnr["model"] > best_baseline,
            "margin_db": psnr["model"] - best_baseline,
            "projected_beats_baselines": psnr["model_projected"] > best_baseline,
            "projected_margin_db": psnr["model_projected"] - best_baseline, "shape": shape}


COLLAPSED_LOGIT = -10.0  # a half-width logit below this has collapsed (sigmoid < 5e-5: no width left to learn)


@torch.no_grad()
def width_logits(generator: nn.Module, dataset, device: torch.device, count: int = 320,
                 batch_size: int = 32) -> np.ndarray | None:
    """The half-width logits ``(count,)`` the generator's extent head gives the first ``count`` samples of
    ``dataset`` (a fixed set: the diagnostic of a width that collapses in training); None for a generator
    without that head. Leaves the generator's mode as it was."""
    module = getattr(generator, "module", generator)
    if not hasattr(module, "extent") or not hasattr(module, "encoder"):
        return None
    was_training = module.training
    module.eval()
    out = []
    for start in range(0, min(count, len(dataset)), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, count, len(dataset)))]
        pair = torch.cat([torch.stack([it[k] for it in items]).to(device) for k in ("image", "background")], dim=1)
        out.append(module.extent(module.encoder(pair)[-1].mean(dim=(2, 3)))[:, 1].float().cpu())
    module.train(was_training)
    return torch.cat(out).numpy()


def width_record(logits: np.ndarray | None) -> dict | None:
    """Summary of :func:`width_logits`: samples, min, quartiles and the share below :data:`COLLAPSED_LOGIT`."""
    if logits is None or not logits.size:
        return None
    q25, median, q75 = (float(v) for v in np.percentile(logits, [25, 50, 75]))
    return {"samples": int(logits.size), "min": float(logits.min()), "q25": q25, "median": median, "q75": q75,
            "collapsed_share": float((logits < COLLAPSED_LOGIT).mean()), "collapsed_below": COLLAPSED_LOGIT}


# ---------------------------------------------------------------- the `validate` verb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="a trained approach's final.pt")
    parser.add_argument("--val", required=True, type=Path, help="validation split folder (manifest + shards)")
    parser.add_argument("--output", required=True, type=Path, help="JSON with the validation metrics")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per forward pass (default 8)")
    parser.add_argument("--fit", action="store_true",
                        help="score the network plus its fit at inference (model.fit_steps), not the network alone")


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The metrics JSON, computed from the checkpoint on the validation shards."""
    data = f"validation shards {digest_label(args.val)}; model {digest_label(args.checkpoint)}"
    return [Output(args.output, data)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    if not (args.val / "manifest.json").is_file():
        raise UserError(f"{args.val} (--val): no manifest.json; render the split first: python -m defmo data "
                        "--split val --out ...")
    if args.batch_size < 1:
        raise UserError(f"validate --batch-size {args.batch_size}: must be at least 1")
    from defmo.data.dataset import SyntheticFMODataset
    from defmo.models.weights import load_generator

    device = resolve_device(cfg)
    generator, _ = load_generator(args.checkpoint, device)
    result = evaluate(generator, SyntheticFMODataset(args.val, flips=False), device, args.batch_size, fit=args.fit)
    write_json(args.output, result)
    return 0
