"""Memory readers and a background peak sampler.

A *reader* is a zero-argument callable returning the current memory use in MiB:

- :func:`rss_reader`: resident set size of this process (CPU memory, psutil);
- :func:`nvml_reader`: used memory of one GPU through NVML (the library behind ``nvidia-smi``);
- :func:`nvidia_smi_reader`: the same number parsed from ``nvidia-smi --query-gpu=memory.used``, the
  fallback when the NVML library cannot be loaded.

:class:`PeakSampler` polls a reader on a daemon thread and keeps the maximum, so a short spike between two
Python statements is still seen. A reader that cannot be built raises :class:`SamplerUnavailable`, which the
cell records as its failure reason.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Callable

import psutil

log = logging.getLogger(__name__)
MIB = 1024.0**2
Reader = Callable[[], float]


class SamplerUnavailable(RuntimeError):
    """No way to read this device's memory (no NVML library and no working ``nvidia-smi``)."""


# ----------------------------------------------------------------------------------------------- CPU
def rss_reader(pid: int | None = None) -> Reader:
    """Reader of the resident set size (MiB) of process ``pid`` (default: this process)."""
    proc = psutil.Process(pid)
    return lambda: proc.memory_info().rss / MIB


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (``VmHWM``) of this process; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def kernel_peak_rss() -> float | None:
    """``VmHWM`` of this process in MiB (the kernel's own peak since start or :func:`reset_peak_rss`)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else :func:`platform.processor`."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


# ----------------------------------------------------------------------------------------------- GPU
def nvml_device_id(cuda_index: int, visible: str | None = None) -> str:
    """NVML/nvidia-smi id (index or UUID) of CUDA device ``cuda_index`` under ``CUDA_VISIBLE_DEVICES``.

    CUDA renumbers the visible devices from 0, NVML does not: ``CUDA_VISIBLE_DEVICES=2,3`` makes CUDA
    device 1 NVML index 3. Reading this does not initialise CUDA (the idle reading must come first).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if not visible:
        return str(cuda_index)
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if cuda_index >= len(entries):
        raise SamplerUnavailable(
            f"CUDA device {cuda_index} is not among CUDA_VISIBLE_DEVICES={visible!r}; fix that variable"
        )
    return entries[cuda_index]


def nvml_reader(device_id: str, nvml=None) -> Reader:
    """Reader of the used memory (MiB) of GPU ``device_id`` (NVML index or UUID) through NVML."""
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError as exc:  # pragma: no cover - nvidia-ml-py is a pinned dependency
            raise SamplerUnavailable(f"NVML python bindings missing: {exc}") from exc
    try:
        nvml.nvmlInit()
        if device_id.isdigit():
            handle = nvml.nvmlDeviceGetHandleByIndex(int(device_id))
        else:
            handle = nvml.nvmlDeviceGetHandleByUUID(device_id)
    except Exception as exc:  # pynvml raises NVMLError subclasses, whose base is Exception
        raise SamplerUnavailable(f"NVML unavailable ({type(exc).__name__}: {exc})") from exc
    return lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB


def parse_nvidia_smi(text: str) -> float:
    """MiB from the output of ``nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i X``."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise SamplerUnavailable("nvidia-smi printed nothing for memory.used")
    value = lines[0].split(",")[0].strip().removesuffix("MiB").strip()
    try:
        return float(value)
    except ValueError as exc:
        raise SamplerUnavailable(f"nvidia-smi printed {lines[0]!r}, not a number of MiB") from exc


def nvidia_smi_reader(device_id: str, runner=subprocess.run) -> Reader:
    """Reader of the used memory (MiB) of GPU ``device_id`` by running ``nvidia-smi`` (the fallback)."""
    cmd = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", device_id]

    def read() -> float:
        try:
            proc = runner(cmd, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SamplerUnavailable(f"nvidia-smi failed ({type(exc).__name__}: {exc})") from exc
        return parse_nvidia_smi(proc.stdout)

    read()  # fail now, not on the sampler thread
    return read


def gpu_reader(cuda_index: int, nvml=None, runner=subprocess.run) -> tuple[Reader, str]:
    """``(reader, name)`` for CUDA device ``cuda_index``: NVML, else nvidia-smi; both missing raises."""
    device_id = nvml_device_id(cuda_index)
    try:
        return nvml_reader(device_id, nvml), "nvml"
    except SamplerUnavailable as first:
        log.warning("%s; falling back to nvidia-smi", first)
        try:
            return nvidia_smi_reader(device_id, runner), "nvidia-smi"
        except SamplerUnavailable as second:
            raise SamplerUnavailable(f"no GPU memory reading: {first}; {second}") from second


# ------------------------------------------------------------------------------------------- sampler
class PeakSampler:
    """Poll ``reader`` every ``interval_s`` seconds on a daemon thread, keeping the maximum (MiB).

    Use as a context manager; ``peak`` and ``samples`` are final after exit. An exception raised by the
    reader on the thread is re-raised on exit, so a broken reading never passes as a low peak.
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
