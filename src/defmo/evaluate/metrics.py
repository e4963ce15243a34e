"""Benchmark metrics (spec/benchmark.md, protocol steps 4-6): direction sync, PSNR, SSIM, TIoU.

Sub-frame stacks are NumPy arrays ``(n, H, W, 3)`` float, GT in [0, 1], the estimate about [0, 1] (scored
unclipped, as the benchmark does: bicubic overshoot counts); trajectories ``(n, 2)`` as (x, y) =
(column, row) in full-image pixels.
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
