"""`deblur` on the real examples (../shared/real-examples) with a randomly initialised tiny generator."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from defmo.cli import main
from defmo.config import load
from defmo.evaluate import streaks
from defmo.evaluate.deblur_outputs import draw_trajectory
from test_eval_cli import random_checkpoint

torch.set_num_threads(1)


@pytest.fixture()
def examples(repo):
    """The project's shared real examples when this checkout sits beside them, else the copy in the repository
    (``examples/real``, the same files), so a clone anywhere runs these tests."""
    for folder in ((repo / ".." / "shared" / "real-examples").resolve(), repo / "examples" / "real"):
        if all((folder / name).is_file() for name in ("im.png", "bgr.png", "falling_pen.avi")):
            return folder
    pytest.skip(f"real examples found neither at ../shared/real-examples nor at {repo / 'examples' / 'real'}")


def test_deblur_image_pair_and_video(tmp_path, repo, examples, monkeypatch):
    monkeypatch.chdir(repo)
    ckpt = random_checkpoint(tmp_path / "final.pt", repo)
    out, fig = tmp_path / "deblur", tmp_path / "deblur_real.png"
    rc = main(["--params", "params.yaml", "--scale", "tiny", "--set", "threads=1", "deblur", "--checkpoint", str(ckpt),
               "--image", str(examples / "im.png"), "--background", str(examples / "bgr.png"),
               "--video", str(examples / "falling_pen.avi"), "--min-track", "2", "--output-dir", str(out),
               "--figure", str(fig)])
    assert rc == 0
    n = 4  # tiny scale's n_subframes, stored in the checkpoint's cfg
    subframes = sorted((out / "im").glob("subframe_*.png"))
    assert len(subframes) == n
    assert Image.open(subframes[0]).size == Image.open(examples / "im.png").size
    gif = Image.open(out / "im.gif")
    assert gif.n_frames == n
    video_frames = sorted(p for p in out.glob("falling_pen_*") if p.is_dir())
    # the pen's two clear frames and the third, faint over the dark chair, where its track predicts it; then the
    # faint pass (evaluate.detect.faint) finds its fainter streaks over the chair in frames 3-5
    assert [p.name for p in video_frames] == [f"falling_pen_000{t}" for t in range(6)]
    assert Image.open(out / "falling_pen.gif").n_frames == n * len(video_frames)
    assert (out / "im" / "trajectory.png").is_file() and fig.stat().st_size > 1000
    rgba = Image.open(out / "im" / "object_00.png")
    assert rgba.mode == "RGBA"  # the object with its alpha
    # the whole video at its frame rate (8 frames), and in slow motion (n per frame)
    for label, count in (("deblurred", 8), ("slowmo", 8 * n)):
        cap = cv2.VideoCapture(str(out / f"falling_pen_{label}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == count, label
        cap.release()
        assert (out / f"falling_pen_{label}.gif").stat().st_size > 0


def test_deblur_projection_makes_the_subframes_average_to_the_input(tmp_path, repo, examples, monkeypatch):
    monkeypatch.chdir(repo)
    # Table 1's generator: untrained, its sub-frames are far from re-blurring to the input (the cpu scale's
    # generators start from the input itself)
    ckpt = random_checkpoint(tmp_path / "final.pt", repo, generator="table1")
    image = np.asarray(Image.open(examples / "im.png").convert("RGB"), np.float64)
    errors = {}
    for flag in ([], ["--projection"]):
        out = tmp_path / ("projected" if flag else "raw")
        rc = main(["--params", "params.yaml", "--scale", "tiny", "--set", "threads=1", "deblur", "--checkpoint",
                   str(ckpt), "--image", str(examples / "im.png"), "--background", str(examples / "bgr.png"),
                   "--output-dir", str(out), *flag])
        assert rc == 0
        frames = np.stack([np.asarray(Image.open(p), np.float64) for p in sorted((out / "im").glob("subframe_*.png"))])
        errors[out.name] = np.abs(frames.mean(axis=0) - image)
    assert np.mean(errors["raw"] > 1.0) > 0.01  # an untrained model does not re-blur to the input ...
    assert np.mean(errors["projected"] <= 1.0) > 0.99  # ... projected it does, up to each PNG's 8-bit rounding


def test_find_object_locates_the_difference(repo):
    settings = load(repo / "params.yaml").evaluate.detect
    rng = np.random.default_rng(0)
    bg = rng.uniform(0.2, 0.4, (50, 70, 3))
    img = bg.copy()
    img[10:20, 30:52] = 0.9
    streak = streaks.find_object(img, bg, settings)
    assert tuple(streak.box) == (10, 30, 20, 52)
    assert streak.radius == pytest.approx(5, abs=1)
    assert streaks.find_object(img, bg, settings, box=(0, 0, 20, 20)) is None  # outside the given box
    assert streaks.find_object(bg, bg, settings) is None


def test_video_options_are_checked_before_any_work(tmp_path, repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    base = ["--params", "params.yaml", "--scale", "tiny", "deblur", "--checkpoint", str(tmp_path / "x.pt"),
            "--output-dir", str(tmp_path / "out")]
    assert main(base + ["--video", str(tmp_path / "missing.avi")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(base + ["--video", str(repo / "examples/real/circle.avi"), "--range", "5-9"]) == 2
    assert "START:STOP" in capsys.readouterr().err
    (tmp_path / "frames").mkdir()
    assert main(base + ["--frames", str(tmp_path / "frames")]) == 2
    assert "fewer than 2 images" in capsys.readouterr().err


def test_draw_trajectory_marks_endpoints():
    img = np.zeros((20, 30, 3))
    out = draw_trajectory(img, np.array([[3.0, 4.0], [15.0, 10.0], [25.0, 15.0]]))
    assert out.dtype == np.uint8 and tuple(out[4, 3]) == (0, 255, 0) and tuple(out[15, 25]) == (255, 0, 0)


def test_deblur_needs_input(tmp_path, repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    rc = main(["--params", "params.yaml", "--scale", "tiny", "deblur", "--checkpoint", str(tmp_path / "x.pt"),
               "--image", str(tmp_path / "a.png"), "--output-dir", str(tmp_path)])
    assert rc == 2 and "--background" in capsys.readouterr().err


def test_square_box_grows_the_short_side_about_the_centre():
    box, radius = streaks.square_box(np.array([10, 20, 14, 40]), 3)
    assert tuple(box) == (2, 20, 22, 40) and radius == 3
    box, _ = streaks.square_box(np.array([5, 5, 25, 10]), 2)
    assert box[2] - box[0] == box[3] - box[1] == 20 and (box[1] + box[3]) / 2 == pytest.approx(7.5, abs=0.5)


def test_the_overview_takes_the_image_pair_first_then_the_frames_in_order():
    from types import SimpleNamespace

    from defmo.evaluate.deblur import in_order

    def row(name, index):
        return name, None, SimpleNamespace(index=index)

    groups = {"clip": [row("clip_3", 3), row("clip_1", 1)], "im": [row("im", None)]}
    assert [r[0] for r in in_order(groups)] == ["im", "clip_1", "clip_3"]


def test_a_missing_image_a_folder_and_an_unreadable_file_are_told_apart(tmp_path):
    from defmo.errors import UserError
    from defmo.evaluate.frames import check_video
    from defmo.evaluate.loaders import imread

    not_png = tmp_path / "notes.png"
    not_png.write_text("not an image")
    for path, said in ((tmp_path / "absent.png", "no such image file"), (tmp_path, "a folder, not an image file"),
                       (not_png, "exists but is not an image")):
        with pytest.raises(UserError, match=said):
            imread(path)
    with pytest.raises(UserError, match="no such file or folder"):
        check_video(tmp_path / "absent.avi")
    with pytest.raises(UserError, match="exists but is not a video"):
        check_video(not_png)


def test_deblur_runs_from_any_folder_with_its_checkpoint_s_params(tmp_path, repo, examples, monkeypatch):
    """Outside the repository, the params file is the one of the repository the checkpoint lies in."""
    project = tmp_path / "project"
    (project / "results").mkdir(parents=True)
    (project / "params.yaml").write_text((repo / "params.yaml").read_text())
    ckpt = random_checkpoint(project / "results" / "final.pt", repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rc = main(["--scale", "tiny", "--set", "threads=1", "deblur", "--checkpoint", str(ckpt), "--image",
               str(examples / "im.png"), "--background", str(examples / "bgr.png"), "--output-dir", "out",
               "--no-videos"])
    assert rc == 0 and (elsewhere / "out" / "im" / "object_00.png").is_file()


def test_the_crop_gif_spans_at_most_gif_frames_deblurred_frames(tmp_path, monkeypatch):
    """A long clip's crop GIF holds the sub-frames of its first GIF_FRAMES deblurred frames (quantising every
    sub-frame of every frame took 5.8 of deblur's 28 s on the 121-frame swung ball); the frames are all returned."""
    from defmo.evaluate.deblur import deblur_all
    from defmo.evaluate.deblur_outputs import GIF_FRAMES
    from defmo.evaluate.footage import Deblurred

    n = 2

    def _distinct(t, n_sub):  # consecutive GIF frames that differ (identical ones are merged)
        return np.stack([np.full((4, 4, 3), ((t * n_sub + k) % 250) / 255, np.float32) for k in range(n_sub)])

    def fake_batch(method, chunk, n_sub, projection, path, margin=None):
        return [Deblurred(item[1], np.array([0, 0, 4, 4]), np.zeros((4, 4, 3), np.float32),
                          _distinct(item[1], n_sub), np.zeros((n_sub, 4, 4, 4), np.float32),
                          np.zeros((n_sub, 2)), 1.0) for item in chunk]

    monkeypatch.setattr(streaks, "deblur_batch", fake_batch)
    pairs = [("clip", t, np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), None) for t in range(GIF_FRAMES + 5)]
    groups = deblur_all(None, pairs, n, tmp_path, batch=8, frame_files=False)
    assert len(groups["clip"]) == GIF_FRAMES + 5
    assert Image.open(tmp_path / "clip.gif").n_frames == n * GIF_FRAMES


