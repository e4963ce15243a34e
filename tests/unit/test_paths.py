"""Each frame's path from its track (defmo.evaluate.paths): continuous across frames, shrunk to the exposure."""

from __future__ import annotations

import numpy as np
import pytest

from defmo.evaluate.detect import Candidate
from defmo.evaluate.footage import Deblurred, continuity
from defmo.evaluate.paths import half_steps, runs, set_paths


def _cand(centre, travel, radius=3.0, axis=(1.0, 0.0)):
    return Candidate(np.asarray(centre, float), radius, travel + 2 * radius, np.asarray(axis, float), 100,
                     np.zeros(4), np.array([1.0, 0.0]))


def _gaps(track):
    ts = sorted(track)
    return [np.hypot(*(track[b].path[0] - track[a].path[1])) / np.hypot(*np.diff(track[a].path, axis=0)[0])
            for a, b in zip(ts, ts[1:])]


def _parabola(t):
    return np.array([10.0 + 20.0 * t, 40.0 + 3.0 * t * t])


def test_half_steps_are_exact_on_a_parabola():
    centres = np.stack([_parabola(t) for t in range(6)])
    half = half_steps(centres)
    np.testing.assert_allclose(half[1:-1], np.stack([_parabola(t + 0.5) for t in range(5)]), atol=1e-9)


@pytest.mark.parametrize("travel, exposure", [(20.0, 1.0), (10.0, 0.5), (40.0, 1.0)])
def test_paths_meet_end_to_start_at_full_exposure_and_leave_the_camera_gap_otherwise(travel, exposure):
    """A streak as long as its step: consecutive paths meet (gap 0); half as long: a gap of 1 / e - 1 = 1 path
    length; a longer streak than its step cannot be (clipped to 1)."""
    track = {t: _cand([10.0 + 20.0 * t, 50.0], travel) for t in range(5)}
    set_paths(track, min_exposure=0.25)
    np.testing.assert_allclose(_gaps(track), 1.0 / exposure - 1.0, atol=1e-9)
    np.testing.assert_allclose([np.hypot(*np.diff(c.path, axis=0)[0]) for c in track.values()], 20.0 * exposure)


def test_paths_point_the_way_the_track_moves_whatever_the_streak_axis_says():
    track = {t: _cand([100.0 - 15.0 * t, 50.0], 15.0, axis=(1.0, 0.0)) for t in range(4)}  # moving left
    set_paths(track, min_exposure=0.25)
    for cand in track.values():
        assert cand.line()[1, 0] < cand.line()[0, 0]
    assert all(c.line(track=False) is not None for c in track.values())  # the streak's own line stays available


def test_runs_break_where_the_track_jumps_or_is_not_joined():
    track = {t: _cand([10.0 * t, 0.0], 10.0) for t in (0, 1, 2, 4, 5, 7)}
    assert runs(track, lambda a, b: True) == [[0, 1, 2], [4, 5], [7]]
    far = lambda a, b: abs(b.centre[0] - a.centre[0]) < 15  # noqa: E731
    track[2] = _cand([200.0, 0.0], 10.0)
    assert runs(track, far) == [[0, 1], [2], [4, 5], [7]]
    set_paths(track, 0.25, far)
    assert track[7].path is None and track[2].path is None and track[0].path is not None


def test_track_paths_make_the_footage_continuity_score_perfect():
    """The real-footage continuity score of paths set from a full-exposure track is 0 (the score's known case)."""
    track = {t: _cand(_parabola(t), 60.0) for t in range(5)}  # smeared over its whole step (e clipped to 1)
    set_paths(track, min_exposure=0.25)
    frames = [Deblurred(t, np.zeros(4), np.zeros((1, 1, 3)), np.zeros((1, 1, 1, 3)), np.zeros((1, 1, 1, 4)),
                        c.path[0] + (np.arange(8)[:, None] + 0.5) / 8 * (c.path[1] - c.path[0]), 3.0)
              for t, c in track.items()]  # sub-frame centres: the middles of the exposure's eighths
    assert continuity(frames) == pytest.approx(0.0, abs=1e-6)
