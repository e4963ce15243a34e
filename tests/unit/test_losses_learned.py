"""Learned losses: L_G's critic/generator objectives and L_N over all or sampled pairs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from defmo.losses.learned import (
    all_pairs, loss_n, pair_loss_scale, sampled_pairs, wgan_critic_loss, wgan_generator_loss,
)
from defmo.models import build_ds, build_dt

torch.set_num_threads(1)  # 2 shared cores: more threads only spin-wait
CFG = {"model": {"encoder": "resnet18", "pretrained": "none", "discriminator": "light",
                 "ds_input": "masked", "ds_noise": 0.0, "dt_pairs": "all"}}


class LinearCritic(nn.Module):
    """score = w * mean(alpha) + sum(red): a critic whose expectation is computable by hand."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return self.w * x[:, 3].mean(dim=(1, 2)) + x[:, 0].sum(dim=(1, 2))


def _time_coded(batch, n, order=None, size=2):
    """Frames whose every pixel holds the time index / 10, in ``order`` (default 0..N-1)."""
    order = list(range(n)) if order is None else order
    values = torch.tensor(order, dtype=torch.float32) / 10
    return values.view(1, n, 1, 1, 1).expand(batch, n, 4, size, size).clone()


class OracleDT(nn.Module):
    """Logit +s when the second frame is exactly one time step after the first, -s otherwise."""

    def __init__(self, sharpness=12.0):
        super().__init__()
        self.s = sharpness

    def forward(self, first, second):
        step = (second - first).mean(dim=(1, 2, 3)) * 10
        return torch.where((step - 1).abs() < 1e-3, self.s, -self.s) + 0 * step


def test_wgan_objectives_by_hand():
    torch.manual_seed(0)
    critic = LinearCritic()
    real = torch.rand(2, 3, 4, 4, 4)
    fake = torch.rand(2, 3, 4, 4, 4, requires_grad=True)

    def expectation(x):
        return (2 * x[:, :, 3].mean(dim=(2, 3)) + x[:, :, 0].sum(dim=(2, 3))).mean()

    lg = expectation(real) - expectation(fake)  # eq. 11
    d_loss = wgan_critic_loss(critic, real, fake)
    torch.testing.assert_close(d_loss, -lg.detach())
    d_loss.backward()
    assert fake.grad is None  # the critic step does not reach the generator
    # d(-L_G)/dw = mean alpha(fake) - mean alpha(real)
    expected_w = fake[:, :, 3].mean() - real[:, :, 3].mean()
    assert critic.w.grad.item() == pytest.approx(expected_w.item(), rel=1e-4, abs=1e-6)
    g_loss = wgan_generator_loss(critic, fake, real)
    torch.testing.assert_close(g_loss, lg.detach())
    g_loss.backward()
    # d(-E[D(fake)])/d red pixel = -1 / (B*N)
    torch.testing.assert_close(fake.grad[:, :, 0], torch.full((2, 3, 4, 4), -1 / 6))
    assert wgan_generator_loss(critic, fake).item() == pytest.approx(-expectation(fake).item(), rel=1e-6)


def test_wgan_with_ds_under_autocast_is_float32():
    ds = build_ds(CFG)
    real, fake = torch.rand(2, 2, 4, 32, 32), torch.rand(2, 2, 4, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = wgan_critic_loss(ds, real, fake)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in ds.parameters())


def test_all_pairs_labels():
    t, u, labels = all_pairs(3)
    assert list(zip(t.tolist(), u.tolist())) == [(a, b) for a in range(3) for b in range(3)]
    assert labels.tolist() == [0, 1, 0, 0, 0, 1, 0, 0, 0]


def _slow_loss_n_all(logit_fn, frames):
    batch, n = frames.shape[:2]
    total = 0.0
    for b in range(batch):
        for t in range(n):
            for u in range(n):
                p = 1 / (1 + math.exp(-logit_fn(frames[b, t], frames[b, u])))
                total -= math.log(p) if u == t + 1 else math.log(1 - p)
    return total / (batch * n * n)


def test_loss_n_all_matches_eq12_by_loops():
    torch.manual_seed(0)
    dt = build_dt(CFG).eval()
    frames = torch.rand(2, 3, 4, 32, 32)
    with torch.no_grad():
        got = loss_n(dt, frames, pairs="all")
        slow = _slow_loss_n_all(lambda a, b: float(dt(a[None], b[None])), frames)
    assert got.item() == pytest.approx(slow, rel=1e-5)


