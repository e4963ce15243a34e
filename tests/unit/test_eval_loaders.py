"""Loaders on tiny folders written here in the FMO benchmark's published layout, covering each variant."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from defmo.errors import UserError
from defmo.evaluate import loaders

H, W, R = 40, 56, 4  # image size, disc radius


def disc_masks(centres: np.ndarray) -> np.ndarray:
    """The disc of radius R at each centre ``(T, 2)`` (x, y): ``(T, H, W)`` float 0/1."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([((xx - x) ** 2 + (yy - y) ** 2 <= R * R) for x, y in centres]).astype(np.float64)


def disc_scene(frames: int, n: int, seed: int = 0):
    """A disc moving over a textured static background. Returns background (H,W,3), high-speed frames
    (frames*n, H, W, 3), centres (frames*n, 2) as (x, y)."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.uniform(0.1, 0.6, (H, W, 3)), (0, 0), 2)
    t = np.linspace(0, 1, frames * n)
    centres = np.stack([10 + 34 * t, 12 + 14 * t + 6 * np.sin(3 * t)], axis=1)
    yy, xx = np.mgrid[0:H, 0:W]
    hs = []
    for x, y in centres:
        mask = ((xx - x) ** 2 + (yy - y) ** 2 <= R * R)[..., None]
        hs.append(np.where(mask, np.array([0.95, 0.9, 0.2]), bg))
    return bg, np.stack(hs), centres


def write_png(path: Path, img: np.ndarray, bits: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = img[:, :, ::-1]
    if bits == 16:
        alpha = np.ones(img.shape[:2] + (1,))
        out = np.round(np.concatenate([bgr, alpha], axis=2) * 65535).astype(np.uint16)
    else:
        out = np.round(bgr * 255).astype(np.uint8)
    cv2.imwrite(str(path), out)


def write_sequence(root: Path, name: str, frames: int = 6, *, first: int = 0, hs_first: int = 0, gt: str = "txt",
                   hs_bits: int = 8, nan_at: tuple[int, int] | None = None, seed: int = 0,
                   alpha: bool = False) -> dict:
    """Write one sequence of the layout; ``gt``: "txt" (gt.txt + gtr.txt), "bbox" (gt_bbox/) or "template"
    (gt.txt + templates/*.mat); with ``alpha``, also the GT alpha (``imgs_gt_alpha/``, 8-bit grayscale, numbered
    like imgs_gt) as the embedded data has it. Returns the scene for checks (``alpha``: the disc masks)."""
    n = 12 if "-12" in name else 8
    bg, hs, centres = disc_scene(frames, n, seed)
    masks = disc_masks(centres)
    for k in range(frames):
        write_png(root / "imgs" / name / f"{first + k:08d}.png", hs[k * n : (k + 1) * n].mean(axis=0))
    # high-speed frame of (file index f, sub-frame j) is number f*n + j + hs_first
    for k in range(frames):
        for j in range(n):
            number = (first + k) * n + j + hs_first
            write_png(root / "imgs_gt" / name / f"{number:08d}.png", hs[k * n + j], hs_bits)
            if alpha:
                (root / "imgs_gt_alpha" / name).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / "imgs_gt_alpha" / name / f"{number:08d}.png"),
                            np.round(masks[k * n + j] * 255).astype(np.uint8))
    pad = np.full((first, n, 2), np.nan)
    traj = np.concatenate([pad, centres.reshape(frames, n, 2)])  # rows by file index
    if gt in ("txt", "template"):
        rows = traj.transpose(0, 2, 1).reshape(-1, n).copy()
        if nan_at is not None:
            k, j = nan_at
            rows[2 * (first + k) : 2 * (first + k) + 2, j] = np.nan
        np.savetxt(root / "imgs" / name / "gt.txt", rows)
        if gt == "txt":
            np.savetxt(root / "imgs" / name / "gtr.txt", np.full((first + frames, n), R + 0.2))
        else:
            (root / "templates").mkdir(exist_ok=True)
            scipy.io.savemat(root / "templates" / f"{name}_template.mat",
                             {"template": np.zeros((2 * R * 3, 2 * R * 3, 3)), "scale": np.array([[3.0]])})
    else:
        (root / "gt_bbox").mkdir(exist_ok=True)
        boxes = np.concatenate([centres - R, np.full((len(centres), 2), 2.0 * R)], axis=1)
        np.savetxt(root / "gt_bbox" / f"{name}.txt", boxes)
    return {"bg": bg, "hs": hs, "centres": centres, "n": n, "alpha": masks}


def test_falling_objects_zero_based_gt_txt_with_nans_and_16bit_gt(tmp_path):
    scene = write_sequence(tmp_path, "box_GTgamma", hs_first=1, hs_bits=16, nan_at=(2, 0))
    write_sequence(tmp_path, "ball_GTgamma", seed=1)
    (tmp_path / "imgs" / "other_seq").mkdir()  # not matching *_GTgamma: ignored
    seqs = loaders.load_dataset(tmp_path, "falling_objects")
    assert [s.name for s in seqs] == ["ball_GTgamma", "box_GTgamma"]
    seq = seqs[1]
    assert (seq.n, seq.start, seq.frames, seq.hs_offset) == (8, 0, 6, 1)
    hs = seq.high_speed(3, (H, W))
    np.testing.assert_allclose(hs, scene["hs"][24:32], atol=1 / 65535)
    np.testing.assert_allclose(seq.image(3), scene["hs"][24:32].mean(0), atol=0.5 / 255 + 1e-9)
    traj, radius = seq.trajectory(2)
    c = scene["centres"][16:24]
    np.testing.assert_allclose(traj[0], c[1])  # NaN at index 0 -> first valid point
    np.testing.assert_allclose(traj[1:], c[1:])
    assert radius == R


def test_fill_nans_rules():
    t = np.array([[np.nan, np.nan], [1, 1], [np.nan, 0], [3, 3], [np.nan, np.nan], [np.nan, 5]], float)
    out = loaders.fill_nans(t)
    np.testing.assert_allclose(out, [[1, 1], [1, 1], [2, 2], [3, 3], [3, 3], [3, 3]])


def test_tbd_one_based_twelve_splits_bbox_and_exclusions(tmp_path):
    scene = write_sequence(tmp_path, "VS_zz_ball-12", frames=3, first=1, hs_first=1, gt="bbox")
    write_sequence(tmp_path, "aa_ball", frames=3, gt="template")
    write_sequence(tmp_path, "tt_ping_wall", frames=2)
    write_sequence(tmp_path, "ff_fall_coin", frames=2)
    seqs = loaders.load_dataset(tmp_path, "tbd")
    assert [s.name for s in seqs] == ["aa_ball", "VS_zz_ball-12"]
    templ, bbox = seqs
    assert templ.trajectory(0)[1] == R  # template height 24 / 2 / scale 3
    assert (bbox.n, bbox.start, bbox.frames) == (12, 1, 3)
    traj, radius = bbox.trajectory(1)
    np.testing.assert_allclose(traj, scene["centres"][12:24])
    assert radius == R
    np.testing.assert_allclose(bbox.high_speed(1, (H, W)), scene["hs"][12:24], atol=0.5 / 255 + 1e-9)
    np.testing.assert_allclose(bbox.image(0), scene["hs"][:12].mean(0), atol=0.5 / 255 + 1e-9)


def test_roi_frames_restricts_the_range(tmp_path):
    scene = write_sequence(tmp_path, "a_GT_b", frames=6)
    np.savetxt(tmp_path / "roi_frames.txt", np.array([[2, 4]]), fmt="%d")
    (seq,) = loaders.load_dataset(tmp_path, "tbd3d")
    assert (seq.start, seq.frames) == (2, 3)
    np.testing.assert_allclose(seq.trajectory(0)[0], scene["centres"][16:24])
    np.testing.assert_allclose(seq.high_speed(0, (H, W)), scene["hs"][16:24], atol=0.5 / 255 + 1e-9)


def test_imread_bit_depths(tmp_path):
    img = np.random.default_rng(0).uniform(0, 1, (5, 7, 3))
    write_png(tmp_path / "a.png", img, 8)
    write_png(tmp_path / "b.png", img, 16)
    np.testing.assert_allclose(loaders.imread(tmp_path / "a.png"), img, atol=0.5 / 255 + 1e-9)
    np.testing.assert_allclose(loaders.imread(tmp_path / "b.png"), img, atol=0.5 / 65535 + 1e-9)


@pytest.mark.parametrize("breakage", ["no_root", "no_imgs", "no_match", "no_gt_folder", "no_traj"])
def test_missing_or_partial_dataset_says_where_to_get_it(tmp_path, breakage):
    root = tmp_path / "tbd"
    if breakage != "no_root":
        write_sequence(root, "aa_ball", frames=2)
    if breakage == "no_imgs":
        (root / "imgs").rename(root / "images")
    elif breakage == "no_match":
        (root / "imgs" / "aa_ball").rename(root / "imgs" / "aaball")
    elif breakage == "no_gt_folder":
        (root / "imgs_gt").rename(root / "gt")
    elif breakage == "no_traj":
        (root / "imgs" / "aa_ball" / "gt.txt").unlink()
    with pytest.raises(UserError) as err:
        loaders.load_dataset(root, "tbd")
    msg = str(err.value)
    assert "cmp.felk.cvut.cz/fmo" in msg and "fmo-deblurring-benchmark" in msg and "evaluate.datasets.tbd" in msg


def test_gt_alpha_where_the_dataset_has_it_and_none_on_real_data(tmp_path):
    """The embedded layout's imgs_gt_alpha/ is read like imgs_gt (numbering from 1 here, roi start 1), cropped to
    the frame; a dataset without the folder (real data) gives None; a partial one is a UserError."""
    with_alpha, real = tmp_path / "embedded", tmp_path / "real"
    scene = write_sequence(with_alpha, "a_GT_b", frames=4, hs_first=1, alpha=True)
    np.savetxt(with_alpha / "roi_frames.txt", np.array([[1, 3]]), fmt="%d")
    write_sequence(real, "a_GT_b", frames=4, hs_first=1)
    (seq,) = loaders.load_dataset(with_alpha, "tbd3d")
    alpha = seq.gt_alpha(1, (H - 5, W))  # file index 2: high-speed frames 16..23
    assert alpha.shape == (8, H - 5, W) and alpha.dtype == np.float64
    np.testing.assert_array_equal(alpha, scene["alpha"][16:24, : H - 5])
    assert set(np.unique(alpha)) == {0.0, 1.0}
    (plain,) = loaders.load_dataset(real, "tbd3d")
    assert plain.alpha_path is None and plain.gt_alpha(1, (H, W)) is None
    write_sequence(with_alpha, "c_GT_d", frames=2)  # no alpha for this one
    np.savetxt(with_alpha / "roi_frames.txt", np.array([[1, 3], [0, 1]]), fmt="%d")
    with pytest.raises(UserError, match="imgs_gt_alpha/.*'c_GT_d'"):
        loaders.load_dataset(with_alpha, "tbd3d")
