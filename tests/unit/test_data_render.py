"""Rendered synthetic samples: blatting equation, continuous exposure, trajectories, masks, determinism, disjoint
splits, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defmo.config import load
from defmo.data import shards
from defmo.data.blatting import blat
from defmo.data.dataset import SyntheticFMODataset
from defmo.data.generate import render_split
from defmo.data.renderer import CAMERA_DISTANCE, HALF_EXTENT, ObjectRenderer
from defmo.data.sample import Sources, Trajectory, compose, render_sample, sample_rng

torch.set_num_threads(1)


def tiny_cfg(repo, *overrides):
    return load(repo / "params.yaml", "tiny", list(overrides))


@pytest.fixture(scope="module")
def rendered(repo, tmp_path_factory):
    """tiny-scale train (16) and val (8) splits at 48x48, N = 5, seed 0, one process."""
    cfg = tiny_cfg(repo, "scales.tiny.data.resolution=48", "scales.tiny.data.n_subframes=5")
    root = tmp_path_factory.mktemp("synthetic")
    render_split(cfg, "train", root / "train")
    render_split(cfg, "val", root / "val")
    return cfg, root


def project(point, side):
    """Pixel (x = column, y = row, pixel centres at +0.5) of a scene point under the renderer's camera."""
    focal = (side / 2) * CAMERA_DISTANCE / HALF_EXTENT
    depth = CAMERA_DISTANCE - point[2]
    return np.array([side / 2 + focal * point[0] / depth, side / 2 - focal * point[1] / depth])


def centroid(alpha):
    ys, xs = np.mgrid[0:alpha.shape[0], 0:alpha.shape[1]] + 0.5
    return np.array([(alpha * xs).sum(), (alpha * ys).sum()]) / alpha.sum()


def test_layout_and_types(rendered):
    cfg, root = rendered
    ds = SyntheticFMODataset(root / "train")
    assert len(ds) == 16 and len(ds.manifest["shards"]) == 2
    sample = ds[5]
    assert sample["frames"].shape == (5, 4, 48, 48)
    for key in ("image", "background", "image2", "background2"):
        assert sample[key].shape == (3, 48, 48) and sample[key].dtype == torch.float32
    assert all(0 <= float(v.min()) and float(v.max()) <= 1 for v in sample.values())


def test_blatting_equation_holds(rendered):
    _, root = rendered
    ds = SyntheticFMODataset(root / "train")
    for i in range(len(ds)):
        s = ds[i]
        for image, bg in (("image", "background"), ("image2", "background2")):
            err = (blat(s["frames"], s[bg]) - s[image]).abs().max().item()
            assert err <= 0.5 / 255 + 1e-6, (i, image, err)
        assert not torch.equal(s["background"], s["background2"])


def test_stored_input_is_exactly_the_composite_of_the_stored_subframes(rendered):
    _, root = rendered
    ds = SyntheticFMODataset(root / "train")
    for i in range(len(ds)):
        raw = ds.raw(i)
        assert np.array_equal(compose(raw["frames"], raw["background"]), raw["image"]), i
        assert np.array_equal(compose(raw["frames"], raw["background2"]), raw["image2"]), i


def partial_alpha(alpha):
    return int(((alpha > 0) & (alpha < 255)).sum())


def test_subframes_are_continuous_exposures_not_instants(repo):
    """Same (seed, split, index), same trajectory: K = 3 renders per sub-frame smear it over its slice."""
    renderer = ObjectRenderer(48, 48)
    try:
        runs = {}
        for k in (1, 3):
            cfg = tiny_cfg(repo, "scales.tiny.data.resolution=48", "scales.tiny.data.n_subframes=5",
                           f"scales.tiny.data.exposure_samples={k}").data.to_dict()  # sample.py reads a plain dict
            sources = Sources.for_split(cfg, "train")
            runs[k] = [render_sample(renderer, sources, sample_rng(0, "train", i), cfg) for i in range(6)]
    finally:
        renderer.close()
    checked = 0
    for (instant, meta1), (smeared, meta3) in zip(runs[1], runs[3]):
        if meta1["trajectory"] != meta3["trajectory"]:
            continue  # accepted at different tries
        checked += 1
        a1, a3 = instant["frames"][..., 3], smeared["frames"][..., 3]
        area1, area3 = (a1 > 0).sum(axis=(1, 2)), (a3 > 0).sum(axis=(1, 2))
        assert (area3 >= area1 - 2).all() and area3.sum() > area1.sum() * 1.08, (area1, area3)
        assert partial_alpha(a3) > 1.5 * partial_alpha(a1), (partial_alpha(a1), partial_alpha(a3))
    assert checked >= 3


