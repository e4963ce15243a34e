"""The object generator's fit at inference (``model.fit_steps``): Tracking by Deblatting's model fitted to the image.

:func:`fit_to_image` starts from the network's path, mask and colour and minimises the L1 error of the blatting
equation ``I = mean_t(F_t M_t) + (1 - mean_t M_t) B`` over the exposure by Adam steps on the path (offsets at
knots, or a shifted and bent streak line on real footage), the mask logits and the colour; the network's weights
are not touched. A sub-frame is the mean of the fitted object over its own slice of the exposure, so the
sub-frames tile the exposure and re-blur to the fit. :func:`infer` is the entry point. Why it is built this
way: docs/models.md.

Shapes: ``image, background (B, 3, H, W)`` in [0, 1]; ``times (T,)`` in [0, 1]; sub-frames ``(B, T, 4, H, W)``
in [0, 1]. Runs in float32 outside autocast (an Adam fit in fp16 loses the path's sub-pixel steps).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from defmo.data.blatting import blat
from defmo.models.object_arch import Path, canvas_offsets, gather, place
from defmo.models.unet_arch import COVER_STEPS, deblat_appearance

# The starting mask and colour are clamped to [c, 1 - c] before their logits (finite at 0 and 1).
FIT_CLAMP = 0.01


def knot_weights(times: torch.Tensor, knots: int) -> torch.Tensor:
    """Piecewise-linear interpolation weights ``(T, K)`` of ``knots`` equally spaced in [0, 1] at ``times (T,)``;
    each row sums to 1."""
    nodes = torch.arange(knots, device=times.device, dtype=times.dtype)
    return (1.0 - (times[:, None] * (knots - 1) - nodes).abs()).clamp_min(0.0)


def slice_times(times: torch.Tensor) -> torch.Tensor:
    """The exposure times ``(T, k)`` whose renders average into sub-frame i of ``times (T,)``: ``k =
    ceil(COVER_STEPS / T)`` evenly spaced inside the slice of width ``1 / T`` centred at
    ``times[i] (T - 1) / T + 1 / (2 T)`` (the slices of ``linspace(0, 1, T)`` tile [0, 1])."""
    count = len(times)
    samples = math.ceil(COVER_STEPS / count)
    centres = times * (count - 1) / count + 0.5 / count
    inside = ((torch.arange(samples, device=times.device, dtype=times.dtype) + 0.5) / samples - 0.5) / count
    return (centres[:, None] + inside[None]).clamp(0.0, 1.0)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels of ``x (B, C, H, W)``, both directions, per sample ``(B,)``."""
    return (x.diff(dim=-1).abs().mean(dim=(1, 2, 3)) + x.diff(dim=-2).abs().mean(dim=(1, 2, 3)))


# The ellipse mask's logit is its signed distance to the edge over EDGE pixels: a sigmoid of slope 1 / (4 EDGE)
# at the edge, which for 0.25 is the slope of a pixel's coverage of a hard edge (0 to 1 across one pixel).
EDGE = 0.25


def ellipse_from_moments(alpha: torch.Tensor) -> torch.Tensor:
    """Ellipse parameters ``(B, 5)``: centre (x, y) offset from the canvas centre, log half-axes (major, minor),
    angle of the major axis; from the first and second moments of ``alpha (B, S, S)`` (a uniform ellipse with
    half-axes a, b has variances a^2 / 4, b^2 / 4)."""
    size = alpha.shape[-1]
    dy, dx = canvas_offsets(size, alpha)
    mass = alpha.sum(dim=(1, 2)).clamp_min(1e-6)
    cx, cy = (alpha * dx).sum(dim=(1, 2)) / mass, (alpha * dy).sum(dim=(1, 2)) / mass
    ux, uy = dx - cx[:, None, None], dy - cy[:, None, None]
    sxx = (alpha * ux * ux).sum(dim=(1, 2)) / mass
    syy = (alpha * uy * uy).sum(dim=(1, 2)) / mass
    sxy = (alpha * ux * uy).sum(dim=(1, 2)) / mass
    mean, dev = 0.5 * (sxx + syy), torch.sqrt((0.25 * (sxx - syy) ** 2 + sxy ** 2).clamp_min(0.0))
    major = 2.0 * torch.sqrt((mean + dev).clamp_min(1.0))
    minor = 2.0 * torch.sqrt((mean - dev).clamp_min(1.0))
    angle = 0.5 * torch.atan2(2.0 * sxy, sxx - syy)
    return torch.stack((cx, cy, major.log(), minor.log(), angle), dim=1).detach()


