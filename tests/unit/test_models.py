"""Models: shapes, batched vs per-time-step rendering, gradient checkpointing, discriminators, pretrained."""

from __future__ import annotations

import copy

import pytest
from model_helpers import randomize_bn
import torch
from torch import nn

from defmo.errors import UserError
from defmo.models import (
    build_ds, build_dt, build_generator, count_parameters, subframe_times,
)
from defmo.models.pretrained import adapt_first_conv, imagenet_file

torch.set_num_threads(1)  # 2 shared cores: more threads only spin-wait


def _cfg(**model):
    base = {"generator": "table1", "encoder": "resnet18", "pretrained": "none", "discriminator": "light",
            "ds_input": "masked", "ds_noise": 0.0, "dt_pairs": "sampled"}
    return {"model": {**base, **model}}




@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return build_generator(_cfg())


def test_generator_shapes_and_range(generator):
    image, background = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    frames, latent = generator.eval()(image, background, subframe_times(5))
    assert latent.shape == (2, 512, 2, 3)
    assert frames.shape == (2, 5, 4, 32, 48)
    assert frames.min() >= 0 and frames.max() <= 1
    assert generator.encode(torch.cat((image, background), 1)).shape == latent.shape


def test_subframe_times():
    assert torch.allclose(subframe_times(5), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert subframe_times(1).tolist() == [0.0]


def test_batched_render_equals_per_time_step_loop(generator):
    """The folded first convolution (latent part once, time part once) matches cat(t, latent) per step."""
    randomize_bn(generator)
    generator.eval()
    latent = torch.randn(2, 512, 2, 2)
    times = torch.tensor([0.0, 0.3, 0.7, 1.0])
    with torch.no_grad():
        batched, loop = generator.render(latent, times), generator.render_loop(latent, times)
    assert batched.shape == loop.shape == (2, 4, 4, 32, 32)
    torch.testing.assert_close(batched, loop, atol=2e-5, rtol=1e-4)
    # different times give different frames (the time channel is really used)
    assert (batched[:, 0] - batched[:, 3]).abs().max() > 1e-4


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_gradient_checkpointing_keeps_outputs_gradients_and_bn_stats(autocast):
    torch.manual_seed(1)
    plain = build_generator(_cfg()).train()
    ckpt = copy.deepcopy(plain)
    ckpt.set_gradient_checkpointing(True)
    image, background = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    times = subframe_times(2)
    outs = []
    for model in (plain, ckpt):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            frames, latent = model(image, background, times)
        (frames.float().square().mean() + latent.float().abs().mean()).backward()
        outs.append(frames)
    torch.testing.assert_close(outs[0], outs[1], atol=1e-6, rtol=1e-5)
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-4, msg=name)
    # batch norm running stats updated exactly once, as without checkpointing
    for (name, a), b in zip(plain.named_buffers(), ckpt.buffers()):
        torch.testing.assert_close(a, b, msg=name)


def test_checkpointing_really_checkpoints_both_halves(monkeypatch):
    """All four segments go through torch.utils.checkpoint (the report's code skipped the second halves)."""
    import defmo.models.checkpointing as cp

    calls = []
    real = cp.checkpoint

    def spy(fn, *args, **kw):
        calls.append(fn)
        return real(fn, *args, **kw)

    monkeypatch.setattr(cp, "checkpoint", spy)
    model = build_generator(_cfg()).train()
    model.set_gradient_checkpointing(True)
    model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), subframe_times(2))
    assert len(calls) == 4
    model.set_gradient_checkpointing(False)
    model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), subframe_times(2))
    assert len(calls) == 4


