"""The memory ablation on a real CUDA device (skipped without one): NVML readings, cells through the real
subprocess path, fp16 autocast with GradScaler, and GC + MP lowering the allocator's peak."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from defmo.config import load
from defmo.ablate import runner, samplers
from defmo.ablate.cell import cell_config
from defmo.utils.measure import random_batch

pytestmark = pytest.mark.gpu
MIB = 1024**2


@pytest.fixture(scope="module")
def cfg(repo):
    overrides = ["device=cuda", "scales.tiny.ablate.resolution=64", "scales.tiny.ablate.n_subframes=8",
                 "scales.tiny.ablate.batch_size=4", "scales.tiny.ablate.approaches=[proposed]"]
    return load(repo / "params.yaml", scale="tiny", overrides=overrides)


def test_nvml_sees_a_one_gib_allocation():
    reader, name = samplers.gpu_reader(torch.cuda.current_device())
    assert name == "nvml"
    torch.cuda.synchronize()
    before = reader()
    block = torch.ones(256 * MIB, device="cuda")  # float32: 1 GiB
    torch.cuda.synchronize()
    after = reader()
    del block
    torch.cuda.empty_cache()
    assert 1000.0 <= after - before <= 1400.0


def test_nvidia_smi_fallback_agrees_with_nvml():
    index = torch.cuda.current_device()
    nvml, _ = samplers.gpu_reader(index)
    smi = samplers.nvidia_smi_reader(samplers.nvml_device_id(index))
    assert abs(nvml() - smi()) <= 64.0


def test_cells_through_subprocess_on_cuda(cfg, tmp_path, repo, monkeypatch):
    monkeypatch.chdir(repo)
    recs = {t: runner.run_cell(cfg, "proposed", t, tmp_path / f"{t}.json") for t in ("none", "gc+mp")}
    for t, rec in recs.items():
        assert rec["status"] == "ok", rec["reason"]
        assert rec["device_type"] == "cuda" and rec["sampler"] == "nvml"
        assert rec["memory_label"].startswith("GPU memory (nvml), ") and rec["device_name"] in rec["memory_label"]
        assert rec["peak_minus_idle_mib"] > 0 and rec["max_allocated_mib"] > 0
        assert rec["max_reserved_mib"] >= rec["max_allocated_mib"]
        assert rec["peak_minus_idle_mib"] >= rec["max_reserved_mib"]  # NVML also sees the context
    assert recs["gc+mp"]["precision"] == "fp16"
    assert recs["gc+mp"]["max_allocated_mib"] < recs["none"]["max_allocated_mib"]


def test_fp16_autocast_and_grad_scaler_on_cuda(cfg):
    from defmo.train.trainer import Trainer

    cell_cfg = cell_config(cfg, "proposed", "mp")
    tr = Trainer(cell_cfg, "proposed", torch.device("cuda"), gradient_checkpointing=False, mixed_precision=True)
    seen: dict[str, set] = {}
    for name, net in tr.nets.items():
        conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
        conv.register_forward_hook(lambda m, i, o, name=name: seen.setdefault(name, set()).add(o.dtype))
    tr.train_step(random_batch(2, 8, 64, torch.device("cuda")))
    assert seen == {name: {torch.float16} for name in tr.nets}
    assert all(s.is_enabled() for s in tr.scalers.values())
    assert all(p.dtype == torch.float32 for net in tr.nets.values() for p in net.parameters())
