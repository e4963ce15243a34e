"""The seed study's statistics: the spread over seeds and the paired two-stage bootstrap interval, against
hand computations and scipy.stats.bootstrap."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from defmo.seeds.stats import paired_interval, spread, verdict


def test_spread_is_the_sample_mean_and_standard_deviation():
    values = [31.2, 30.7, 31.9]
    out = spread(values)
    assert out["mean"] == pytest.approx(statistics.mean(values))
    assert out["std"] == pytest.approx(statistics.stdev(values))
    assert out["n"] == 3


def test_spread_leaves_out_missing_values_and_has_no_std_for_one_seed():
    assert spread([0.5, None, float("nan")]) == {"mean": 0.5, "std": None, "n": 1}
    assert spread([None]) == {"mean": None, "std": None, "n": 0}


def test_one_seed_interval_matches_scipy_s_paired_percentile_bootstrap():
    rng = np.random.default_rng(3)
    reference = rng.normal(25.0, 2.0, 40)
    approach = reference + rng.normal(0.3, 0.8, 40)
    ours = paired_interval(approach[None], reference[None], 20000, 0.95)
    ref = scipy_stats.bootstrap((approach, reference), lambda a, b: np.mean(a - b), paired=True,
                                vectorized=False, n_resamples=20000, confidence_level=0.95, method="percentile",
                                random_state=1).confidence_interval
    width = ref.high - ref.low
    assert ours["diff"] == pytest.approx(np.mean(approach - reference))
    assert ours["lo"] == pytest.approx(ref.low, abs=0.05 * width)
    assert ours["hi"] == pytest.approx(ref.high, abs=0.05 * width)


def test_the_interval_is_paired_a_shared_frame_difficulty_cancels():
    """Frames differ a lot in difficulty (shared by both approaches); a paired interval ignores it."""
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0.0, 5.0, (3, 30))
    diff = rng.normal(0.2, 0.1, (3, 30))
    plain = paired_interval(diff, np.zeros_like(diff), 2000, 0.95)
    shifted = paired_interval(difficulty + diff, difficulty, 2000, 0.95)
    assert shifted["lo"] == pytest.approx(plain["lo"]) and shifted["hi"] == pytest.approx(plain["hi"])
    assert verdict(shifted) == "better"


def test_a_constant_difference_has_a_zero_width_interval():
    out = paired_interval(np.full((2, 5), 1.5), np.zeros((2, 5)), 500, 0.9)
    assert out["diff"] == out["lo"] == out["hi"] == pytest.approx(1.5)


def test_seed_to_seed_spread_widens_the_interval():
    """A difference that changes sign from seed to seed and is constant over frames: a frame-only bootstrap
    would give zero width; the seed stage spans the seeds' range."""
    per_seed = np.array([-1.0, 0.5, 2.0])[:, None] * np.ones((3, 20))
    out = paired_interval(per_seed, np.zeros_like(per_seed), 4000, 0.95)
    assert -1.0 <= out["lo"] < out["diff"] < out["hi"] <= 2.0
    assert out["diff"] == pytest.approx(0.5)
    assert verdict(out) == "no difference"


def test_missing_cells_are_left_out_of_the_difference():
    approach = np.array([[1.0, np.nan, 3.0]])
    reference = np.array([[0.0, 0.0, 0.0]])
    assert paired_interval(approach, reference, 200, 0.95)["diff"] == pytest.approx(2.0)
    assert paired_interval(np.full((1, 2), np.nan), np.zeros((1, 2)), 200, 0.95) is None


def test_shapes_must_match():
    with pytest.raises(ValueError, match="shapes"):
        paired_interval(np.zeros((2, 3)), np.zeros((3, 3)), 100, 0.95)


def test_verdicts():
    assert verdict({"lo": 0.1, "hi": 0.4}) == "better"
    assert verdict({"lo": -0.4, "hi": -0.1}) == "worse"
    assert verdict({"lo": -0.1, "hi": 0.4}) == "no difference"
    assert verdict({"lo": -0.4, "hi": -0.1}, higher_is_better=False) == "better"
    assert verdict(None) == "n/a"
