"""Find the fast-moving object in a video: a streak new in one frame, on a track across frames.

An FMO moves further than its own size within one exposure, so in frame t it covers pixels that show the
background in frames t - 1 and t + 1 and differs from the background there too (the FMO detector's
differential images, Rozumnyi et al. 2017). :func:`candidates` keeps the regions of that triple difference
that are wholly new (most of the region differing from the background, not the sliver of a moving leg),
big enough, inside the frame. :mod:`defmo.evaluate.tracks` chains them into the object's track across
frames.

The background is a running median of ``window`` frames around each frame, recomputed every ``stride``
frames (:class:`RunningMedian`), holding ``2 window + 1`` frames as uint8: a long video is never held whole.

Example:
    >>> import numpy as np
    >>> frames = [np.full((60, 100, 3), 40, np.uint8) for _ in range(6)]
    >>> for t, f in enumerate(frames):
    ...     f[25:35, 5 + 15 * t : 17 + 15 * t] = 230  # a bright streak moving right
    >>> found = detect(frames, Detect(0.1, 3, 1, 20, 2.0, 0.5, 3, 35.0, 0.25, 0.05, 0))
    >>> sorted(found), found[2].centre.tolist()
    ([0, 1, 2, 3, 4, 5], [40.5, 29.5])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np
from skimage.measure import label, regionprops

from defmo.evaluate.background import RunningMedian
from defmo.evaluate.paths import set_paths
from defmo.evaluate.tracks import bridge, confirm, linked, track
from defmo.settings import Detect


@dataclass
class Candidate:
    """A streak: ``centre`` (x, y), ``radius`` (half-width), ``length`` (major axis), unit ``axis`` (x, y),
    ``area`` (pixels), ``box`` (row0, col0, row1, col1); ``velocity`` (x, y pixels a frame) once on a track;
    ``path`` (start and end (x, y) of its centre over the exposure) once its track's neighbours give it
    (:func:`defmo.evaluate.paths.set_paths`)."""

    centre: np.ndarray
    radius: float
    length: float
    axis: np.ndarray
    area: int
    box: np.ndarray
    velocity: np.ndarray | None = None
    path: np.ndarray | None = None

    def line(self, track: bool = True) -> np.ndarray | None:
        """The object's centre line ``(2, 2)``: start and end (x, y) of its centre over the exposure, from the
        track (``path``) where it gives one and ``track`` is set, else along the streak's axis (along the
        velocity for a streak too short to have one) in the direction of motion; None off a track (the
        direction is unknown)."""
        if track and self.path is not None:
            return self.path.copy()
        if self.velocity is None or not np.any(self.velocity):
            return None
        heading = self.velocity / np.hypot(*self.velocity)
        direction = self.axis if self.elongated else heading
        direction = direction if float(direction @ heading) >= 0 else -direction
        half = 0.5 * max(self.length - 2.0 * self.radius, 0.0) * direction
        return np.stack((self.centre - half, self.centre + half))

    @property
    def travel(self) -> float:
        """How far the object moved within the exposure (streak length less one object width), at least r."""
        return max(self.length - 2.0 * self.radius, self.radius)

    @property
    def elongated(self) -> bool:
        return self.length >= 2.8 * self.radius


def _change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The largest |difference| over the channels of two uint8 images, per pixel (uint8 ``(H, W)``)."""
    diff = cv2.absdiff(a, b)
    most = cv2.reduce(diff.reshape(-1, diff.shape[-1]), 1, cv2.REDUCE_MAX)  # per pixel, over channels (fast)
    return most.reshape(diff.shape[:-1])


def _changed(change: np.ndarray, threshold: float, low: float | None = None) -> np.ndarray:
    """Pixels whose :func:`_change` exceeds ``threshold`` (in [0, 1]); with ``low``, also those over ``low *
    threshold`` connected to such a pixel (hysteresis, as Canny's edges: the faint ends of a streak join its
    core)."""
    if low is None:
        return change > threshold * 255.0
    # skimage.filters.apply_hysteresis_threshold's result (4-connected regions over the low threshold holding a
    # pixel over the high one), with OpenCV's connected components: about 3 times faster
    count, regions = cv2.connectedComponents((change > low * threshold * 255.0).astype(np.uint8), connectivity=4)
    keep = np.zeros(count, bool)
    keep[regions[change > threshold * 255.0]] = True
    return keep[regions]


def _clean(mask: np.ndarray) -> np.ndarray:
    kernel = np.ones((3, 3), np.uint8)
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel)
    return cv2.morphologyEx(closed, cv2.MORPH_OPEN, kernel) > 0


def candidates(frame: np.ndarray, background: np.ndarray, neighbours: Iterable[np.ndarray],
               settings: Detect) -> list[Candidate]:
    """Streak candidates of ``frame``: regions new against the ``background`` and every neighbouring frame.

    Args:
        frame, background: uint8 ``(H, W, 3)``.
        neighbours: the frames before and after (uint8, same shape); none for an image pair.
        settings: thresholds (:class:`Detect`).

    Returns:
        Candidates, largest first.
    """
    return frame_candidates(frame, background, neighbours, settings)[0]


