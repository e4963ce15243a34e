"""Chain a video's streak candidates into the fast-moving object's track (:func:`defmo.evaluate.detect.detect`).

:func:`track` keeps the candidates that chain across ``min_track`` consecutive frames with a step at least as
long as the streak's travel, along the streak's axis, at a nearly constant velocity; a person's moving limb gives
regions that fail one of these. :func:`confirm` also starts a track from two linked streaks that a looser region
continues into a third frame (an object entering the frame, or crossing others). :func:`bridge` then fills a
track's one-frame gaps and extends its ends with looser regions where the track predicts the object (a ball
passing over the arm that swings it, or leaving the frame).

Example:
    >>> import numpy as np
    >>> from defmo.evaluate.detect import Candidate
    >>> from defmo.settings import Detect
    >>> streak = lambda x: Candidate(np.array([x, 30.0]), 5.0, 25.0, np.array([1.0, 0.0]), 200, np.zeros(4))
    >>> settings = Detect(0.1, 3, 1, 20, 2.0, 0.5, 3, 35.0, 0.25, 0.05, 0)
    >>> sorted(track([[streak(20.0)], [streak(40.0)], [streak(60.0)], []], settings))
    [0, 1, 2]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from defmo.settings import Detect

if TYPE_CHECKING:
    from defmo.evaluate.detect import Candidate


def linked(a: Candidate, b: Candidate, settings: Detect) -> bool:
    """Whether ``b`` (next frame) can be ``a`` moved on: a step longer than ``a``'s width and at most six
    streak lengths, both smeared over at least ``min_exposure`` of it, a similar width, and along each
    elongated streak's axis."""
    step = b.centre - a.centre
    distance = float(np.hypot(*step))
    if not 2.0 * a.radius <= distance <= 6.0 * max(a.length, 1.0):
        return False
    if min(a.travel, b.travel) < settings.min_exposure * distance:
        return False  # not smeared over its step: not motion-blurred
    if not 0.6 <= b.radius / a.radius <= 1.6:
        return False
    cos_max = math.cos(math.radians(settings.max_angle))
    return all(abs(float(step @ c.axis)) >= cos_max * distance for c in (a, b) if c.elongated)


def steady(a: Candidate, b: Candidate, c: Candidate) -> bool:
    """Whether three linked candidates move at a nearly constant velocity (a turn of up to about 30 degrees
    per frame, as a ball swung in a circle makes; a bounce breaks it)."""
    first, second = b.centre - a.centre, c.centre - b.centre
    change = float(np.hypot(*(second - first)))
    return change <= 0.5 * max(np.hypot(*first), np.hypot(*second)) + b.radius


def _chain_lengths(found: list[list[Candidate]], settings: Detect, order: range) -> list[list[int]]:
    """For each candidate, the longest steady chain ending at it, walking frames in ``order``."""
    lengths = [[1] * len(frame) for frame in found]
    previous: list[list[int | None]] = [[None] * len(frame) for frame in found]
    step = order.step
    for t in order:
        s = t - step
        if not 0 <= s < len(found):
            continue
        for i, cand in enumerate(found[t]):
            for j in range(len(found[s])):
                chain = _extend(found, lengths, previous, (s, j), cand, step, settings)
                if chain > lengths[t][i]:
                    lengths[t][i], previous[t][i] = chain, j
    return lengths


def _extend(found, lengths, previous, at: tuple[int, int], cand: Candidate, step: int, settings: Detect) -> int:
    """The length of the chain ending at ``found[s][j]`` (``at``) extended by ``cand``: 0 when they do not link,
    2 when the chain turns or jumps there (``cand`` starts anew from it)."""
    s, j = at
    before = found[s][j]
    if not linked(*((before, cand) if step > 0 else (cand, before)), settings):
        return 0
    k = previous[s][j]
    if k is None:
        return 2
    first = found[s - step][k]
    return lengths[s][j] + 1 if steady(*((first, before, cand) if step > 0 else (cand, before, first))) else 2


def track(found: list[list[Candidate]], settings: Detect) -> dict[int, Candidate]:
    """Per frame index, the candidate on the longest steady chain through it, where that chain spans at least
    ``settings.min_track`` frames; frames without one are left out."""
    count = len(found)
    forward = _chain_lengths(found, settings, range(count))
    backward = _chain_lengths(found, settings, range(count - 1, -1, -1))
    chosen = {}
    for t, frame in enumerate(found):
        spans = [forward[t][i] + backward[t][i] - 1 for i in range(len(frame))]
        best = max(range(len(frame)), key=lambda i: (spans[i], frame[i].area), default=None)
        if best is not None and spans[best] >= settings.min_track:
            chosen[t] = frame[best]
    _set_velocities(chosen)
    return chosen


def confirm(chosen: dict[int, Candidate], strict: list[list[Candidate]], loose: list[list[Candidate]],
            settings: Detect) -> dict[int, Candidate]:
    """``chosen`` with the runs of three frames that two linked strict streaks start: where the track lacks
    either frame and a loose region in the frame before or after continues them (:func:`linked` and
    :func:`steady`), the run's frames off the track are added (a frame on it keeps its candidate). Each of the
    two must be at least ``settings.confirm_radius`` pixels in half-width (two frames alone do not tell a ball
    from a thin region that moves steadily for a moment: a jeans crease, a stick) and travel no further within
    the exposure than the step between them (:func:`_within_step`). This finds an object that enters at the
    frame's border, or crosses others, where its third streak is not wholly new. Off with ``confirm_radius``
    None.

    Args:
        chosen: the track (:func:`track`), frame index to candidate.
        strict, loose: per frame, the strict and the loose candidates
            (:func:`defmo.evaluate.detect.frame_candidates`), largest first.
        settings: thresholds (:class:`Detect`).

    Returns:
        A new dict; the first run found per pair of frames, largest streaks first.
    """
    out = dict(chosen)
    if settings.confirm_radius is None:
        return out
    for t in range(len(strict) - 1):
        if t not in out or t + 1 not in out:
            for s, cand in _pair_run(strict, loose, t, settings).items():
                out.setdefault(s, cand)
    return out


