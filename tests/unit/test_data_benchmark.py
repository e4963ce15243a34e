"""Embedded benchmark sequences in the FMO benchmark layout (spec/benchmark.md): FMO speeds, continuous exposure."""

from __future__ import annotations

import fnmatch

import numpy as np
import pytest
from PIL import Image

from defmo.config import load
from defmo.data.benchmark import centre_and_radius, render_dataset, render_sequence
from defmo.data.renderer import ObjectRenderer
from defmo.data.sample import Sources
from defmo.errors import UserError
from defmo.evaluate.loaders import load_dataset

GLOBS = {"falling_objects": "*_GTgamma", "tbd3d": "*_GT_*", "tbd": "*_*"}


def read(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0


@pytest.fixture(scope="module")
def bench(repo, tmp_path_factory):
    cfg = load(repo / "params.yaml", "tiny", ["scales.tiny.benchmark_data.frames=6", "scales.tiny.benchmark_data.width=96",
                                               "scales.tiny.benchmark_data.height=64"])
    root = tmp_path_factory.mktemp("bench")
    names = {d: render_dataset(cfg, d, root / d) for d in GLOBS}
    return cfg, root, names


@pytest.mark.parametrize("dataset", list(GLOBS))
def test_layout_matches_the_benchmark(bench, dataset):
    cfg, root, names = bench
    b = cfg.benchmark_data
    seqs = sorted(p.name for p in (root / dataset / "imgs").iterdir())
    assert seqs == sorted(names[dataset]) and len(seqs) == b.sequences
    for seq in seqs:
        check_sequence_layout(root / dataset, seq, GLOBS[dataset], b)


def check_sequence_layout(root, seq, glob, b):
    n, frames = b.n_subframes, b.frames
    assert fnmatch.fnmatch(seq, glob) and "-12" not in seq
    assert "ping_wall" not in seq and "fall_coin" not in seq
    imgs = root / "imgs" / seq
    assert sorted(p.name for p in imgs.glob("*.png")) == [f"{k:08d}.png" for k in range(frames)]
    gt_frames = sorted(p.name for p in (root / "imgs_gt" / seq).glob("*.png"))
    assert gt_frames == [f"{k:08d}.png" for k in range(frames * n)]
    assert sorted(p.name for p in (root / "imgs_gt_alpha" / seq).glob("*.png")) == gt_frames  # ours: GT alpha
    alpha = Image.open(root / "imgs_gt_alpha" / seq / gt_frames[0])
    assert alpha.mode == "L" and alpha.size == (b.width, b.height)
    img = Image.open(imgs / "00000000.png")
    assert img.mode == "RGB" and img.size == (b.width, b.height)
    assert np.loadtxt(imgs / "gt.txt").shape == (2 * frames, n)
    assert np.loadtxt(imgs / "gtr.txt").shape == (frames, n)


@pytest.mark.parametrize("dataset", list(GLOBS))
def test_frames_blat_gt_and_trajectory_is_where_the_object_is(bench, dataset):
    cfg, root, names = bench
    n, frames = cfg.benchmark_data.n_subframes, cfg.benchmark_data.frames
    seq = names[dataset][0]
    imgs, hs_dir = root / dataset / "imgs" / seq, root / dataset / "imgs_gt" / seq
    low = np.stack([read(imgs / f"{k:08d}.png") for k in range(frames)])
    hs = np.stack([read(hs_dir / f"{j:08d}.png") for j in range(frames * n)])
    # frame k is the long exposure of its n high-speed frames (same static background)
    assert np.abs(hs.reshape(frames, n, *hs.shape[1:]).mean(axis=1) - low).max() <= 1.5 / 255
    median = np.median(low, axis=0)  # a static camera: the median background is the background
    gt, radii = np.loadtxt(imgs / "gt.txt"), np.loadtxt(imgs / "gtr.txt")
    xs, ys = gt[0::2].ravel(), gt[1::2].ravel()  # row 2k: x (column), row 2k+1: y (row)
    assert (radii > 1).all()
    steps = np.hypot(np.diff(xs), np.diff(ys))
    assert steps.max() < 4 * np.median(steps) + 1  # continuous motion across frame boundaries
    for j in range(0, frames * n, n // 2):
        x, y = int(round(xs[j])), int(round(ys[j]))
        assert np.abs(hs[j, y, x] - median[y, x]).sum() > 0.05, (j, x, y)  # the object is at (x, y)
    # the GT alpha is the object's: gt.txt's centre is its alpha-weighted centroid, and the loader reads it
    alpha = sequence_of(root / dataset, seq).gt_alpha(0, hs.shape[1:3])
    for j in range(n):
        assert centre_and_radius(alpha[j])[:2] == pytest.approx((xs[j], ys[j]), abs=1e-3)
    assert (alpha[0] > 0.5).any() and alpha.max() <= 1.0


def sequence_of(root, name):
    """The loader's view of one embedded sequence."""
    return next(s for s in load_dataset(root, root.name) if s.name == name)


def test_every_frame_travels_one_to_four_object_sizes(bench):
    """As in the real datasets: within each low-speed frame the object moves 1-4 times its own size."""
    cfg, root, names = bench
    n = cfg.benchmark_data.n_subframes
    for dataset, seqs in names.items():
        for seq in seqs:
            imgs = root / dataset / "imgs" / seq
            gt, radii = np.loadtxt(imgs / "gt.txt"), np.loadtxt(imgs / "gtr.txt")
            xs, ys = gt[0::2], gt[1::2]  # (frames, n) each
            path = np.hypot(np.diff(xs, axis=1), np.diff(ys, axis=1)).sum(axis=1)
            ratio = path / (2 * radii.max(axis=1))
            assert len(ratio) == cfg.benchmark_data.frames and radii.shape[1] == n
            assert ((ratio >= 1) & (ratio <= 4)).all(), (dataset, seq, ratio.round(2))


def test_high_speed_frames_are_short_exposures(repo):
    """The same sequence draws with 1 and 4 renders per high-speed frame: the exposure smears the object along its
    motion (a larger mask extent, hence gtr radius) and keeps its centre."""
    cfg = load(repo / "params.yaml", "tiny", ["scales.tiny.benchmark_data.frames=3"])
    sources = Sources.for_split(cfg.data.to_dict(), "val")
    renderer = ObjectRenderer(cfg.benchmark_data.width, cfg.benchmark_data.height)
    try:
        spec = cfg.benchmark_data.to_dict()  # render_sequence reads a plain mapping
        seqs = [render_sequence(renderer, "tbd", sources, np.random.default_rng([0, 2, 2, 0]), spec, k)
                for k in (1, 4)]
    finally:
        renderer.close()
    (x1, y1, r1), (x4, y4, r4) = (np.array([centre_and_radius(f[..., 3] / 255) for f in s["frames"]]).T
                                  for s in seqs)
    assert np.median(np.hypot(x4 - x1, y4 - y1)) < 1.0  # the same path
    assert r4.mean() > r1.mean() + 0.5, (r1, r4)


def test_twelve_subframes_are_named(repo, tmp_path):
    cfg = load(repo / "params.yaml", "tiny", ["scales.tiny.benchmark_data.n_subframes=12",
                                               "scales.tiny.benchmark_data.frames=2"])
    names = render_dataset(cfg, "tbd3d", tmp_path / "tbd3d")
    assert all("-12" in s and fnmatch.fnmatch(s, "*_GT_*") for s in names)
    assert np.loadtxt(tmp_path / "tbd3d" / "imgs" / names[0] / "gt.txt").shape == (4, 12)


def test_refuses_to_replace_a_folder_it_did_not_write(repo, tmp_path):
    real = tmp_path / "falling_objects"
    (real / "imgs").mkdir(parents=True)
    cfg = load(repo / "params.yaml", "tiny")
    with pytest.raises(UserError, match="not written by `data --benchmark`"):
        render_dataset(cfg, "falling_objects", real)
    assert (real / "imgs").is_dir()
