"""Real-footage scores (defmo.evaluate.footage) on synthetic deblurred clips whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from defmo.evaluate.footage import (Deblurred, appearance_spread, continuity, opacity, reblur_error, smoothness,
                                    summarise)


def disc_clip(frames: int = 3, n: int = 6, step: float = 4.0, alpha: float = 1.0, reverse_at: int | None = None):
    """A red disc of radius 4 moving right by ``step`` px a sub-frame over a grey background, frame after frame
    without a gap; ``reverse_at`` gives that frame a path pointing the wrong way."""
    size = 64
    ys, xs = np.mgrid[0:size, 0:size]
    out = []
    for k in range(frames):
        centres = np.array([[8.0 + step * (k * n + i), 32.0] for i in range(n)])
        if k == reverse_at:
            centres = centres[::-1]
        rgba = np.zeros((n, size, size, 4), np.float32)
        for i, (cx, cy) in enumerate(centres):
            inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= 16
            rgba[i][inside] = (0.9, 0.1, 0.1, alpha)
        background = np.full((size, size, 3), 0.5, np.float32)
        composite = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]) * background
        out.append(Deblurred(k, np.array([0, 0, size, size]), composite.mean(axis=0), composite, rgba, centres, 4.0))
    return out


def test_a_clean_disc_on_a_straight_path_scores_perfectly():
    clip = disc_clip()
    assert continuity(clip) == pytest.approx(0.0, abs=1e-9)  # each path ends where the next starts
    assert smoothness(clip[0].traj, 4.0) == pytest.approx(0.0, abs=1e-9)
    assert appearance_spread(clip[0]) == pytest.approx(0.0, abs=1e-6)
    assert opacity(clip[0]) == pytest.approx(1.0)
    assert reblur_error(clip[0]) == pytest.approx(0.0, abs=1e-7)


def test_continuity_is_the_shutter_gap_over_the_path():
    """A camera open half the time between frames: the object travels as far between exposures as within one,
    a gap of one path length."""
    clip = disc_clip(frames=4, n=6)
    for k, frame in enumerate(clip):
        frame.traj = frame.traj + 24.0 * k  # each frame's path moved on by one more path length (6 x 4 px)
        frame.traj[:, 1] = 32.0
    assert continuity(clip) == pytest.approx(1.0)


def test_each_score_sees_its_failure():
    wrong_way = disc_clip(reverse_at=1)
    assert continuity(wrong_way) == pytest.approx(1.0)  # the reversed path starts a whole path length away
    wiggle = np.stack([np.arange(8.0) * 3, 30 + 3.0 * (-1) ** np.arange(8)], axis=1)
    assert smoothness(wiggle, 4.0) > 0.5
    bounce = np.stack([np.arange(9.0) * 3, 30 + 3.0 * np.abs(np.arange(9) - 4)], axis=1)
    assert smoothness(bounce, 4.0) == pytest.approx(0.0, abs=1e-6)  # two segments meeting at the bounce
    ghost = disc_clip(alpha=0.3)[0]
    assert opacity(ghost) == pytest.approx(0.3)
    changing = disc_clip()[0]
    changing.rgba[::2, ..., :3] = changing.rgba[::2, ..., :3][..., ::-1]  # every other sub-frame recoloured
    assert appearance_spread(changing) > 0.1
    blurry = disc_clip()[0]
    blurry.image = blurry.image + 0.1
    assert reblur_error(blurry) == pytest.approx(0.1, abs=1e-6)


def test_the_reblur_error_is_taken_on_the_object_box():
    """Variants crop differently; the re-blur error is taken on the object's box (image coordinates) within the
    crop, so an error outside it (another mover) does not count and the same box gives the same pixels."""
    frame = disc_clip()[0]
    frame.box = np.array([100, 200, 164, 264])  # the crop's place in the image
    frame.image = frame.image.copy()
    frame.image[:, 40:] += 0.2  # columns 40-63 of the crop differ: another mover
    assert reblur_error(frame) == pytest.approx(0.2 * 24 / 64, abs=1e-6)  # no box: the whole crop
    frame.region = np.array([124, 200, 140, 240])  # the disc's rows, crop columns 0-39
    assert reblur_error(frame) == pytest.approx(0.0, abs=1e-7)
    frame.region = np.array([124, 230, 140, 250])  # crop columns 30-49: half of them differ
    assert reblur_error(frame) == pytest.approx(0.1, abs=1e-6)
    frame.region = np.array([90, 180, 140, 240])  # reaching past the crop: clipped to it
    assert reblur_error(frame) == pytest.approx(0.0, abs=1e-7)


def test_summary_has_every_score():
    scores = summarise(disc_clip())
    assert scores["frames"] == 3 and set(scores) == {"frames", "continuity", "smoothness", "appearance_spread",
                                                     "opacity", "reblur_error"}
    assert summarise([disc_clip()[0]])["continuity"] is None  # one frame: nothing to chain


def test_the_footage_table_and_its_reading_say_where_the_fit_wins_and_loses(tmp_path):
    """`footage` gathers deblur's JSONs by their <clip>_<variant> names; the reading names each score the fit
    improves and each it loses, with both numbers."""
    from defmo.evaluate.footage import reading, table_rows
    from defmo.utils.table_io import read_csv_rows, write_table
    from defmo.evaluate.footage import HEADER

    scores = {"fit": (0.4, 0.0, 0.01, 0.7, 0.013), "previous": (1.0, 0.05, 0.04, 0.6, 0.012),
              "network": (0.8, 0.06, 0.1, 0.5, 0.015)}
    paths = []
    for variant, values in scores.items():
        record = dict(zip(("continuity", "smoothness", "appearance_spread", "opacity", "reblur_error"), values))
        path = tmp_path / f"ball_clip_{variant}.json"
        path.write_text(json.dumps({"sub_frames": "x", "n": 8, "clips": {"ball_clip": {"frames": 5, **record}}}))
        paths.append(path)
    write_table(tmp_path / "footage", HEADER, table_rows(paths))
    rows = read_csv_rows(tmp_path / "footage.csv")
    assert [r[1] for r in rows] == ["network + fit", "network + previous fit", "network alone"]
    text = reading(rows)
    assert "better than the network + previous fit on continuity gap, path residual, appearance spread, opacity" in text
    assert "worse on re-blur error (0.013 vs 0.012)" in text
    assert "better than the network alone on continuity gap, path residual, appearance spread, opacity, re-blur" in text


def test_a_clip_s_figure_stacks_its_variants_panels_and_names_a_missing_one(tmp_path):
    import argparse

    import matplotlib.pyplot as plt

    from defmo.errors import UserError
    from defmo.evaluate import footage

    panels = []
    for variant, shade in (("network", 0.2), ("fit", 0.8)):
        path = tmp_path / f"footage_clip_{variant}.png"
        plt.imsave(path, np.full((60, 200, 3), shade))
        panels.append(path)
    out = tmp_path / "footage_clip.png"
    footage.stack_panels(panels, out)
    image = plt.imread(out)
    assert image.shape[0] > image.shape[1] * 0.5  # two 60 x 200 panels one above the other, with titles
    top, bottom = image[: image.shape[0] // 2], image[image.shape[0] // 2 :]
    def share(part, shade):
        return float(np.all(np.abs(part[..., :3] - shade) < 0.03, axis=-1).mean())

    assert share(top, 0.2) > 0.2 and share(bottom, 0.2) < 0.01  # the network's dark panel above ...
    assert share(bottom, 0.8) > 0.2 and share(top, 0.8) < 0.01  # ... the fit's light one below
    args = argparse.Namespace(panels=[panels[0], tmp_path / "footage_clip_previous.png"], figure=out, table=None,
                              inputs=[])
    with pytest.raises(UserError, match="footage_clip_previous.png: no such figure"):
        footage.run(args, None)
    with pytest.raises(UserError, match="either --inputs with --table"):
        footage.run(argparse.Namespace(panels=panels, figure=out, table=tmp_path / "t", inputs=[]), None)
