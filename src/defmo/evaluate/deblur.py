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
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from tqdm import tqdm

from defmo.data.blatting import project_to_image_np
from defmo.errors import UserError
from defmo.evaluate.detect import Candidate, RunningMedian, candidates, detect, inside
from defmo.evaluate.loaders import imread
from defmo.evaluate.deblur_outputs import GIF_FRAMES, GIF_WIDTH, plot_overview, save_gif, save_mp4, video_frames, write_frame
from defmo.evaluate.footage import Deblurred, path_length, summarise
from defmo.evaluate.methods import NetworkMethod, centroids, network_box, to_image_coords
from defmo.settings import Config, Detect
from defmo.utils.io import write_json
from defmo.utils.provenance import Output, digest_label
from defmo.utils.runtime import configure_threads, resolve_device

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


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
    parser.add_argument("--metrics", type=Path, help="JSON of the real-footage scores per input (no ground truth)")
    parser.add_argument("--no-videos", action="store_true", help="skip the deblurred and slow-motion videos")
    parser.add_argument("--no-frame-files", action="store_true",
                        help="skip each frame's folder of sub-frame PNGs (keep the GIFs, videos and figure)")
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
                 background: np.ndarray | None = None) -> list[tuple[str, int, np.ndarray, np.ndarray, Candidate]]:
    """``(group, index, image, background, streak)`` for every frame of ``source`` in which the fast-moving
    object is found (:func:`defmo.evaluate.detect.detect`): one pass to find it, a second to keep those frames
    and their backgrounds (uint8 RGB)."""
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
            kept.append((source.stem, t + offset, frame, bg, found[t]))

    for _, frame in iter_frames(source, window):
        for item in median.push(frame):
            keep(item)
    for item in median.finish():
        keep(item)
    log.info("%s: the fast-moving object found in %d frames", source, len(kept))
    return kept


def deblur_batch(method: NetworkMethod, chunk: list, n: int, projection: bool = False,
                 streak_path: bool = True) -> list[Deblurred]:
    """Deblur the streak of each ``(group, index, image, background, streak)`` of ``chunk`` in one network
    pass and one fit. With ``streak_path`` the fit follows each streak's centre line (the track gives its
    direction); with ``projection`` the composited sub-frames are moved
    by :func:`defmo.data.blatting.project_to_image_np` so that they average to the input. A streak off a
    track (no direction) keeps the network's path."""
    images = [_to_float(item[2]) for item in chunk]
    backgrounds = [_to_float(item[3]) for item in chunk]
    streaks = [item[4] for item in chunk]
    boxes = []
    for image, streak in zip(images, streaks):
        box, radius = square_box(np.asarray(streak.box, dtype=int), max(2, int(round(streak.radius))))
        boxes.append(network_box(box, radius, method.size, image.shape))
    lines = [s.line() if streak_path else None for s in streaks]
    rendered: list = [None] * len(chunk)
    for with_line in (True, False):  # one fit for the streaks with a centre line, one for those without
        picked = [i for i, line in enumerate(lines) if (line is not None) == with_line]
        if picked:
            done = method.render_batch([images[i] for i in picked], [backgrounds[i] for i in picked],
                                       [boxes[i] for i in picked], n,
                                       [lines[i] for i in picked] if with_line else None)
            for i, out in zip(picked, done):
                rendered[i] = out
    out = []
    for (_, index, *_), image, background, b, streak, (rgb, rgba) in zip(chunk, images, backgrounds, boxes,
                                                                          streaks, rendered):
        traj = to_image_coords(centroids(rgba[:, 3]), b, method.size)
        whole = method.paste(image, background, b, rgb, rgba)
        frames, crop = whole[:, b[0] : b[2], b[1] : b[3]], image[b[0] : b[2], b[1] : b[3]]
        if projection:
            frames = project_to_image_np(frames, crop)
        straight = method.resize_back(rgba, b).permute(0, 2, 3, 1).cpu().numpy()
        out.append(Deblurred(index, b, crop.astype(np.float32), frames.astype(np.float32),
                             straight.astype(np.float32), traj, float(streak.radius)))
    return out


def _to_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img


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


def _window(args) -> slice:
    bounds = _parse_ints(args.range, 2, "--range", ":")
    return slice(*bounds) if bounds else slice(None)


