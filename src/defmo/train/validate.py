"""Validation PSNR of the composited sub-frames on the synthetic validation set, for a model and the two
trivial baselines (Image: the input n times; Background: the background n times).

PSNR per sample: one MSE over all n composited sub-frames (each RGBA sub-frame over the sample's background,
:func:`defmo.data.blatting.composite`), peak 1.0, 100 dB when the MSE is 0, the better of the two time
directions of the estimate; then the mean over samples. ``model_projected``: the model's composited sub-frames
after the blatting projection onto the input image (:func:`defmo.data.blatting.project_to_image`).
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from tqdm import tqdm

from defmo.data.blatting import composite, project_to_image
from defmo.losses.probe import best_direction_mse

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


def _batch_psnr(generator: nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> dict:
    image, bg, gt = (batch[k].to(device) for k in ("image", "background", "frames"))
    n = gt.shape[1]
    times = torch.linspace(0.0, 1.0, n, device=device)
    pred, _ = generator(image, bg, times)
    target = composite(gt, bg)
    est = composite(pred.float().clamp(0, 1), bg)
    return {
        "model": psnr_composited(est, target),
        "model_projected": psnr_composited(project_to_image(est, image), target),
        "image": psnr_composited(image.unsqueeze(1).expand_as(target), target),
        "background": psnr_composited(bg.unsqueeze(1).expand_as(target), target),
    }


@torch.no_grad()
def evaluate(generator: nn.Module, dataset, device: torch.device, batch_size: int) -> dict:
    """Mean PSNR (dB) of the model and both baselines over ``dataset``; returns a JSON-ready dict.

    Leaves every RNG and the generator's mode and weights as they were (safe to call during training).
    """
    # A private generator: a DataLoader iterator otherwise draws its base seed from the global RNG, and a
    # validation during training would then change the training run's later random draws (flips).
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         generator=torch.Generator())
    was_training = generator.training
    generator.eval()
    sums = {"model": 0.0, "model_projected": 0.0, "image": 0.0, "background": 0.0}
    count = 0
    for batch in tqdm(loader, desc="validation", leave=False):
        for key, value in _batch_psnr(generator, batch, device).items():
            sums[key] += float(value.sum())
        count += int(batch["image"].shape[0])
    generator.train(was_training)
    psnr = {k: v / max(count, 1) for k, v in sums.items()}
    best_baseline = max(psnr["image"], psnr["background"])
    log.info("validation PSNR over %d samples: model %.2f (%.2f after the blatting projection), image %.2f, "
             "background %.2f dB", count, psnr["model"], psnr["model_projected"], psnr["image"], psnr["background"])
    return {"samples": count, "psnr": psnr, "beats_baselines": psnr["model"] > best_baseline,
            "margin_db": psnr["model"] - best_baseline,
            "projected_beats_baselines": psnr["model_projected"] > best_baseline,
            "projected_margin_db": psnr["model_projected"] - best_baseline}