def ellipse_mask_logits(params: torch.Tensor, size: int) -> torch.Tensor:
    """Logits ``(B, S, S)`` of the ellipse ``params (B, 5)`` (:func:`ellipse_from_moments`) on an ``S x S``
    canvas: about the signed distance to its edge over ``EDGE`` pixels (opaque inside, a one-pixel edge)."""
    dy, dx = canvas_offsets(size, params)
    ux, uy = dx - params[:, 0, None, None], dy - params[:, 1, None, None]
    cos, sin = torch.cos(params[:, 4, None, None]), torch.sin(params[:, 4, None, None])
    along, across = cos * ux + sin * uy, -sin * ux + cos * uy
    major, minor = params[:, 2, None, None].exp(), params[:, 3, None, None].exp()
    radial = torch.sqrt((along / major) ** 2 + (across / minor) ** 2 + 1e-8)
    return (1.0 - radial) * minor / EDGE


def mask_parameters(alpha: torch.Tensor, shape: str, mask_lr: float,
                    shape_lr: float) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor], float]:
    """The fit's mask parameters, started from the network's mask ``alpha (B, 1, S, S)``, the function that
    turns them into the mask ``(B, 1, S, S)`` and their Adam step: a logit per pixel (``free``, ``mask_lr``) or
    one ellipse (``ellipse``, ``shape_lr``)."""
    if shape == "ellipse":
        size = alpha.shape[-1]
        return (ellipse_from_moments(alpha[:, 0]).requires_grad_(True),
                lambda params: torch.sigmoid(ellipse_mask_logits(params, size))[:, None], shape_lr)
    logits = torch.logit(alpha.clamp(FIT_CLAMP, 1 - FIT_CLAMP)).detach().requires_grad_(True)
    return logits, torch.sigmoid, mask_lr


