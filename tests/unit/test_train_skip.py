"""Non-finite updates: skipped (weights and Adam state untouched), counted, and a stop after
train.max_skipped_steps consecutive skipped generator updates."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from defmo.config import load
from defmo.errors import UserError
from defmo.train import checkpoint
from defmo.train.trainer import LossNotFinite, Trainer

REPO = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cfg():
    return load(REPO / "params.yaml", "tiny", ["device=cpu"])


def batch(b=2, n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = ("image", "background", "image2", "background2")
    out = {k: torch.rand(b, 3, size, size, generator=g) for k in keys}
    out["frames"] = torch.rand(b, n, 4, size, size, generator=g)
    return out


def nan_grad(net: torch.nn.Module):
    """Make the gradient of ``net``'s first parameter NaN in backward (the losses stay finite)."""
    return next(net.parameters()).register_hook(lambda g: torch.full_like(g, float("nan")))


def weights(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a: list[torch.Tensor], b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def adam_state(tr: Trainer, name: str = "generator") -> dict:
    return copy.deepcopy(tr.optimizers[name].state_dict()["state"])


def same_adam(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[i].keys() == b[i].keys() and all(torch.equal(a[i][k], b[i][k])
                                                                           for k in a[i]) for i in a)


def test_the_param_defaults_to_5_and_must_be_positive():
    assert load(REPO / "params.yaml", "tiny").train.max_skipped_steps == 5
    for bad in ("0", "-1", "1.5", "null"):
        with pytest.raises(UserError, match="max_skipped_steps"):
            load(REPO / "params.yaml", "tiny", [f"train.max_skipped_steps={bad}"])


def test_nan_gradient_with_finite_loss_skips_the_update(cfg):
    """(a) Weights and Adam state (exp_avg, exp_avg_sq, step) stay bit-identical; the skip is counted."""
    tr = Trainer(cfg, "defmo", "cpu", False, False)
    tr.train_step(batch())  # Adam state exists
    before, state = weights(tr.generator), adam_state(tr)
    hook = nan_grad(tr.generator)
    terms = tr.train_step(batch(seed=1))
    hook.remove()
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.values())  # the losses were finite
    assert same(before, tr.generator.parameters())
    assert same_adam(state, adam_state(tr)) and int(state[0]["step"]) == 1
    assert terms["skipped"] == 1 and tr.skipped == {"generator": 1} and tr.consecutive_skipped == 1
    assert all(p.grad is None for p in tr.generator.parameters())
    assert tr.step == 2


def test_a_finite_step_after_a_skip_updates_and_resets_the_run_of_skips(cfg):
    """(b)"""
    tr = Trainer(cfg, "defmo", "cpu", False, False)
    hook = nan_grad(tr.generator)
    tr.train_step(batch())
    hook.remove()
    assert tr.consecutive_skipped == 1 and tr.optimizers["generator"].state == {}  # Adam never stepped
    before = weights(tr.generator)
    terms = tr.train_step(batch(seed=1))
    assert terms["skipped"] == 0 and tr.consecutive_skipped == 0 and tr.skipped == {"generator": 1}
    assert not same(before, tr.generator.parameters())
    assert int(adam_state(tr)[0]["step"]) == 1


def test_consecutive_skipped_generator_steps_stop_the_run():
    """(c) The stop comes at the max_skipped_steps-th consecutive skip, with a message that fits the case."""
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "train.max_skipped_steps=3"])
    tr = Trainer(c, "defmo", "cpu", False, False)
    nan_grad(tr.generator)
    for _ in range(2):
        assert tr.train_step(batch())["skipped"] == 1
    with pytest.raises(LossNotFinite) as err:
        tr.train_step(batch())
    msg = str(err.value)
    assert "step 3:" in msg and "generator's update was skipped for 3 consecutive steps" in msg
    assert "non-finite gradient while every loss term was finite" in msg and "degenerate operation" in msg
    assert "last good checkpoint" in msg and "train.lr_" in msg and "delete" not in msg.lower()
    assert tr.step == 2 and tr.skipped == {"generator": 3}


def test_the_stop_under_mixed_precision_advises_turning_it_off():
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "train.max_skipped_steps=1"])
    tr = Trainer(c, "defmo", "cpu", False, True)  # bf16 autocast on CPU, no GradScaler
    nan_grad(tr.generator)
    with pytest.raises(LossNotFinite, match="step 1: .*Turn off train.mixed_precision") as err:
        tr.train_step(batch())
    assert "delete" not in str(err.value).lower()


def test_a_skipped_discriminator_update_is_counted_but_does_not_stop(cfg):
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "train.max_skipped_steps=1"])
    tr = Trainer(c, "proposed", "cpu", False, False)
    ds_before = weights(tr.nets["ds"])
    nan_grad(tr.nets["ds"])
    terms = tr.train_step(batch())  # 1 D_S step per step: skipped; the generator and D_T step
    assert terms["skipped"] == 1 and tr.skipped == {"generator": 0, "ds": 1, "dt": 0}
    assert tr.consecutive_skipped == 0 and same(ds_before, tr.nets["ds"].parameters())


def test_grad_scaler_overflow_is_counted_and_lowers_the_scale(cfg):
    """With a GradScaler (fp16 on CUDA; an enabled CPU scaler here) a non-finite gradient is skipped and
    counted and the scale halves; it counts toward the stop only once the scale is below 1 (before, the
    scaler is calibrating)."""
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "train.max_skipped_steps=1"])
    tr = Trainer(c, "defmo", "cpu", False, False)
    tr.scalers["generator"] = torch.amp.GradScaler("cpu", init_scale=4.0)
    before = weights(tr.generator)
    nan_grad(tr.generator)
    for scale in (2.0, 1.0):
        assert tr.train_step(batch())["skipped"] == 1 and tr.scalers["generator"].get_scale() == scale
    assert tr.consecutive_skipped == 0 and same(before, tr.generator.parameters())
    with pytest.raises(LossNotFinite, match="step 3: .* 1 consecutive steps"):
        tr.train_step(batch())  # scale 0.5
    assert tr.skipped == {"generator": 3} and same(before, tr.generator.parameters())


def test_the_counters_survive_a_checkpoint(cfg, tmp_path):
    """(d) and a checkpoint from before the counters loads with zeros."""
    tr = Trainer(cfg, "proposed", "cpu", False, False)
    hooks = [nan_grad(tr.generator), nan_grad(tr.nets["dt"])]
    tr.train_step(batch())
    for hook in hooks:
        hook.remove()
    assert tr.skipped == {"generator": 1, "ds": 0, "dt": 2}  # finite renders: D_S steps, both D_T skip
    path = tmp_path / "ck.pt"
    checkpoint.save(path, tr, cfg)
    tr2 = Trainer(cfg, "proposed", "cpu", False, False)
    checkpoint.resume(path, tr2)
    assert tr2.skipped == tr.skipped and tr2.consecutive_skipped == tr.consecutive_skipped == 1
    old = tr.state_dict()
    del old["skipped"], old["consecutive_skipped"]
    tr3 = Trainer(cfg, "proposed", "cpu", False, False)
    tr3.load_state_dict(old)
    assert tr3.skipped == {"generator": 0, "ds": 0, "dt": 0} and tr3.consecutive_skipped == 0
