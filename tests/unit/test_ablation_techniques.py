"""GC and MP are really applied by the trainer the ablation measures, not only set as flags.

- Gradient checkpointing: the checkpointed encoder and renderer segments run their forward again *during the
  generator's backward* (recomputation), and the step's losses are those of the plain step.
- Mixed precision: under autocast the generator's and both discriminators' convolutions produce bfloat16 on
  CPU (float16 on CUDA: tests/gpu/test_memory_gpu.py) while the weights stay float32.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from defmo.config import load
from defmo.models.renderer_arch import SPLIT
from defmo.ablate.cell import cell_config
from defmo.train.trainer import Trainer
from defmo.utils.measure import random_batch

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cfg(repo):
    torch.set_num_threads(1)
    # Table 1's generator: the segment layout checked below is its encoder's and renderer's
    raw = load(repo / "params.yaml", scale="tiny",
               overrides=["scales.tiny.ablate.n_subframes=2", "scales.tiny.model.generator=table1",
                          "scales.tiny.model.fit_steps=0"])
    return cell_config(raw, "proposed", "none")


def _first_conv(module: nn.Module) -> nn.Module:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def _count_in_backward(trainer: Trainer, modules: dict[str, nn.Module]) -> tuple[dict, dict]:
    """Forward calls of each module during the forward pass and during the generator's backward."""
    phase = {"now": "forward"}
    counts = {"forward": dict.fromkeys(modules, 0), "backward": dict.fromkeys(modules, 0)}
    for name, mod in modules.items():  # pre-hooks: a recomputation stops early, after a segment's last saved op
        mod.register_forward_pre_hook(lambda m, i, name=name: counts[phase["now"]].__setitem__(
            name, counts[phase["now"]][name] + 1))
    update = trainer._update

    def marked(name, loss):
        phase["now"] = "backward" if name == "generator" else "other"
        counts.setdefault("other", dict.fromkeys(modules, 0))
        update(name, loss)
        phase["now"] = "forward"

    trainer._update = marked
    losses = trainer.train_step(random_batch(1, 2, 32, CPU))
    return counts, losses


def _trainer(cfg, gc: bool, mp: bool, approach: str = "defmo") -> Trainer:
    torch.manual_seed(0)
    return Trainer(cfg, approach, CPU, gradient_checkpointing=gc, mixed_precision=mp)


def test_checkpointed_segments_recompute_in_backward(cfg):
    results = {}
    for gc in (False, True):
        tr = _trainer(cfg, gc, False)
        enc, ren = tr.generator.encoder.net, tr.generator.renderer.net
        # the first module of each of the four segments: stem | layer3, BN after the time conv | bottleneck(256)
        modules = {"enc_seg1": enc[0], "enc_seg2": enc[1][2], "ren_seg1": ren[1], "ren_seg2": ren[SPLIT]}
        results[gc] = _count_in_backward(tr, modules)
    (plain, plain_losses), (ckpt, ckpt_losses) = results[False], results[True]
    assert all(v == 0 for v in plain["backward"].values()), plain
    # every segment, the last included, runs again during backward, as often as it ran forward
    assert ckpt["backward"] == ckpt["forward"] == plain["forward"], ckpt
    assert ckpt["backward"] == {"enc_seg1": 2, "enc_seg2": 2, "ren_seg1": 1, "ren_seg2": 1}  # encoder: I and I2
    assert ckpt_losses == pytest.approx(plain_losses, rel=1e-4, abs=1e-6)


def _conv_dtypes(trainer: Trainer) -> dict[str, set]:
    seen: dict[str, set] = {}
    for name, net in trainer.nets.items():
        _first_conv(net).register_forward_hook(lambda m, i, o, name=name: seen.setdefault(name, set()).add(o.dtype))
    trainer.train_step(random_batch(1, 2, 32, CPU))
    return seen


def test_autocast_produces_bfloat16_activations_on_cpu(cfg):
    tr = _trainer(cfg, False, True, approach="proposed")
    assert set(tr.nets) == {"generator", "ds", "dt"}
    assert _conv_dtypes(tr) == {name: {torch.bfloat16} for name in tr.nets}
    assert all(p.dtype == torch.float32 for net in tr.nets.values() for p in net.parameters())
    assert not any(s.is_enabled() for s in tr.scalers.values())  # GradScaler is for fp16 on CUDA only


def test_without_mp_activations_stay_float32(cfg):
    tr = _trainer(cfg, False, False, approach="proposed")
    assert _conv_dtypes(tr) == {name: {torch.float32} for name in tr.nets}
