"""The object generator (models/object_arch.py): placing a known object along a known path reproduces it, the
time map's band centroids follow a bounce, the untrained generator re-blurs to the input, and no time order is
built in."""

from __future__ import annotations

import math

import pytest
import torch

from defmo.data.blatting import blat
from defmo.models import build_generator, subframe_times
from defmo.models.object_arch import (WIDTH_FLOOR, ObjectGenerator, Path, band_centroids, canvas_offsets,
                                      deblat_mask, ellipse_logits, gather, place, width_fraction)
from defmo.models.unet_arch import COVER_MIN, COVER_STEPS

torch.set_num_threads(1)


def _pattern(size: int = 8, channels: int = 4, seed: int = 0) -> torch.Tensor:
    """A random object on an ``size x size`` canvas, zero on its border (fully inside the canvas)."""
    gen = torch.Generator().manual_seed(seed)
    template = torch.zeros(1, channels, size, size)
    template[..., 1:-1, 1:-1] = torch.rand(1, channels, size - 2, size - 2, generator=gen)
    return template


def test_place_at_integer_offsets_pastes_the_object_exactly():
    """Canvas pixel j sits at offset j - (S - 1) / 2 from the position: with positions on half pixels (S even)
    every canvas pixel lands on an image pixel, and the object appears unchanged, zero elsewhere."""
    template = _pattern()
    positions = torch.tensor([[[10.5, 20.5], [30.5, 5.5]]])  # (x, y): top-left pixel of the canvas at (7, 17), (27, 2)
    out = place(template, positions, torch.zeros(1, 2), (32, 40))
    for k, (col, row) in enumerate(((7, 17), (27, 2))):
        torch.testing.assert_close(out[0, k, :, row:row + 8, col:col + 8], template[0])
        outside = out[0, k].clone()
        outside[:, row:row + 8, col:col + 8] = 0
        assert float(outside.abs().max()) == 0.0


def test_place_rotates_about_the_position():
    """A quarter turn: the object at angle pi/2 is the canvas rotated by 90 degrees (x -> y)."""
    template = _pattern(seed=1)
    out = place(template, torch.tensor([[[15.5, 15.5]]]), torch.tensor([[math.pi / 2]]), (32, 32))
    crop = out[0, 0, :, 12:20, 12:20]
    # pixel (x, y) shows canvas offset R(-pi/2)(x - p) = (dy, -dx): a counter-clockwise quarter turn of the array
    torch.testing.assert_close(crop, torch.rot90(template[0], k=-1, dims=(1, 2)), atol=1e-5, rtol=0)


def test_gather_is_the_adjoint_of_place_for_one_position():
    """Sampling an image around a position where an object was placed returns the object (integer offsets)."""
    template = _pattern(seed=2)
    image = place(template, torch.tensor([[[12.5, 9.5]]]), torch.zeros(1, 1), (24, 24))[:, 0]
    back = gather(image, torch.tensor([[[12.5, 9.5], [12.5, 9.5]]]), torch.zeros(1, 2), 8)
    torch.testing.assert_close(back, template)