@pytest.mark.parametrize("kind", ["light", "resnet18"])
def test_ds_scores_and_masking(kind):
    torch.manual_seed(0)
    ds = build_ds(_cfg(discriminator=kind)).eval()
    rgba = torch.rand(2, 4, 48, 64)
    rgba[:, 3, :, :32] = 0.0  # transparent left half
    scores = ds(rgba)
    assert scores.shape == (2,)
    # patch map is ceil(H/32) x ceil(W/32) and the score is its mean
    patches = ds.head(ds.trunk(torch.cat((rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]), 1)))
    assert patches.shape == (2, 1, 2, 2)  # ceil(48/32) x ceil(64/32)
    torch.testing.assert_close(scores, patches.mean(dim=(1, 2, 3)))
    # masked input: RGB where alpha = 0 is invisible to D_S
    changed = rgba.clone()
    changed[:, :3, :, :32] = torch.rand(2, 3, 48, 32)
    torch.testing.assert_close(ds(changed), scores)
    raw = build_ds(_cfg(discriminator=kind, ds_input="raw")).eval()
    assert (raw(changed) - raw(rgba)).abs().max() > 1e-6


def test_ds_input_noise_only_in_training_mode():
    """``model.ds_noise`` > 0: two training-mode calls on the same input differ; eval mode and noise 0 do not."""
    torch.manual_seed(0)
    rgba = torch.rand(2, 4, 32, 32)
    noisy = build_ds(_cfg(ds_noise=0.05))
    assert noisy.noise == 0.05
    # spectral norm's power iteration also moves in training mode: compare at a fixed u, v
    noisy.train()
    for m in noisy.modules():
        if hasattr(m, "parametrizations"):
            m.parametrizations.weight[0].n_power_iterations = 0
    assert (noisy(rgba) - noisy(rgba)).abs().max() > 1e-6
    noisy.eval()
    torch.testing.assert_close(noisy(rgba), noisy(rgba), rtol=0, atol=0)
    quiet = build_ds(_cfg()).train()
    for m in quiet.modules():
        if hasattr(m, "parametrizations"):
            m.parametrizations.weight[0].n_power_iterations = 0
    torch.testing.assert_close(quiet(rgba), quiet(rgba), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["light", "resnet18"])
def test_discriminators_are_spectrally_normalised(kind):
    for net in (build_ds(_cfg(discriminator=kind)), build_dt(_cfg(discriminator=kind))):
        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    # spectral norm keeps the largest singular value of each (reshaped) weight at 1 after power iterations
    net = build_dt(_cfg(discriminator="light")).train()
    for _ in range(30):
        net(torch.rand(2, 4, 32, 32), torch.rand(2, 4, 32, 32))
    sigma = torch.linalg.matrix_norm(net.fc.weight.detach(), ord=2)
    assert abs(sigma.item() - 1.0) < 1e-3


def test_dt_is_an_order_sensitive_logit():
    torch.manual_seed(0)
    dt = build_dt(_cfg()).eval()
    a, b = torch.rand(2, 4, 32, 32), torch.rand(2, 4, 32, 32)
    ab, ba = dt(a, b), dt(b, a)
    assert ab.shape == (2,)
    assert (ab - ba).abs().max() > 1e-6
    with torch.no_grad():
        dt.fc.bias.fill_(5.0)
    assert dt(a, b).abs().max() > 1.0  # unbounded: a logit, not a probability


def test_adapt_first_conv_duplicates_rgb_kernel():
    w = torch.randn(8, 3, 7, 7)
    six = adapt_first_conv(w, "RGBRGB")
    torch.testing.assert_close(six[:, :3], w)
    torch.testing.assert_close(six[:, 3:], w)
    eight = adapt_first_conv(w, "RGBARGBA")
    torch.testing.assert_close(eight[:, 4:7], w)
    torch.testing.assert_close(eight[:, 3], w.mean(1))


def test_pretrained_from_path_loads_trunk(tmp_path):
    import torchvision

    torch.manual_seed(3)
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    gen = build_generator(_cfg(pretrained=str(path)))
    conv = gen.encoder.net[0][0].weight
    torch.testing.assert_close(conv[:, :3], ref.conv1.weight)
    torch.testing.assert_close(conv[:, 3:], ref.conv1.weight)
    torch.testing.assert_close(gen.encoder.net[1][3][1].conv2.weight, ref.layer4[1].conv2.weight)
    ds = build_ds(_cfg(pretrained=str(path), discriminator="resnet18"))
    torch.testing.assert_close(ds.trunk[0].parametrizations.weight.original[:, :3], ref.conv1.weight)


