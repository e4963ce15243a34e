"""The object generator's fit at inference (models/deblat_fit.py): the sub-frames tile the exposure, no steps
give back the network's template, the fit follows a bounce the start missed, lowers the blatting residual and
leaves the network alone, it runs only when asked (``infer``), and on the benchmark its sub-frames are the
protocol's slices."""

from __future__ import annotations

import math

import pytest
import torch

from defmo.data.blatting import blat
from defmo.models import build_generator
from defmo.models.deblat_fit import (FIT_CLAMP, ellipse_from_moments, ellipse_mask_logits, fit_to_image, infer,
                                      knot_weights, slice_times)
from defmo.models.object_arch import ObjectGenerator, canvas_offsets, place
from defmo.models.unet_arch import COVER_STEPS
from defmo.settings import Model

torch.set_num_threads(1)


def scene(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured background and the same with a bright bar streaked across it."""
    gen = torch.Generator().manual_seed(seed)
    background = 0.3 + 0.2 * torch.rand(1, 3, size, size, generator=gen)
    image = background.clone()
    image[:, :, 12:18, 6:26] = 0.5 * image[:, :, 12:18, 6:26] + 0.5 * torch.tensor([0.9, 0.8, 0.1])[None, :, None, None]
    return image, background


def residual(frames: torch.Tensor, image: torch.Tensor, background: torch.Tensor) -> float:
    """Mean L1 of I - blat(sub-frames), what the fit minimises."""
    return float((blat(frames, background) - image).abs().sum(dim=1).mean())


def test_the_sub_frames_slices_tile_the_exposure():
    for count in (1, 4, 8, 41):
        at = slice_times(torch.linspace(0.0, 1.0, count) if count > 1 else torch.zeros(1))
        samples = math.ceil(COVER_STEPS / count)
        assert at.shape == (count, samples)
        # every slice sampled at its own evenly spaced times; together evenly spaced over [0, 1]
        expected = (torch.arange(count * samples, dtype=torch.float32) + 0.5) / (count * samples)
        torch.testing.assert_close(at.flatten(), expected)


def test_the_knot_weights_interpolate_linearly():
    weights = knot_weights(torch.tensor([0.0, 0.125, 0.5, 1.0]), 5)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))
    torch.testing.assert_close(weights[1], torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(weights[2], torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))


def test_no_steps_give_the_networks_template_averaged_over_each_slice():
    torch.manual_seed(0)
    generator = ObjectGenerator().eval()
    image, background = scene()
    times = torch.linspace(0.0, 1.0, 4)
    at = slice_times(times)
    with torch.no_grad():
        network = generator(image, background, at.flatten())[0].view(1, *at.shape, 4, 32, 32).mean(dim=2)
    fitted = fit_to_image(generator, image, background, times, steps=0)
    assert fitted.shape == (1, 4, 4, 32, 32)
    # the same template at the same positions; only the mask's clamp before its logit differs
    torch.testing.assert_close(fitted[:, :, 3], network[:, :, 3], atol=FIT_CLAMP + 1e-5, rtol=0)


class Line:
    """A path the fit can start from: a straight line between two points, no rotation."""

    def __init__(self, start, end):
        self.start, self.end = torch.tensor([start]), torch.tensor([end])

    def positions(self, times):
        return self.start[:, None] + times[None, :, None] * (self.end - self.start)[:, None]

    def angles(self, times):
        return torch.zeros(1, len(times))


def bounce(times):
    """A bounce at t = 1/2 (a knot of the fit): down-right, then up-right; (1, T, 2) pixels."""
    first = torch.tensor([10.0, 12.0]) + times.clamp(max=0.5)[:, None] * torch.tensor([24.0, 28.0])
    return (first + (times - 0.5).clamp(min=0.0)[:, None] * torch.tensor([24.0, -24.0]))[None]


def centroids(alpha):
    """Alpha-weighted centres (x, y) of ``(T, H, W)`` -> (T, 2)."""
    ys, xs = torch.meshgrid(torch.arange(alpha.shape[1]), torch.arange(alpha.shape[2]), indexing="ij")
    mass = alpha.sum(dim=(1, 2))
    return torch.stack(((alpha * xs).sum(dim=(1, 2)), (alpha * ys).sum(dim=(1, 2))), dim=1) / mass[:, None]


def test_the_fit_follows_a_bounce_that_its_start_missed():
    """A disk blurred along a bounce; the fit starts on the straight line between the bounce's ends with the
    disk's own mask: its sub-frames land on the slices' true centres (as a high-speed camera films them)."""
    size, canvas = 48, 10
    dy, dx = canvas_offsets(canvas, torch.zeros(1))
    disk = torch.sigmoid((3.0 - torch.sqrt(dx ** 2 + dy ** 2)) * 4)[None, None]
    obj = torch.cat((torch.tensor([0.9, 0.2, 0.1])[None, :, None, None] * torch.ones_like(disk), disk), dim=1)
    gen = torch.Generator().manual_seed(1)
    background = 0.2 + 0.3 * torch.rand(1, 3, size, size, generator=gen)
    grid = torch.linspace(0.0, 1.0, 4 * COVER_STEPS)
    image = blat(place(obj, bounce(grid), torch.zeros(1, len(grid)), (size, size)), background)
    times = torch.linspace(0.0, 1.0, 8)
    truth = bounce(slice_times(times).mean(dim=1))[0]  # each slice's mean position
    template = torch.cat((disk, torch.zeros(1, 3, canvas, canvas)), dim=1)
    start = Line([10.0, 12.0], [34.0, 14.0])
    fitted = fit_to_image(None, image, background, times, steps=150, path=start, template=template)
    before = fit_to_image(None, image, background, times, steps=0, path=start, template=template)
    err_before = (centroids(before[0, :, 3]) - truth).norm(dim=1)
    err_after = (centroids(fitted[0, :, 3]) - truth).norm(dim=1)
    assert float(err_before.max()) > 5.0
    assert float(err_after.max()) < 0.75, err_after


def test_the_fit_lowers_the_blatting_residual_and_leaves_the_network_alone():
    torch.manual_seed(0)
    generator = ObjectGenerator().eval()
    weights = {k: v.clone() for k, v in generator.state_dict().items()}
    image, background = scene()
    times = torch.linspace(0.0, 1.0, COVER_STEPS)
    before = residual(fit_to_image(generator, image, background, times, steps=0), image, background)
    after = residual(fit_to_image(generator, image, background, times, steps=30), image, background)
    assert after < 0.7 * before
    assert all(torch.equal(v, generator.state_dict()[k]) for k, v in weights.items())
    assert all(p.grad is None for p in generator.parameters())


def test_infer_fits_only_when_asked():
    torch.manual_seed(0)
    generator = ObjectGenerator(fit_steps=5).eval()
    image, background = scene()
    times = torch.linspace(0.0, 1.0, 4)
    with torch.no_grad():
        network = generator(image, background, times)[0]  # evaluation mode: still the network's sub-frames
        torch.testing.assert_close(infer(generator, image, background, times), network)
        fitted = infer(generator, image, background, times, fit=True)
    torch.testing.assert_close(fitted, fit_to_image(generator, image, background, times, steps=5))
    assert not torch.allclose(fitted, network)
    generator.fit_steps = 0  # no fit configured: the network alone even when asked
    with torch.no_grad():
        torch.testing.assert_close(infer(generator, image, background, times, fit=True), network)


def test_benchmark_subframes_with_the_fit_are_centred_on_the_protocols_slices(monkeypatch):
    """The protocol's sub-frame i of n is the mean over the slice [i/n, (i+1)/n] of the exposure. With the fit,
    NetworkMethod asks for n sub-frames, each the fit's mean over its own slice, centred at (i + 1/2)/n (asking
    for the 5n+1 oversampled times and dropping the last, as for the network alone, shifted them early)."""
    from defmo.evaluate import methods

    asked = []
    monkeypatch.setattr(methods, "infer", lambda model, image, bg, times, fit: asked.append((times, fit)) or
                        torch.zeros(1, len(times), 4, *image.shape[-2:]))
    n = 8
    for fit in (False, True):
        method = methods.NetworkMethod(None, (32, 32), 5, torch.device("cpu"), "full", fit=fit)
        method.render(torch.rand(40, 40, 3).numpy(), torch.rand(40, 40, 3).numpy(), [0, 0, 40, 40], n)
    (network_times, _), (fit_times, fitted) = asked
    assert len(network_times) == 5 * n + 1 and fitted and len(fit_times) == n
    centres = slice_times(fit_times).mean(dim=1)
    torch.testing.assert_close(centres, (torch.arange(n) + 0.5) / n)
    shifted = methods.group_mean(slice_times(network_times).mean(dim=1), n)  # the fit on the oversampled times
    assert float((shifted - (torch.arange(n) + 0.5) / n).abs().max()) > 0.02


def test_the_option_reaches_the_generator_and_old_checkpoints_do_not_fit():
    model = {"generator": "object", "appearance": "deblatted", "encoder": "resnet18", "pretrained": "none",
             "fit_steps": 7}
    assert build_generator({"model": model}).fit_steps == 7
    old = {k: v for k, v in model.items() if k != "fit_steps"}
    assert Model.from_saved(old).fit_steps == 0
    with pytest.raises(ValueError, match="fit_steps"):
        ObjectGenerator(fit_steps=-1)


def test_the_fit_and_mask_hyperparameters_come_from_the_model_params(monkeypatch):
    """model.fit_lr / fit_mask_lr / fit_knots reach the fit, model.deblat_iters / deblat_step the mask's
    Landweber fit; a checkpoint saved before they were params gets the values it was trained and scored with."""
    import defmo.models.deblat_fit as deblat_fit
    import defmo.models.object_arch as object_arch

    model = {"generator": "object", "appearance": "deblatted", "encoder": "resnet18", "pretrained": "none",
             "fit_steps": 2, "fit_lr": 0.05, "fit_mask_lr": 0.2, "fit_knots": 3, "deblat_iters": 4, "deblat_step": 0.5}
    gen = build_generator({"model": model}).eval()
    seen = {}
    real_fit, real_mask = deblat_fit.fit_to_image, object_arch.deblat_mask
    monkeypatch.setattr(deblat_fit, "fit_to_image", lambda *a, **kw: seen.update(fit=kw) or real_fit(*a, **kw))
    monkeypatch.setattr(object_arch, "deblat_mask", lambda *a: seen.update(mask=a[3:]) or real_mask(*a))
    image, background = scene()
    infer(gen, image, background, torch.linspace(0, 1, 4), fit=True)
    assert seen["fit"] == {"lr": 0.05, "mask_lr": 0.2, "knots": 3} and seen["mask"] == (4, 0.5)
    seen.clear()
    infer(gen, image, background, torch.linspace(0, 1, 4), fit=True, steps=1, samples=5)  # deblur's own count
    assert seen["fit"] == {"lr": 0.05, "mask_lr": 0.2, "knots": 3, "samples": 5}
    calls = []
    monkeypatch.setattr(deblat_fit, "blat", lambda frames, bg: calls.append(frames.shape[1]) or blat(frames, bg))
    deblat_fit.fit_to_image(gen, image, background, torch.linspace(0, 1, 4), 3, samples=5)
    assert calls == [5, 5, 5]  # each step renders the blur at 5 exposure times
    old = Model.from_saved({k: v for k, v in model.items() if not k.startswith(("fit_", "deblat_"))})
    assert (old.fit_lr, old.fit_mask_lr, old.fit_knots, old.deblat_iters, old.deblat_step) == (0.3, 1.0, 5, 16, 1.5)
    assert (old.time_sigma, old.align_knots, old.template_width) == (0.05, 5, 32)
    shaped = build_generator({"model": {**model, "time_sigma": 0.2, "align_knots": 3, "template_width": 8}})
    assert shaped.template.head.in_channels == 8 and shaped.align_knots == 3
    assert shaped.path(image, background)[0].sigma == 0.2


def _centres(frames: torch.Tensor) -> torch.Tensor:
    """Alpha-weighted centres (x, y) of sub-frames ``(T, 4, H, W)``."""
    alpha = frames[:, 3]
    ys, xs = torch.meshgrid(torch.arange(alpha.shape[1]).float(), torch.arange(alpha.shape[2]).float(), indexing="ij")
    mass = alpha.sum(dim=(1, 2))
    return torch.stack(((alpha * xs).sum(dim=(1, 2)) / mass, (alpha * ys).sum(dim=(1, 2)) / mass), dim=1)


def test_the_streak_line_fixes_the_path_length_and_direction():
    """With the detector's centre line, the fitted path is that segment shifted and bent: the object travels
    the streak's length in the streak's direction whatever the network's own path says (real footage)."""
    image, background = scene()
    torch.manual_seed(0)
    generator = ObjectGenerator().eval()
    times = torch.linspace(0.0, 1.0, 4)
    for line in (torch.tensor([[[10.0, 15.0], [22.0, 15.0]]]), torch.tensor([[[22.0, 15.0], [10.0, 15.0]]])):
        frames = fit_to_image(generator, image, background, times, steps=30, line=line)[0]
        centres = _centres(frames)
        step = centres[-1] - centres[0]
        travel = line[0, 1] - line[0, 0]
        assert float(step @ travel) > 0  # the direction of motion is the line's
        # the first and last slices are centred 1/8 of the exposure from the ends: 3/4 of the segment apart
        assert float(step.norm()) == pytest.approx(0.75 * float(travel.norm()), abs=1.5)


