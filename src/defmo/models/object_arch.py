"""The object generator (``model.generator: object``): the object itself, sharp, placed along a path of any shape.

The network predicts, in one pass, the object's mask and appearance once in its own frame (a template) and its
path over the exposure; sub-frame t is the template placed at the path's position at time t
(:func:`place`), Tracking by Deblatting's image formation ``I = H * F + (1 - H * M) B``. ``forward`` returns
the network's own sub-frames; the fit at inference is :func:`defmo.models.deblat_fit.infer`. How the path, the
template and the appearance are built: docs/models.md.

Shapes: images ``(B, 3, H, W)`` in [0, 1], H and W multiples of 16; times ``(T,)`` in [0, 1]; sub-frames
``(B, T, 4, H, W)`` in [0, 1]; positions in pixels, (x, y) = (column, row) of pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from defmo.models.checkpointing import checkpoint_segment
from defmo.models.unet_arch import (APPEARANCES, COVER_STEPS, DIFF_SCALE, EXTENT_INIT, LOGIT_EPS, STRETCH_INIT,
                                    UNetDecoder, _grid, _UNetBase, deblat_appearance, ellipse_edge, streak_moments)

# Floor of the streak weight inside the log of the band's softmax (a band with no streak pixel still has a centre).
WEIGHT_FLOOR = 1e-6
# The fitted mask, clamped to [c, 1 - c] before its logit: the template network's residual can still reach 0 or 1.
PRIOR_CLAMP = 0.01
# The object's half-width over the streak's width lies in [WIDTH_FLOOR, 1 - WIDTH_FLOOR] (see width_fraction).
WIDTH_FLOOR = 0.1
# Initial bias of the streak alpha's logit: a streak of coverage sigmoid(-0.7) = 0.33 where I differs from B, a
# third of a pixel's exposure, as the synthetic objects leave it (so the fitted mask starts near the object's size).
COVER_LOGIT_INIT = -0.7
# The template network's dilations: a receptive field of 31 pixels, the canvas of the cpu scale.
TEMPLATE_DILATIONS = (1, 2, 4, 8, 1)
# Standard deviation of the direction head's initial weights: the untrained direction s = tanh(g) is a small
# random function of the input (no canonical order), which L_F's minimum over both directions drives to +-1.
DIRECTION_INIT_STD = 0.02


@dataclass
class Path:
    """What the generator predicts of the motion, per sample: ``weight (B, H, W)`` (streak alpha times
    ``|I - B|`` saturation), ``tau (B, H, W)`` the time map, ``kappa (B,)`` the object's half-length over the
    streak's length, ``axis (B, 2)``, ``half, radius (B,)`` the object's half-length and half-width (pixels),
    ``spin (B,)`` the rotation over the exposure (radians); ``sigma`` the width of the time map's band whose
    centroid is the centre at one time (``model.time_sigma``)."""

    weight: torch.Tensor
    tau: torch.Tensor
    kappa: torch.Tensor
    axis: torch.Tensor
    half: torch.Tensor
    radius: torch.Tensor
    spin: torch.Tensor
    sigma: float = 0.05

    def positions(self, times: torch.Tensor) -> torch.Tensor:
        """The object's centre ``(B, T, 2)`` (x, y pixels) at ``times (T,)`` in [0, 1]."""
        levels = self.kappa[:, None] + (1.0 - 2.0 * self.kappa[:, None]) * times.to(self.tau.dtype)[None]
        return band_centroids(self.weight, self.tau, levels, self.sigma)

    def angles(self, times: torch.Tensor) -> torch.Tensor:
        """The template's rotation ``(B, T)`` (radians) at ``times (T,)``."""
        return self.spin[:, None] * (times.to(self.spin.dtype)[None] - 0.5)


def width_fraction(logit: torch.Tensor) -> torch.Tensor:
    """The object's half-width over the streak's width from the head's logit: ``f + (1 - 2 f) sigmoid(logit)``
    with ``f = WIDTH_FLOOR``; 1/2 at logit 0 (exact for a bar).

    The floor keeps the prior's width finite for any logit: with a plain sigmoid a quarter of the training
    samples' logits drifted below -10 and one reached -44 (a radius of 1e-18 px), where nothing pulls it back.

    Example:
        >>> width_fraction(torch.tensor([-1e4, 0.0, 1e4]))
        tensor([0.1000, 0.5000, 0.9000])
    """
    return WIDTH_FLOOR + (1.0 - 2.0 * WIDTH_FLOOR) * torch.sigmoid(logit)


