"""``deblur`` verb: your own blurred image + background, or a video, to sharp sub-frames.

    python -m defmo deblur --checkpoint results/train/checkpoints/proposed/final.pt \\
        --image ../shared/real-examples/im.png --background ../shared/real-examples/bgr.png \\
        --video ../shared/real-examples/falling_pen.avi \\
        --output-dir results/evaluate/deblur --figure results/evaluate/figures/deblur_real.png

Image pair: the object is the largest streak where the image differs from the background. Video (``--video``
or a folder of frames, ``--frames``): the fast-moving object is found by :mod:`defmo.evaluate.detect` (a streak
new in its frame, on a steady track; a running-median background, or ``--background``), optionally within
``--range`` and ``--box``; every frame where it is found is deblurred. Each input gets a folder under
``--output-dir`` with sub-frame PNGs, an animated GIF and the trajectory drawn on the frame.
With ``--projection`` the sub-frames are moved by the blatting projection so that their mean is the input frame
(:func:`defmo.data.blatting.project_to_image_np`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from defmo.data.blatting import project_to_image_np
from defmo.errors import UserError
from defmo.evaluate.detect import Candidate, RunningMedian, candidates, detect, inside
from defmo.evaluate.loaders import imread
from defmo.evaluate.methods import NetworkMethod, network_box
from defmo.settings import Config, Detect
from defmo.utils.io import atomic_path
from defmo.utils.provenance import Output, digest_label
from defmo.utils.runtime import configure_threads, resolve_device

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class Result:
    """One deblurred frame: input ``image`` (H, W, 3), ``frames`` (n, H, W, 3), ``traj`` (n, 2) (x, y), ``box``."""

    group: str  # the input it came from (one GIF per group)
    name: str
    image: np.ndarray
    frames: np.ndarray
    traj: np.ndarray
    box: np.ndarray


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained model's final.pt")
    parser.add_argument("--image", type=Path, help="blurred image (with --background)")
    parser.add_argument("--background", type=Path,
                        help="background of --image, or of every frame of --video/--frames (else a running median)")
    parser.add_argument("--video", type=Path, help="a video (or use --image/--background)")
    parser.add_argument("--frames", type=Path, help="a folder of frames (images, in name order) as a video")
    parser.add_argument("--range", help="frames START:STOP of the video (STOP excluded; either may be left out)")
    parser.add_argument("--box", help="X0,Y0,X1,Y1: look for the object only inside this box (pixels)")
    parser.add_argument("--min-track", type=int,
                        help="frames a track must span (evaluate.detect.min_track); 2 for a clip of a few frames")
    parser.add_argument("--output-dir", type=Path, required=True, help="sub-frame PNGs, GIFs, trajectories")
    parser.add_argument("--figure", type=Path, help="overview PNG of all inputs")
    parser.add_argument("--projection", action="store_true",
                        help="move the sub-frames by the blatting projection so that their mean is the input frame")
    parser.add_argument("--network-only", action="store_true",
                        help="the network's sub-frames alone, without the fit at inference (model.fit_steps)")


def find_object(image: np.ndarray, background: np.ndarray, settings: Detect,
                box: tuple[int, int, int, int] | None = None) -> Candidate | None:
    """The largest streak where ``image`` differs from ``background`` (float RGB in [0, 1]), inside ``box``."""
    pair = replace(settings, threshold=settings.pair_threshold)
    found = inside(candidates(_to_u8(image), _to_u8(background), [], pair), box)
    return found[0] if found else None


def square_box(box: np.ndarray, radius: int) -> tuple[np.ndarray, int]:
    """Grow the shorter side of (row0, col0, row1, col1) to the longer one, about its centre, so the network's
    crop (sized from the box height) holds a wide object too. Coordinates may leave the image; the method clips."""
    height, width = int(box[2] - box[0]), int(box[3] - box[1])
    grow_rows, grow_cols = max(0, width - height), max(0, height - width)
    out = np.array([box[0] - grow_rows // 2, box[1] - grow_cols // 2, box[2] + (grow_rows + 1) // 2,
                    box[3] + (grow_cols + 1) // 2], dtype=int)
    return out, radius


def _to_u8(img: np.ndarray) -> np.ndarray:
    return img if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def frame_files(folder: Path) -> list[Path]:
    """The images of a folder of frames, in name order."""
    if not folder.is_dir():
        raise UserError(f"{folder}: --frames takes a folder of images (for a video file use --video)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise UserError(f"{folder}: fewer than 2 images ({', '.join(IMAGE_SUFFIXES)}) to use as frames")
    return files


def iter_frames(source: Path, window: slice = slice(None)) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` of a video file or a folder of frames, uint8 RGB, frames ``window`` only; read one at a
    time (a long video is never held whole)."""
    start, stop = window.start or 0, window.stop
    if source.is_dir():
        for index, path in enumerate(frame_files(source)[start:stop], start):
            yield index, _to_u8(imread(path))
        return
    cap = cv2.VideoCapture(str(source))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    index = start
    ok, frame = cap.read()
    while ok and (stop is None or index < stop):
        yield index, np.ascontiguousarray(frame[:, :, ::-1])
        index += 1
        ok, frame = cap.read()
    cap.release()