def test_total_variation_makes_the_object_one_clean_shape():
    image, background = scene()
    torch.manual_seed(0)
    generator = ObjectGenerator().eval()
    times = torch.linspace(0.0, 1.0, 4)
    line = torch.tensor([[[10.0, 15.0], [22.0, 15.0]]])

    def roughness(frames):
        alpha = frames[0, :, 3:]
        return float(alpha.diff(dim=-1).abs().mean() + alpha.diff(dim=-2).abs().mean())

    plain = fit_to_image(generator, image, background, times, steps=40, line=line)
    smooth = fit_to_image(generator, image, background, times, steps=40, line=line, tv=0.5)
    assert roughness(smooth) < roughness(plain)


def test_the_ellipse_mask_is_opaque_inside_with_a_one_pixel_edge():
    """Centre (2, -1), half-axes 8 and 3, major axis at 0.5 rad: alpha is 1 well inside, 0 a pixel beyond the
    edge, and a half exactly on it."""
    params = torch.tensor([[2.0, -1.0, math.log(8.0), math.log(3.0), 0.5]])
    alpha = torch.sigmoid(ellipse_mask_logits(params, 41))[0]
    dy, dx = canvas_offsets(41, alpha)
    along = math.cos(0.5) * (dx - 2.0) + math.sin(0.5) * (dy + 1.0)
    across = -math.sin(0.5) * (dx - 2.0) + math.cos(0.5) * (dy + 1.0)
    radial = torch.sqrt((along / 8.0) ** 2 + (across / 3.0) ** 2)
    assert float(alpha[radial < 0.5].min()) > 0.99
    assert float(alpha[radial > 1.0 + 1.0 / 3.0].max()) < 0.02  # a pixel beyond the edge across the minor axis
    tip = torch.tensor([[2.0 + 8.0 * math.cos(0.5), -1.0 + 8.0 * math.sin(0.5)]])  # on the edge
    on_edge = float(torch.sigmoid(ellipse_mask_logits(params, 41))[0][20 + round(float(tip[0, 1])),
                                                                        20 + round(float(tip[0, 0]))])
    assert 0.05 < on_edge < 0.95


