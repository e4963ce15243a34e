"""One cell of the memory ablation (report Table 4), measured inside the current process.

A cell is ``(approach, technique)``; the technique switches gradient checkpointing (GC) and mixed precision
(MP). :func:`measure_cell` takes the idle reading *before* the trainer (and its models) is built, then runs
``ablate.steps`` training steps (``Trainer.train_step``: one generator step plus the approach's D_S / D_T
steps) on a random batch while a :class:`~defmo.utils.measure.PeakSampler` polls memory:

- CUDA: used device memory through NVML (or ``nvidia-smi``) minus the idle reading, plus
  ``torch.cuda.max_memory_allocated`` / ``max_memory_reserved``;
- CPU: peak resident memory of the process (polled RSS and the kernel's ``VmHWM``) minus the idle RSS.

A measurement that fails (out of memory, no NVML) returns a record with ``status: failed`` and the reason.
The parent (:mod:`defmo.ablate.runner`) runs each cell in a fresh subprocess so no cell inherits another's
allocator state.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Callable

import torch
from tqdm import tqdm

from defmo.ablate import samplers
from defmo.settings import Config
from defmo.utils.measure import MIB, PeakSampler, cpu_name, random_batch, rss_reader

log = logging.getLogger(__name__)
# technique -> (gradient checkpointing, mixed precision)
TECHNIQUES = {"none": (False, False), "gc": (True, False), "mp": (False, True), "gc+mp": (True, True)}
MEASURE_ERRORS = (torch.OutOfMemoryError, MemoryError, samplers.SamplerUnavailable, RuntimeError)
TrainerFactory = Callable[[Config, str, torch.device, bool, bool], object]


def default_trainer(cfg: Config, approach: str, device: torch.device, gc: bool, mp: bool):
    """The real trainer: ``defmo.train.trainer.Trainer``."""
    from defmo.train.trainer import Trainer

    return Trainer(cfg, approach, device, gradient_checkpointing=gc, mixed_precision=mp)


def cell_config(cfg: Config, approach: str, technique: str) -> Config:
    """``cfg`` with the ablation's batch size, resolution, N and the technique's switches applied."""
    abl = cfg.ablate
    gc, mp = TECHNIQUES[technique]
    data = cfg.data.replace(resolution=abl.resolution, n_subframes=abl.n_subframes)
    train = cfg.train.with_approach(approach, batch_size=abl.batch_size)
    return cfg.replace(data=data, train=train.replace(gradient_checkpointing=gc, mixed_precision=mp))


class CpuProbe:
    """Peak resident memory of this process (MiB) minus its idle baseline."""

    kind = "cpu"

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reader = rss_reader()
        self.sampler_name = "rss"
        self.device_name = cpu_name()
        self.memory_label = f"CPU memory (peak RSS), {self.device_name}"
        self._kernel_peak = False

    def idle(self) -> float:
        self._kernel_peak = samplers.reset_peak_rss()
        return self.reader()

    def start(self) -> None:
        """Nothing to reset on CPU (the kernel counter was reset by :meth:`idle`)."""

    def finish(self, sampler: PeakSampler) -> dict:
        peak = sampler.peak
        hwm = samplers.kernel_peak_rss() if self._kernel_peak else None
        if hwm is not None:
            peak = max(peak, hwm)
        return {"peak_mib": peak, "max_allocated_mib": None, "max_reserved_mib": None}


class CudaProbe:
    """Used GPU memory (NVML / nvidia-smi, MiB) minus the idle reading, plus the caching allocator's peaks."""

    kind = "cuda"

    def __init__(self, device: torch.device, nvml=None, runner=None) -> None:
        self.device = device
        index = device.index if device.index is not None else 0
        kwargs = {"nvml": nvml} | ({"runner": runner} if runner is not None else {})
        self.reader, self.sampler_name = samplers.gpu_reader(index, **kwargs)
        self.device_name = "unknown GPU"
        self.memory_label = "GPU memory"

    def idle(self) -> float:
        return self.reader()  # before CUDA is initialised in this process: the context counts as used

    def start(self) -> None:
        self.device_name = torch.cuda.get_device_name(self.device)
        self.memory_label = f"GPU memory ({self.sampler_name}), {self.device_name}"
        torch.cuda.reset_peak_memory_stats(self.device)

    def finish(self, sampler: PeakSampler) -> dict:
        torch.cuda.synchronize(self.device)
        return {
            "peak_mib": sampler.peak,
            "max_allocated_mib": torch.cuda.max_memory_allocated(self.device) / MIB,
            "max_reserved_mib": torch.cuda.max_memory_reserved(self.device) / MIB,
        }