def _bar_streak():
    """A horizontal streak: centre (20, 16), half-width 2, 12 px long (its axis from x = 16 to x = 24)."""
    from defmo.evaluate.detect import Candidate

    return Candidate(np.array([20.0, 16.0]), 2.0, 12.0, np.array([1.0, 0.0]), 40, np.array([14, 14, 19, 27]))


def test_the_streak_weight_is_a_capsule_about_the_streaks_axis():
    from dataclasses import replace

    weight = streaks.streak_weight((32, 48), _bar_streak(), margin=1.0)  # 1 to 3.5 px from the axis, 0 from 6.5
    assert weight[16, 16] == weight[16, 24] == weight[13, 20] == 1.0  # on the axis and 3 px across it
    assert weight[11, 20] == 0.5 and weight[9, 20] == 0.0 and weight[0, 0] == 0.0  # 5 and 7 px across it
    assert weight[16, 27] == 1.0 and weight[16, 29] == 0.5 and weight[16, 31] == 0.0  # beyond an end
    disc = streaks.streak_weight((32, 48), replace(_bar_streak(), length=3.0), margin=0.0)  # shorter than wide
    assert np.isfinite(disc).all() and disc[16, 21] == 1.0 and disc[16, 22] == 0.5 and disc[16, 23] == 0.0


