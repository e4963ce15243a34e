"""Frames of a video or a folder of images, read one at a time, and the frames in which the fast-moving object
is found (:func:`video_inputs`), for ``deblur``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from defmo.errors import UserError
from defmo.evaluate.detect import Candidate, RunningMedian, detect
from defmo.evaluate.loaders import imread
from defmo.settings import Detect
from defmo.utils.io import check_file

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def to_u8(img: np.ndarray) -> np.ndarray:
    """uint8 RGB(A) as it is; float in [0, 1] clipped, scaled and rounded to uint8."""
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
            yield index, to_u8(imread(path))
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
    check_file(source, "video")
    cap = cv2.VideoCapture(str(source))
    ok = cap.isOpened() and cap.read()[0]
    cap.release()
    if not ok:
        raise UserError(f"{source}: the file exists but is not a video OpenCV can read (a folder of frames goes "
                        "to --frames)")


def video_inputs(source: Path, settings: Detect, window: slice = slice(None),
                 box: tuple[int, int, int, int] | None = None,
                 background: np.ndarray | None = None) -> list[tuple[str, int, np.ndarray, np.ndarray, Candidate]]:
    """``(group, index, image, background, streak)`` for every frame of ``source`` in which the fast-moving
    object is found (:func:`defmo.evaluate.detect.detect`): one pass to find it, a second to keep those frames
    and their backgrounds (uint8 RGB)."""
    check_video(source)
    fixed = None if background is None else to_u8(background)
    frames = (frame for _, frame in tqdm(iter_frames(source, window), desc=f"detect {source.name}", unit="frame"))
    found = detect(frames, settings, box, fixed)
    offset = window.start or 0  # detect counts from the window's first frame
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
