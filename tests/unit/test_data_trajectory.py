"""Training trajectories: DeFMO's move ranges, or a travel drawn in object sizes (fast-moving objects)."""

from __future__ import annotations

import numpy as np
import pytest

from defmo.config import load
from defmo.data.sample import sample_trajectory
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