def test_sampled_pairs_are_balanced_and_valid():
    gen = torch.Generator().manual_seed(0)
    for n in (2, 3, 8):
        for _ in range(20):
            t, u, labels = sampled_pairs(n, gen)
            assert len(t) == 2 * (n - 1) and labels.sum().item() == n - 1
            pos, neg = labels == 1, labels == 0
            assert (u[pos] == t[pos] + 1).all()
            assert ((u[neg] != t[neg] + 1) & (u[neg] != t[neg])).all()
    seen = set()
    for _ in range(200):
        t, u, labels = sampled_pairs(5, gen)
        seen |= {(a, b) for a, b, y in zip(t.tolist(), u.tolist(), labels.tolist()) if y == 0}
    # every non-successor, non-identical pair with t < N-1 is drawn eventually, reversed ones included
    assert seen == {(a, b) for a in range(4) for b in range(5) if b not in (a, a + 1)}
    a = sampled_pairs(6, torch.Generator().manual_seed(3))
    b = sampled_pairs(6, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_loss_n_sampled_by_hand_with_oracle():
    frames = _time_coded(3, 5)
    # oracle: logit +3 on positives, -3 on negatives -> every pair costs log(1 + e^-3); the report's code sums
    # the 2(N-1) pair costs and divides by N-1
    value = loss_n(OracleDT(3.0), frames, pairs="sampled", generator=torch.Generator().manual_seed(0))
    assert value.item() == pytest.approx(2 * math.log1p(math.exp(-3)), rel=1e-5)


class SumDT(nn.Module):
    """Logit = sum of the first frame minus the second's mean: distinct per pair and computable by hand."""

    def forward(self, first, second):
        return first.sum(dim=(1, 2, 3)) - second.mean(dim=(1, 2, 3))


def _bce(logit, label):
    p = 1 / (1 + math.exp(-logit))
    return -math.log(p) if label else -math.log(1 - p)


def test_loss_n_sampled_matches_the_report_code_formula():
    """Per sample ``sum_t [BCE(neg_t) + BCE(pos_t)] / (N - 1)`` on the same draws, averaged over the batch."""
    torch.manual_seed(0)
    batch, n = 3, 5
    frames = torch.rand(batch, n, 4, 2, 2) * 0.3
    dt = SumDT()
    got = loss_n(dt, frames, pairs="sampled", generator=torch.Generator().manual_seed(4))
    draws = torch.Generator().manual_seed(4)
    want = 0.0
    for b in range(batch):
        t, u, labels = sampled_pairs(n, draws)
        pos, neg = labels == 1, labels == 0
        per_t = [_bce(float(dt(frames[b, ti][None], frames[b, ui][None])), 0) +
                 _bce(float(dt(frames[b, tp][None], frames[b, up][None])), 1)
                 for ti, ui, tp, up in zip(t[neg], u[neg], t[pos], u[pos])]
        want += sum(per_t) / (n - 1) / batch
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_pair_loss_scale_gives_the_mean_bce_per_pair():
    assert pair_loss_scale("all") == 1.0 and pair_loss_scale("sampled") == 2.0
    with pytest.raises(ValueError, match="pairs"):
        pair_loss_scale("some")
    chance = nn.Module()
    chance.forward = lambda first, second: torch.zeros(first.shape[0])  # p = 1/2 everywhere
    frames = torch.rand(2, 4, 4, 2, 2)
    for pairs in ("all", "sampled"):
        value = loss_n(chance, frames, pairs=pairs, generator=torch.Generator().manual_seed(0))
        assert value.item() / pair_loss_scale(pairs) == pytest.approx(math.log(2), rel=1e-6)


def test_loss_n_optimum_rewards_true_order():
    n = 6
    oracle = OracleDT()
    true = loss_n(oracle, _time_coded(2, n), pairs="all")
    shuffled = loss_n(oracle, _time_coded(2, n, order=[3, 0, 5, 1, 4, 2]), pairs="all")
    reversed_ = loss_n(oracle, _time_coded(2, n, order=list(range(n))[::-1]), pairs="all")
    static = loss_n(oracle, _time_coded(2, n, order=[2] * n), pairs="all")
    assert true.item() < 1e-4
    assert min(shuffled.item(), reversed_.item(), static.item()) > 1.0
    # no D_T can do better on a static sequence than the best constant: the entropy of (N-1)/N^2
    q = (n - 1) / n**2
    bound = -(q * math.log(q) + (1 - q) * math.log(1 - q))
    static_frames = _time_coded(2, n, order=[2] * n)
    for seed in range(3):
        torch.manual_seed(seed)
        dt = build_dt(CFG)
        with torch.no_grad():
            dt.fc.bias.fill_(math.log(q / (1 - q)))  # the best constant: still not below the bound
        assert loss_n(dt, static_frames, pairs="all").item() >= bound - 1e-5
    assert true.item() < bound


def test_loss_n_gradients_reach_frames_and_dt_under_autocast():
    torch.manual_seed(0)
    dt = build_dt(CFG)
    frames = torch.rand(2, 4, 4, 32, 32, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_n(dt, frames, pairs="sampled", generator=torch.Generator().manual_seed(1))
    assert loss.dtype == torch.float32
    loss.backward()
    assert frames.grad.abs().sum() > 0 and dt.fc.bias.grad is not None
    with pytest.raises(ValueError, match="pairs"):
        loss_n(dt, frames, pairs="some")