def _inputs(args, settings: Detect) -> list[tuple[str, int | None, np.ndarray, np.ndarray, Candidate]]:
    """(group, frame index or None for an image pair, image, background, streak) per frame to deblur."""
    video = args.video if args.video is not None else args.frames
    if args.video is not None and args.frames is not None:
        raise UserError("deblur: give --video or --frames, not both")
    if args.image is not None and args.background is None:
        raise UserError("deblur: --image needs --background (the same view without the object)")
    window = _window(args)
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
        pairs.append((args.image.stem, None, image, background, streak))
    if video is not None:
        pairs += video_inputs(video, settings, window, box, None if args.image is not None else background)
    elif args.image is None:
        raise UserError("deblur: give --image and --background, --video or --frames")
    return pairs


def frame_name(group: str, index: int | None) -> str:
    return group if index is None else f"{group}_{index:04d}"


def deblur_all(method: NetworkMethod, pairs, n: int, out_dir: Path, projection: bool = False,
               streak_path: bool = True, batch: int = 8,
               frame_files: bool = True) -> dict[str, list[tuple[str, np.ndarray, Deblurred]]]:
    """Deblur every (group, index, image, background, streak), ``batch`` frames at a time; write each frame's
    outputs and one GIF of the crop per group. Returns, per group, ``(name, whole frame, deblurred)`` in order."""
    groups: dict[str, list] = {}
    bar = tqdm(total=len(pairs), desc="deblur", unit="frame")
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        for (group, index, image, *_), frame in zip(chunk, deblur_batch(method, chunk, n, projection, streak_path)):
            name = frame_name(group, index)
            if frame_files:
                write_frame(out_dir / name, image, frame)
            groups.setdefault(group, []).append((name, image, frame))
            tqdm.write(f"{name}: object at ({frame.traj[:, 0].mean():.0f}, {frame.traj[:, 1].mean():.0f}), "
                       f"half-width {frame.radius:.1f} px, path {path_length(frame.traj):.1f} px")
        bar.update(len(chunk))
    bar.close()
    if not groups:
        raise UserError("deblur: no fast-moving object found in any input (see docs/real-footage.md: --box, "
                        "--min-track, evaluate.detect)")
    for group, rows in groups.items():
        save_gif(out_dir / f"{group}.gif", [sub for _, _, frame in rows for sub in frame.frames])
    return groups


def write_videos(source: Path, window: slice, rows: list[tuple[str, np.ndarray, Deblurred]], out_dir: Path) -> None:
    """``<stem>_deblurred.{mp4,gif}`` (the input's frame rate, the middle sub-frame in place of each deblurred
    frame) and ``<stem>_slowmo.{mp4,gif}`` (every sub-frame: N times slower), from a third pass over ``source``.
    The GIFs span at most ``GIF_FRAMES`` input frames from just before the first deblurred one, scaled down."""
    found = {frame.index: frame for _, _, frame in rows}
    fps = 25.0
    if source.is_file():
        cap = cv2.VideoCapture(str(source))
        fps = cap.get(cv2.CAP_PROP_FPS) or fps
        cap.release()
    first = min(found) - 5
    last = min(max(found) + 5, first + GIF_FRAMES)
    for slow, label in ((False, "deblurred"), (True, "slowmo")):
        save_mp4(out_dir / f"{source.stem}_{label}.mp4", video_frames(iter_frames(source, window), found, slow), fps)
        span = slice(max(first, window.start or 0), last if window.stop is None else min(last, window.stop))
        save_gif(out_dir / f"{source.stem}_{label}.gif", video_frames(iter_frames(source, span), found, slow),
                 ms=round(1000 / fps), width=GIF_WIDTH)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The overview figure and the output folder."""
    given = ", ".join(Path(p).as_posix() for p in (args.image, args.background, args.video, args.frames)
                      if p is not None)
    data = f"input frames {given} (no ground truth); model {digest_label(args.checkpoint)}"
    return [Output(p, data) for p in (args.figure, args.metrics, args.output_dir) if p is not None]


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
    method.options = {"tv": footage.tv, "prior": footage.prior, "crisp": footage.crisp}
    with torch.no_grad():
        groups = deblur_all(method, pairs, n, args.output_dir, args.projection, footage.streak_path, footage.batch,
                            not args.no_frame_files)
    video = args.video if args.video is not None else args.frames
    if video is not None and video.stem in groups and not args.no_videos:
        write_videos(video, _window(args), groups[video.stem], args.output_dir)
    shows = f"network + fit ({steps} steps, model.fit_steps)" if steps else "network alone"
    if args.figure is not None:
        plot_overview([row for rows in groups.values() for row in rows], args.figure, shows)
    if args.metrics is not None:
        scores = {group: summarise([frame for _, _, frame in rows]) for group, rows in groups.items()}
        write_json(args.metrics, {"sub_frames": shows, "n": n, "clips": scores})
    log.info("deblurred %d frames (n=%d) -> %s", sum(map(len, groups.values())), n, args.output_dir)
    return 0
