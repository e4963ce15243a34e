"""DeFMO's losses against hand computations and slow loop implementations, plus the report's properties."""

from __future__ import annotations

import math

import pytest
import torch

from defmo.losses.defmo import binary_entropy, loss_f, loss_i, loss_l, loss_s, loss_t, max_ncc, object_region

torch.set_num_threads(1)  # 2 shared cores: more threads only spin-wait


def _slow_lr(pred, gt):
    """Eq. 5 with explicit pixel loops, for one (4, H, W) pair."""
    _, height, width = pred.shape
    sums = {"in": 0.0, "out": 0.0, "fm": 0.0}
    counts = {"in": 0, "out": 0}
    for i in range(height):
        for j in range(width):
            m, mg = float(pred[3, i, j]), float(gt[3, i, j])
            key = "in" if mg > 0 else "out"
            sums[key] += abs(m - mg)
            counts[key] += 1
            if mg > 0:
                sums["fm"] += sum(abs(float(pred[c, i, j]) * m - float(gt[c, i, j]) * mg) for c in range(3))
    return sums["in"] / max(counts["in"], 1) + sums["out"] / max(counts["out"], 1) + sums["fm"] / max(counts["in"], 1)


def _slow_lf(pred, gt):
    batch, n = pred.shape[:2]
    total = 0.0
    for b in range(batch):
        fwd = sum(_slow_lr(pred[b, t], gt[b, t]) for t in range(n)) / n
        bwd = sum(_slow_lr(pred[b, t], gt[b, n - 1 - t]) for t in range(n)) / n
        total += min(fwd, bwd)
    return total / batch


