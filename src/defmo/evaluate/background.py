"""The background of each frame of a video for the detector: a running median that holds a window, not the
video (:mod:`defmo.evaluate.detect`)."""

from __future__ import annotations

from collections import deque
from typing import Iterator

import numpy as np


class RunningMedian:
    """The per-pixel median of the ``window`` frames before and after each frame (fewer at the ends), as uint8,
    recomputed every ``stride`` frames. Feed frames in order with :meth:`push`, which yields
    ``(index, frame, background, before, after)`` for each frame whose later frames have arrived, then
    :meth:`finish` for the rest. With ``fixed``, that image is every frame's background."""

    def __init__(self, window: int, stride: int, fixed: np.ndarray | None = None):
        self.window, self.stride, self.fixed = window, max(1, stride), fixed
        self.frames: deque[np.ndarray] = deque(maxlen=2 * window + 1)
        self.first = 0  # index of self.frames[0]
        self.next = 0  # next frame index to yield
        self.count = 0
        self._median: np.ndarray | None = None
        self._median_at = -(10 ** 9)

    def push(self, frame: np.ndarray) -> Iterator[tuple]:
        if len(self.frames) == self.frames.maxlen:
            self.first += 1
        self.frames.append(frame)
        self.count += 1
        while self.next + self.window < self.count:
            yield self._emit()

    def finish(self) -> Iterator[tuple]:
        while self.next < self.count:
            yield self._emit()

    def _emit(self) -> tuple:
        t = self.next
        self.next += 1
        i = t - self.first
        if self.fixed is not None:
            self._median = self.fixed
        elif self._median is None or t - self._median_at >= self.stride:
            around = list(self.frames)[max(0, i - self.window) : i + self.window + 1]
            self._median = np.median(np.stack(around), axis=0).astype(np.uint8)
            self._median_at = t
        before = self.frames[i - 1] if i > 0 else None
        after = self.frames[i + 1] if i + 1 < len(self.frames) else None
        return t, self.frames[i], self._median, before, after
