"""The cpu scale's generators (models/unet_arch.py): the U-Net's Image-baseline start, the streak generator's
geometry against hand computations, and both through checkpointing and the generator option."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from defmo.data.blatting import blat, composite
from defmo.models import GENERATORS, build_generator, subframe_times
from defmo.models.unet_arch import (ALPHA_BIAS, COVER_MIN, COVER_STEPS, DIFF_SCALE, STRETCH_INIT, StreakGenerator,
                                    UNetGenerator, deblat_appearance, streak_moments, window_gates)

torch.set_num_threads(1)


def _cfg(generator: str, appearance: str = "image") -> dict:
    return {"model": {"generator": generator, "appearance": appearance, "encoder": "resnet18", "pretrained": "none"}}


def test_generator_option_builds_each_class():
    for name, cls in GENERATORS.items():
        assert type(build_generator(_cfg(name))) is cls


@pytest.mark.parametrize("name,appearance", [("unet", "image"), ("streak", "image"), ("streak", "deblatted")])
def test_shapes_range_and_latent(name, appearance):
    """Also: one call per time step gives what one call for all gives (a sub-frame does not depend on which
    other times are asked for, the deblatted coverage included)."""
    torch.manual_seed(0)
    gen = build_generator(_cfg(name, appearance)).eval()
    image, background = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    frames, latent = gen(image, background, subframe_times(5))
    assert frames.shape == (2, 5, 4, 32, 48) and latent.shape == (2, 512, 2, 3)
    assert frames.min() >= 0 and frames.max() <= 1
    torch.testing.assert_close(gen.encode(torch.cat((image, background), 1)), latent)
    loop, _ = gen.forward_loop(image, background, subframe_times(5))
    torch.testing.assert_close(loop, frames, atol=1e-5, rtol=1e-4)


def test_untrained_unet_returns_the_image_baseline():
    """Zero-initialised head: F_t = I (up to the logit clamp) and M_t = sigmoid(ALPHA_BIAS) at every time."""
    torch.manual_seed(0)
    gen = UNetGenerator().train()
    image, background = torch.rand(2, 3, 32, 32) * 0.99 + 0.005, torch.rand(2, 3, 32, 32)
    frames, _ = gen(image, background, subframe_times(4))
    torch.testing.assert_close(frames[:, :, :3], image[:, None].expand(-1, 4, -1, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[:, :, 3], torch.full_like(frames[:, :, 3], torch.sigmoid(torch.tensor(ALPHA_BIAS))))
    err = (composite(frames, background) - image[:, None]).abs().max()
    assert err <= 1 - torch.sigmoid(torch.tensor(ALPHA_BIAS)) + 1e-6


def test_streak_moments_of_a_segment():
    """A uniform bar x in [5, 25], y in [15, 17]: centre (15, 16), axis +x, length and width sqrt(12 var)."""
    weight = torch.zeros(1, 32, 32)
    weight[0, 15:18, 5:26] = 1.0
    centre, axis, length, width = streak_moments(weight)
    torch.testing.assert_close(centre, torch.tensor([[15.0, 16.0]]))
    torch.testing.assert_close(axis, torch.tensor([[1.0, 0.0]]), atol=1e-4, rtol=0)
    var = sum((x - 15.0) ** 2 for x in range(5, 26)) / 21
    torch.testing.assert_close(length, torch.tensor([math.sqrt(12 * var)]))
    torch.testing.assert_close(width, torch.tensor([math.sqrt(12 * 2 / 3)]), atol=1e-3, rtol=0)


def test_streak_axis_is_canonical_and_follows_a_diagonal():
    weight = torch.zeros(2, 32, 32)
    for i in range(4, 28):
        weight[0, i, i] = 1.0  # down-right diagonal
        weight[1, 31 - i, i] = 1.0  # up-right diagonal
    _, axis, _, _ = streak_moments(weight)
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(axis, torch.tensor([[s, s], [s, -s]]), atol=1e-4, rtol=0)
    assert (axis[:, 0] >= 0).all()


def test_window_moves_from_one_end_of_the_streak_to_the_other():
    """Object half-length h = 0.3 * l / 2: the window's centre travels l - 2h along the streak; on the axis the
    window is 2h long, and it is an ellipse: shorter off the axis, empty beyond the half-width."""
    weight = torch.zeros(1, 32, 32)
    weight[0, 15:18, 5:26] = 1.0
    gates = window_gates(weight, torch.tensor([[0.3, 0.5]]), torch.tensor([0.0, 0.5, 1.0]))
    _, _, length, width = streak_moments(weight)
    half, travel = 0.3 * float(length) / 2, float(length) * 0.7
    xs = torch.arange(32.0)
    for k, t in enumerate((0.0, 0.5, 1.0)):
        row = gates[0, k, 16]
        centre = float((row * xs).sum() / row.sum())
        assert centre == pytest.approx(15.0 + (t - 0.5) * travel, abs=0.05)
        assert float(row.sum()) == pytest.approx(2 * half, abs=0.1)  # a sigmoid edge keeps the width
        assert float(gates[0, k, 16].amax()) > 0.9
    assert float(gates[0, 1, 17].sum()) < float(gates[0, 1, 16].sum())  # 1 px off the axis: shorter
    assert float(gates[0, 1, 16 + int(0.5 * float(width)) + 1].amax()) < 0.5  # beyond the half-width

def test_streak_generator_moves_its_subframes():
    """Sub-frames at t = 0 and 1 differ (the window moves) while the streak's colours are shared."""
    torch.manual_seed(0)
    gen = StreakGenerator().eval()
    image, background = torch.rand(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    background[..., 12:20, 4:28] = image[..., 12:20, 4:28] - 0.5  # a horizontal streak where I != B
    with torch.no_grad():
        frames, _ = gen(image, background, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(frames[0, 0, :3], frames[0, 1, :3])
    cols = torch.arange(32.0)
    alpha = frames[0, :, 3].sum(dim=1)  # (2, W)
    centre = (alpha * cols).sum(dim=1) / alpha.sum(dim=1)
    assert float(centre[1] - centre[0]) > 4.0


@pytest.mark.parametrize("name", ["unet", "streak", "object"])
def test_checkpointing_keeps_outputs_and_gradients(name):
    torch.manual_seed(1)
    plain = build_generator(_cfg(name)).train()
    with torch.no_grad():  # a non-zero head so that gradients reach every layer
        for p in plain.decoder.head.parameters():
            p.normal_(std=0.1)
    ckpt = copy.deepcopy(plain)
    ckpt.set_gradient_checkpointing(True)
    image, background = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    outs = []
    for model in (plain, ckpt):
        frames, _ = model(image, background, subframe_times(3))
        frames.square().mean().backward()
        outs.append(frames)
    torch.testing.assert_close(outs[0], outs[1])
    for (pname, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-4, msg=pname)
    for (bname, a), b in zip(plain.named_buffers(), ckpt.buffers()):
        torch.testing.assert_close(a, b, msg=bname)


def test_deblat_appearance_inverts_the_blatting_equation():
    """I = c F + (1 - c) B for a static appearance F covered a share c of the exposure: deblatting returns F
    exactly where c >= COVER_MIN; below the floor it divides by COVER_MIN; the result stays in [0, 1]."""
    gen = torch.Generator().manual_seed(0)
    appearance, background = torch.rand(2, 3, 8, 8, generator=gen), torch.rand(2, 3, 8, 8, generator=gen)
    cover = torch.rand(2, 8, 8, generator=gen) * 0.9 + 0.1
    image = cover[:, None] * appearance + (1 - cover[:, None]) * background
    torch.testing.assert_close(deblat_appearance(image, background, cover), appearance)
    low = torch.full((1, 8, 8), COVER_MIN / 4)
    out = deblat_appearance(image[:1], background[:1], low)
    torch.testing.assert_close(out, (background[:1] + (image[:1] - background[:1]) / COVER_MIN).clamp(0, 1))
    assert out.min() >= 0 and out.max() <= 1


def test_untrained_deblatted_streak_reblurs_to_the_input():
    """Zero-initialised head (d = 0): the sub-frames on the coverage grid re-blur to I exactly wherever the
    coverage is above its floor and the deblatted appearance needs no clipping; the image-relative streak
    generator with the same weights does not (its appearance is I, so the object comes out faint)."""
    torch.manual_seed(0)
    gen = StreakGenerator(appearance="deblatted").eval()
    image, background = torch.full((1, 3, 32, 32), 0.3), torch.full((1, 3, 32, 32), 0.3)
    image[..., 13:19, 4:28] = 0.45  # a horizontal streak: object 0.75 over B 0.3 for ~0.33 of the exposure
    times = torch.linspace(0.0, 1.0, COVER_STEPS)
    with torch.no_grad():
        frames, _ = gen(image, background, times)
        logits, extent, _ = gen.streak(image, background)
        alpha = torch.sigmoid(logits[:, 3])
        weight = alpha * ((image - background).abs().sum(dim=1) / DIFF_SCALE).clamp(0.0, 1.0)
        cover = alpha * window_gates(weight, torch.sigmoid(extent), times).mean(dim=1)
        raw = background + (image - background) / cover.clamp_min(COVER_MIN)[:, None]
        ok = (cover >= COVER_MIN) & (raw > 0).all(dim=1) & (raw < 1).all(dim=1)
        assert ok.sum() > 20
        err = (blat(frames, background) - image).abs().amax(dim=1)
        torch.testing.assert_close(err[ok], torch.zeros_like(err[ok]), atol=1e-5, rtol=0)
        plain = StreakGenerator(appearance="image").eval()
        plain.load_state_dict(gen.state_dict())
        plain_err = (blat(plain(image, background, times)[0], background) - image).abs().amax(dim=1)
        assert float(plain_err[ok].mean()) > 0.02


def test_appearance_option_reaches_the_streak_generator():
    assert build_generator(_cfg("streak", "deblatted")).appearance == "deblatted"
    assert build_generator({"model": {"generator": "streak", "encoder": "resnet18", "pretrained": "none"}}).appearance == "image"
    with pytest.raises(ValueError, match="appearance"):
        StreakGenerator(appearance="sharp")


def test_window_stretch_lengthens_the_streak_it_sweeps():
    """A third fraction column s stretches the streak's length to (1 + s) sqrt(12 var): the window's centre then
    travels (1 + s) l - 2h with h = fraction_0 (1 + s) l / 2, reaching s l / 2 further out at each end."""
    weight = torch.zeros(1, 32, 48)
    weight[0, 15:18, 14:35] = 1.0  # a bar centred at x = 24
    _, _, length, _ = streak_moments(weight)
    times = torch.tensor([0.0, 1.0])
    plain = window_gates(weight, torch.tensor([[0.3, 0.5]]), times)
    stretched = window_gates(weight, torch.tensor([[0.3, 0.5, 0.5]]), times)
    xs = torch.arange(48.0)
    for gates, scale in ((plain, 1.0), (stretched, 1.5)):
        row = gates[0, :, 16]
        centres = (row * xs).sum(dim=1) / row.sum(dim=1)
        travel = scale * float(length) * (1 - 0.3)
        torch.testing.assert_close(centres, torch.tensor([24.0 - travel / 2, 24.0 + travel / 2]), atol=0.05, rtol=0)


def test_untrained_streak_stretch_is_the_documented_start():
    gen = StreakGenerator()
    torch.testing.assert_close(torch.sigmoid(gen.extent.bias[2]), torch.sigmoid(torch.tensor(STRETCH_INIT)))
    assert 1.1 < 1 + float(torch.sigmoid(gen.extent.bias[2].detach())) < 1.15
