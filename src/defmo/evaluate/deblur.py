"""``deblur`` verb: your own blurred image + background, or a video, to sharp sub-frames.

    python -m defmo deblur --checkpoint results/train/checkpoints/proposed/final.pt \\
        --image ../shared/real-examples/im.png --background ../shared/real-examples/bgr.png \\
        --video ../shared/real-examples/falling_pen.avi \\
        --output-dir results/evaluate/deblur --figure results/evaluate/figures/deblur_real.png

Image pair: the object is found where the image differs from the background. Video: the background is the
per-pixel median of all frames, and every frame in which differencing finds an object is deblurred. Each input
gets a folder under ``--output-dir`` with sub-frame PNGs, an animated GIF and the trajectory drawn on the frame.
With ``--projection`` the sub-frames are moved by the blatting projection so that their mean is the input frame
(:func:`defmo.data.blatting.project_to_image_np`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from skimage.measure import label, regionprops
from tqdm import tqdm

from defmo.data.blatting import project_to_image_np
from defmo.errors import UserError
from defmo.evaluate.loaders import imread
from defmo.evaluate.methods import NetworkMethod, network_box
from defmo.settings import Config
from defmo.utils.io import atomic_path
from defmo.utils.provenance import Output, digest_label
from defmo.utils.runtime import configure_threads, resolve_device

log = logging.getLogger(__name__)
DIFF_THRESHOLD = 0.15  # channel-summed |I - B| marking the moving object
MIN_AREA = 16  # pixels; smaller difference blobs are noise


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
    parser.add_argument("--background", type=Path, help="background of --image")
    parser.add_argument("--video", type=Path, help="a video (or use --image/--background)")
    parser.add_argument("--output-dir", type=Path, required=True, help="sub-frame PNGs, GIFs, trajectories")
    parser.add_argument("--figure", type=Path, help="overview PNG of all inputs")
    parser.add_argument("--projection", action="store_true",
                        help="move the sub-frames by the blatting projection so that their mean is the input frame")
    parser.add_argument("--network-only", action="store_true",
                        help="the network's sub-frames alone, without the fit at inference (model.fit_steps)")


def find_object(image: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Box (row0, col0, row1, col1) of the largest region differing from B, and a radius (half its minor axis)."""
    mask = np.abs(image - background).sum(axis=-1) > DIFF_THRESHOLD
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    regions = [r for r in regionprops(label(mask)) if r.area >= MIN_AREA]
    if not regions:
        return None
    best = max(regions, key=lambda r: r.area)
    return np.array(best.bbox, dtype=int), max(2, int(round(best.axis_minor_length / 2)))


def square_box(box: np.ndarray, radius: int) -> tuple[np.ndarray, int]:
    """Grow the shorter side of (row0, col0, row1, col1) to the longer one, about its centre, so the network's
    crop (sized from the box height) holds a wide object too. Coordinates may leave the image; the method clips."""
    height, width = int(box[2] - box[0]), int(box[3] - box[1])
    grow_rows, grow_cols = max(0, width - height), max(0, height - width)
    out = np.array([box[0] - grow_rows // 2, box[1] - grow_cols // 2, box[2] + (grow_rows + 1) // 2,
                    box[3] + (grow_cols + 1) // 2], dtype=int)
    return out, radius


def read_video(path: Path) -> list[np.ndarray]:
    """All frames of a video as RGB float ``(H, W, 3)`` in [0, 1]."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame[:, :, ::-1].astype(np.float64) / 255.0)
        ok, frame = cap.read()
    cap.release()
    if len(frames) < 2:
        raise UserError(f"{path}: could not read at least 2 frames from this video (is it a video OpenCV reads?)")
    return frames


def deblur_frame(method: NetworkMethod, group: str, name: str, image: np.ndarray, background: np.ndarray, n: int,
                 projection: bool = False):
    """Deblur one frame (with ``projection``: then :func:`defmo.data.blatting.project_to_image_np` onto it);
    None when differencing finds no object."""
    found = find_object(image, background)
    if found is None:
        log.warning("%s: no moving object found by differencing; skipped", name)
        return None
    box, radius = square_box(*found)
    estimate = method(image, background, box, n, radius, None)
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


def _inputs(args) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(group, name, image, background) per frame to deblur."""
    pairs = []
    if (args.image is None) != (args.background is None):
        raise UserError("deblur: --image and --background go together (or use --video)")
    if args.image is not None:
        image, background = imread(args.image), imread(args.background)
        if image.shape != background.shape:
            raise UserError(f"{args.image} and {args.background} differ in size: {image.shape} vs {background.shape}")
        pairs.append((args.image.stem, args.image.stem, image, background))
    if args.video is not None:
        frames = read_video(args.video)
        median = np.median(np.stack(frames), axis=0)
        pairs += [(args.video.stem, f"{args.video.stem}_{k:03d}", f, median) for k, f in enumerate(frames)]
    if not pairs:
        raise UserError("deblur: give --image and --background, or --video")
    return pairs


def deblur_all(method: NetworkMethod, pairs, n: int, out_dir: Path, projection: bool = False) -> list[Result]:
    """Deblur every (group, name, image, background); write per-frame outputs and one GIF per group."""
    results = []
    for group, name, image, background in tqdm(pairs, desc="deblur", unit="frame"):
        res = deblur_frame(method, group, name, image, background, n, projection)
        if res is not None:
            write_result(out_dir, res)
            results.append(res)
    if not results:
        raise UserError("deblur: no moving object found in any input (image and background identical?)")
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
    given = ", ".join(Path(p).as_posix() for p in (args.image, args.background, args.video) if p is not None)
    data = f"input frames {given} (no ground truth); model {digest_label(args.checkpoint)}"
    return [Output(p, data) for p in (args.figure, args.output_dir) if p is not None]


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    pairs = _inputs(args)
    from defmo.train.checkpoint import load_generator

    device = resolve_device(cfg)
    model, model_cfg = load_generator(args.checkpoint, device)  # the checkpoint's own config: a plain dict
    n = int(model_cfg["data"]["n_subframes"])
    steps = 0 if args.network_only else int(getattr(model, "fit_steps", 0))
    method = NetworkMethod.of_trained(model, model_cfg, cfg.evaluate, device, fit=bool(steps))
    with torch.no_grad():
        results = deblur_all(method, pairs, n, args.output_dir, args.projection)
    if args.figure is not None:
        shows = f"network + fit ({steps} steps, model.fit_steps)" if steps else "network alone"
        plot_overview(results, args.figure, shows)
    log.info("deblurred %d frames (n=%d) -> %s", len(results), n, args.output_dir)
    return 0
