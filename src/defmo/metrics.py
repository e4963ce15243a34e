"""Benchmark metrics (spec/benchmark.md, protocol steps 4-6): direction sync, PSNR, SSIM, TIoU; and ours, the
shape metrics of the predicted alpha masks (mask IoU, length ratio along the motion).

Sub-frame stacks are NumPy arrays ``(n, H, W, 3)`` float, GT in [0, 1], the estimate about [0, 1] (scored
unclipped, as the benchmark does: bicubic overshoot counts); trajectories ``(n, 2)`` as (x, y) =
(column, row) in full-image pixels; alpha stacks ``(n, H, W)`` float in [0, 1], thresholded at
:data:`ALPHA_THRESHOLD` into masks.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

PSNR_CAP = 100.0  # dB reported when the MSE is exactly 0


def sync_direction(est: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, bool]:
    """Reverse ``est`` (n, H, W, 3) when its first sub-frame is further (MSE) from GT's first than from GT's last.

    Returns the (possibly reversed) estimate and whether it was reversed.
    """
    first = np.mean((est[0] - gt[0]) ** 2)
    last = np.mean((est[0] - gt[-1]) ** 2)
    if first > last:
        return est[::-1].copy(), True
    return est, False


def psnr(gt: np.ndarray, est: np.ndarray, peak: float = 1.0) -> float:
    """One MSE over all sub-frames (any equal shapes; ``peak`` 1.0 even where ``est`` leaves [0, 1]); ``PSNR_CAP``
    when identical."""
    mse = float(np.mean((np.asarray(gt, np.float64) - np.asarray(est, np.float64)) ** 2))
    if mse == 0.0:
        return PSNR_CAP
    return float(20.0 * np.log10(peak / np.sqrt(mse)))


def ssim(gt: np.ndarray, est: np.ndarray) -> float:
    """Mean over sub-frames of scikit-image's colour SSIM (7x7 uniform window, channels averaged).

    ``gt`` and ``est`` are ``(n, H, W, 3)``; the data range is the estimate's max - min over all sub-frames,
    as the benchmark passes the estimate second (so values outside [0, 1] widen it). Crops smaller than 7 pixels
    use the largest odd window.
    """
    gt = np.asarray(gt, np.float64)
    est = np.asarray(est, np.float64)
    data_range = float(est.max() - est.min()) or 1.0
    win = min(7, *gt.shape[1:3])
    win = win if win % 2 else win - 1
    scores = [
        structural_similarity(g, e, data_range=data_range, channel_axis=-1, win_size=win) for g, e in zip(gt, est)
    ]
    return float(np.mean(scores))


def disc_iou(p1: np.ndarray, p2: np.ndarray, radius: float) -> np.ndarray:
    """IoU of two discs of ``radius`` centred at ``p1`` and ``p2`` (``(n, 2)`` each) -> ``(n,)`` in [0, 1].

    Closed form from the centre distance d: the lens area ``2 r^2 acos(d/2r) - (d/2) sqrt(4r^2 - d^2)`` over
    the union ``2 pi r^2 - lens``; zero for d >= 2r.
    """
    d = np.linalg.norm(np.asarray(p1, np.float64) - np.asarray(p2, np.float64), axis=-1)
    r = float(radius)
    d = np.minimum(d, 2.0 * r)
    theta = 2.0 * np.arccos(d / (2.0 * r))
    inter = r * r * (theta - np.sin(theta))
    return inter / (2.0 * np.pi * r * r - inter)


def tiou(gt_traj: np.ndarray, est_traj: np.ndarray, radius: float) -> float:
    """Trajectory IoU: mean disc IoU over the n sub-frames, the better of the two directions."""
    gt_traj = np.asarray(gt_traj, np.float64)
    est_traj = np.asarray(est_traj, np.float64)
    if gt_traj.shape != est_traj.shape:
        raise ValueError(f"trajectory shapes differ: GT {gt_traj.shape}, estimate {est_traj.shape}")
    radius = max(float(radius), 0.5)  # a zero radius would divide by zero; sub-pixel discs are already tiny
    forward = disc_iou(gt_traj, est_traj, radius).mean()
    backward = disc_iou(gt_traj, est_traj[::-1], radius).mean()
    return float(max(forward, backward))


# ---------------------------------------------------------------- shape metrics (ours)

ALPHA_THRESHOLD = 0.5  # a pixel belongs to the object's mask where alpha > this


def mask_ious(gt_alpha: np.ndarray, est_alpha: np.ndarray) -> np.ndarray:
    """Per sub-frame IoU of the masks ``gt_alpha > 0.5`` and ``est_alpha > 0.5`` (``(n, H, W)`` each) ->
    ``(n,)`` in [0, 1]. Both masks empty: 1 (nothing to find, nothing found); one empty, the other not: 0."""
    gt, est = np.asarray(gt_alpha) > ALPHA_THRESHOLD, np.asarray(est_alpha) > ALPHA_THRESHOLD
    if gt.shape != est.shape:
        raise ValueError(f"alpha shapes differ: GT {gt.shape}, estimate {est.shape}")
    inter = (gt & est).sum(axis=(1, 2)).astype(np.float64)
    union = (gt | est).sum(axis=(1, 2)).astype(np.float64)
    return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)


def motion_directions(centres: np.ndarray) -> np.ndarray:
    """Unit motion direction per sub-frame of a GT path ``(n, 2)`` (x, y) -> ``(n, 2)`` (x, y).

    Sub-frame i: ``centres[i + 1] - centres[i - 1]``, one-sided at the ends (``c[1] - c[0]``,
    ``c[n-1] - c[n-2]``), normalised; NaN where that vector is zero (the object does not move), NaN, or
    ``n < 2``.
    """
    c = np.asarray(centres, np.float64)
    if len(c) < 2:
        return np.full(c.shape, np.nan)
    ahead = np.concatenate([c[1:], c[-1:]])
    behind = np.concatenate([c[:1], c[:-1]])
    vec = ahead - behind
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, vec / norm, np.nan)


def extent_along(mask: np.ndarray, direction: np.ndarray) -> float:
    """Extent of the boolean ``mask`` ``(H, W)`` along the unit vector ``direction`` (x, y), in pixels:
    ``max(p . u) - min(p . u) + 1`` over its pixel coordinates p = (column, row); NaN for an empty mask."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return float("nan")
    proj = cols * float(direction[0]) + rows * float(direction[1])
    return float(proj.max() - proj.min() + 1.0)


