"""What the measurements share (``throughput-train``'s throughput, the memory ablation's cells): the processor's
name, a random training batch, and a peak sampler that polls a memory reader on a background thread.

A *reader* is a zero-argument callable returning the current memory use in MiB; :func:`rss_reader` reads
this process's resident set size (the GPU readers live in :mod:`defmo.ablate.samplers`).
"""

from __future__ import annotations

import platform
import threading
from pathlib import Path
from typing import Callable

import psutil
import torch

MIB = 1024.0**2
Reader = Callable[[], float]
BATCH_IMAGES = ("image", "background", "image2", "background2")


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def random_batch(batch: int, n: int, size: int, device: torch.device,
                 seed: int | None = 0) -> dict[str, torch.Tensor]:
    """A training batch of uniform noise, float32 in [0, 1] (content does not change memory or speed).

    Keys: image, background, image2, background2 ``(B, 3, H, W)``; frames ``(B, N, 4, H, W)``, drawn in
    that order from a generator seeded with ``seed``, or from torch's global one when ``seed`` is None (the
    caller seeded it and the model built next draws on from there).
    """
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    out = {k: torch.rand(batch, 3, size, size, generator=gen) for k in BATCH_IMAGES}
    out["frames"] = torch.rand(batch, n, 4, size, size, generator=gen)
    return {k: v.to(device) for k, v in out.items()}


def rss_reader(pid: int | None = None) -> Reader:
    """Reader of the resident set size (MiB) of process ``pid`` (default: this process)."""
    proc = psutil.Process(pid)
    return lambda: proc.memory_info().rss / MIB


class PeakSampler:
    """Poll ``reader`` every ``interval_s`` seconds on a daemon thread, keeping the maximum (MiB).

    Use as a context manager; readings are taken on entry, on every poll and on exit, so ``peak`` and
    ``samples`` are final after exit. An exception raised by the reader on the thread is re-raised on exit,
    so a broken reading never passes as a low peak.
    """

    def __init__(self, reader: Reader, interval_s: float) -> None:
        self.reader = reader
        self.interval_s = interval_s
        self.peak = float("-inf")
        self.samples = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="peak-sampler", daemon=True)

    def _take(self) -> None:
        self.peak = max(self.peak, float(self.reader()))
        self.samples += 1

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._take()
                self._stop.wait(self.interval_s)
        except BaseException as exc:  # handed to the main thread in __exit__
            self._error = exc

    def __enter__(self) -> "PeakSampler":
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is None:
            self._take()
        if self._error is not None and exc_info[0] is None:
            raise self._error