def frame_candidates(frame: np.ndarray, background: np.ndarray, neighbours: Iterable[np.ndarray],
                     settings: Detect, low: float | None = None) -> tuple[list[Candidate], list[Candidate]]:
    """The strict candidates of :func:`candidates`, and the loose ones: every region of the triple difference
    big and wide enough, with its own geometry, whole or not and touching the border or not (a ball passing
    over an arm or leaving the frame), which :func:`~defmo.evaluate.tracks.bridge` takes only where a track
    predicts one. With ``low``, the differences are thresholded with hysteresis down to ``low *
    settings.threshold`` (:func:`_changed`)."""
    return _candidates(_changes(frame, background, neighbours), settings, low)


def _changes(frame: np.ndarray, background: np.ndarray,
             neighbours: Iterable[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frame's :func:`_change` against its background and against each neighbouring frame."""
    return _change(frame, background), [_change(frame, other) for other in neighbours]


def _candidates(changes: tuple[np.ndarray, list[np.ndarray]], settings: Detect,
                low: float | None) -> tuple[list[Candidate], list[Candidate]]:
    """:func:`frame_candidates` from the frame's :func:`_change` against its background and its neighbours."""
    against_bg = _clean(_changed(changes[0], settings.threshold, low))
    new = against_bg.copy()
    for change in changes[1]:
        new &= _changed(change, settings.threshold, low)
    new = _clean(new)
    regions_bg = label(against_bg)
    bg_area = np.bincount(regions_bg.ravel())
    parts = [part for part in regionprops(label(new)) if part.area >= settings.min_area]
    strict = [_streak(part, regions_bg, bg_area, settings) for part in parts]
    loose = [_geometry(part) for part in parts]
    by_area = lambda c: -c.area  # noqa: E731
    return (sorted((c for c in strict if c is not None), key=by_area),
            sorted((c for c in loose if c.radius >= settings.min_radius), key=by_area))


def _geometry(region) -> Candidate:
    """A candidate with ``region``'s own centre, half-width, length, axis, area and box."""
    radius = float(cv2.distanceTransform(np.pad(region.image, 1).astype(np.uint8), cv2.DIST_L2, 3).max())
    angle = region.orientation  # skimage: from the row axis to the major axis
    return Candidate(np.array(region.centroid[::-1]), radius, float(region.axis_major_length),
                     np.array([math.sin(angle), math.cos(angle)]), int(region.area), np.array(region.bbox))


def _streak(part, regions_bg: np.ndarray, bg_area: np.ndarray, settings: Detect) -> Candidate | None:
    """The candidate of one region ``part`` of the triple difference, or None when it is not wholly new, touches
    the frame's border or is too thin. Its geometry is that of the whole region that differs from the
    background around it: the part new against both neighbours lacks where consecutive streaks overlap."""
    owner = np.bincount(regions_bg[part.coords[:, 0], part.coords[:, 1]]).argmax()
    if owner == 0 or part.area < settings.min_whole * bg_area[owner]:
        return None
    region = regionprops((regions_bg == owner).astype(np.uint8))[0]
    r0, c0, r1, c1 = region.bbox
    if r0 == 0 or c0 == 0 or r1 == regions_bg.shape[0] or c1 == regions_bg.shape[1]:
        return None
    cand = _geometry(region)
    return cand if cand.radius >= settings.min_radius else None


def inside(cands: list[Candidate], box: tuple[int, int, int, int] | None) -> list[Candidate]:
    """The candidates centred inside ``box`` (x0, y0, x1, y1); all of them without one."""
    if box is None:
        return cands
    return [c for c in cands if box[0] <= c.centre[0] <= box[2] and box[1] <= c.centre[1] <= box[3]]


def detect(frames: Iterable[np.ndarray], settings: Detect, box: tuple[int, int, int, int] | None = None,
           background: np.ndarray | None = None) -> dict[int, Candidate]:
    """The fast-moving object's streak per frame of a video (uint8 RGB frames, in order): candidates against
    a running median (or the given ``background``) and both neighbours, kept where they chain into a track
    (:func:`defmo.evaluate.tracks.track`, :func:`~defmo.evaluate.tracks.confirm`) and bridged
    (:func:`~defmo.evaluate.tracks.bridge`). With ``settings.faint``, a second pass with hysteresis
    thresholds (:func:`_changed`) does the same and fills the frames the first leaves without an object:
    faint streaks (small objects falling fast, several at once) whose thresholded pieces are too small or too
    broken to chain. ``box`` (x0, y0, x1, y1) keeps only candidates centred inside it."""
    median = RunningMedian(settings.window, settings.stride, background)
    lows = (None,) if settings.faint is None else (None, settings.faint)
    found: dict = {low: ([], []) for low in lows}  # per pass: strict and loose candidates per frame

    def take(item):
        _, frame, background, before, after = item
        changes = _changes(frame, background, [f for f in (before, after) if f is not None])
        for low in lows:  # the differences are taken once, thresholded per pass
            strict, extra = _candidates(changes, settings, low)
            found[low][0].append(inside(strict, box))
            found[low][1].append(inside(extra, box))

    for frame in frames:
        for item in median.push(frame):
            take(item)
    for item in median.finish():
        take(item)
    chosen: dict[int, Candidate] = {}
    for low in lows:  # the strict pass first; the faint one only where it found nothing
        strict, loose = found[low]
        for t, cand in bridge(confirm(track(strict, settings), strict, loose, settings), loose, settings).items():
            chosen.setdefault(t, cand)  # with its velocity from its own pass's track (bridge)
    set_paths(chosen, settings.min_exposure, lambda a, b: linked(a, b, settings), settings.exposure)
    return chosen
