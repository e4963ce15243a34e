"""Benchmark metrics against independent computations (closed-form discs, direct PSNR, scikit-image SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from defmo.evaluate import metrics


def lens_iou(d: float, r: float) -> float:
    """Two equal discs: lens area 2 r^2 acos(d / 2r) - d/2 sqrt(4 r^2 - d^2), over the union."""
    if d >= 2 * r:
        return 0.0
    inter = 2 * r * r * math.acos(d / (2 * r)) - 0.5 * d * math.sqrt(4 * r * r - d * d)
    return inter / (2 * math.pi * r * r - inter)


def test_disc_iou_matches_lens_formula_and_monte_carlo():
    rng = np.random.default_rng(0)
    p1 = rng.uniform(0, 50, (40, 2))
    p2 = p1 + rng.normal(0, 6, (40, 2))
    r = 5.0
    got = metrics.disc_iou(p1, p2, r)
    want = [lens_iou(float(np.linalg.norm(a - b)), r) for a, b in zip(p1, p2)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    # a pixel-count estimate of one pair, independent of any formula
    yy, xx = np.mgrid[-20:70:0.1, -20:70:0.1]
    a = (xx - p1[0, 0]) ** 2 + (yy - p1[0, 1]) ** 2 <= r * r
    b = (xx - p2[0, 0]) ** 2 + (yy - p2[0, 1]) ** 2 <= r * r
    assert got[0] == pytest.approx((a & b).sum() / (a | b).sum(), abs=0.01)


def test_tiou_perfect_reversed_and_far():
    rng = np.random.default_rng(1)
    gt = np.cumsum(rng.uniform(1, 3, (8, 2)), axis=0)
    assert metrics.tiou(gt, gt, 4) == pytest.approx(1.0)
    est = gt + rng.normal(0, 1.5, gt.shape)
    forward = metrics.tiou(gt, est, 4)
    assert metrics.tiou(gt, est[::-1], 4) == pytest.approx(forward)
    want = np.mean([lens_iou(float(np.linalg.norm(a - b)), 4) for a, b in zip(gt, est)])
    want_rev = np.mean([lens_iou(float(np.linalg.norm(a - b)), 4) for a, b in zip(gt, est[::-1])])
    assert forward == pytest.approx(max(want, want_rev))
    assert metrics.tiou(gt, gt + 100, 4) == 0.0


def test_psnr_direct_formula_and_cap():
    rng = np.random.default_rng(2)
    gt = rng.uniform(0, 1, (4, 9, 11, 3))
    est = np.clip(gt + rng.normal(0, 0.05, gt.shape), 0, 1)
    mse = ((gt - est) ** 2).sum() / gt.size
    assert metrics.psnr(gt, est) == pytest.approx(10 * math.log10(1.0 / mse))
    assert metrics.psnr(gt, gt.copy()) == 100.0
    assert metrics.psnr(gt, est[::-1]) < metrics.psnr(gt, est)


def test_ssim_matches_scikit_image_with_estimate_range():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0, 1, (3, 20, 24, 3))
    est = np.clip(gt * 0.6 + rng.normal(0, 0.1, gt.shape), 0, 1)
    rng_est = est.max() - est.min()
    want = np.mean([structural_similarity(g, e, data_range=rng_est, channel_axis=-1) for g, e in zip(gt, est)])
    assert metrics.ssim(gt, est) == pytest.approx(want)
    assert metrics.ssim(gt, gt) == pytest.approx(1.0)


def test_sync_direction_reverses_a_backwards_estimate():
    rng = np.random.default_rng(4)
    gt = rng.uniform(0, 1, (5, 6, 6, 3))
    out, flipped = metrics.sync_direction(gt[::-1], gt)
    assert flipped and np.array_equal(out, gt)
    out, flipped = metrics.sync_direction(gt, gt)
    assert not flipped and np.array_equal(out, gt)
    # the image metrics of a reversed estimate equal the forward one's once synced
    est = np.clip(gt + 0.05, 0, 1)
    rev, _ = metrics.sync_direction(est[::-1], gt)
    assert metrics.psnr(gt, rev) == pytest.approx(metrics.psnr(gt, est))
    assert metrics.ssim(gt, rev) == pytest.approx(metrics.ssim(gt, est))