def test_the_ellipse_starts_from_the_masks_moments():
    params = torch.tensor([[2.0, -1.0, math.log(8.0), math.log(3.0), 0.5]])
    alpha = torch.sigmoid(ellipse_mask_logits(params, 41))
    start = ellipse_from_moments(alpha)[0]
    assert start[:2].tolist() == pytest.approx([2.0, -1.0], abs=0.1)
    assert start[2:4].exp().tolist() == pytest.approx([8.0, 3.0], rel=0.1)
    assert float(start[4]) == pytest.approx(0.5, abs=0.02)
    empty = ellipse_from_moments(torch.zeros(1, 41, 41))  # no mask at all: a finite start, not NaN
    assert torch.isfinite(empty).all()


def test_the_ellipse_shape_gives_an_opaque_object_that_still_fits_the_image():
    """On the streaked bar, the per-pixel mask spreads the blur into a translucent object; the ellipse keeps one
    opaque silhouette and still lowers the blatting residual from the network's start."""
    image, background = scene()
    torch.manual_seed(0)
    generator = ObjectGenerator().eval()
    times = torch.linspace(0.0, 1.0, 4)
    line = torch.tensor([[[10.0, 15.0], [22.0, 15.0]]])

    def opacity(frames):
        alpha = frames[0, :, 3]
        return float(alpha[alpha > 0.05].mean())

    start = fit_to_image(generator, image, background, times, steps=0, line=line)
    free = fit_to_image(generator, image, background, times, steps=40, line=line, tv=0.05)
    ellipse = fit_to_image(generator, image, background, times, steps=40, line=line, tv=0.05, shape="ellipse")
    assert opacity(ellipse) > opacity(free) + 0.1
    assert residual(ellipse, image, background) < residual(start, image, background)


