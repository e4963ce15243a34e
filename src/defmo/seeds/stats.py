"""Spread over seeds and the paired interval of a difference between two approaches.

The seed study scores every approach from the same seeds on the same frames, so the difference between an
approach and the reference is paired twice: by seed index (the seed sets the initialisation and the batch
order) and by frame. The seeds are the replicates: a run's seed-level offset is shared by all its frames, so
frames are not independent draws of the difference. :func:`paired_interval` therefore averages each seed's
paired differences over the frames and takes the Student-t interval over the K per-seed means.
:func:`bootstrap_interval` is the study's former two-stage percentile bootstrap (seeds and frames), kept because
its coverage with 3 seeds is far below nominal, which a test shows; :func:`detectable_difference` is the
smallest true difference K seeds resolve with a given power, :func:`holm` the correction for the many intervals
the study looks at.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats

T_METHOD = "t (seeds)"


def spread(values) -> dict:
    """``{mean, std, n}`` of per-seed values (``std`` the sample standard deviation, ddof 1; None for one seed);
    NaNs (a metric a run does not have) are left out; ``mean`` None when nothing is left."""
    arr = np.asarray([np.nan if v is None else v for v in values], np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else None, "n": int(arr.size)}


def _differences(approach: np.ndarray, reference: np.ndarray, name: str) -> np.ndarray:
    a, r = np.asarray(approach, np.float64), np.asarray(reference, np.float64)
    if a.shape != r.shape or a.ndim != 2:
        raise ValueError(f"{name}: shapes {a.shape} and {r.shape} differ or are not (seeds, frames)")
    return a - r


def seed_differences(approach: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each seed's mean paired difference ``approach - reference`` over the frames that have both values (the
    replicates of :func:`paired_interval`); seeds without such a frame are left out."""
    diff = _differences(approach, reference, "seed_differences")
    valid = np.isfinite(diff)
    counts = valid.sum(axis=1)
    sums = np.where(valid, diff, 0.0).sum(axis=1)
    return sums[counts > 0] / counts[counts > 0]


def paired_interval(approach: np.ndarray, reference: np.ndarray, confidence: float) -> dict | None:
    """Mean paired difference ``approach - reference`` and its Student-t interval over seeds.

    Args:
        approach, reference: ``(K, F)`` one metric per seed (rows, matched by seed index) and frame (columns,
            matched by frame); NaN where a frame has no value (a frame without a trajectory has no TIoU).
        confidence: the interval's level, e.g. 0.95.
    Returns:
        ``{"diff", "lo", "hi", "seeds", "frames", "method"}``: ``diff`` the mean of the per-seed mean differences
        ``d_k`` (:func:`seed_differences`), ``diff ± t_{(1+c)/2, K-1} * sd(d) / sqrt(K)`` the interval,
        ``seeds`` the K seeds that have a difference, ``frames`` F. None when fewer than 2 seeds have a frame
        with both values: one seed gives no estimate of the run-to-run spread, hence no interval.
    """
    d = seed_differences(approach, reference)
    if d.size < 2:
        return None
    k = d.size
    sd = float(d.std(ddof=1))
    half = scipy_stats.t.ppf((1.0 + confidence) / 2.0, k - 1) * sd / np.sqrt(k)
    mean = float(d.mean())
    return {"diff": mean, "lo": float(mean - half), "hi": float(mean + half), "seeds": int(k),
            "frames": int(np.shape(approach)[1]), "sd": sd, "p": _t_test_p(mean, sd, k), "method": T_METHOD}


