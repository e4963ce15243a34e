"""CUDA paths of the models and losses (skipped without CUDA): fp16 autocast, checkpointing, float32 losses."""

from __future__ import annotations

import copy

import pytest
import torch

from defmo.losses import loss_f, loss_i, loss_n, loss_s, loss_t, wgan_critic_loss, wgan_generator_loss
from defmo.models import build_ds, build_dt, build_generator, subframe_times

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


def _cfg(discriminator="resnet18"):
    return {"model": {"generator": "table1", "encoder": "resnet18", "pretrained": "none", "discriminator": discriminator,
                      "ds_input": "masked", "ds_noise": 0.0, "dt_pairs": "all"}}


def test_cuda_batched_render_matches_loop_under_fp16():
    torch.manual_seed(0)
    gen = build_generator(_cfg()).to(CUDA).eval()
    image, background = torch.rand(2, 3, 64, 64, device=CUDA), torch.rand(2, 3, 64, 64, device=CUDA)
    times = subframe_times(6, CUDA)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        frames, latent = gen(image, background, times)
        loop = gen.render_loop(latent, times)
    assert frames.shape == (2, 6, 4, 64, 64) and torch.isfinite(frames).all()
    torch.testing.assert_close(frames.float(), loop.float(), atol=5e-3, rtol=0)


def test_cuda_checkpointing_same_gradients():
    torch.manual_seed(1)
    plain = build_generator(_cfg()).to(CUDA).train()
    ckpt = copy.deepcopy(plain)
    ckpt.set_gradient_checkpointing(True)
    image, background = torch.rand(2, 3, 64, 64, device=CUDA), torch.rand(2, 3, 64, 64, device=CUDA)
    for model in (plain, ckpt):
        frames, _ = model(image, background, subframe_times(4, CUDA))
        frames.square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-3, msg=name)
    for (name, a), b in zip(plain.named_buffers(), ckpt.buffers()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("discriminator", ["resnet18", "light"])
def test_cuda_losses_fp16_are_float32_and_finite(discriminator):
    torch.manual_seed(2)
    gen = build_generator(_cfg()).to(CUDA)
    ds, dt = build_ds(_cfg(discriminator)).to(CUDA), build_dt(_cfg(discriminator)).to(CUDA)
    image, background = torch.rand(2, 3, 64, 64, device=CUDA), torch.rand(2, 3, 64, 64, device=CUDA)
    gt = torch.rand(2, 4, 4, 64, 64, device=CUDA)
    with torch.autocast("cuda", dtype=torch.float16):
        frames, _ = gen(image, background, subframe_times(4, CUDA))
        values = [loss_f(frames, gt), loss_i(frames, image, background), loss_t(frames), loss_s(frames),
                  wgan_generator_loss(ds, frames, gt), loss_n(dt, frames, "all"), wgan_critic_loss(ds, gt, frames)]
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in values)
    sum(values[:-1]).backward()
    assert all(torch.isfinite(p.grad).all() for p in gen.parameters() if p.grad is not None)
