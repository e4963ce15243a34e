"""What ``deblur`` writes: per frame the sub-frames (composited into the whole frame, and the object as RGBA),
the trajectory; per input a GIF of the crop; per video the deblurred video at its own frame rate (one sharp
sub-frame per frame) and in slow motion (every sub-frame), as MP4 and GIF; an overview figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
from PIL import Image

from defmo.evaluate.footage import Deblurred
from defmo.evaluate.frames import iter_frames, to_u8
from defmo.utils.io import atomic_path

GIF_WIDTH = 320  # pixels: whole-frame GIFs are scaled down to this width (MP4s keep the input's size)
GIF_FRAMES = 40  # input frames a whole-frame GIF spans at most (the MP4s hold the whole video)


def save_png(path: Path, array_u8: np.ndarray) -> None:
    """RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)`` uint8 to PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(array_u8).save(tmp, format="PNG")


def save_gif(path: Path, frames: Iterable[np.ndarray], ms: int = 80, width: int | None = None) -> None:
    """uint8 or float RGB frames to an animated GIF (scaled to ``width`` when given), atomically."""
    images = []
    for frame in frames:
        image = Image.fromarray(to_u8(frame))
        if width is not None and image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.BILINEAR)
        images.append(image)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0)


def save_mp4(path: Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """uint8 RGB frames to an MP4 (MPEG-4 part 2, OpenCV's ``mp4v``), atomically; the number written."""
    count = 0
    with atomic_path(path) as tmp:
        target = tmp.with_name(tmp.name + ".mp4")  # OpenCV picks the container from the suffix
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
                    if not writer.isOpened():
                        raise OSError(f"{path}: OpenCV cannot write MP4 (mp4v) here")
                writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
                count += 1
            if writer is not None:
                writer.release()
                os.replace(target, tmp)
        finally:
            target.unlink(missing_ok=True)
    return count


def paste(image: np.ndarray, frame: Deblurred, sub: np.ndarray) -> np.ndarray:
    """The whole frame ``image`` (uint8 or float RGB) with the crop replaced by sub-frame ``sub (h, w, 3)``."""
    out = np.array(to_u8(image))  # a copy
    b = frame.box
    out[b[0] : b[2], b[1] : b[3]] = to_u8(sub)
    return out


def draw_trajectory(image: np.ndarray, traj: np.ndarray) -> np.ndarray:
    """The frame as uint8 RGB with the trajectory as a polyline, start green, end red."""
    out = np.array(to_u8(image))  # a contiguous copy
    pts = np.round(traj).astype(np.int32)
    cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, (255, 255, 0), 1, cv2.LINE_AA)
    cv2.circle(out, tuple(int(v) for v in pts[0]), 2, (0, 255, 0), -1)
    cv2.circle(out, tuple(int(v) for v in pts[-1]), 2, (255, 0, 0), -1)
    return out


def write_frame(folder: Path, whole: np.ndarray, frame: Deblurred) -> None:
    """``folder/subframe_XX.png`` (the whole frame with sub-frame XX in place), ``object_XX.png`` (the crop's
    object as RGBA: straight colour and alpha), ``trajectory.png``."""
    for i, (sub, rgba) in enumerate(zip(frame.frames, frame.rgba)):
        save_png(folder / f"subframe_{i:02d}.png", paste(whole, frame, sub))
        save_png(folder / f"object_{i:02d}.png", to_u8(rgba))
    save_png(folder / "trajectory.png", draw_trajectory(whole, frame.traj))


def video_frames(frames: Iterator[tuple[int, np.ndarray]], found: dict[int, Deblurred],
                 slow: bool) -> Iterator[np.ndarray]:
    """The whole video (uint8 RGB) with each deblurred frame replaced: by its middle sub-frame (``slow``
    False: the input's frame rate), or by all of its sub-frames in turn (``slow``: N per input frame, where
    frames without an object are repeated N times)."""
    n = len(next(iter(found.values())).frames) if found else 1
    for index, image in frames:
        frame = found.get(index)
        if frame is None:
            yield from [image] * (n if slow else 1)
        elif slow:
            yield from (paste(image, frame, sub) for sub in frame.frames)
        else:
            yield paste(image, frame, frame.frames[len(frame.frames) // 2])


def plot_overview(rows: list[tuple[str, np.ndarray, Deblurred]], output: Path, shows: str = "") -> None:
    """One row per deblurred input ``(name, whole frame, frame)`` (at most 4, spread evenly over the inputs in
    their order, so that runs of one clip with different options show the same frames): input crop, sub-frames,
    trajectory; ``shows`` titles the figure (the network alone or the fit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [rows[i] for i in sorted(set(np.linspace(0, len(rows) - 1, min(len(rows), 4)).round().astype(int)))]
    n = len(shown[0][2].frames)
    fig, axes = plt.subplots(len(shown), n + 2, figsize=(1.1 * (n + 2), 1.6 * len(shown)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for row, (name, whole, frame) in zip(axes, shown):
        b = frame.box
        row[0].imshow(frame.image)
        row[0].set_title(name, fontsize=6)
        for ax, sub in zip(row[1:], frame.frames):
            ax.imshow(np.clip(sub, 0, 1))
        row[-1].imshow(draw_trajectory(whole, frame.traj)[b[0] : b[2], b[1] : b[3]])
    if shows:
        fig.suptitle(f"sub-frames: {shows}", fontsize=8)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


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
