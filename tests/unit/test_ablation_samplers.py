"""Memory readers and the background peak sampler: NVML, the nvidia-smi fallback, RSS, device-id mapping."""

from __future__ import annotations

import mmap
import subprocess
import time
from types import SimpleNamespace

import numpy as np
import pytest

from defmo.ablate import samplers
from defmo.utils import measure

MIB = 1024**2


class FakeNvml:
    """The slice of pynvml the reader uses; ``used`` (MiB) can be changed while a sampler runs."""

    def __init__(self, used_mib: float = 100.0, fail: bool = False) -> None:
        self.used_mib, self.fail, self.handles = used_mib, fail, []

    def nvmlInit(self):
        if self.fail:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetHandleByIndex(self, index):
        self.handles.append(("index", index))
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.handles.append(("uuid", uuid))
        return uuid

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=int(self.used_mib * MIB), total=80 * 1024 * MIB)


def test_peak_sampler_keeps_the_maximum_of_a_scripted_reader():
    values = iter([5.0, 7.0, 42.0, 3.0] + [1.0] * 10_000)
    with measure.PeakSampler(lambda: next(values), 0.001) as s:
        time.sleep(0.05)
    assert s.peak == 42.0
    assert s.samples >= 4


def test_peak_sampler_reraises_a_reader_error_instead_of_a_low_peak():
    calls = {"n": 0}

    def reader():
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError("device went away")
        return 1.0

    with pytest.raises(OSError, match="went away"):
        with measure.PeakSampler(reader, 0.001):
            time.sleep(0.05)


def test_rss_sampler_sees_a_short_lived_allocation():
    """A 128 MiB array touched and freed between two polls is still seen (polling + kernel VmHWM)."""
    reset = samplers.reset_peak_rss()
    idle = measure.rss_reader()()
    with measure.PeakSampler(measure.rss_reader(), 0.5) as s:
        block = mmap.mmap(-1, 128 * MIB)  # fresh pages: freed heap an earlier test left resident would not count
        np.frombuffer(block, dtype=np.uint8)[:] = 1  # every page written
        block.close()
    peak = max(s.peak, samplers.kernel_peak_rss() if reset else 0.0)
    assert 120.0 <= peak - idle <= 400.0


def test_nvml_device_id_follows_cuda_visible_devices():
    assert samplers.nvml_device_id(0, "") == "0"
    assert samplers.nvml_device_id(1, "2,3") == "3"
    assert samplers.nvml_device_id(0, "GPU-1234-abcd") == "GPU-1234-abcd"
    with pytest.raises(samplers.SamplerUnavailable, match="CUDA_VISIBLE_DEVICES"):
        samplers.nvml_device_id(2, "0,1")


def test_nvml_reader_reads_mib_by_index_and_uuid():
    nvml = FakeNvml(used_mib=1234.5)
    assert samplers.nvml_reader("3", nvml)() == pytest.approx(1234.5)
    assert samplers.nvml_reader("GPU-ab", nvml)() == pytest.approx(1234.5)
    assert nvml.handles == [("index", 3), ("uuid", "GPU-ab")]


def test_parse_nvidia_smi_output():
    assert samplers.parse_nvidia_smi("10023\n") == 10023.0
    assert samplers.parse_nvidia_smi("  812 MiB\n 5 MiB\n") == 812.0  # first line = the -i device
    with pytest.raises(samplers.SamplerUnavailable):
        samplers.parse_nvidia_smi("[N/A]\n")
    with pytest.raises(samplers.SamplerUnavailable):
        samplers.parse_nvidia_smi("")


def test_gpu_reader_falls_back_to_nvidia_smi_when_nvml_fails(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    seen = []

    def runner(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="2048\n", stderr="")

    reader, name = samplers.gpu_reader(0, nvml=FakeNvml(fail=True), runner=runner)
    assert name == "nvidia-smi"
    assert reader() == 2048.0
    assert seen[0][:3] == ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
    assert seen[0][-2:] == ["-i", "5"]


def test_gpu_reader_prefers_nvml(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    reader, name = samplers.gpu_reader(0, nvml=FakeNvml(used_mib=77.0), runner=None)
    assert (name, reader()) == ("nvml", 77.0)


def test_gpu_reader_without_nvml_and_nvidia_smi_is_unavailable(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def runner(cmd, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    with pytest.raises(samplers.SamplerUnavailable, match="NVML.*nvidia-smi"):
        samplers.gpu_reader(0, nvml=FakeNvml(fail=True), runner=runner)


def test_cpu_name_is_a_real_name():
    name = measure.cpu_name()
    assert isinstance(name, str) and name and name != "unknown CPU"