def make_probe(device: torch.device):
    return CudaProbe(device) if device.type == "cuda" else CpuProbe(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_steps(trainer, batch: dict, steps: int, device: torch.device) -> tuple[list[float], dict]:
    """Run ``steps`` calls of ``trainer.train_step(batch)``; return their wall times (s) and the last losses."""
    times, losses = [], {}
    for _ in tqdm(range(steps), desc="ablation steps", leave=False):
        _sync(device)
        start = time.perf_counter()
        losses = trainer.train_step(batch)
        _sync(device)
        times.append(time.perf_counter() - start)
    return times, {k: float(v) for k, v in (losses or {}).items()}


def base_record(cfg: Config, approach: str, technique: str, device: torch.device) -> dict:
    abl = cfg.ablate
    gc, mp = TECHNIQUES[technique]
    precision = ("fp16" if device.type == "cuda" else "bf16") if mp else "fp32"
    return {
        "approach": approach, "technique": technique, "device_type": device.type,
        "gradient_checkpointing": gc, "mixed_precision": mp, "precision": precision,
        "batch_size": abl.batch_size, "steps": abl.steps, "resolution": abl.resolution,
        "n_subframes": abl.n_subframes, "torch": torch.__version__, "status": "failed", "reason": None,
        "device_name": None, "memory_label": None, "sampler": None,
    }


def _measure(cfg: Config, approach: str, technique: str, device: torch.device, probe, factory) -> dict:
    abl = cfg.ablate
    gc, mp = TECHNIQUES[technique]
    idle = probe.idle()
    with PeakSampler(probe.reader, abl.sample_interval_s) as sampler:
        probe.start()
        trainer = factory(cell_config(cfg, approach, technique), approach, device, gc, mp)
        batch = random_batch(abl.batch_size, abl.n_subframes, abl.resolution, device, cfg.seed)
        times, losses = run_steps(trainer, batch, abl.steps, device)
    out = probe.finish(sampler)
    out.update(idle_mib=idle, peak_minus_idle_mib=out["peak_mib"] - idle, samples=sampler.samples)
    out.update(step_times_s=times, median_step_s=statistics.median(times), losses=losses)
    return out


def measure_cell(
    cfg: Config, approach: str, technique: str, device: torch.device,
    factory: TrainerFactory = default_trainer, probe_factory=make_probe,
) -> dict:
    """Measure one cell; returns its record (``status`` ``ok`` or ``failed`` with ``reason``)."""
    record = base_record(cfg, approach, technique, device)
    try:
        probe = probe_factory(device)
        record.update(sampler=probe.sampler_name, device_name=probe.device_name)
        record.update(_measure(cfg, approach, technique, device, probe, factory))
        record.update(status="ok", device_name=probe.device_name, memory_label=probe.memory_label)
    except MEASURE_ERRORS as exc:
        record["reason"] = describe_failure(exc)
        log.error("cell %s:%s failed: %s", approach, technique, record["reason"])
    return record


def describe_failure(exc: BaseException) -> str:
    """A one-line reason: out of memory, no memory reading, or the error itself."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in text.lower():
        return f"out of memory: {text}"
    if isinstance(exc, samplers.SamplerUnavailable):
        return f"no memory reading: {text}"
    return f"{type(exc).__name__}: {text}"