def _gt(batch=2, n=3, size=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    frames = torch.rand(batch, n, 4, size, size, generator=gen)
    frames[:, :, 3] = torch.where(frames[:, :, 3] > 0.6, frames[:, :, 3], torch.zeros(()))  # real zero regions
    return frames


def test_loss_f_by_hand():
    # one sample, one sub-frame, 1x2 image: pixel 0 inside the GT object (alpha 1), pixel 1 outside
    gt = torch.tensor([[0.5, 0.0], [0.5, 0.0], [0.5, 0.0], [1.0, 0.0]]).view(1, 1, 4, 1, 2)
    pred = torch.tensor([[0.25, 0.9], [0.5, 0.9], [1.0, 0.9], [0.5, 0.2]]).view(1, 1, 4, 1, 2)
    # mask in: |0.5-1| = 0.5; mask out: |0.2-0| = 0.2; F*M in: |.125-.5|+|.25-.5|+|.5-.5| = 0.625
    assert loss_f(pred, gt).item() == pytest.approx(0.5 + 0.2 + 0.625)


def test_loss_f_matches_slow_loops():
    gt, pred = _gt(seed=1), torch.rand(2, 3, 4, 5, 5, generator=torch.Generator().manual_seed(2))
    assert loss_f(pred, gt).item() == pytest.approx(_slow_lf(pred, gt), rel=1e-5)


def test_loss_f_is_symmetric_in_time_direction():
    gt = _gt(seed=3)
    pred = torch.rand_like(gt)
    value = loss_f(pred, gt)
    torch.testing.assert_close(loss_f(pred.flip(1), gt), value)
    torch.testing.assert_close(loss_f(pred, gt.flip(1)), value)
    assert loss_f(gt.flip(1), gt).item() == 0.0  # a perfectly reversed prediction costs nothing
    # the minimum is per sample: sample 0 forward, sample 1 reversed -> still zero
    mixed = torch.stack((gt[0], gt[1].flip(0)))
    assert loss_f(mixed, gt).item() == 0.0


def test_loss_i_by_hand_and_exact_blat():
    gt = _gt(seed=4)
    background = torch.rand(2, 3, 5, 5)
    image = (gt[:, :, :3] * gt[:, :, 3:]).mean(1) + (1 - gt[:, :, 3:].mean(1)) * background
    assert loss_i(gt, image, background).item() == pytest.approx(0.0, abs=1e-7)
    # fully transparent prediction reconstructs B: loss = mean over pixels of sum_c |B - I|
    empty = torch.zeros_like(gt)
    expected = (background - image).abs().sum(1).mean()
    assert loss_i(empty, image, background).item() == pytest.approx(expected.item(), rel=1e-6)


def test_loss_i_over_the_object_region_by_hand():
    """The original code's L_I: the same per-pixel norm, averaged over the GT object's pixels per sample."""
    torch.manual_seed(5)
    gt = torch.zeros(2, 3, 4, 4, 4)
    gt[0, 0, :, 0, 0] = 1.0  # sample 0: the object at (0,0) in sub-frame 0 and (1,2) in sub-frame 2
    gt[0, 2, :, 1, 2] = 1.0
    gt[1, 1, :, 3, 3] = 1.0  # sample 1: one pixel
    region = object_region(gt)
    assert region.shape == (2, 1, 4, 4) and region.sum().item() == 3
    background, image = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    empty = torch.zeros_like(gt)  # reconstructs B
    err = (background - image).abs().sum(1)  # (2, 4, 4)
    by_hand = ((err[0, 0, 0] + err[0, 1, 2]) / 2 + err[1, 3, 3]) / 2
    assert loss_i(empty, image, background, region).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # a full-image region is the report's eq. 7
    full = torch.ones(2, 1, 4, 4)
    assert loss_i(empty, image, background, full).item() == pytest.approx(loss_i(empty, image, background).item())


def _slow_max_ncc(a, b, max_shift):
    """Explicit shifts with zero padding, after global standardisation, for one (C, H, W) pair."""
    channels, height, width = a.shape
    a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
    b = (b - b.mean()) / (b.std(unbiased=False) + 1e-8)
    sy, sx = int(max_shift * height), int(max_shift * width)
    best = -math.inf
    for dy in range(-sy, sy + 1):
        for dx in range(-sx, sx + 1):
            total = 0.0
            for i in range(height):
                for j in range(width):
                    if 0 <= i + dy < height and 0 <= j + dx < width:
                        total += float((a[:, i + dy, j + dx] * b[:, i, j]).sum())
            best = max(best, total / (channels * height * width))
    return best


def test_max_ncc_matches_slow_shifts():
    gen = torch.Generator().manual_seed(5)
    a, b = torch.rand(3, 4, 10, 10, generator=gen), torch.rand(3, 4, 10, 10, generator=gen)
    got = max_ncc(a, b, max_shift=0.2)
    for k in range(3):
        assert got[k].item() == pytest.approx(_slow_max_ncc(a[k], b[k], 0.2), rel=1e-5, abs=1e-6)


def _moving_square(n=4, size=20, step=1):
    frames = torch.zeros(1, n, 4, size, size)
    for t in range(n):
        frames[0, t, :, 8:12, 4 + step * t:8 + step * t] = torch.tensor([0.9, 0.2, 0.4, 1.0]).view(4, 1, 1)
    return frames


def test_loss_t_shift_search_and_static_preference():
    moving = _moving_square()
    static = moving[:, :1].expand(-1, 4, -1, -1, -1).contiguous()
    assert loss_t(static).item() == pytest.approx(0.0, abs=1e-4)
    # a 1-pixel move is within 10% of 20 px: maxNCC finds the shift and the loss is 0 too
    assert loss_t(moving).item() < 5e-3  # not exactly 0: one background column shifts into the zero padding
    # without the shift search the moving object is penalised, the static one is not
    assert loss_t(moving, max_shift=0.0).item() > 0.2  # 3 of 4 columns overlap: maxNCC ~ 0.75
    # a move beyond the search range (3 px > 2 px) is penalised: L_T prefers static sub-frames
    fast = _moving_square(step=3)
    assert loss_t(fast).item() > loss_t(static).item() + 0.2


def test_loss_t_matches_slow_and_single_frame():
    gen = torch.Generator().manual_seed(6)
    frames = torch.rand(2, 3, 4, 10, 10, generator=gen)
    slow = [_slow_max_ncc(frames[b, t], frames[b, t + 1], 0.1) for b in range(2) for t in range(2)]
    assert loss_t(frames).item() == pytest.approx(1 - sum(slow) / 4, rel=1e-5)
    assert loss_t(frames[:, :1]).item() == 0.0


def test_loss_s_values_and_gradients():
    binary = torch.zeros(2, 3, 4, 4, 4)
    binary[:, :, 3, :2] = 1.0
    assert loss_s(binary).item() == 0.0
    half = torch.full((1, 2, 4, 3, 3), 0.5)
    assert loss_s(half).item() == pytest.approx(1.0)
    p = torch.tensor([0.1, 0.25, 0.9])
    expected = [-(x * math.log2(x) + (1 - x) * math.log2(1 - x)) for x in p.tolist()]
    torch.testing.assert_close(binary_entropy(p), torch.tensor(expected))
    frames = torch.tensor([0.0, 1.0, 0.3]).view(1, 3, 1, 1, 1).expand(1, 3, 4, 1, 1).clone().requires_grad_()
    loss_s(frames).backward()
    assert torch.isfinite(frames.grad).all()
    # d/dp H2 = log2((1-p)/p); mean over 3 frames
    assert frames.grad[0, 2, 3, 0, 0].item() == pytest.approx(math.log2(0.7 / 0.3) / 3, rel=1e-5)


def test_loss_l_by_hand():
    x1 = torch.zeros(2, 2, 1, 2)
    x2 = torch.tensor([1.0, -1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 4.0]).view(2, 2, 1, 2)
    # sample 0: (1+1+2+0)/4 = 1; sample 1: 4/4 = 1
    assert loss_l(x1, x2).item() == pytest.approx(1.0)
    assert loss_l(x2, x2).item() == 0.0


def test_losses_under_cpu_autocast_are_float32():
    gt = _gt(seed=7)
    pred = torch.rand_like(gt)
    bg = torch.rand(2, 3, 5, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = [loss_f(pred.bfloat16(), gt), loss_i(pred.bfloat16(), bg, bg), loss_t(pred.bfloat16()),
                  loss_s(pred.bfloat16()), loss_l(pred.bfloat16(), gt)]
    assert all(v.dtype == torch.float32 for v in values)
    assert values[2].item() == pytest.approx(loss_t(pred.bfloat16().float()).item(), abs=1e-5)


def _conv_max_ncc(a, b, max_shift):
    """Independent form: one grouped convolution of each standardised pair (the original DeFMO's way)."""
    pairs, channels, height, width = a.shape
    sy, sx = int(max_shift * height), int(max_shift * width)

    def std(x):
        return (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), unbiased=False, keepdim=True) + 1e-8)

    corr = torch.nn.functional.conv2d(std(a).reshape(1, -1, height, width), std(b), padding=(sy, sx), groups=pairs)
    return corr.reshape(pairs, -1).amax(dim=1) / (channels * height * width)


def test_max_ncc_gradients_match_convolution_form():
    gen = torch.Generator().manual_seed(8)
    a0, b0 = torch.rand(4, 4, 16, 12, generator=gen), torch.rand(4, 4, 16, 12, generator=gen)
    grads = []
    for fn in (max_ncc, _conv_max_ncc):
        a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
        value = fn(a, b, 0.2)
        (value * torch.arange(1.0, 5.0)).sum().backward()
        grads.append((value.detach(), a.grad, b.grad))
    for fft_part, conv_part in zip(*grads):
        torch.testing.assert_close(fft_part, conv_part, atol=1e-5, rtol=1e-4)