def _pair_run(strict: list[list[Candidate]], loose: list[list[Candidate]], t: int,
              settings: Detect) -> dict[int, Candidate]:
    """The first run :func:`confirm` finds from frames ``t`` and ``t + 1``, or an empty dict."""
    big = [[c for c in strict[s] if c.radius >= settings.confirm_radius] for s in (t, t + 1)]
    for a in big[0]:
        for b in big[1]:
            run = _continued(a, b, loose, t, settings) if linked(a, b, settings) and _within_step(a, b) else {}
            if run:
                return run
    return {}


def _within_step(a: Candidate, b: Candidate) -> bool:
    """Whether neither streak travels further within its exposure than the step between them (up to a
    half-width): an object's shutter is open at most the time between frames, while a limb's region is as long
    as the limb however little it moves."""
    return max(a.travel, b.travel) <= float(np.hypot(*(b.centre - a.centre))) + max(a.radius, b.radius)


def _continued(a: Candidate, b: Candidate, loose: list[list[Candidate]], t: int,
               settings: Detect) -> dict[int, Candidate]:
    """Frames ``t``, ``t + 1`` (``a``, ``b``) and the loose region after (else before) that continues them at a
    nearly constant velocity, or an empty dict."""
    after = loose[t + 2] if t + 2 < len(loose) else []
    for c in after:
        if linked(b, c, settings) and steady(a, b, c):
            return {t: a, t + 1: b, t + 2: c}
    before = loose[t - 1] if t >= 1 else []
    for c in before:
        if linked(c, a, settings) and steady(c, a, b):
            return {t - 1: c, t: a, t + 1: b}
    return {}


def predicted(chosen: dict[int, Candidate], t: int) -> tuple[np.ndarray, Candidate] | None:
    """Where the track ``chosen`` puts the object in frame ``t`` (not on it): between its neighbours across a
    one-frame gap, or one step on from either end, at constant acceleration from the end's last three
    positions (a ball swung in a circle turns) or at constant velocity from two; with the nearest track
    candidate. None where the track says nothing about ``t``."""
    before, after = chosen.get(t - 1), chosen.get(t + 1)
    if before is not None and after is not None:
        return 0.5 * (before.centre + after.centre), before
    for side in (-1, 1):
        run = [chosen.get(t + side * k) for k in (1, 2, 3)]
        if run[0] is None or run[1] is None:
            continue
        if run[2] is not None:
            return 3.0 * run[0].centre - 3.0 * run[1].centre + run[2].centre, run[0]
        return 2.0 * run[0].centre - run[1].centre, run[0]
    return None


def bridge(chosen: dict[int, Candidate], loose: list[list[Candidate]], settings: Detect) -> dict[int, Candidate]:
    """``chosen`` with gaps in its tracks bridged and their ends extended, one frame a pass for
    ``settings.bridge`` passes: in a frame the track predicts (:func:`predicted`), the loose candidate nearest
    the prediction, within the object's width or a third of its step, of a similar width (a ball half out of
    the frame is narrower), at least a quarter of its area (the tip of an object entering at the frame's edge is
    nothing to deblur) and moved on from the track's candidate (a ball passing over an arm, leaving the frame).
    Velocities are recomputed."""
    out = dict(chosen)
    for _ in range(settings.bridge):
        added = {}
        for t, cands in enumerate(loose):
            guess = None if t in out else predicted(out, t)
            if guess is None:
                continue
            best = _nearest_fit(cands, *guess)
            if best is not None:
                added[t] = best
        if not added:
            break
        out.update(added)
    _set_velocities(out)
    return out


def _nearest_fit(cands: list[Candidate], centre: np.ndarray, near: Candidate) -> Candidate | None:
    """The candidate nearest the predicted ``centre`` that fits the track's candidate ``near`` (see
    :func:`bridge`), or None."""
    reach = max(2.0 * near.radius, float(np.hypot(*(centre - near.centre))) / 3.0)
    fits = [c for c in cands if 0.4 <= c.radius / near.radius <= 2.0 and c.area >= 0.25 * near.area
            and float(np.hypot(*(c.centre - near.centre))) >= near.radius
            and float(np.hypot(*(c.centre - centre))) <= reach]
    return min(fits, key=lambda c: float(np.hypot(*(c.centre - centre))), default=None)


def _set_velocities(chosen: dict[int, Candidate]) -> None:
    """Each chosen candidate's velocity: the step between its neighbours on the track (one side at its ends)."""
    for t, cand in chosen.items():
        before, after = chosen.get(t - 1), chosen.get(t + 1)
        ends = (before or cand, after or cand)
        if ends[0] is not ends[1]:
            cand.velocity = (ends[1].centre - ends[0].centre) / (2.0 if before and after else 1.0)