def check_video(source: Path) -> None:
    """A clear error, before any work, when ``source`` is missing or not a video OpenCV reads."""
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
    if source.is_dir():
        frame_files(source)
        return
    cap = cv2.VideoCapture(str(source))
    ok = cap.isOpened() and cap.read()[0]
    cap.release()
    if not ok:
        raise UserError(f"{source}: not a video OpenCV can read (a folder of frames goes to --frames)")


def video_inputs(source: Path, settings: Detect, window: slice = slice(None),
                 box: tuple[int, int, int, int] | None = None,
                 background: np.ndarray | None = None) -> list[tuple[str, str, np.ndarray, np.ndarray, Candidate]]:
    """``(group, name, image, background, streak)`` for every frame of ``source`` in which the fast-moving
    object is found (:func:`defmo.evaluate.detect.detect`): one pass to find it, a second to keep those frames
    and their backgrounds (float RGB in [0, 1])."""
    check_video(source)
    fixed = None if background is None else _to_u8(background)
    first = {}

    def frames():
        for index, frame in tqdm(iter_frames(source, window), desc=f"detect {source.name}", unit="frame"):
            first.setdefault("index", index)
            yield frame

    found = detect(frames(), settings, box, fixed)
    offset = first.get("index", 0)
    median = RunningMedian(settings.window, settings.stride, fixed)
    kept = []

    def keep(item):
        t, frame, bg = item[:3]
        if t in found:
            kept.append((source.stem, f"{source.stem}_{t + offset:04d}", frame / 255.0, bg / 255.0, found[t]))

    for _, frame in iter_frames(source, window):
        for item in median.push(frame):
            keep(item)
    for item in median.finish():
        keep(item)
    log.info("%s: the fast-moving object found in %d frames", source, len(kept))
    return kept


def deblur_frame(method: NetworkMethod, group: str, name: str, image: np.ndarray, background: np.ndarray, n: int,
                 streak: Candidate, projection: bool = False, streak_path: bool = True):
    """Deblur the ``streak`` of one frame (with ``projection``: then
    :func:`defmo.data.blatting.project_to_image_np` onto it); with ``streak_path`` the fit follows the streak's
    centre line where the track gives its direction."""
    radius = max(2, int(round(streak.radius)))
    box, radius = square_box(np.asarray(streak.box, dtype=int), radius)
    estimate = method(image, background, box, n, radius, None, streak.line() if streak_path else None)
    frames, traj = estimate.frames, estimate.traj
    if projection:
        frames = project_to_image_np(frames, image)
    return Result(group, name, image, frames, traj, network_box(box, radius, method.size, image.shape))


def draw_trajectory(image: np.ndarray, traj: np.ndarray) -> np.ndarray:
    """The frame as uint8 RGB with the trajectory as a polyline, start green, end red."""
    out = np.ascontiguousarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
    pts = np.round(traj).astype(np.int32)
    cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, (255, 255, 0), 1, cv2.LINE_AA)
    cv2.circle(out, tuple(int(v) for v in pts[0]), 2, (0, 255, 0), -1)
    cv2.circle(out, tuple(int(v) for v in pts[-1]), 2, (255, 0, 0), -1)
    return out


