"""One ablation cell measured in-process with stand-in trainers: the CPU and (mocked) CUDA paths, failures."""

from __future__ import annotations

import mmap
import time

import numpy as np
import pytest
import torch

from defmo.config import load
from defmo.ablate import cell
from defmo.utils.measure import cpu_name, random_batch
from test_ablation_samplers import FakeNvml  # same folder (pytest prepends it to sys.path)

MIB = 1024**2


@pytest.fixture(scope="module")
def cfg(repo):
    return load(repo / "params.yaml", scale="tiny")


class AllocatingTrainer:
    """Holds ``mib`` of freshly written memory for 30 ms each step, then frees it.

    The block is a new anonymous mapping, not the heap: in a pytest worker an earlier test can leave freed
    heap pages resident, and writing into those would not raise the process's RSS at all.
    """

    def __init__(self, mib: int, on_step=None) -> None:
        self.mib, self.on_step, self.batches = mib, on_step, []

    def train_step(self, batch):
        self.batches.append(batch)
        block = mmap.mmap(-1, self.mib * MIB)
        np.frombuffer(block, dtype=np.uint8)[:] = 1  # touch every page
        if self.on_step:
            self.on_step()
        time.sleep(0.03)
        block.close()
        return {"total": 1.5, "F": torch.tensor(0.25)}


def test_technique_switches_and_cell_config(cfg):
    assert cell.TECHNIQUES == {"none": (False, False), "gc": (True, False), "mp": (False, True), "gc+mp": (True, True)}
    out = cell.cell_config(cfg, "proposed", "gc+mp")
    abl = cfg.ablate
    assert out.data.resolution == abl.resolution and out.data.n_subframes == abl.n_subframes
    assert out.approach("proposed").batch_size == abl.batch_size
    assert out.train.gradient_checkpointing is True and out.train.mixed_precision is True
    assert cfg.train.gradient_checkpointing is False  # the input is not modified


def test_random_batch_contract():
    b = random_batch(2, 5, 32, torch.device("cpu"))
    assert set(b) == {"image", "background", "image2", "background2", "frames"}
    assert b["image"].shape == (2, 3, 32, 32) and b["frames"].shape == (2, 5, 4, 32, 32)
    assert all(v.dtype == torch.float32 and 0 <= float(v.min()) and float(v.max()) <= 1 for v in b.values())


def test_cpu_cell_measures_peak_rss_above_idle(cfg):
    calls = []

    def factory(c, approach, device, gc, mp):
        calls.append((approach, gc, mp, c.approach(approach).batch_size))
        return AllocatingTrainer(96)

    rec = cell.measure_cell(cfg, "proposed", "gc", torch.device("cpu"), factory=factory)
    assert rec["status"] == "ok", rec["reason"]
    assert calls == [("proposed", True, False, cfg.ablate.batch_size)]
    assert 90.0 <= rec["peak_minus_idle_mib"] <= 300.0
    assert rec["device_type"] == "cpu" and rec["sampler"] == "rss"
    assert rec["memory_label"].startswith("CPU memory (peak RSS), ") and cpu_name() in rec["memory_label"]
    assert len(rec["step_times_s"]) == cfg.ablate.steps
    assert rec["median_step_s"] >= 0.03
    assert rec["losses"] == {"total": 1.5, "F": 0.25}
    assert rec["max_allocated_mib"] is None and rec["precision"] == "fp32"


def test_out_of_memory_is_recorded_not_raised(cfg):
    class Oom:
        def train_step(self, batch):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    rec = cell.measure_cell(cfg, "defmo", "none", torch.device("cpu"), factory=lambda *a: Oom())
    assert rec["status"] == "failed"
    assert rec["reason"].startswith("out of memory: CUDA out of memory")
    assert "peak_minus_idle_mib" not in rec


def test_no_nvml_and_no_nvidia_smi_is_recorded(cfg, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def runner(cmd, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    probe = lambda device: cell.CudaProbe(device, nvml=FakeNvml(fail=True), runner=runner)  # noqa: E731
    rec = cell.measure_cell(cfg, "defmo", "mp", torch.device("cuda"), factory=None, probe_factory=probe)
    assert rec["status"] == "failed" and rec["reason"].startswith("no memory reading:")
    assert rec["precision"] == "fp16"


def test_cuda_cell_reads_nvml_minus_idle_and_allocator_peaks(cfg, monkeypatch):
    """The CUDA path with NVML and torch.cuda mocked: 1000 MiB idle, 3500 MiB while a step runs."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml(used_mib=1000.0)
    events = []
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Fake GPU 80GB")
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d=None: events.append("reset"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: events.append("sync"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 1536 * MIB)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda d=None: 2048 * MIB)
    monkeypatch.setattr(cell, "random_batch", lambda b, n, s, device, seed=0: {"b": (b, n, s, device.type)})

    def spike():
        nvml.used_mib = 3500.0

    trainer = AllocatingTrainer(1, on_step=spike)

    def factory(c, approach, device, gc, mp):
        assert events == ["reset"]  # allocator peaks reset after the idle reading, before the model
        return trainer

    probe = lambda device: cell.CudaProbe(device, nvml=nvml)  # noqa: E731
    rec = cell.measure_cell(cfg, "proposed", "gc+mp", torch.device("cuda"), factory=factory, probe_factory=probe)
    assert rec["status"] == "ok", rec["reason"]
    assert rec["idle_mib"] == pytest.approx(1000.0)
    assert rec["peak_minus_idle_mib"] == pytest.approx(2500.0)
    assert (rec["max_allocated_mib"], rec["max_reserved_mib"]) == (1536.0, 2048.0)
    assert rec["memory_label"] == "GPU memory (nvml), Fake GPU 80GB" and rec["sampler"] == "nvml"
    assert rec["precision"] == "fp16" and rec["gradient_checkpointing"] and rec["mixed_precision"]
    assert trainer.batches[0] == {"b": (cfg.ablate.batch_size, cfg.ablate.n_subframes, cfg.ablate.resolution,
                                        "cuda")}
