"""CUDA paths of the trainer: fp16 autocast with one GradScaler per optimizer, gradient checkpointing,
checkpoints moved across devices, and the benchmark's CUDA peak memory. Skipped without CUDA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from defmo.config import load
from defmo.models import weights
from defmo.train import checkpoint
from defmo.train.throughput import measure
from defmo.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.gpu


def _cfg():
    return load(REPO / "params.yaml", "tiny", ["device=cuda"])


def _batch(b=2, n=4, size=32):
    out = {k: torch.rand(b, 3, size, size) for k in ("image", "background", "image2", "background2")}
    out["frames"] = torch.rand(b, n, 4, size, size)
    return out


@pytest.mark.parametrize("gc", [False, True])
def test_fp16_steps_with_one_scaler_per_optimizer(gc):
    tr = Trainer(_cfg(), "proposed", "cuda", gc, True)
    assert tr.amp_dtype == torch.float16
    assert set(tr.scalers) == {"generator", "ds", "dt"} and all(s.is_enabled() for s in tr.scalers.values())
    assert len({id(s) for s in tr.scalers.values()}) == 3
    before = [p.detach().clone() for p in tr.generator.parameters()]
    for _ in range(3):
        terms = tr.train_step(_batch())
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.generator.parameters()))
    assert all(p.device.type == "cuda" for p in tr.generator.parameters())


def test_cuda_checkpoint_loads_on_cpu(tmp_path):
    cfg = _cfg()
    tr = Trainer(cfg, "proposed", "cuda", False, True)
    tr.train_step(_batch())
    path = tmp_path / "ck.pt"
    checkpoint.save(path, tr, cfg)
    gen, _ = weights.load_generator(path, "cpu")
    b = _batch()
    times = torch.linspace(0, 1, 4)
    tr.generator.eval()
    with torch.no_grad():
        ref = tr.generator(b["image"].cuda(), b["background"].cuda(), times.cuda())[0].cpu()
        out = gen(b["image"], b["background"], times)[0]
    assert torch.allclose(ref, out, atol=1e-4)
    tr2 = Trainer(cfg, "proposed", "cuda", False, True)
    checkpoint.resume(path, tr2)
    assert tr2.scalers["generator"].get_scale() == tr.scalers["generator"].get_scale()


def test_gradient_checkpointing_lowers_cuda_peak_memory():
    cfg = load(REPO / "params.yaml", "cpu", ["device=cuda"])
    plain = measure(cfg, "defmo", "none", torch.device("cuda"), 8, steps=1, warmup=1)
    gc = measure(cfg, "defmo", "gc", torch.device("cuda"), 8, steps=1, warmup=1)
    assert 0 < gc["peak_mb"] < plain["peak_mb"]
