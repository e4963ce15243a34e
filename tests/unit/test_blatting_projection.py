"""The blatting projection: composited sub-frames moved to the nearest ones whose time mean is the input image."""

from __future__ import annotations

import numpy as np
import torch

from defmo.data.blatting import blat, composite, project_to_image, project_to_image_np


def _scene(seed: int, batch: int = 6, n: int = 5, size: int = 9):
    """Random RGBA sub-frames, background, their long exposure (blatting) and composited ground truth."""
    gen = torch.Generator().manual_seed(seed)
    frames = torch.rand(batch, n, 4, size, size, generator=gen, dtype=torch.float64)
    background = torch.rand(batch, 3, size, size, generator=gen, dtype=torch.float64)
    return blat(frames, background), composite(frames, background), background


def test_never_moves_an_estimate_away_from_the_truth():
    image, truth, _ = _scene(0)
    gen = torch.Generator().manual_seed(1)
    for spread in (0.05, 0.5, 2.0):  # near the truth, far from it, far outside [0, 1] (clipping active)
        est = (truth + spread * torch.randn(truth.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
        before = (est - truth).pow(2).flatten(1).sum(1)
        after = (project_to_image(est, image) - truth).pow(2).flatten(1).sum(1)
        assert torch.all(after <= before + 1e-12)
        assert torch.all(after < before)  # random errors always have a time-mean part to remove


def test_result_explains_the_image_and_keeps_the_temporal_variation():
    image, truth, _ = _scene(2)
    est = (truth + 0.01 * torch.randn_like(truth)).clamp(0.02, 0.98)  # small error: no clipping after projecting
    out = project_to_image(est, image)
    torch.testing.assert_close(out.mean(dim=1), image)
    torch.testing.assert_close(out - out.mean(dim=1, keepdim=True), est - est.mean(dim=1, keepdim=True))
    torch.testing.assert_close(project_to_image(out, image), out)  # a projection: idempotent
    torch.testing.assert_close(project_to_image(truth, image), truth)  # the truth is a fixed point


def test_static_estimates_become_the_image_baseline():
    image, truth, background = _scene(3)
    repeated = background.unsqueeze(1).expand_as(truth)  # the Background baseline
    torch.testing.assert_close(project_to_image(repeated, image), image.unsqueeze(1).expand_as(truth))


def test_numpy_twin_matches_on_channels_last_stacks():
    image, truth, _ = _scene(4, batch=1)
    est = (truth + 0.3 * torch.randn_like(truth)).clamp(0, 1)
    expected = project_to_image(est, image)[0].permute(0, 2, 3, 1).numpy()
    got = project_to_image_np(est[0].permute(0, 2, 3, 1).numpy(), image[0].permute(1, 2, 0).numpy())
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # the channels-last torch call (time on dim 0) agrees too
    chl = project_to_image(est[0].permute(0, 2, 3, 1), image[0].permute(1, 2, 0), dim=0)
    np.testing.assert_allclose(chl.numpy(), expected, atol=1e-12)