def band_centroids(weight: torch.Tensor, tau: torch.Tensor, levels: torch.Tensor, sigma: float = 0.05) -> torch.Tensor:
    """Centroids ``(B, T, 2)`` (x, y) of the pixels of ``weight (B, H, W)`` >= 0 whose time ``tau (B, H, W)`` is
    near each of ``levels (B, T)``: a softmax over pixels of ``-(tau - level)^2 / (2 sigma^2) + log(weight)``
    (``sigma`` in units of the time map, 1 over the streak's length).
    """
    logits = -(tau.flatten(1)[:, None] - levels[..., None]) ** 2 / (2 * sigma ** 2)  # (B, T, HW)
    probs = torch.softmax(logits + torch.log(weight.flatten(1) + WEIGHT_FLOOR)[:, None], dim=2)
    ys, xs = _grid(weight)
    return probs @ torch.stack((xs.flatten(), ys.flatten()), dim=-1)  # (B, T, HW) @ (HW, 2)


def ellipse_logits(dx: torch.Tensor, dy: torch.Tensor, axis: torch.Tensor, half: torch.Tensor,
                   radius: torch.Tensor) -> torch.Tensor:
    """Logits of a soft ellipse at offsets ``dx, dy (B, ...)`` from its centre: half-axes ``half`` along ``axis
    (B, 2)`` and ``radius`` across it (``(B,)``), the edge ``TAU`` pixels soft along the axis (the streak
    generator's window, :func:`~defmo.models.unet_arch.window_gates`, as a logit)."""
    shape = (-1,) + (1,) * (dx.dim() - 1)
    ax, ay = axis[:, 0].view(shape), axis[:, 1].view(shape)
    along, across = dx * ax + dy * ay, dy * ax - dx * ay
    return ellipse_edge(along, across, half.view(shape), radius.view(shape))


