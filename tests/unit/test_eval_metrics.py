"""Benchmark metrics against independent computations (closed-form discs, direct PSNR, scikit-image SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from defmo import metrics


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


# ---------------------------------------------------------------- shape metrics (ours)


def disc(shape, cx, cy, r):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.float64)


def bar(shape, row0, col0, length, thickness=3):
    """A horizontal opaque bar ``length`` pixels long (columns col0..col0+length-1), alpha 1 on 0."""
    out = np.zeros(shape)
    out[row0 : row0 + thickness, col0 : col0 + length] = 1.0
    return out


def test_mask_iou_of_two_discs_by_pixel_sets_and_lens_formula():
    """Discs of radius 30 whose centres are 20 px apart: the IoU counted from explicit pixel sets, and within
    0.01 of the closed-form lens IoU (the pixel grid discretises the discs)."""
    gt, est = disc((100, 120), 40.0, 50.0, 30), disc((100, 120), 60.0, 50.0, 30)
    got = metrics.mask_ious(gt[None], est[None])
    a = {(int(r), int(c)) for r, c in zip(*np.nonzero(gt))}
    b = {(int(r), int(c)) for r, c in zip(*np.nonzero(est))}
    assert got.shape == (1,) and got[0] == pytest.approx(len(a & b) / len(a | b), abs=1e-12)
    assert got[0] == pytest.approx(lens_iou(20.0, 30.0), abs=0.01)
    # alpha exactly 0.5 is outside the mask (> 0.5), slightly above is inside
    half = gt * 0.5
    assert metrics.mask_ious(gt[None], half[None])[0] == 0.0
    assert metrics.mask_ious(gt[None], (half + 0.01)[None])[0] == 1.0


def test_mask_iou_of_empty_masks():
    empty, blob = np.zeros((10, 10)), disc((10, 10), 5, 5, 2)
    got = metrics.mask_ious(np.stack([empty, empty, blob]), np.stack([empty, blob, empty]))
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.0])  # both empty; GT empty, predicted not; predicted empty


def test_motion_directions_central_differences_one_sided_ends_and_static():
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 0.0], [3.0, 0.0]])
    got = metrics.motion_directions(centres)
    np.testing.assert_allclose(got[:3], [[1, 0], [1, 0], [1, 0]])  # c1-c0, c2-c0, c3-c1
    assert np.isnan(got[3:]).all()  # c4-c2 = 0 and c4-c3 = 0: the object does not move
    diag = metrics.motion_directions(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(diag, [[0.6, 0.8], [0.6, 0.8]])
    assert np.isnan(metrics.motion_directions(np.array([[1.0, 2.0]]))).all()


def test_extent_of_a_bar_along_directions_by_hand():
    mask = bar((20, 40), 5, 10, 20).astype(bool)  # columns 10..29, rows 5..7
    assert metrics.extent_along(mask, np.array([1.0, 0.0])) == pytest.approx(20.0)
    assert metrics.extent_along(mask, np.array([-1.0, 0.0])) == pytest.approx(20.0)
    assert metrics.extent_along(mask, np.array([0.0, 1.0])) == pytest.approx(3.0)
    u = np.array([1.0, 1.0]) / np.sqrt(2)  # (col + row) / sqrt 2 spans (29 + 7 - 10 - 5) / sqrt 2
    assert metrics.extent_along(mask, u) == pytest.approx(21 / np.sqrt(2) + 1)
    assert np.isnan(metrics.extent_along(np.zeros((4, 4), bool), u))


def test_length_ratio_of_a_short_bar_along_the_motion():
    """GT bars 20 px long moving right: a predicted bar of 10 px has ratio 0.5, of 30 px 1.5 (its thickness
    does not count: only the extent along the motion); empty masks and a static object are skipped."""
    shape, n = (20, 60), 4
    gt = np.stack([bar(shape, 8, 5 + 4 * i, 20) for i in range(n)])
    centres = np.array([[14.5 + 4 * i, 9.0] for i in range(n)])
    est = np.stack([bar(shape, 8, 5, 10), bar(shape, 2, 5, 30, thickness=9), np.zeros(shape), gt[3]])
    np.testing.assert_allclose(metrics.length_ratios(gt, est, centres)[:2], [0.5, 1.5])
    ratios = metrics.length_ratios(gt, est, centres)
    assert np.isnan(ratios[2]) and ratios[3] == pytest.approx(1.0)
    static = metrics.length_ratios(gt, gt, np.repeat(centres[:1], n, axis=0))
    assert np.isnan(static).all()
    vertical = metrics.length_ratios(gt, est, np.array([[10.0, 2.0 * i] for i in range(n)]))
    np.testing.assert_allclose(vertical[[0, 1, 3]], [1.0, 3.0, 1.0])  # along y: thickness 3, 3, 9, 3


def test_shape_scores_pick_the_better_time_direction():
    """A disc moving right, predicted in reverse order: the reversed direction scores IoU 1 and ratio 1 per
    sub-frame; the as-is order would score the lower IoU."""
    shape, n = (30, 70), 5
    centres = np.array([[12.0 + 10 * i, 15.0] for i in range(n)])
    gt = np.stack([disc(shape, x, y, 6) for x, y in centres])
    out = metrics.shape_scores(gt, gt[::-1], centres)
    assert out["reversed"] and np.allclose(out["mask_iou"], 1.0) and np.allclose(out["length_ratio"], 1.0)
    forward = metrics.mask_ious(gt, gt[::-1]).mean()
    assert forward < 0.5
    same = metrics.shape_scores(gt, gt, centres)
    assert not same["reversed"] and np.allclose(same["mask_iou"], 1.0)


def test_ratio_summary_pools_finite_values():
    out = metrics.ratio_summary(np.array([[5.0, 1.0, np.nan], [3.0, 2.0, 4.0]]))
    assert out == {"median": 3.0, "q25": 2.0, "q75": 4.0}
    assert metrics.ratio_summary(np.array([np.nan])) is None and metrics.ratio_summary([]) is None
