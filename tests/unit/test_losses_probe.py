"""L_C, the validation metric as a loss (the ``probe`` approach): a hand computation and its tie to validation."""

from __future__ import annotations

import math

import pytest
import torch

from defmo.data.blatting import composite
from defmo.losses.probe import best_direction_mse, loss_c
from defmo.train.validate import psnr_composited


def test_loss_c_by_hand():
    # one sample, N = 2 sub-frames of 1x1 pixel over a black background: the composite is F * M
    gt = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]]).view(1, 2, 4, 1, 1)  # empty, then white
    pred = torch.tensor([[[0.5, 0.5, 0.5, 1.0], [0.5, 0.5, 0.5, 1.0]]]).view(1, 2, 4, 1, 1)  # grey twice
    bg = torch.zeros(1, 3, 1, 1)
    # composites: gt (0, 1), pred (0.5, 0.5) per channel; squared errors 0.25 each: MSE 0.25 either direction
    assert loss_c(pred, gt, bg).item() == pytest.approx(0.25)
    # pred = gt reversed: 0 in the better (backward) direction, 1 in the forward one
    assert loss_c(gt.flip(1), gt, bg).item() == 0.0
    assert best_direction_mse(gt.flip(1)[:, :, :3], gt[:, :, :3]).item() == 0.0
    assert (gt.flip(1) - gt).pow(2).mean().item() == pytest.approx(1.0)


def test_loss_c_is_the_validation_metric():
    """10 log10(1 / L_C) of a single sample is its validation PSNR (the same composites, the same direction)."""
    g = torch.Generator().manual_seed(3)
    pred, gt = torch.rand(1, 5, 4, 8, 8, generator=g), torch.rand(1, 5, 4, 8, 8, generator=g)
    bg = torch.rand(1, 3, 8, 8, generator=g)
    psnr = psnr_composited(composite(pred, bg), composite(gt, bg)).item()
    assert 10 * math.log10(1 / loss_c(pred, gt, bg).item()) == pytest.approx(psnr, abs=1e-4)


def test_loss_c_gradient_reaches_mask_and_colour_inside_autocast():
    pred = torch.rand(2, 3, 4, 4, 4, requires_grad=True)
    gt, bg = torch.rand(2, 3, 4, 4, 4), torch.rand(2, 3, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss_c(pred, gt, bg)
    assert value.dtype == torch.float32
    value.backward()
    assert pred.grad[:, :, :3].abs().sum() > 0 and pred.grad[:, :, 3].abs().sum() > 0