def test_masks_nonempty_inside_and_moving(rendered):
    _, root = rendered
    ds = SyntheticFMODataset(root / "train")
    for i in range(len(ds)):
        alpha = ds.raw(i)["frames"][..., 3]
        assert (alpha.reshape(len(alpha), -1).max(axis=1) > 0).all()
        union = alpha.max(axis=0)
        assert union[0].max() == union[-1].max() == union[:, 0].max() == union[:, -1].max() == 0
        assert not np.array_equal(alpha[0], alpha[-1])
        assert (union > 0).mean() >= 0.05


def test_centroids_follow_trajectory(rendered):
    _, root = rendered
    ds = SyntheticFMODataset(root / "train")
    checked = 0
    for i in range(len(ds)):
        traj = ds.meta(i)["trajectory"]
        start, move = np.array(traj["start"]), np.array(traj["move"])
        alpha = ds.raw(i)["frames"][..., 3] / 255.0
        n = len(alpha)
        centres = np.array([centroid(a) for a in alpha])
        centres_t = (np.arange(n) + 0.5) / n  # sub-frame i: slice i of the exposure, centred there
        expected = np.array([project(start + t * move, 48) for t in centres_t])
        shift = expected[-1] - expected[0]
        if np.linalg.norm(shift) < 6:  # too little motion for rotation not to dominate the centroid
            continue
        checked += 1
        observed = centres[-1] - centres[0]
        assert np.linalg.norm(observed - shift) < 0.35 * np.linalg.norm(shift) + 1.5, (i, observed, shift)
        along = centres @ (shift / np.linalg.norm(shift))
        assert (np.diff(along) > -0.75).all(), (i, along)  # monotone along the translation
    assert checked >= 3


def test_rendered_bounces_follow_the_bent_path_not_its_chord(repo, tmp_path):
    """With every path bouncing, the GT sub-frames' alpha centroids follow the stored bent path: closer to its
    projection than to the straight line between the path's ends."""
    cfg = tiny_cfg(repo, "scales.tiny.data.resolution=48", "scales.tiny.data.n_subframes=8",
                   "scales.tiny.data.train_samples=8", "data.trajectory.bounce=1.0",
                   "data.trajectory.travel_sizes=[2.0, 3.0]")
    render_split(cfg, "train", tmp_path / "train")
    ds = SyntheticFMODataset(tmp_path / "train")
    bent = 0
    for i in range(len(ds)):
        traj = Trajectory.from_json(ds.meta(i)["trajectory"])
        assert traj.kind == "bounce"
        alpha = ds.raw(i)["frames"][..., 3] / 255.0
        n = len(alpha)
        observed = np.array([centroid(a) for a in alpha])
        times = (np.arange(n) + 0.5) / n  # sub-frame i: slice i of the exposure, centred there
        expected = np.array([project(c, 48) for c in traj.centre(times)])
        ends = np.array([project(c, 48) for c in traj.centre(np.array([0.5 / n, 1 - 0.5 / n]))])
        chord = ends[0] + (times - times[0])[:, None] / (times[-1] - times[0]) * (ends[1] - ends[0])
        if np.linalg.norm(expected - chord, axis=1).max() < 4:  # a bounce too shallow to tell from a line
            continue
        bent += 1
        # up to a constant shift: an object's alpha centroid need not be its mesh's origin
        on_path = np.linalg.norm(observed - expected - (observed - expected).mean(0), axis=1).mean()
        on_chord = np.linalg.norm(observed - chord - (observed - chord).mean(0), axis=1).mean()
        assert on_path < 0.5 and on_path < 0.25 * on_chord, (i, on_path, on_chord)
    assert bent >= 3


