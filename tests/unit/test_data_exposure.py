"""Continuous exposure: each sub-frame the RGBA mean of K renders over its slice of the exposure."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from defmo.config import ConfigError, load
from defmo.data.blatting import blat_np
from defmo.data.renderer import (ObjectRenderer, exposure_times, key_instants, make_primitive, mean_exposure,
                                 pose_matrix, render_exposure)


def test_instants_spread_over_equal_slices():
    times = exposure_times(4, 2)
    assert np.allclose(times, [[1 / 16, 3 / 16], [5 / 16, 7 / 16], [9 / 16, 11 / 16], [13 / 16, 15 / 16]])
    assert np.allclose(exposure_times(3, 5).mean(axis=1), (np.arange(3) + 0.5) / 3)  # slice centres
    assert np.allclose(key_instants(3, 5), (np.arange(3) + 0.5) / 3)
    assert np.allclose(key_instants(4, 1), exposure_times(4, 1)[:, 0])


def random_renders(rng, shape):
    renders = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    renders[..., 3][rng.uniform(size=shape) < 0.4] = 0
    renders[..., :3][renders[..., 3] == 0] = 0  # straight colour is 0 where nothing is drawn
    return renders


def test_mean_keeps_the_blatting_equation_of_all_renders():
    rng = np.random.default_rng(0)
    n, k = 3, 4
    renders = random_renders(rng, (n, k, 16, 16))
    background = rng.uniform(size=(16, 16, 3))
    frames = mean_exposure(renders)
    assert frames.shape == (n, 16, 16, 4) and frames.dtype == np.uint8
    assert (frames[..., :3][frames[..., 3] == 0] == 0).all()
    assert np.allclose(frames[..., 3] / 255, (renders[..., 3] / 255).mean(axis=1), atol=0.5 / 255 + 1e-9)
    everything = blat_np(renders.reshape(n * k, 16, 16, 4) / 255, background)
    assert np.abs(blat_np(frames / 255, background) - everything).max() <= 1.0 / 255
    single = random_renders(rng, (n, 1, 16, 16))
    assert np.array_equal(mean_exposure(single), single[:, 0])  # one render per slice: that render


@pytest.fixture(scope="module")
def moving_sphere():
    """A sphere flying across a 48x48 frame over the exposure; ``poses_at(times)``."""
    renderer = ObjectRenderer(48, 48)
    renderer.set_object(make_primitive(trimesh.creation.icosphere(subdivisions=3, radius=0.25), None, (0.9, 0.3, 0.2)))
    renderer.set_lighting(np.array([0.3, -0.5, -1.0]), 3.0, 0.3)
    yield renderer, lambda times: [pose_matrix(np.eye(3), np.array([-0.8 + 1.6 * t, 0.1, 0.0])) for t in times]
    renderer.close()


def width_along_x(alpha):
    cols = np.nonzero(alpha.max(axis=0) > 0)[0]
    return cols.max() - cols.min() + 1


def partial(alpha):
    return int(((alpha > 0) & (alpha < 255)).sum())


def test_continuous_subframe_is_smeared_along_the_motion(moving_sphere):
    renderer, poses_at = moving_sphere
    instants = render_exposure(renderer, poses_at, 4, 1)
    smeared = render_exposure(renderer, poses_at, 4, 5)
    for i in range(4):
        assert width_along_x(smeared[i, ..., 3]) >= width_along_x(instants[i, ..., 3]) + 4, i  # 8 px per slice
        assert partial(smeared[i, ..., 3]) > 3 * partial(instants[i, ..., 3]), i
    # the key instants (odd K: the slice centres) are the instant sub-frames, reused, not rendered twice
    assert np.array_equal(renderer.render(poses_at(key_instants(4, 5))), instants)
    background = np.full((48, 48, 3), 0.5)
    everything = renderer.render(poses_at(exposure_times(4, 5).ravel())) / 255.0
    assert np.abs(blat_np(smeared / 255.0, background) - blat_np(everything, background)).max() <= 1.0 / 255


def test_exposure_samples_is_a_validated_key(repo):
    assert load(repo / "params.yaml", "tiny").data.exposure_samples >= 1
    assert load(repo / "params.yaml", "paper").data.exposure_samples >= 1
    with pytest.raises(ConfigError, match="exposure_samples"):
        load(repo / "params.yaml", "tiny", ["scales.tiny.data.exposure_samples=0"])