def test_a_second_mover_beside_the_streak_stays_as_the_frame_shows_it(repo):
    """With ``evaluate.footage.margin`` the crop's pixels beyond the streak keep the frame (a leg, another
    falling object); with the running median alone (``margin=None``) they are replaced by it."""
    from defmo.evaluate.methods import NetworkMethod
    from defmo.models.object_arch import ObjectGenerator

    rng = np.random.default_rng(0)
    background = 0.3 + 0.1 * rng.random((40, 48, 3))
    image = background.copy()
    image[14:19, 14:27] = 0.9  # the streak
    image[23:27, 16:24] = 0.05  # another mover inside the crop, 7 px or more from the streak's axis
    torch.manual_seed(0)
    method = NetworkMethod(ObjectGenerator().eval(), (32, 32), 1, torch.device("cpu"), composite="full")
    item = ("clip", 0, image, background, _bar_streak())
    errors = {}
    for margin in (None, 1.0):
        frame = streaks.deblur_batch(method, [item], 4, path="network", margin=margin)[0]
        top, left = frame.box[:2]
        assert top <= 23 and left <= 16 and frame.box[2] >= 27 and frame.box[3] >= 24  # the mover is in the crop
        patch = frame.frames[:, 23 - top : 27 - top, 16 - left : 24 - left]
        errors[margin] = float(np.abs(patch - image[None, 23:27, 16:24]).mean())
    assert errors[None] > 0.1
    assert errors[1.0] < 0.01