def segment_positions(line: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """The centre ``(B, T, 2)`` at times ``at (T,)`` of an object moving at constant speed along ``line (B, 2, 2)``
    (start and end, (x, y) pixels)."""
    return line[:, None, 0] + (line[:, None, 1] - line[:, None, 0]) * at[None, :, None]


@torch.no_grad()
def best_line(lines: torch.Tensor, error: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Per sample, the line of ``lines (B, K, 2, 2)`` with the least ``error``: ``(B, 2, 2) -> (B,)``.

    Example:
        >>> lines = torch.stack((torch.zeros(2, 2, 2), torch.ones(2, 2, 2)), dim=1)  # (B=2, K=2, 2, 2)
        >>> best_line(lines, lambda line: (line[:, 0, 0] - torch.tensor([0.0, 1.0])).abs()).tolist()
        [[[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]
    """
    errors = torch.stack([error(lines[:, k]) for k in range(lines.shape[1])], dim=1)
    return lines[torch.arange(len(lines), device=lines.device), errors.argmin(dim=1)]


def _start_line(line: torch.Tensor | None, starts: torch.Tensor | None, positions: torch.Tensor,
                error: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor | None:
    """The line a fit starts from: of ``line (B, 2, 2)``, ``starts (B, K, 2, 2)`` and the network's own path
    ``positions (B, T, 2)`` from its first to its last position (turned ``line``'s way), the one with the least
    ``error`` (:func:`best_line`); ``line`` itself without ``starts``."""
    if line is None or starts is None:
        return line
    own = positions[:, [0, -1]]
    backwards = ((own[:, 1] - own[:, 0]) * (line[:, 1] - line[:, 0])).sum(dim=1) < 0
    own = torch.where(backwards[:, None, None], own.flip(1), own)
    return best_line(torch.cat((line[:, None], starts.float(), own[:, None]), dim=1), error)


def _free_ends(line: torch.Tensor | None, pull: float | None) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The segment the path runs along and its free parameters: a copy of ``line`` fitted from there with a
    ``pull``, else ``line`` itself and none."""
    if pull is None or line is None:
        return line, []
    ends = line.clone().requires_grad_(True)
    return ends, [ends]


def appearance_penalty(alpha: torch.Tensor, rgb: torch.Tensor, own: torch.Tensor, tv: float, prior: float,
                       crisp: float) -> torch.Tensor:
    """The fit's regularisers of the mask ``alpha (B, 1, S, S)`` and colour ``rgb (B, 3, S, S)`` (a scalar): total
    variation of the mask and the masked colour (``tv``), the L1 distance of the colour to the network's ``own``
    inside the mask (``prior``) and ``4 m (1 - m)`` (``crisp``); see :func:`fit_to_image`."""
    term = alpha.new_zeros(())
    if tv > 0:
        term = term + tv * (total_variation(alpha) + total_variation(rgb * alpha)).mean()
    if prior > 0:
        term = term + prior * ((rgb - own).abs() * alpha).mean()
    if crisp > 0:
        term = term + crisp * (4.0 * alpha * (1.0 - alpha)).mean()
    return term


def fit_to_image(generator: torch.nn.Module, image: torch.Tensor, background: torch.Tensor, times: torch.Tensor,
                 steps: int, path: Path | None = None, template: torch.Tensor | None = None,
                 lr: float = 0.3, mask_lr: float = 1.0, knots: int = 5,
                 line: torch.Tensor | None = None, tv: float = 0.0, prior: float = 0.0,
                 crisp: float = 0.0, samples: int | None = None, shape: str = "free",
                 shape_lr: float = 0.05, starts: torch.Tensor | None = None,
                 pull: float | None = None) -> torch.Tensor:
    """The object generator's sub-frames fitted to the image they came from (see the module docstring):
    ``steps`` Adam steps from the network's ``path`` and ``template`` (computed here when not given), the
    network untouched; ``lr`` is Adam's step for the path's offsets (pixels) and the colour's logits, ``mask_lr``
    for the mask's logits, ``knots`` the path offsets' knots (``model.fit_lr``, ``model.fit_mask_lr``,
    ``model.fit_knots``). ``image, background (B, 3, H, W)`` in [0, 1], ``times (T,)`` -> ``(B, T, 4, H, W)``.

    For real footage (``deblur``), three options make the object one clean shape on a smooth path:

    - ``line (B, 2, 2)``: the start and end (x, y pixels) of the streak's centre line, from the detector. The
      path is that segment, shifted and bent by a fitted parabola ``a + 4 t (1 - t) b`` with the bend ``b``
      at most the network's half-width of the object (one smooth polynomial segment, as Tracking by Deblatting
      fits; its length stays the streak's, so the blur cannot be explained by a stretched object on a short
      path) instead of the network's positions plus piecewise-linear knot
      offsets;
    - ``tv``: weight of the total variation of the mask and of the masked colour in the object's frame (Tracking
      by Deblatting's regulariser: no speckle, a clean edge);
    - ``prior``: weight of the L1 distance of the colour to the network's own colour (the gathered appearance
      with the network's residual) inside the mask, which the fit otherwise discards;
    - ``crisp``: weight of ``4 m (1 - m)`` on the mask, which is 0 where the object is fully there or fully
      absent: an opaque object with a hard edge rather than a translucent blob;
    - ``samples``: exposure times the steps render the blur at (default ``COVER_STEPS``; fewer are faster and
      coarser; the sub-frames returned are rendered at the full count);
    - ``shape``: ``free`` (a mask logit per pixel) or ``ellipse``: the mask is one ellipse (centre, half-axes,
      angle; :func:`ellipse_mask_logits`) started from the network's mask's moments and fitted at Adam step
      ``shape_lr``: an opaque silhouette with a one-pixel edge, which a per-pixel mask under the blur's
      ambiguity leaves translucent or ragged;
    - ``starts (B, K, 2, 2)``: other lines the path may start from (the streak's own centre line); the fit starts
      each frame from whichever of ``line``, ``starts`` and the network's own path (its ends, in ``line``'s
      direction) blurs to the image best, with the starting appearance (:func:`best_line`);
    - ``pull``: with a number, each end of the path is free, pulled to where it started by ``pull`` times its
      squared distance over the half-width squared (the data, not the track alone, places the path); None keeps
      the segment's ends where they started, shifted and bent as one.

    With none of them (the default) the fit is the synthetic benchmark's, unchanged."""
    with torch.autocast(image.device.type, enabled=False):
        image, background = image.float(), background.float()
        size = tuple(image.shape[-2:])
        grid = torch.linspace(0.0, 1.0, COVER_STEPS, device=image.device)
        with torch.no_grad():
            if path is None or template is None:
                path, trunk, _ = generator.path(image, background)
                template = generator.object_template(path, trunk, image, background)
            template = template.float()
            start, angles = path.positions(grid).float(), path.angles(grid).float()
            coverage = place(template[:, :1], start, angles, size)[:, :, 0].mean(dim=1)
            colour = gather(deblat_appearance(image, background, coverage), start, angles, template.shape[-1])
            own = torch.sigmoid(torch.logit(colour.clamp(FIT_CLAMP, 1 - FIT_CLAMP)) + template[:, 1:4])
        if line is None:
            offsets = torch.zeros(len(image), knots, 2, device=image.device, requires_grad=True)
        else:  # the streak's segment shifted and bent: coefficients of 1 and t (1 - t)
            line = line.float()
            offsets = torch.zeros(len(image), 2, 2, device=image.device, requires_grad=True)
        mask, alpha_of, mask_step = mask_parameters(template[:, :1], shape, mask_lr, shape_lr)
        start_colour = own if prior > 0 else colour
        colour = torch.logit(start_colour.clamp(FIT_CLAMP, 1 - FIT_CLAMP)).detach().requires_grad_(True)
        coarse = grid if samples is None else torch.linspace(0.0, 1.0, samples, device=image.device)
        def appearance() -> torch.Tensor:
            return torch.cat((torch.sigmoid(colour), alpha_of(mask)), dim=1)  # (B, 4, S, S)

        line = _start_line(line, starts, start, lambda trial: (blat(place(  # the start that fits best
            appearance(), segment_positions(trial, coarse), path.angles(coarse).float(), size), background)
            - image).abs().sum(dim=1).mean(dim=(1, 2)))
        segment, free = _free_ends(line, pull)

        def positions_at(at: torch.Tensor) -> torch.Tensor:
            if line is None:
                with torch.no_grad():
                    base = path.positions(at).float()
                return base + torch.einsum("tk,bkc->btc", knot_weights(at, knots), offsets)
            reach = path.radius.float().clamp_min(1.0)[:, None]  # the bend's middle stays within a half-width
            bend = reach * torch.tanh(offsets[:, 1] / reach)  # (B, 2) pixels
            return segment_positions(segment, at) + offsets[:, None, 0] + 4.0 * (at * (1.0 - at))[None, :, None] * bend[:, None]

        def render(at: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                turn = path.angles(at).float()
            return place(appearance(), positions_at(at), turn, size)  # (B, T, 4, H, W)

        def regulariser() -> torch.Tensor:
            term = appearance_penalty(alpha_of(mask), torch.sigmoid(colour), own, tv, prior, crisp)
            reach = path.radius.float().clamp_min(1.0)[:, None]
            return term + sum(pull * ((f - line).square().sum(dim=2) / reach.square()).mean() for f in free)

        moving = [offsets, colour, *free]
        optimiser = torch.optim.Adam([{"params": moving, "lr": lr}, {"params": [mask], "lr": mask_step}])
        with torch.enable_grad():
            for _ in range(steps):
                loss = (blat(render(coarse), background) - image).abs().sum(dim=1).mean()
                if max(tv, prior, crisp) > 0 or free:
                    loss = loss + regulariser()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        with torch.no_grad():
            at = slice_times(times.float())
            frames = render(at.flatten()).view(len(image), *at.shape, 4, *size).mean(dim=2)
            return frames.clamp(0.0, 1.0)


def infer(generator: torch.nn.Module, image: torch.Tensor, background: torch.Tensor, times: torch.Tensor,
          fit: bool = False, **options) -> torch.Tensor:
    """A generator's sub-frames ``(B, T, 4, H, W)``: the network's own (one forward pass), or with ``fit`` the
    object generator's fit at inference from them (:func:`fit_to_image`, ``generator.fit_steps`` Adam steps
    with the generator's ``fit_options``; the network alone when that is 0 or the generator has no fit;
    ``options`` go to :func:`fit_to_image`, but ``steps``, where given and not None, replaces the count).
    Evaluation, validation, the seed study and ``deblur`` call this; the generator's ``forward`` never fits.

    Example:
        >>> from defmo.models.object_arch import ObjectGenerator
        >>> g = ObjectGenerator(fit_steps=2).eval()
        >>> x = torch.rand(1, 3, 32, 32)
        >>> infer(g, x, x, torch.linspace(0, 1, 4), fit=True).shape
        torch.Size([1, 4, 4, 32, 32])
    """
    module = getattr(generator, "module", generator)  # a DDP wrapper's generator
    steps = int(getattr(module, "fit_steps", 0))
    if options.get("steps") is not None and steps:  # deblur's own count (evaluate.footage.steps)
        steps = int(options["steps"])
    options = {k: v for k, v in options.items() if k != "steps"}
    if fit and steps:
        return fit_to_image(module, image, background, times, steps, **{**module.fit_options, **options})
    return generator(image, background, times)[0]
