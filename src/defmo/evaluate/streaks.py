"""Deblurring detected streaks: the network's crop around each, one network pass and one fit for a batch of
frames (along each streak's centre line where its track gives one), and the result as a
:class:`~defmo.evaluate.footage.Deblurred`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from defmo.data.blatting import project_to_image_np
from defmo.evaluate.detect import Candidate, candidates, inside
from defmo.evaluate.footage import Deblurred
from defmo.evaluate.frames import to_u8
from defmo.evaluate.methods import NetworkMethod, centroids, network_box, to_image_coords
from defmo.settings import Detect


def find_object(image: np.ndarray, background: np.ndarray, settings: Detect,
                box: tuple[int, int, int, int] | None = None) -> Candidate | None:
    """The largest streak where ``image`` differs from ``background`` (float RGB in [0, 1]), inside ``box``."""
    pair = replace(settings, threshold=settings.pair_threshold)
    found = inside(candidates(to_u8(image), to_u8(background), [], pair), box)
    return found[0] if found else None


def streak_weight(shape: tuple[int, ...], streak: Candidate, margin: float) -> np.ndarray:
    """Where the object passed during the exposure, ``(H, W)`` in [0, 1]: a capsule about the streak's axis (the
    segment its length less its width spans), 1 up to ``r (1 + margin) - 1/2`` from it and falling linearly to
    0 at ``r (1 + 2 margin) + 1/2`` (``r`` the streak's half-width: the thresholded streak is narrower than its
    blur, whose faint edge a hard cut would leave as a seam); a streak no longer than it is wide gives a disc."""
    weight = np.zeros(shape[:2])
    window, inside = _capsule(shape, streak, margin)
    weight[window] = inside
    return weight


def _capsule(shape: tuple[int, ...], streak: Candidate, margin: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """:func:`streak_weight` on the window of the image it can be above 0 in: (rows, cols) slices and the weight
    there (computed on that window only: a few hundred pixels, not the whole frame)."""
    centre = np.asarray(streak.centre, dtype=np.float64)
    half = 0.5 * max(streak.length - 2.0 * streak.radius, 0.0) * np.asarray(streak.axis, dtype=np.float64)
    start, span = centre - half, 2.0 * half
    inner, outer = streak.radius * (1.0 + margin) - 0.5, streak.radius * (1.0 + 2.0 * margin) + 0.5
    low = np.clip(np.floor(np.minimum(start, start + span) - outer), 0, None).astype(int)  # (x, y)
    high = np.minimum(np.ceil(np.maximum(start, start + span) + outer).astype(int) + 1, [shape[1], shape[0]])
    high = np.maximum(high, low)
    rows, cols = np.mgrid[low[1] : high[1], low[0] : high[0]]
    offset = np.stack((cols - start[0], rows - start[1]), axis=-1)
    along = np.clip((offset @ span) / max(float(span @ span), 1e-12), 0.0, 1.0)  # 0 for a disc
    distance = np.linalg.norm(offset - along[..., None] * span, axis=-1)
    window = (slice(low[1], high[1]), slice(low[0], high[0]))
    return window, np.clip((outer - distance) / (outer - inner), 0.0, 1.0)


def local_background(image: np.ndarray, background: np.ndarray, streak: Candidate, margin: float) -> np.ndarray:
    """The background the object's sub-frames are fitted to and composited over: the running median
    ``background`` where the object passed (:func:`streak_weight`), the frame ``image`` itself everywhere else,
    so other movers near the object (a leg, a second falling object) stay as the frame shows them instead of
    being replaced by the median.

    Example:
        >>> streak = Candidate(np.array([4.0, 2.0]), 1.0, 6.0, np.array([1.0, 0.0]), 15, np.array([1, 1, 4, 8]))
        >>> local_background(np.ones((5, 9, 3)), np.zeros((5, 9, 3)), streak, 0.0)[..., 0].round(1)
        array([[1. , 1. , 1. , 1. , 1. , 1. , 1. , 1. , 1. ],
               [1. , 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 1. ],
               [1. , 0.5, 0. , 0. , 0. , 0. , 0. , 0.5, 1. ],
               [1. , 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 1. ],
               [1. , 1. , 1. , 1. , 1. , 1. , 1. , 1. , 1. ]])
    """
    window, weight = _capsule(image.shape, streak, margin)
    out = np.array(image, dtype=np.result_type(image, background, np.float64))  # a new array
    out[window] = weight[..., None] * background[window] + (1.0 - weight[..., None]) * image[window]
    return out


def square_box(box: np.ndarray, radius: int) -> tuple[np.ndarray, int]:
    """Grow the shorter side of (row0, col0, row1, col1) to the longer one, about its centre, so the network's
    crop (sized from the box height) holds a wide object too. Coordinates may leave the image; the method clips."""
    height, width = int(box[2] - box[0]), int(box[3] - box[1])
    grow_rows, grow_cols = max(0, width - height), max(0, height - width)
    out = np.array([box[0] - grow_rows // 2, box[1] - grow_cols // 2, box[2] + (grow_rows + 1) // 2,
                    box[3] + (grow_cols + 1) // 2], dtype=int)
    return out, radius


def deblur_batch(method: NetworkMethod, chunk: list, n: int, projection: bool = False,
                 path: str = "track", margin: float | None = None) -> list[Deblurred]:
    """Deblur the streak of each ``(group, index, image, background, streak)`` of ``chunk`` in one network
    pass and one fit. The fit follows each frame's path from its track (``path="track"``), its streak's centre
    line (``"streak"``; the track gives its direction), the network's path (``"network"``) or starts from
    whichever of the three blurs to the frame best (``"best"``); with a ``margin`` the background is the
    frame's own outside the streak (:func:`local_background`), else the running median; with
    ``projection`` the composited sub-frames are moved
    by :func:`defmo.data.blatting.project_to_image_np` so that they average to the input. A streak off a
    track (no direction) keeps the network's path."""
    images = [_to_float(item[2]) for item in chunk]
    streaks = [item[4] for item in chunk]
    backgrounds = [_to_float(item[3]) for item in chunk]
    if margin is not None:
        backgrounds = [local_background(i, b, s, margin) for i, b, s in zip(images, backgrounds, streaks)]
    lines, starts = _lines(streaks, path)
    boxes = [_crop_box(method, image, streak, line) for image, streak, line in zip(images, streaks, lines)]
    rendered = _render(method, images, backgrounds, boxes, n, lines, starts)
    return [_deblurred(method, item[1], image, background, box, streak, out, projection) for
            item, image, background, box, streak, out in zip(chunk, images, backgrounds, boxes, streaks, rendered)]