def _bounce_path(height: int = 40, width: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A V-shaped streak 3 px wide: (10, 8) -> (24, 32) -> (38, 8) in (x, y), with the time map the share of
    the path's length at each pixel's nearest point on it; returns weight, tau and the corners."""
    corners = torch.tensor([[10.0, 8.0], [24.0, 32.0], [38.0, 8.0]])
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    points = torch.stack((xs, ys), dim=-1)
    seg_len = (corners[1:] - corners[:-1]).norm(dim=1)
    best_dist, best_tau = torch.full((height, width), 1e9), torch.zeros(height, width)
    for i in range(2):
        a, d = corners[i], corners[i + 1] - corners[i]
        s = ((points - a) @ d / (d @ d)).clamp(0, 1)
        dist = (points - (a + s[..., None] * d)).norm(dim=-1)
        tau = (seg_len[:i].sum() + s * seg_len[i]) / seg_len.sum()
        closer = dist < best_dist
        best_dist, best_tau = torch.where(closer, dist, best_dist), torch.where(closer, tau, best_tau)
    return (best_dist <= 1.5).float()[None], best_tau[None], corners


def test_band_centroids_follow_a_bounce():
    """Positions at time levels of a V path's time map lie on the path at that share of its length: within 0.6
    pixels on the legs; at the corner the band spans both legs and cuts it by under 2 pixels, where the chord
    between the path's ends (a straight window's path) passes 24 pixels away."""
    weight, tau, corners = _bounce_path()
    seg_len = (corners[1:] - corners[:-1]).norm(dim=1)
    corner = float(seg_len[0] / seg_len.sum())
    levels = torch.tensor([[0.1, 0.2, 0.35, corner, 0.65, 0.8, 0.9]])
    centres = band_centroids(weight, tau, levels, sigma=0.05)[0]  # params.yaml's model.time_sigma
    for level, got in zip(levels[0], centres):
        along = float(level) * float(seg_len.sum())
        i = 0 if along <= seg_len[0] else 1
        share = (along - float(seg_len[:i].sum())) / float(seg_len[i])
        want = corners[i] + share * (corners[i + 1] - corners[i])
        bound = 2.0 if float(level) == corner else 0.6
        assert float((got - want).norm()) < bound, (float(level), got, want)


def test_a_known_object_along_a_known_path_is_rendered_there():
    """The generator's renderer (Path + place) shows a given object at the positions of a given time map: the
    alpha-weighted centroid of each rendered sub-frame is the path's position, and its RGBA is the object."""
    weight, tau, _ = _bounce_path()
    path = Path(weight, tau, torch.tensor([0.1]), torch.tensor([[1.0, 0.0]]), torch.tensor([3.0]),
                torch.tensor([3.0]), torch.tensor([0.0]))
    template = _pattern(size=8, seed=3)
    template[:, 3] = (template[:, 3] > 0).float()  # an opaque object
    times = torch.linspace(0.0, 1.0, 6)
    positions = path.positions(times)
    frames = place(template, positions, path.angles(times), (40, 48))[0]  # (T, 4, H, W)
    ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(48.0), indexing="ij")
    ref = template[0, 3]
    canvas_dy, canvas_dx = canvas_offsets(8, ref)
    ref_x, ref_y = float((ref * canvas_dx).sum() / ref.sum()), float((ref * canvas_dy).sum() / ref.sum())
    for t, frame in enumerate(frames):
        alpha = frame[3]
        centre = torch.stack(((alpha * xs).sum() / alpha.sum(), (alpha * ys).sum() / alpha.sum()))
        torch.testing.assert_close(centre, positions[0, t] + torch.tensor([ref_x, ref_y]), atol=1e-3, rtol=0)
        torch.testing.assert_close(alpha.sum(), ref.sum(), atol=1e-3, rtol=0)  # the whole object, not a piece
    # kappa = 0.1: t = 0 and 1 are 10% of the path's length in from its ends
    leg = torch.tensor([24.0, 32.0]) - torch.tensor([10.0, 8.0])
    want = torch.tensor([10.0, 8.0]) + 0.2 * leg  # 10% of the whole path is 20% of the first leg
    assert float((positions[0, 0] - want).norm()) < 0.6


