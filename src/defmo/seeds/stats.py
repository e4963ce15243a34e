"""Spread over seeds and the paired bootstrap interval of a difference between two approaches.

The seed study scores every approach from the same seeds on the same frames, so the difference between an
approach and the reference is paired twice: by seed index (the seed sets the initialisation and the batch
order) and by frame. :func:`paired_interval` resamples both levels, seeds and frames, with replacement, the
same draws for both approaches, and reports the percentile interval of the mean difference.
"""

from __future__ import annotations

import numpy as np


def spread(values) -> dict:
    """``{mean, std, n}`` of per-seed values (``std`` the sample standard deviation, ddof 1; None for one seed);
    NaNs (a metric a run does not have) are left out; ``mean`` None when nothing is left."""
    arr = np.asarray([np.nan if v is None else v for v in values], np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else None, "n": int(arr.size)}


def paired_interval(approach: np.ndarray, reference: np.ndarray, resamples: int, confidence: float,
                    seed: int = 0) -> dict | None:
    """Mean paired difference ``approach - reference`` and its bootstrap percentile interval.

    Args:
        approach, reference: ``(K, F)`` one metric per seed (rows, matched by seed index) and frame (columns,
            matched by frame); NaN where a frame has no value (a frame without a trajectory has no TIoU).
        resamples: bootstrap draws; each draws K seeds and F frames with replacement (two-stage), and takes
            the mean of the differences over the drawn cells that have a value.
        confidence: the interval's level, e.g. 0.95 (the ``(1 - c) / 2`` and ``(1 + c) / 2`` percentiles).
        seed: the draws' seed (the interval is reproducible).
    Returns:
        ``{"diff", "lo", "hi", "seeds", "frames"}``, or None when no cell has both values. With one seed the
        seed level is not resampled (a frame bootstrap); the shapes must match.
    """
    a, r = np.asarray(approach, np.float64), np.asarray(reference, np.float64)
    if a.shape != r.shape or a.ndim != 2:
        raise ValueError(f"paired_interval: shapes {a.shape} and {r.shape} differ or are not (seeds, frames)")
    diff = a - r
    valid = np.isfinite(diff)
    if not valid.any():
        return None
    k, f = diff.shape
    filled = np.where(valid, diff, 0.0)
    rng = np.random.default_rng(seed)
    sums, counts = np.empty(resamples), np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, k, k) if k > 1 else np.zeros(1, int)
        cols = rng.integers(0, f, f)
        # counts of each seed and frame in the draw: the drawn grid's sum is a bilinear form
        wr, wc = np.bincount(rows, minlength=k), np.bincount(cols, minlength=f)
        sums[i], counts[i] = wr @ filled @ wc, wr @ valid @ wc
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.nanpercentile(means, [100 * tail, 100 * (1 - tail)])
    return {"diff": float(diff[valid].mean()), "lo": float(lo), "hi": float(hi), "seeds": k, "frames": f}


def verdict(interval: dict | None, higher_is_better: bool = True) -> str:
    """``better``, ``worse`` or ``no difference`` (the interval contains 0), or ``n/a`` without an interval."""
    if interval is None:
        return "n/a"
    lo, hi = (interval["lo"], interval["hi"]) if higher_is_better else (-interval["hi"], -interval["lo"])
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no difference"