def length_ratios(gt_alpha: np.ndarray, est_alpha: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Per sub-frame: the extent of ``est_alpha > 0.5`` along the GT motion direction over the GT mask's
    extent along it (:func:`motion_directions` of the GT centres ``(n, 2)``; alphas ``(n, H, W)`` in [0, 1])
    -> ``(n,)``.

    NaN (skipped) where either mask is empty or the object does not move; 1 means the right length.
    """
    directions = motion_directions(centres)
    out = np.full(len(directions), np.nan)
    for i, u in enumerate(directions):
        if np.isnan(u).any():
            continue
        gt_len = extent_along(np.asarray(gt_alpha[i]) > ALPHA_THRESHOLD, u)
        est_len = extent_along(np.asarray(est_alpha[i]) > ALPHA_THRESHOLD, u)
        out[i] = est_len / gt_len  # NaN when either mask is empty
    return out


def shape_scores(gt_alpha: np.ndarray, est_alpha: np.ndarray, centres: np.ndarray) -> dict:
    """Both shape metrics of one frame, in the time direction of ``est_alpha`` with the higher mean mask IoU.

    Args:
        gt_alpha, est_alpha: ``(n, H, W)`` in [0, 1], the same crop.
        centres: the GT object centres ``(n, 2)`` (x, y) in any pixel frame (only their differences are used).
    Returns:
        ``{"mask_iou": (n,), "length_ratio": (n,) with NaN where skipped, "reversed": bool}``; a tie keeps the
        estimate's own order.
    """
    forward, backward = mask_ious(gt_alpha, est_alpha), mask_ious(gt_alpha, est_alpha[::-1])
    reverse = bool(backward.mean() > forward.mean())
    est = est_alpha[::-1] if reverse else est_alpha
    ratios = length_ratios(gt_alpha, est, centres)
    return {"mask_iou": backward if reverse else forward, "length_ratio": ratios, "reversed": reverse}


def ratio_summary(ratios) -> dict | None:
    """``{median, q25, q75}`` of the finite length ratios pooled in ``ratios`` (any shape); None when none."""
    values = np.asarray(ratios, np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75)}
