"""The validation metric as a loss: a probe of what the architecture reaches in a training budget.

No method of the report uses it. Training the generator on ``L_C`` alone (the ``probe`` approach in
params.yaml) optimises exactly what validation scores (PSNR of the composited sub-frames, the better time
direction), so no combination of the report's losses can be expected to do better with the same
architecture, initialisation, data and number of steps: its validation PSNR bounds what loss design can buy
at that budget (``docs/CPU_TRAINING.md``).
"""

from __future__ import annotations

import torch

from defmo.data.blatting import composite
from defmo.losses._precision import float32_region


def best_direction_mse(est: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE over all sub-frames, the better of ``est``'s two time directions.

    Args:
        est, gt: ``(B, N, C, H, W)``.
    Returns:
        ``(B,)``: ``min(mean (est - gt)^2, mean (flip_t est - gt)^2)`` over ``(N, C, H, W)``.
    """
    forward = (est - gt).pow(2).flatten(1).mean(1)
    backward = (est.flip(1) - gt).pow(2).flatten(1).mean(1)
    return torch.minimum(forward, backward)


def loss_c(pred: torch.Tensor, gt: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """``L_C``: MSE of the sub-frames composited over the background, better time direction, batch mean.

    ``pred, gt (B, N, 4, H, W)`` RGBA in [0, 1], ``background (B, 3, H, W)`` -> float32 scalar in [0, 1];
    ``10 log10(1 / L_C)`` of one sample is its validation PSNR.
    """
    with float32_region(pred):
        bg = background.float()
        return best_direction_mse(composite(pred.float(), bg), composite(gt.float(), bg)).mean()