def test_deblatting_recovers_a_disk_from_its_streak():
    """The mask step of Tracking by Deblatting: a disk of radius 4 blurred along a known straight path is the
    coverage; from an ellipse prior twice its size the fitted mask overlaps the disk far better (IoU at 0.5)."""
    height, width, size = 32, 48, 16
    xs = torch.linspace(14.0, 34.0, 41)  # the centre's path: 20 px along x at row 16
    tau = ((torch.arange(width, dtype=torch.float32) - 14.0) / 20.0).clamp(0, 1).expand(height, width)
    dy, dx = canvas_offsets(size, tau)
    disk = ((dx ** 2 + dy ** 2) <= 16.0).float()
    centres = torch.stack((xs, torch.full_like(xs, 15.5)), dim=-1)[None]
    coverage = place(disk[None, None], centres, torch.zeros(1, len(xs)), (height, width))[0, :, 0].mean(dim=0)
    path = Path(coverage[None], tau[None].clone(), torch.tensor([0.0]), torch.tensor([[1.0, 0.0]]),
                torch.tensor([8.0]), torch.tensor([8.0]), torch.tensor([0.0]))
    path.positions = lambda times: torch.stack((14.0 + 20.0 * times, torch.full_like(times, 15.5)), dim=-1)[None]
    prior = ellipse_logits(dx[None], dy[None], path.axis, path.half, path.radius)

    def iou(mask: torch.Tensor) -> float:
        pred = mask > 0.5
        return float((pred & (disk > 0)).sum() / (pred | (disk > 0)).sum())

    fitted = deblat_mask(prior, path, (height, width))[0]
    assert iou(torch.sigmoid(prior[0])) < 0.3
    assert iou(fitted) > 0.85
    assert float(fitted.min()) >= 0.0 and float(fitted.max()) <= 1.0


def test_untrained_object_generator_reblurs_to_the_input():
    """Zero-initialised residuals: the sub-frames on the coverage grid re-blur to I exactly wherever the
    coverage is above its floor and the deblatted appearance needs no clipping."""
    torch.manual_seed(0)
    gen = ObjectGenerator(appearance="deblatted").eval()
    image, background = torch.full((1, 3, 32, 32), 0.3), torch.full((1, 3, 32, 32), 0.3)
    image[..., 13:19, 4:28] = 0.45  # a horizontal streak
    times = torch.linspace(0.0, 1.0, COVER_STEPS)
    with torch.no_grad():
        frames, _ = gen(image, background, times)
        cover = frames[:, :, 3].mean(dim=1)
        raw = background + (image - background) / cover.clamp_min(COVER_MIN)[:, None]
        ok = (cover >= COVER_MIN) & (raw > 0).all(dim=1) & (raw < 1).all(dim=1)
        assert ok.sum() > 20
        err = (blat(frames, background) - image).abs().amax(dim=1)
        torch.testing.assert_close(err[ok], torch.zeros_like(err[ok]), atol=1e-5, rtol=0)


def test_untrained_object_moves_along_the_streak_as_the_object():
    """Untrained: the sub-frames at t = 0 and 1 are at the streak's two ends, each an object about as wide as
    the streak (the ellipse prior), not the whole streak."""
    torch.manual_seed(0)
    gen = ObjectGenerator().eval()
    with torch.no_grad():
        gen.extent.weight[3].zero_()
        gen.extent.bias[3] = 3.0  # a definite direction for the test
    background = torch.rand(1, 3, 32, 48) * 0.5
    image = background.clone()
    image[..., 13:19, 6:42] += 0.4  # a horizontal streak 36 px long, 6 px wide where I != B
    with torch.no_grad():
        frames, _ = gen(image, background, torch.tensor([0.0, 1.0]))
    alpha = frames[0, :, 3]
    cols = torch.arange(48.0)
    centre = (alpha.sum(dim=1) * cols).sum(dim=1) / alpha.sum(dim=(1, 2))
    assert float(centre[1] - centre[0]) > 12.0
    assert float((alpha > 0.5).sum(dim=(1, 2)).max()) < 0.6 * 36 * 6


def _directions(init_seed: int) -> torch.Tensor:
    """The untrained direction logit g (s = tanh(g)) of 16 varied input pairs, through the generator's encoder
    and head exactly as :meth:`ObjectGenerator.path` computes it."""
    torch.manual_seed(init_seed)
    gen = ObjectGenerator().eval()
    data = torch.Generator().manual_seed(100)
    image, background = torch.rand(16, 3, 32, 32, generator=data), torch.rand(16, 3, 32, 32, generator=data)
    with torch.no_grad():
        feats = gen.encoder(torch.cat((image, background), dim=1))
        return gen.extent(feats[-1].mean(dim=(2, 3)))[:, 3]


