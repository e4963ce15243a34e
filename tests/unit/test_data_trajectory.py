"""Training trajectories: DeFMO's move ranges, or a travel drawn in object sizes (fast-moving objects); paths that
bounce off a wall or curve within the exposure."""

from __future__ import annotations

import numpy as np
import pytest

from defmo.config import load
from defmo.data.sample import (BOUNCE_INCIDENCE_DEG, BOUNCE_RESTITUTION, BOUNCE_TIME, CURVE_BEND, Trajectory,
                               path_length, path_points, sample_trajectory)
from defmo.errors import UserError

RANGES = {"offset_x": 0.05, "offset_yz": 0.25, "move_x": 0.05, "move_yz": 0.5, "rotation_deg": 15}


def test_travel_in_object_sizes_and_centred_path():
    scale = 0.2
    lengths, centres = [], []
    for seed in range(200):
        traj = sample_trajectory(np.random.default_rng(seed), {**RANGES, "travel_sizes": [1.0, 3.0]}, scale)
        lengths.append(np.hypot(*traj.move[:2]) / (2 * scale))
        centres.append(traj.start[:2] + traj.move[:2] / 2)
        assert abs(traj.move[2]) <= RANGES["move_x"] and abs(traj.start[2]) <= RANGES["offset_x"]
    lengths, centres = np.array(lengths), np.array(centres)
    assert lengths.min() >= 1.0 and lengths.max() <= 3.0 and lengths.std() > 0.3  # spread over the range
    assert np.abs(centres).max() <= RANGES["offset_yz"]  # the path's middle, not its start, is in range


def test_without_travel_sizes_the_move_ranges_hold():
    for seed in range(50):
        traj = sample_trajectory(np.random.default_rng(seed), {**RANGES, "travel_sizes": None}, 0.2)
        assert np.abs(traj.move[:2]).max() <= RANGES["move_yz"] and np.abs(traj.start[:2]).max() <= RANGES["offset_yz"]


def test_same_draws_same_trajectory():
    spec = {**RANGES, "travel_sizes": [1.0, 3.0]}
    a, b = (sample_trajectory(np.random.default_rng(7), spec, 0.2) for _ in range(2))
    assert np.array_equal(a.move, b.move) and np.array_equal(a.start, b.start)


def test_bad_travel_sizes_named(repo):
    with pytest.raises(UserError, match="travel_sizes"):
        load(repo / "params.yaml", "cpu", ["data.trajectory.travel_sizes=[0, 2]"])


FAST = {**RANGES, "travel_sizes": [1.0, 3.0]}


def chord_deviation(traj):
    """Largest distance of the image-plane path from the chord between its ends, over the path's length."""
    points = path_points(traj)
    chord = points[-1] - points[0]
    normal = np.array([-chord[1], chord[0]]) / np.linalg.norm(chord)
    return np.abs((points - points[0]) @ normal).max() / path_length(traj)


def test_a_bounce_reflects_off_a_wall_within_the_exposure_and_keeps_the_travel():
    scale = 0.2
    for seed in range(100):
        traj = sample_trajectory(np.random.default_rng(seed), {**FAST, "bounce": 1.0}, scale)
        assert traj.kind == "bounce" and BOUNCE_TIME[0] <= traj.t_b <= BOUNCE_TIME[1]
        v, after = traj.move[:2], traj.after[:2]
        # v - (1 + e) (v . n) n: the change of velocity is along the wall's normal n, the component along the
        # wall is kept and the normal one reversed and scaled by the restitution e
        n = (v - after) / np.linalg.norm(v - after)
        tangent = np.array([-n[1], n[0]])
        assert np.isclose(after @ tangent, v @ tangent, atol=1e-9)
        restitution = -(after @ n) / (v @ n)
        assert BOUNCE_RESTITUTION[0] - 1e-9 <= restitution <= BOUNCE_RESTITUTION[1] + 1e-9
        incidence = np.degrees(np.arccos(abs(v @ n) / np.linalg.norm(v)))
        assert BOUNCE_INCIDENCE_DEG[0] - 1e-6 <= incidence <= BOUNCE_INCIDENCE_DEG[1] + 1e-6
        assert traj.after[2] == traj.move[2]  # depth unchanged by the wall
        # the path: a kink at t_b, the first leg along move, the second along after, the length drawn in sizes
        eps = 1e-3
        before_kink = (traj.centre(np.array([traj.t_b])) - traj.centre(np.array([traj.t_b - eps])))[0] / eps
        after_kink = (traj.centre(np.array([traj.t_b + eps])) - traj.centre(np.array([traj.t_b])))[0] / eps
        assert np.allclose(before_kink[:2] / np.linalg.norm(before_kink[:2]), v / np.linalg.norm(v), atol=1e-6)
        assert np.allclose(after_kink[:2] / np.linalg.norm(after_kink[:2]), after / np.linalg.norm(after), atol=1e-6)
        assert 1.0 - 1e-6 <= path_length(traj) / (2 * scale) <= 3.0 + 1e-6
        points = path_points(traj)
        assert np.abs((points.min(axis=0) + points.max(axis=0)) / 2).max() <= FAST["offset_yz"] + 1e-9


def test_bounces_and_curves_leave_the_chord_as_the_benchmarks_bounce_test_counts_them():
    bounces = [chord_deviation(sample_trajectory(np.random.default_rng(s), {**FAST, "bounce": 1.0}, 0.2))
               for s in range(200)]
    curves = [sample_trajectory(np.random.default_rng(s), {**FAST, "curve": 1.0}, 0.2) for s in range(200)]
    # t v + t^2 a / 2 with a across v, |a| = 8 b |v|: at t = 1/2 it leaves its chord v + a / 2 by b / (1 + 16 b^2)
    # of the chord's length, b the bend drawn in CURVE_BEND
    def off_chord(c):
        points = path_points(c)
        return chord_deviation(c) * path_length(c) / np.linalg.norm(points[-1] - points[0])

    def bound(b):
        return b / (1 + 16 * b * b)

    bends = [off_chord(c) for c in curves]
    assert all(c.kind == "curve" for c in curves)
    assert bound(CURVE_BEND[0]) - 1e-6 <= min(bends) and max(bends) <= bound(CURVE_BEND[1]) + 1e-6
    assert max(bends) - min(bends) > 0.5 * (bound(CURVE_BEND[1]) - bound(CURVE_BEND[0]))  # spread over the range
    assert np.mean(np.array(bounces) > 0.15) > 0.5  # most bounces count as bounce frames in Table 3


def test_path_kind_shares_and_none_without_them():
    kinds = [sample_trajectory(np.random.default_rng(s), {**FAST, "bounce": 0.35, "curve": 0.15}, 0.2).kind
             for s in range(2000)]
    shares = {k: kinds.count(k) / len(kinds) for k in ("bounce", "curve", "straight")}
    assert abs(shares["bounce"] - 0.35) < 0.04 and abs(shares["curve"] - 0.15) < 0.03
    assert {sample_trajectory(np.random.default_rng(s), FAST, 0.2).kind for s in range(50)} == {"straight"}


def test_bent_paths_round_trip_through_the_stored_meta():
    times = np.linspace(0.0, 1.0, 11)
    for kind in ("bounce", "curve"):
        traj = sample_trajectory(np.random.default_rng(3), {**FAST, kind: 1.0}, 0.2)
        back = Trajectory.from_json(traj.to_json())
        assert back.kind == kind and np.allclose(back.centre(times), traj.centre(times))
