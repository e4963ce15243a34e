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
from typing import TYPE_CHECKING

from defmo.errors import UserError
from defmo.settings import Config, Detect
from defmo.utils.provenance import Output, digest_label

if TYPE_CHECKING:  # the verb imports torch, OpenCV and the models only to run, so `deblur --help` is fast
    import numpy as np

    from defmo.evaluate.detect import Candidate
    from defmo.evaluate.footage import Deblurred
    from defmo.evaluate.methods import NetworkMethod

log = logging.getLogger(__name__)


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


def _image_pair(args, settings: Detect, box) -> tuple:
    """``(group, None, image, background, streak)`` of ``--image`` and ``--background``."""
    from defmo.evaluate.loaders import imread
    from defmo.evaluate.streaks import find_object

    image, background = imread(args.image), imread(args.background)
    if image.shape != background.shape:
        raise UserError(f"{args.image} and {args.background} differ in size: {image.shape} vs {background.shape}")
    streak = find_object(image, background, settings, box)
    if streak is None:
        raise UserError(f"{args.image}: no object differs from {args.background} (try a lower "
                        "evaluate.detect.pair_threshold, or --box around it)")
    return args.image.stem, None, image, background, streak


def _video_source(args) -> Path | None:
    return args.video if args.video is not None else args.frames


def _check_sources(args) -> Path | None:
    """The video or folder of frames to deblur, if any; a clear error for a combination that cannot work."""
    if args.video is not None and args.frames is not None:
        raise UserError("deblur: give --video or --frames, not both")
    if args.image is not None and args.background is None:
        raise UserError("deblur: --image needs --background (the same view without the object)")
    video = _video_source(args)
    if args.image is None and video is None:
        raise UserError("deblur: give --image and --background, --video or --frames")
    return video


def _inputs(args, settings: Detect) -> list[tuple[str, int | None, np.ndarray, np.ndarray, Candidate]]:
    """(group, frame index or None for an image pair, image, background, streak) per frame to deblur."""
    from defmo.evaluate.frames import video_inputs
    from defmo.evaluate.loaders import imread

    video = _check_sources(args)
    box = _parse_ints(args.box, 4, "--box")
    if args.min_track is not None:
        settings = replace(settings, min_track=args.min_track)
    pairs = [_image_pair(args, settings, box)] if args.image is not None else []
    if video is not None:
        background = imread(args.background) if args.background is not None and args.image is None else None
        pairs += video_inputs(video, settings, _window(args), box, background)
    return pairs


def frame_name(group: str, index: int | None) -> str:
    return group if index is None else f"{group}_{index:04d}"


def deblur_all(method: NetworkMethod, pairs, n: int, out_dir: Path, projection: bool = False,
               path: str = "track", batch: int = 8,
               frame_files: bool = True, margin: float | None = None) -> dict[str, list[tuple[str, np.ndarray, Deblurred]]]:
    """Deblur every (group, index, image, background, streak), ``batch`` frames at a time; write each frame's
    outputs and one GIF of the crop per group (its first ``GIF_FRAMES`` deblurred frames). Returns, per group,
    ``(name, whole frame, deblurred)`` in order."""
    from tqdm import tqdm

    from defmo.evaluate.deblur_outputs import GIF_FRAMES, save_gif, write_frame
    from defmo.evaluate.footage import path_length
    from defmo.evaluate.streaks import deblur_batch

    groups: dict[str, list] = {}
    bar = tqdm(total=len(pairs), desc="deblur", unit="frame")
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        for (group, index, image, *_), frame in zip(chunk, deblur_batch(method, chunk, n, projection, path, margin)):
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
    for group, rows in groups.items():  # the crop's sub-frames of the first GIF_FRAMES deblurred frames
        save_gif(out_dir / f"{group}.gif", [sub for _, _, frame in rows[:GIF_FRAMES] for sub in frame.frames])
    return groups


def in_order(groups: dict[str, list]) -> list:
    """Every group's rows ``(name, whole frame, deblurred)``: an image pair first, then a video's frames in frame
    order."""
    rows = [row for group in groups.values() for row in group]
    return sorted(rows, key=lambda row: (row[2].index is not None, row[2].index or 0))


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The overview figure and the output folder."""
    given = ", ".join(Path(p).as_posix() for p in (args.image, args.background, args.video, args.frames)
                      if p is not None)
    data = f"input frames {given} (no ground truth); model {digest_label(args.checkpoint)}"
    return [Output(p, data) for p in (args.figure, args.metrics, args.output_dir) if p is not None]


def _write_outputs(args: argparse.Namespace, groups: dict, n: int, shows: str) -> None:
    """The videos (of a video input), the overview figure and the real-footage scores, as asked."""
    from defmo.evaluate.deblur_outputs import plot_overview, write_videos
    from defmo.evaluate.footage import summarise
    from defmo.utils.io import write_json

    video = _video_source(args)
    if not args.no_videos and video is not None and video.stem in groups:
        write_videos(video, _window(args), groups[video.stem], args.output_dir)
    if args.figure is not None:
        plot_overview(in_order(groups), args.figure, shows)
    if args.metrics is not None:
        scores = {group: summarise([frame for _, _, frame in rows]) for group, rows in groups.items()}
        write_json(args.metrics, {"sub_frames": shows, "n": n, "clips": scores})


def run(args: argparse.Namespace, cfg: Config) -> int:
    import torch

    from defmo.evaluate.methods import NetworkMethod
    from defmo.models.weights import load_generator
    from defmo.utils.runtime import configure_threads, resolve_device

    configure_threads(cfg)
    pairs = _inputs(args, cfg.evaluate.detect)

    device = resolve_device(cfg)
    model, model_cfg = load_generator(args.checkpoint, device)  # the checkpoint's own config: a plain dict
    n = int(model_cfg["data"]["n_subframes"])
    footage = cfg.evaluate.footage
    steps = 0 if args.network_only else int(getattr(model, "fit_steps", 0))
    steps = footage.steps if steps and footage.steps is not None else steps
    method = NetworkMethod.of_trained(model, model_cfg, cfg.evaluate, device, fit=bool(steps))
    method.options = footage.fit_options()
    with torch.no_grad():
        groups = deblur_all(method, pairs, n, args.output_dir, args.projection, footage.path, footage.batch,
                            not args.no_frame_files, footage.margin)
    _write_outputs(args, groups, n, f"network + fit ({steps} steps)" if steps else "network alone")
    log.info("deblurred %d frames (n=%d) -> %s", sum(map(len, groups.values())), n, args.output_dir)
    return 0