def _t_test_p(mean: float, sd: float, k: int) -> float:
    """Two-sided p-value of the one-sample t-test of the K per-seed differences against 0 (the test the interval
    inverts); a zero spread gives 0 for a nonzero mean and 1 for a zero one."""
    if sd == 0.0:
        return 0.0 if mean != 0.0 else 1.0
    return float(2.0 * scipy_stats.t.sf(abs(mean) * np.sqrt(k) / sd, k - 1))


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down correction: which of ``pvalues`` are rejected at family-wise error rate ``alpha``.

    The i-th smallest p-value (from 0) is compared with ``alpha / (m - i)``; the first one above its threshold
    and every larger one are kept (not rejected).

    Example:
        >>> holm([0.01, 0.04, 0.03], 0.05)
        [True, False, False]
    """
    m = len(pvalues)
    rejected = [False] * m
    for rank, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        if pvalues[index] > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


def bootstrap_interval(approach: np.ndarray, reference: np.ndarray, resamples: int, confidence: float,
                       seed: int = 0) -> dict | None:
    """The former interval: mean paired difference and its two-stage percentile bootstrap over seeds and frames.

    Too narrow with few seeds (a percentile over resamples of 3 seeds ignores how little 3 values say about the
    spread); kept to show that in the coverage test, not used by the study.

    Args:
        approach, reference: as :func:`paired_interval`.
        resamples: bootstrap draws; each draws K seeds and F frames with replacement (two-stage), and takes
            the mean of the differences over the drawn cells that have a value.
        confidence: the interval's level (the ``(1 - c) / 2`` and ``(1 + c) / 2`` percentiles).
        seed: the draws' seed (the interval is reproducible).
    Returns:
        ``{"diff", "lo", "hi", "seeds", "frames", "method"}``, or None when no cell has both values. With one
        seed the seed level is not resampled (a frame bootstrap).
    """
    diff = _differences(approach, reference, "bootstrap_interval")
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
    return {"diff": float(diff[valid].mean()), "lo": float(lo), "hi": float(hi), "seeds": k, "frames": f,
            "method": "percentile bootstrap (seeds, frames)"}


def detectable_difference(sd_of_seed_diffs: float, k: int, confidence: float = 0.95, power: float = 0.8) -> float:
    """The smallest true paired difference that :func:`paired_interval`'s two-sided t-test at ``confidence``
    (the interval excludes 0) detects with probability ``power``, from ``k`` seeds whose per-seed differences have
    standard deviation ``sd_of_seed_diffs``; in the sd's units.

    Under a true difference ``delta`` the statistic is noncentral t with ``k - 1`` degrees of freedom and
    noncentrality ``delta * sqrt(k) / sd``; the noncentrality whose rejection probability is ``power`` is solved
    for and scaled back.
    """
    if k < 2:
        raise ValueError(f"detectable_difference: {k} seeds; a t-test needs at least 2")
    if not 0.0 < power < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"detectable_difference: power {power} and confidence {confidence} must lie in (0, 1)")
    df = k - 1
    crit = scipy_stats.t.ppf((1.0 + confidence) / 2.0, df)

    def rejects(nc: float) -> float:
        # P(T > crit) + P(T < -crit); the lower tail as the upper tail at -nc (nct.cdf gives NaN far out there)
        return scipy_stats.nct.sf(crit, df, nc) + scipy_stats.nct.sf(crit, df, -nc) - power

    upper = crit + 1.0
    while rejects(upper) < 0:
        upper *= 2.0
    nc = optimize.brentq(rejects, 0.0, upper, xtol=1e-10) if rejects(0.0) < 0 else 0.0
    return float(nc * sd_of_seed_diffs / np.sqrt(k))


def claim_verdict(interval: dict | None, higher_is_better: bool = True) -> str:
    """A claim of improvement judged by its interval: ``supported`` (it lies above 0), ``contradicted`` (below 0),
    ``not shown at this scale`` (it contains 0), or ``n/a`` without an interval."""
    return {"better": "supported", "worse": "contradicted", "no difference": "not shown at this scale",
            "n/a": "n/a"}[verdict(interval, higher_is_better)]


def verdict(interval: dict | None, higher_is_better: bool = True) -> str:
    """``better``, ``worse`` or ``no difference`` (the interval contains 0), or ``n/a`` without an interval (no
    pair, or fewer than 2 seeds)."""
    if interval is None or interval.get("lo") is None or interval.get("hi") is None:
        return "n/a"
    lo, hi = (interval["lo"], interval["hi"]) if higher_is_better else (-interval["hi"], -interval["lo"])
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no difference"