def _u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def save_png(path: Path, rgb_u8: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(rgb_u8).save(tmp, format="PNG")


def save_gif(path: Path, frames: list[np.ndarray], ms: int = 80) -> None:
    images = [Image.fromarray(_u8(f)) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0)


def write_result(folder: Path, res: Result) -> None:
    """``folder/<name>/subframe_XX.png``, ``trajectory.png``; the GIF of the crop is written by the caller."""
    out = folder / res.name
    for i, frame in enumerate(res.frames):
        save_png(out / f"subframe_{i:02d}.png", _u8(frame))
    save_png(out / "trajectory.png", draw_trajectory(res.image, res.traj))


def _crop(res: Result, img: np.ndarray) -> np.ndarray:
    b = res.box
    return img[b[0] : b[2], b[1] : b[3]]


def _parse_ints(text: str | None, count: int, option: str, sep: str = ",") -> list[int | None] | None:
    if text is None:
        return None
    parts = text.split(sep)
    try:
        values = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        values = []
    if len(values) != count or (sep == "," and None in values):
        form = "START:STOP" if sep == ":" else "X0,Y0,X1,Y1"
        raise UserError(f"deblur: {option} {text!r} is not {form} (whole numbers)")
    return values


def _inputs(args, settings: Detect) -> list[tuple[str, str, np.ndarray, np.ndarray, Candidate]]:
    """(group, name, image, background, streak) per frame to deblur."""
    video = args.video if args.video is not None else args.frames
    if args.video is not None and args.frames is not None:
        raise UserError("deblur: give --video or --frames, not both")
    if args.image is not None and args.background is None:
        raise UserError("deblur: --image needs --background (the same view without the object)")
    bounds = _parse_ints(args.range, 2, "--range", ":")
    window = slice(*bounds) if bounds else slice(None)
    box = _parse_ints(args.box, 4, "--box")
    if args.min_track is not None:
        settings = replace(settings, min_track=args.min_track)
    background = imread(args.background) if args.background is not None else None
    pairs = []
    if args.image is not None:
        image = imread(args.image)
        if image.shape != background.shape:
            raise UserError(f"{args.image} and {args.background} differ in size: {image.shape} vs {background.shape}")
        streak = find_object(image, background, settings, box)
        if streak is None:
            raise UserError(f"{args.image}: no object differs from {args.background} (try a lower "
                            "evaluate.detect.threshold, or --box around it)")
        pairs.append((args.image.stem, args.image.stem, image, background, streak))
    if video is not None:
        pairs += video_inputs(video, settings, window, box, None if args.image is not None else background)
    elif args.image is None:
        raise UserError("deblur: give --image and --background, --video or --frames")
    return pairs


def deblur_all(method: NetworkMethod, pairs, n: int, out_dir: Path, projection: bool = False,
               streak_path: bool = True) -> list[Result]:
    """Deblur every (group, name, image, background); write per-frame outputs and one GIF per group."""
    results = []
    for group, name, image, background, streak in tqdm(pairs, desc="deblur", unit="frame"):
        res = deblur_frame(method, group, name, image, background, n, streak, projection, streak_path)
        write_result(out_dir, res)
        results.append(res)
    if not results:
        raise UserError("deblur: no fast-moving object found in any input (see docs/real-footage.md: --box, "
                        "--min-track, evaluate.detect)")
    for group in dict.fromkeys(r.group for r in results):
        members = [r for r in results if r.group == group]
        save_gif(out_dir / f"{group}.gif", [_crop(r, f) for r in members for f in r.frames])
    return results


def plot_overview(results: list[Result], output: Path, shows: str = "") -> None:
    """One row per deblurred input (at most 4, the strongest motion first): input crop, sub-frames, trajectory;
    ``shows`` titles the figure (which sub-frames: the network alone or with the fit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [results[0]] + sorted(results[1:], key=lambda r: -np.ptp(r.traj[:, 1]))[:3]
    n = len(shown[0].frames)
    fig, axes = plt.subplots(len(shown), n + 2, figsize=(1.1 * (n + 2), 1.6 * len(shown)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for row, res in zip(axes, shown):
        row[0].imshow(_crop(res, res.image))
        row[0].set_title(res.name, fontsize=6)
        for ax, frame in zip(row[1:], res.frames):
            ax.imshow(np.clip(_crop(res, frame), 0, 1))
        row[-1].imshow(_crop(res, draw_trajectory(res.image, res.traj)))
    if shows:
        fig.suptitle(f"sub-frames: {shows}", fontsize=8)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The overview figure and the output folder."""
    given = ", ".join(Path(p).as_posix() for p in (args.image, args.background, args.video, args.frames)
                      if p is not None)
    data = f"input frames {given} (no ground truth); model {digest_label(args.checkpoint)}"
    return [Output(p, data) for p in (args.figure, args.output_dir) if p is not None]


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    pairs = _inputs(args, cfg.evaluate.detect)
    from defmo.train.checkpoint import load_generator

    device = resolve_device(cfg)
    model, model_cfg = load_generator(args.checkpoint, device)  # the checkpoint's own config: a plain dict
    n = int(model_cfg["data"]["n_subframes"])
    steps = 0 if args.network_only else int(getattr(model, "fit_steps", 0))
    footage = cfg.evaluate.footage
    method = NetworkMethod.of_trained(model, model_cfg, cfg.evaluate, device, fit=bool(steps))
    method.options = {"tv": footage.tv, "prior": footage.prior}
    with torch.no_grad():
        results = deblur_all(method, pairs, n, args.output_dir, args.projection, footage.streak_path)
    if args.figure is not None:
        shows = f"network + fit ({steps} steps, model.fit_steps)" if steps else "network alone"
        plot_overview(results, args.figure, shows)
    log.info("deblurred %d frames (n=%d) -> %s", len(results), n, args.output_dir)
    return 0