def canvas_offsets(size: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre offsets ``(dy, dx)``, each ``(S, S)``, of an ``S x S`` canvas from its centre."""
    steps = torch.arange(size, device=like.device, dtype=like.dtype) - (size - 1) / 2.0
    return torch.meshgrid(steps, steps, indexing="ij")


def _rotate(dx: torch.Tensor, dy: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    cos, sin = torch.cos(angle), torch.sin(angle)
    return cos * dx - sin * dy, sin * dx + cos * dy


def place(template: torch.Tensor, positions: torch.Tensor, angles: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The template ``(B, C, S, S)`` placed with its centre at ``positions (B, T, 2)`` (x, y pixels), rotated by
    ``angles (B, T)`` (radians), on an ``H x W`` image: ``(B, T, C, H, W)``, bilinear, zero outside the canvas.

    Pixel x of sub-frame t shows the template at ``R(-angle_t) (x - p_t)``: an integer shift reproduces it exactly.
    """
    batch, steps = positions.shape[:2]
    height, width = size
    # affine_grid maps output pixel j (normalised b = (2 j + 1) / W - 1, i.e. x = (b + 1) W / 2 - 1/2) to
    # canvas coordinates 2 R(-angle) (x - p) / S (align_corners=False: canvas pixel k sits at (2 k + 1) / S - 1)
    cos, sin = torch.cos(angles), torch.sin(angles)
    rot = torch.stack((torch.stack((cos, sin), dim=-1), torch.stack((-sin, cos), dim=-1)), dim=-2)  # R(-angle)
    half = positions.new_tensor([width / 2.0, height / 2.0])
    shift = (half - 0.5 - positions)[..., None]  # (B, T, 2, 1)
    theta = torch.cat((rot * half, rot @ shift), dim=-1) * (2.0 / template.shape[-1])  # (B, T, 2, 3)
    grid = F.affine_grid(theta.flatten(0, 1), [batch * steps, template.shape[1], height, width], align_corners=False)
    expanded = template[:, None].expand(-1, steps, -1, -1, -1).flatten(0, 1)
    out = F.grid_sample(expanded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.view(batch, steps, template.shape[1], height, width)


def gather(features: torch.Tensor, positions: torch.Tensor, angles: torch.Tensor, canvas: int) -> torch.Tensor:
    """The mean over knots of ``features (B, C, H, W)`` sampled on an ``S x S`` canvas centred at each of
    ``positions (B, K, 2)``, rotated by ``angles (B, K)``: ``(B, C, S, S)`` in the object's frame (the adjoint of
    :func:`place`, up to interpolation)."""
    height, width = features.shape[-2:]
    dy, dx = canvas_offsets(canvas, features)
    rx, ry = _rotate(dx[None, None], dy[None, None], angles[..., None, None])  # (B, K, S, S)
    px, py = positions[..., 0, None, None] + rx, positions[..., 1, None, None] + ry
    grid = torch.stack(((2 * px + 1) / width - 1, (2 * py + 1) / height - 1), dim=-1)  # (B, K, S, S, 2)
    sampled = F.grid_sample(features, grid.flatten(1, 2), mode="bilinear", padding_mode="border", align_corners=False)
    return sampled.view(*features.shape[:2], positions.shape[1], canvas, canvas).mean(dim=2)


def deblat_mask(prior: torch.Tensor, path: Path, size: tuple[int, int], iterations: int = 16,
                step_size: float = 1.5) -> torch.Tensor:
    """The template mask whose blur along the path matches the streak's coverage ``path.weight``: ``iterations``
    projected Landweber steps ``M <- clip(M - step_size H^T (H M - weight), 0, 1)`` from the prior (Tracking by
    Deblatting's mask step, H the blur along the path and H^T its adjoint :func:`gather`): ``prior (B, S, S)``
    logits -> ``(B, S, S)`` in [0, 1], differentiable in the path and the coverage (``model.deblat_iters``,
    ``model.deblat_step``)."""
    grid = torch.linspace(0.0, 1.0, COVER_STEPS, device=prior.device, dtype=prior.dtype)
    pos, ang = path.positions(grid), path.angles(grid)
    mask = torch.sigmoid(prior)
    for _ in range(iterations):
        blurred = place(mask[:, None], pos, ang, size)[:, :, 0].mean(dim=1)
        step = gather((blurred - path.weight)[:, None], pos, ang, prior.shape[-1])[:, 0]
        mask = (mask - step_size * step).clamp(0.0, 1.0)
    return mask


class TemplateNet(nn.Module):
    """Aligned features ``(B, C, S, S)`` -> template logits ``(B, 4, S, S)`` (colour residual, mask residual):
    dilated 3x3 convolutions with batch norm; the output convolution is zero-initialised (the prior alone)."""

    def __init__(self, c_in: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, dilation in enumerate(TEMPLATE_DILATIONS):
            layers += [nn.Conv2d(c_in if i == 0 else width, width, 3, padding=dilation, dilation=dilation, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 4, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ObjectGenerator(_UNetBase):
    """Blurred image + background -> N sharp RGBA sub-frames: one template of the object placed along its path
    (see the module's docstring). ``template_size``: the canvas side as a share of the input's shorter side
    (even pixels); ``appearance``: ``image`` or ``deblatted`` (the base of the colour); ``deblat_iters``,
    ``deblat_step``: the Landweber fit of the template's mask (:func:`deblat_mask`); ``time_sigma``: the time
    map's band width (:func:`band_centroids`); ``align_knots``: the times the features are aligned into the
    object's frame at; ``template_width``: the template network's channels; ``fit``: the fit at
    inference that :func:`defmo.models.deblat_fit.infer` runs when asked, its ``steps`` (0: none), ``lr``,
    ``mask_lr`` and ``knots`` (:func:`defmo.models.deblat_fit.fit_to_image`), recorded with the checkpoint's
    model."""

    def __init__(self, encoder: str = "resnet18", pretrained: str = "none", appearance: str = "deblatted",
                 template_size: float = 0.5, fit_steps: int = 0, deblat_iters: int = 16, deblat_step: float = 1.5,
                 time_sigma: float = 0.05, align_knots: int = 5, template_width: int = 32,
                 fit: dict | None = None) -> None:
        super().__init__(encoder, pretrained)
        if appearance not in APPEARANCES:
            raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
        if fit_steps < 0:
            raise ValueError(f"fit_steps must be 0 or more, got {fit_steps}")
        self.fit_steps = int(fit_steps)
        self.fit_options = dict(fit or {})  # lr, mask_lr, knots of the fit at inference
        self.deblat_iters, self.deblat_step = int(deblat_iters), float(deblat_step)
        self.time_sigma, self.align_knots = float(time_sigma), int(align_knots)
        self.decoder = UNetDecoder(self.encoder.channels, out_channels=2)  # streak alpha logit, time residual z
        # half-length and half-width fractions, streak stretch, direction g, spin, path ends kappa
        self.extent = nn.Linear(self.encoder.channels[-1], 6)
        nn.init.zeros_(self.extent.weight)
        nn.init.normal_(self.extent.weight[3], std=DIRECTION_INIT_STD)
        with torch.no_grad():
            self.extent.bias.copy_(torch.tensor([EXTENT_INIT, EXTENT_INIT, STRETCH_INIT, 0.0, 0.0, EXTENT_INIT]))
        # features, I, B, I - B; prior, 2 coordinates
        self.template = TemplateNet(self.decoder.width + 9 + 3, int(template_width))
        self.appearance, self.template_size = appearance, template_size
        self.checkpointing = False

    def set_gradient_checkpointing(self, on: bool) -> None:
        """Checkpoint each encoder stage, each decoder block, and the object's frame (mask fit and template)."""
        super().set_gradient_checkpointing(on)
        self.checkpointing = bool(on)

    def canvas(self, height: int, width: int) -> int:
        """The template's side in pixels (even)."""
        return max(2, 2 * round(self.template_size * min(height, width) / 2))

    def path(self, image: torch.Tensor, background: torch.Tensor) -> tuple[Path, torch.Tensor, list]:
        """The predicted :class:`Path`, the decoder's full-resolution features ``(B, C, H, W)`` and the encoder's."""
        pair = torch.cat((image, background), dim=1)
        feats = self.encoder(pair)
        trunk = self.decoder.trunk(feats, pair, torch.full((1,), 0.5, device=image.device))
        out = self.decoder.head(trunk)
        raw = self.extent(feats[-1].mean(dim=(2, 3)))
        frac = torch.sigmoid(raw[:, :3])
        frac_width = width_fraction(raw[:, 1])
        saturation = ((image - background).abs().sum(dim=1) / DIFF_SCALE).clamp(0.0, 1.0)
        weight = torch.sigmoid(out[:, 0] + COVER_LOGIT_INIT) * saturation
        centre, axis, length, width = streak_moments(weight)
        length = length * (1.0 + frac[:, 2])
        ys, xs = _grid(weight)
        rho = ((xs - centre[:, 0, None, None]) * axis[:, 0, None, None]
               + (ys - centre[:, 1, None, None]) * axis[:, 1, None, None]) / (length[:, None, None] / 2)
        tau = 0.5 + torch.tanh(raw[:, 3, None, None]) * rho / 2 + out[:, 1]
        path = Path(weight, tau, torch.sigmoid(raw[:, 5]) / 2, axis, frac[:, 0] * length / 2, frac_width * width,
                    raw[:, 4], self.time_sigma)
        return path, trunk, feats

    def object_template(self, path: Path, trunk: torch.Tensor, image: torch.Tensor,
                        background: torch.Tensor) -> torch.Tensor:
        """The object in its own frame: ``(B, 4, S, S)`` mask in [0, 1] then the colour residual (logits)."""
        size = self.canvas(*image.shape[-2:])
        knots = torch.linspace(0.0, 1.0, self.align_knots, device=image.device, dtype=image.dtype)
        inputs = torch.cat((trunk, image, background, image - background), dim=1)
        aligned = gather(inputs, path.positions(knots), path.angles(knots), size)
        dy, dx = canvas_offsets(size, image)
        prior = ellipse_logits(dx[None].expand(len(image), -1, -1), dy[None].expand(len(image), -1, -1),
                               path.axis, path.half, path.radius)  # (B, S, S)
        coords = torch.stack((dx, dy))[None].expand(len(image), -1, -1, -1) / size

        def fit(prior: torch.Tensor, aligned: torch.Tensor) -> torch.Tensor:
            fitted = deblat_mask(prior, path, tuple(image.shape[-2:]), self.deblat_iters, self.deblat_step)
            fitted = fitted.clamp(PRIOR_CLAMP, 1.0 - PRIOR_CLAMP)
            logits = self.template(torch.cat((aligned, torch.logit(fitted)[:, None], coords), dim=1))
            return torch.cat((torch.sigmoid(torch.logit(fitted)[:, None] + logits[:, 3:]), logits[:, :3]), dim=1)

        # the mask's 16 iterations keep B x 25 full-resolution maps each: recomputed in backward under checkpointing
        return checkpoint_segment(fit, [self.template], prior, aligned) if self.checkpointing else fit(prior, aligned)

    def forward(self, image: torch.Tensor, background: torch.Tensor,
                times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image, background (B, 3, H, W)``, ``times (T,)`` -> ``(frames (B, T, 4, H, W), latent)``: the
        network's sub-frames, one pass in either mode (the fit is :func:`defmo.models.deblat_fit.infer`)."""
        path, trunk, feats = self.path(image, background)
        template = self.object_template(path, trunk, image, background)
        steps = times.shape[0]
        grid = torch.linspace(0.0, 1.0, COVER_STEPS, device=times.device, dtype=times.dtype)
        every = torch.cat((times, grid)) if self.appearance == "deblatted" else times
        placed = place(template, path.positions(every), path.angles(every), tuple(image.shape[-2:]))
        alpha, residual = placed[:, :, 0], placed[:, :steps, 1:]
        base = deblat_appearance(image, background, alpha[:, steps:].mean(dim=1)) if self.appearance == "deblatted" \
            else image
        rgb = torch.sigmoid(torch.logit(base.clamp(LOGIT_EPS, 1.0 - LOGIT_EPS))[:, None] + residual)
        return torch.cat((rgb, alpha[:, :steps, None]), dim=2), feats[-1]
