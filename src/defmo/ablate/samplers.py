"""GPU memory readers for the memory ablation, and the kernel's own peak RSS.

A *reader* (:data:`defmo.utils.measure.Reader`) is a zero-argument callable returning the current memory use
in MiB; :class:`defmo.utils.measure.PeakSampler` polls one on a daemon thread, so a short spike between two
Python statements is still seen. Besides :func:`defmo.utils.measure.rss_reader` (CPU memory of a process):

- :func:`nvml_reader`: used memory of one GPU through NVML (the library behind ``nvidia-smi``);
- :func:`nvidia_smi_reader`: the same number parsed from ``nvidia-smi --query-gpu=memory.used``, the
  fallback when the NVML library cannot be loaded.

A reader that cannot be built raises :class:`SamplerUnavailable`, which the cell records as its failure
reason.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from defmo.utils.measure import MIB, Reader

log = logging.getLogger(__name__)


class SamplerUnavailable(RuntimeError):
    """No way to read this device's memory (no NVML library and no working ``nvidia-smi``)."""


# ----------------------------------------------------------------------------------------------- CPU
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