def _crop_box(method: NetworkMethod, image: np.ndarray, streak: Candidate, line: np.ndarray | None) -> np.ndarray:
    """The network's crop around a streak and the object along its ``line`` (a track's path can reach past the
    streak's faint ends): their box made square, grown by the network's margin."""
    box = np.asarray(streak.box, dtype=int)
    if line is not None:
        ends = line[:, ::-1]  # (x, y) -> (row, col)
        box = np.concatenate((np.minimum(box[:2], np.floor(ends.min(axis=0) - streak.radius)),
                              np.maximum(box[2:], np.ceil(ends.max(axis=0) + streak.radius)))).astype(int)
    box, radius = square_box(box, max(2, int(round(streak.radius))))
    return network_box(box, radius, method.size, image.shape)


def _lines(streaks: list[Candidate], path: str) -> tuple[list, list | None]:
    """Per streak, the centre line the fit follows (None: the network's path) and, for ``path="best"``, the
    other lines it may start from (the streak's own beside the track's; the network's is the fit's own)."""
    lines = [None if path == "network" else s.line(track=path != "streak") for s in streaks]
    if path != "best":
        return lines, None
    own = [s.line(track=False) for s in streaks]
    return lines, [[line if mine is None else mine] for mine, line in zip(own, lines)]


def _groups(lines: list, starts: list | None) -> list[tuple[list[int], list | None, list | None]]:
    """The frames with a centre line, with their lines and starts, then those without (None, None); each group
    only where it holds a frame."""
    along = [i for i, line in enumerate(lines) if line is not None]
    alone = [i for i, line in enumerate(lines) if line is None]
    out = [(along, [lines[i] for i in along], None if starts is None else [starts[i] for i in along])]
    return [group for group in (*out, (alone, None, None)) if group[0]]


def _render(method: NetworkMethod, images, backgrounds, boxes, n: int, lines: list, starts: list | None) -> list:
    """:meth:`NetworkMethod.render_batch` in two groups: the frames with a centre line (one fit along the
    lines), and those without (the network's path)."""
    rendered: list = [None] * len(images)
    for picked, given, others in _groups(lines, starts):
        done = method.render_batch([images[i] for i in picked], [backgrounds[i] for i in picked],
                                   [boxes[i] for i in picked], n, given, others)
        for i, out in zip(picked, done):
            rendered[i] = out
    return rendered


def _deblurred(method: NetworkMethod, index, image, background, b, streak, rendered, projection: bool) -> Deblurred:
    """One frame's :class:`Deblurred` from its render ``(rgb, rgba)`` at the network's size."""
    rgb, rgba = rendered
    traj = to_image_coords(centroids(rgba[:, 3]), b, method.size)
    resized = method.resize_back(rgba, b)
    frames, crop = method.paste_crop(background, b, rgb, rgba, resized), image[b[0] : b[2], b[1] : b[3]]
    if projection:
        frames = project_to_image_np(frames, crop)
    straight = resized.permute(0, 2, 3, 1).cpu().numpy()
    return Deblurred(index, b, crop.astype(np.float32), frames.astype(np.float32), straight.astype(np.float32),
                     traj, float(streak.radius), np.asarray(streak.box))


def _to_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img