def test_direction_is_a_per_sample_output_but_canonical_at_init():
    """The time direction g is computed per sample from the input (it varies across inputs at every
    initialisation), but at initialisation its sign is mostly shared by all inputs: the pooled ReLU features are
    all positive, so a zero-mean head gives them one common sign in most initialisations (4 of these 5). That is
    harmless for L_F and L_T, which take the better of both time directions; training makes it input-dependent
    (docs/history/cpu-training-runs-and-fixes.md, "The time direction at initialisation")."""
    directions = [_directions(seed) for seed in range(5)]
    assert all(float(d.std()) > 1e-3 for d in directions)  # a function of the input, not a constant
    one_sign = sum(bool((d > 0).all() or (d < 0).all()) for d in directions)
    assert one_sign == 4  # canonical at init in 4 of 5: what the docs state


def test_degenerate_width_from_the_amd_run_gives_finite_values_and_gradients(repo):
    """The inputs of ellipse_logits for sample 4 of step 583 of the proposed run that died on an AMD EPYC: a
    radius of 7.9e-19 px overflowed (across / radius)^2 to inf and backward's 0 * inf wrote NaN into the weights.
    The radius floor keeps the prior, its mask and every gradient finite."""
    case = torch.load(repo / "tests" / "fixtures" / "nan_step583" / "ellipse_step583.pt")
    half, radius = case["half"].clone().requires_grad_(True), case["radius"].clone().requires_grad_(True)
    assert float(radius.detach()) < 1e-17  # the degenerate case itself
    prior = ellipse_logits(case["dx"], case["dy"], case["axis"], half, radius)
    assert torch.isfinite(prior).all()
    prior.backward(case["grad_prior"])  # the upstream gradient that reached the prior in the real step
    torch.sigmoid(ellipse_logits(case["dx"], case["dy"], case["axis"], half, radius)).sum().backward()
    assert torch.isfinite(half.grad).all() and torch.isfinite(radius.grad).all()


def test_width_fraction_has_a_floor_and_finite_gradients():
    logits = torch.tensor([-1e6, -44.4, -10.0, 0.0, 10.0, 1e6], requires_grad=True)
    frac = width_fraction(logits)
    values = frac.detach()
    assert float(values.min()) >= WIDTH_FLOOR - 1e-6 and float(values.max()) <= 1.0 - WIDTH_FLOOR + 1e-6
    assert float(values[3]) == pytest.approx(0.5)  # the initial width: half the streak's, exact for a bar
    frac.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_forward_in_eval_mode_is_one_network_pass(monkeypatch):
    """``model.eval(); model(I, B, t)`` runs the network once and never the fit, whatever ``fit_steps``; the
    fit is :func:`infer` with ``fit=True``."""
    from defmo.models import deblat_fit

    calls = []
    real_fit = deblat_fit.fit_to_image
    monkeypatch.setattr(deblat_fit, "fit_to_image", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    torch.manual_seed(0)
    gen = ObjectGenerator(fit_steps=3).eval()
    image, background, times = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.linspace(0, 1, 4)
    with torch.no_grad():
        frames, _ = gen(image, background, times)
        assert not calls
        torch.testing.assert_close(deblat_fit.infer(gen, image, background, times), frames)
        fitted = deblat_fit.infer(gen, image, background, times, fit=True)
    assert calls == [1] and fitted.shape == frames.shape and not torch.equal(fitted, frames)


def test_object_generator_shapes_and_option():
    torch.manual_seed(0)
    gen = build_generator({"model": {"generator": "object", "appearance": "deblatted", "encoder": "resnet18",
                                     "pretrained": "none"}}).eval()
    assert isinstance(gen, ObjectGenerator) and gen.appearance == "deblatted"
    image, background = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    frames, latent = gen(image, background, subframe_times(5))
    assert frames.shape == (2, 5, 4, 32, 48) and latent.shape == (2, 512, 2, 3)
    assert frames.min() >= 0 and frames.max() <= 1
    loop, _ = gen.forward_loop(image, background, subframe_times(5))
    torch.testing.assert_close(loop, frames, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="appearance"):
        ObjectGenerator(appearance="sharp")