def test_the_fit_starts_from_the_line_whose_blur_fits_best():
    """Given the track's line 10 px below the bar's streak and the streak's own line among ``starts``, the fit
    starts from the streak's (real footage: a track that joined the wrong frames does not place the object)."""
    image, background = scene()
    torch.manual_seed(0)
    generator = ObjectGenerator().eval()
    times = torch.linspace(0.0, 1.0, 4)
    wrong, right = torch.tensor([[[10.0, 25.0], [22.0, 25.0]]]), torch.tensor([[[10.0, 15.0], [22.0, 15.0]]])
    alone = _centres(fit_to_image(generator, image, background, times, steps=0, line=wrong)[0])
    chosen = _centres(fit_to_image(generator, image, background, times, steps=0, line=wrong, starts=right[:, None])[0])
    assert float(alone[:, 1].mean()) == pytest.approx(25.0, abs=1.0)
    assert float(chosen[:, 1].mean()) == pytest.approx(15.0, abs=1.0)
    # the other way round the track's own line is kept
    kept = _centres(fit_to_image(generator, image, background, times, steps=0, line=right, starts=wrong[:, None])[0])
    assert float(kept[:, 1].mean()) == pytest.approx(15.0, abs=1.0)


def test_the_pull_frees_the_ends_and_holds_them_near_the_start():
    """A line half as long as the bar's streak: with the ends fixed (``pull=None``) the travel stays the line's;
    with a weak pull the ends follow the data and the travel grows; a strong pull keeps it."""
    image, background = scene()
    times = torch.linspace(0.0, 1.0, 4)
    short = torch.tensor([[[13.0, 15.0], [19.0, 15.0]]])

    def travel(pull):
        torch.manual_seed(0)
        frames = fit_to_image(ObjectGenerator().eval(), image, background, times, steps=60, line=short, pull=pull,
                              shape="ellipse")[0]
        centres = _centres(frames)
        return float((centres[-1] - centres[0]).norm())

    fixed, weak, strong = travel(None), travel(0.001), travel(1000.0)
    assert fixed == pytest.approx(0.75 * 6.0, abs=1.0)
    assert weak > fixed + 1.0
    assert strong == pytest.approx(fixed, abs=0.5)
