"""Each tracked frame's path from its neighbours on the track: one continuous trajectory across frames.

A streak alone gives its frame's path only roughly: its thresholded ends are faint, so its length is short, and
its direction comes from one velocity estimate. On a track the object's position is known at every frame's
centre, so, as Tracking by Deblatting's non-causal variant does (Rozumnyi et al., "Non-causal tracking by
deblatting", GCPR 2019), the path of frame k runs between the positions half a frame before and after its
centre, interpolated from the track's centres with a cubic (a quadratic at a run's ends, a mirrored step past
them), and is shrunk about the centre to the exposure fraction ``e``: the share of the time between frames the
shutter is open, ``evaluate.detect.exposure`` or, where that is null, the median over the run of streak travel /
step, clipped to [``min_exposure``, 1] (thresholded streaks miss their faint ends, so this underestimates it).
Consecutive paths meet end to start where ``e`` is 1 and leave a gap of ``1 / e - 1`` path lengths where it is
less, as the camera does.

A run is a stretch of consecutive frames whose candidates link (:func:`defmo.evaluate.detect.linked`); a frame
alone keeps its streak's own centre line.

Example:
    >>> import numpy as np
    >>> from defmo.evaluate.detect import Candidate
    >>> track = {t: Candidate(np.array([10.0 + 20 * t, 50.0]), 3.0, 26.0, np.array([1.0, 0.0]), 100,
    ...                       np.zeros(4), np.array([20.0, 0.0])) for t in range(4)}
    >>> set_paths(track, min_exposure=0.25)
    >>> track[1].path.tolist(), track[2].path.tolist()
    ([[20.0, 50.0], [40.0, 50.0]], [[40.0, 50.0], [60.0, 50.0]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from defmo.evaluate.detect import Candidate


def runs(track: dict[int, Candidate], joined) -> list[list[int]]:
    """The frame indices of ``track`` in runs of consecutive frames where ``joined(a, b)`` holds for each pair."""
    out: list[list[int]] = []
    for t in sorted(track):
        if out and out[-1][-1] == t - 1 and joined(track[t - 1], track[t]):
            out[-1].append(t)
        else:
            out.append([t])
    return out


def half_steps(centres: np.ndarray) -> np.ndarray:
    """Positions ``(n + 1, 2)`` half a frame before the first centre, between each two and after the last of
    ``centres (n, 2)`` (n >= 2): cubic interpolation inside, quadratic next to the ends, the step mirrored
    about the end centres past them."""
    n = len(centres)
    half = np.empty((n + 1, 2))
    for k in range(n - 1):  # between centres k and k + 1
        if 1 <= k and k + 2 < n:
            half[k + 1] = (-centres[k - 1] + 9 * centres[k] + 9 * centres[k + 1] - centres[k + 2]) / 16
        elif k + 2 < n:
            half[k + 1] = (3 * centres[k] + 6 * centres[k + 1] - centres[k + 2]) / 8
        elif k >= 1:
            half[k + 1] = (3 * centres[k + 1] + 6 * centres[k] - centres[k - 1]) / 8
        else:
            half[k + 1] = 0.5 * (centres[k] + centres[k + 1])
    half[0] = 2 * centres[0] - half[1]
    half[n] = 2 * centres[-1] - half[n - 1]
    return half


def exposure(cands: list[Candidate], half: np.ndarray, min_exposure: float) -> float:
    """The run's exposure fraction: median of streak travel over the path between its half steps, clipped."""
    steps = np.hypot(*np.diff(half, axis=0).T)
    ratios = [c.travel / s for c, s in zip(cands, steps) if s > 1e-6]
    return float(np.clip(np.median(ratios), min_exposure, 1.0)) if ratios else 1.0


def set_paths(track: dict[int, Candidate], min_exposure: float, joined=None, fraction: float | None = None) -> None:
    """Set ``path`` (start and end (x, y) of the object's centre over the exposure) on every candidate of
    ``track`` that has a linked neighbour (see the module docstring); ``joined(a, b)`` says whether consecutive
    candidates are the same object (default: always); ``fraction`` is the camera's exposure fraction where it
    is known (default: estimated per run)."""
    for run in runs(track, joined or (lambda a, b: True)):
        if len(run) < 2:
            continue
        cands = [track[t] for t in run]
        centres = np.stack([c.centre for c in cands]).astype(np.float64)
        half = half_steps(centres)
        e = exposure(cands, half, min_exposure) if fraction is None else fraction
        for k, cand in enumerate(cands):
            cand.path = centres[k] + e * (np.stack((half[k], half[k + 1])) - centres[k])