def test_train_and_val_share_no_mesh_or_background(rendered):
    _, root = rendered
    train, val = (shards.read_manifest(root / s)["sources"] for s in ("train", "val"))
    for key in ("meshes", "backgrounds"):
        assert train[key] and val[key]
        assert not set(train[key]) & set(val[key]), key
    used = SyntheticFMODataset(root / "val")
    for i in range(len(used)):
        meta = used.meta(i)
        assert meta["mesh"] in val["meshes"] and set(meta["backgrounds"]) <= set(val["backgrounds"])


def test_same_seed_bit_identical_two_workers_other_seed_differs(repo, rendered, tmp_path):
    cfg, root = rendered
    two = tiny_cfg(repo, "scales.tiny.data.resolution=48", "scales.tiny.data.n_subframes=5", "scales.tiny.data.workers=2")
    render_split(two, "val", tmp_path / "val2")
    for entry in shards.read_manifest(root / "val")["shards"]:
        assert (root / "val" / entry["file"]).read_bytes() == (tmp_path / "val2" / entry["file"]).read_bytes()
    other = tiny_cfg(repo, "scales.tiny.data.resolution=48", "scales.tiny.data.n_subframes=5", "seed=1")
    render_split(other, "val", tmp_path / "val_seed1", count=4)
    a, b = SyntheticFMODataset(root / "val"), SyntheticFMODataset(tmp_path / "val_seed1")
    assert not any(np.array_equal(a.raw(i)["frames"], b.raw(i)["frames"]) for i in range(4))


def test_resume_keeps_complete_shards_and_replaces_missing(repo, tmp_path):
    cfg = tiny_cfg(repo, "scales.tiny.data.shard_size=4")
    out = tmp_path / "train"
    render_split(cfg, "train", out, count=8)
    first, second = out / shards.shard_name(0), out / shards.shard_name(1)
    before = second.read_bytes()
    stamp = first.stat().st_mtime_ns
    second.unlink()
    (out / shards.MANIFEST).unlink()
    (out / ".shard-00001.bin.abc.tmp").write_bytes(b"half a shard")  # a killed run's leftover
    render_split(cfg, "train", out, count=8)
    assert second.read_bytes() == before
    assert first.stat().st_mtime_ns == stamp  # resumed: the complete shard was not rewritten
    assert not list(out.glob(".shard-*.tmp"))
    assert SyntheticFMODataset(out).manifest["count"] == 8


def test_flips_apply_to_all_tensors_together(rendered):
    _, root = rendered
    plain, flipped = SyntheticFMODataset(root / "train"), SyntheticFMODataset(root / "train", flips=True)
    seen = set()
    torch.manual_seed(0)
    for _ in range(12):
        a, b = plain[3], flipped[3]
        for dims in ([], [-1], [-2], [-1, -2]):
            if all(torch.equal(a[k].flip(dims) if dims else a[k], b[k]) for k in a):
                seen.add(tuple(dims))
                break
        else:
            pytest.fail("flipped sample is not a consistent flip of the original")
        assert (blat(b["frames"], b["background"]) - b["image"]).abs().max() <= 0.5 / 255 + 1e-6
    assert len(seen) >= 3


def test_truncated_or_corrupt_shard_names_the_file(rendered, tmp_path):
    import shutil

    from defmo.errors import UserError

    _, root = rendered
    bad = tmp_path / "val"
    shutil.copytree(root / "val", bad)
    shard = bad / shards.shard_name(0)
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF  # flip a byte inside the first record: same size, wrong content
    shard.write_bytes(bytes(data))
    ds = SyntheticFMODataset(bad)
    with pytest.raises(UserError, match="shard-00000.bin"):
        ds[0]
    shard.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(UserError, match="shard-00000.bin"):
        SyntheticFMODataset(bad)
    with pytest.raises(UserError, match="shard-00000.bin"):
        shards.ShardReader(shard)