def test_pretrained_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(UserError, match="model.pretrained=imagenet.*resnet18-"):
        build_generator(_cfg(pretrained="imagenet"))
    with pytest.raises(UserError, match="does not exist"):
        build_generator(_cfg(pretrained=str(tmp_path / "missing.pth")))
    import torchvision

    wrong = tmp_path / "r50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), wrong)
    with pytest.raises(UserError, match="does not fit"):
        build_generator(_cfg(pretrained=str(wrong)))


def test_imagenet_reads_the_offline_hub_cache(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    path, _ = imagenet_file("resnet18")
    path.parent.mkdir(parents=True)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), path)
    gen = build_generator(_cfg(pretrained="imagenet"))
    torch.testing.assert_close(gen.encoder.net[0][0].weight[:, 3:], ref.conv1.weight)


def test_count_parameters(generator):
    lin = nn.Linear(3, 2)
    assert count_parameters(lin) == 8
    lin.bias.requires_grad_(False)
    assert count_parameters(lin) == 6 and count_parameters(lin, trainable_only=False) == 8
    assert 10_000_000 < count_parameters(generator) < 30_000_000


def test_light_discriminators_ignore_pretrained(tmp_path):
    """The light CNN has no ImageNet counterpart: a pretrained setting (even a missing file) is not read."""
    cfg = _cfg(pretrained=str(tmp_path / "not-there.pth"), discriminator="light")
    assert build_ds(cfg)(torch.rand(1, 4, 32, 32)).shape == (1,)
    assert build_dt(cfg)(torch.rand(1, 4, 32, 32), torch.rand(1, 4, 32, 32)).shape == (1,)
    with pytest.raises(UserError, match="does not exist"):
        build_ds(_cfg(pretrained=str(tmp_path / "not-there.pth"), discriminator="resnet18"))


def test_fresh_renderer_starts_nearly_transparent():
    """A new renderer's masks start near the data's coverage (few %), not at 0.5."""
    from defmo.models.renderer_arch import Renderer

    torch.manual_seed(0)
    renderer = Renderer(latent_channels=8).eval()
    with torch.no_grad():
        frames = renderer(torch.randn(2, 8, 2, 2), torch.linspace(0, 1, 3))
    assert frames.shape == (2, 3, 4, 32, 32)
    assert frames[:, :, 3].mean() < 0.15


def test_fresh_renderer_hears_time_as_loudly_as_the_latent():
    """At init the time channel's response in the first convolution is of the latent's order (not ~20x weaker),
    and a fresh renderer's sub-frames already differ over time."""
    from defmo.models.renderer_arch import TIME_WEIGHT_INIT, Renderer

    torch.manual_seed(0)
    renderer = Renderer(latent_channels=512).eval()
    conv = renderer.net[0]
    w_t = conv.weight[:, :1].detach()
    assert float(w_t.abs().max()) <= TIME_WEIGHT_INIT
    assert float(w_t.abs().max()) > 0.9 * TIME_WEIGHT_INIT  # really re-initialised, not the shared default bound
    latent = 1.5 * torch.randn(4, 512, 4, 4).clamp_min(0)  # ReLU features, mean ~0.6 and std ~0.9 as measured
    with torch.no_grad():
        per_sample = nn.functional.conv2d(latent, conv.weight[:, 1:], padding=1).std()
        per_time = nn.functional.conv2d(torch.ones(1, 1, 4, 4), w_t, padding=1).std()
        default = per_time / (TIME_WEIGHT_INIT * (9 * 513) ** 0.5)  # the same kernel under the shared bound
        assert 0.25 < float(per_time / per_sample) < 4.0
        assert float(default / per_sample) < 0.1
        frames = renderer(latent, torch.tensor([0.0, 1.0]))
    assert float((frames[:, 0] - frames[:, 1]).abs().mean()) > 1e-3
