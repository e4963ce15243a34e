"""Fast-learning generators for small machines (``model.generator``): a ResNet encoder whose features at strides
2, 4, 8 and 16 (and the input pair at stride 1) feed a U-Net decoder through skip connections, with the output
parameterised relative to the input image, ``F = sigmoid(logit(I) + d)``.

- :class:`UNetGenerator` (``unet``): the decoder runs on time folded into the batch, ``t`` given to every block
  as an input channel and as a per-channel scale and shift (FiLM); alpha ``M_t = sigmoid(a_t + ALPHA_BIAS)``
  with the output convolution zero-initialised, so that the untrained network returns the input at every time
  step (composite ``~ I``: the Image baseline).
- :class:`StreakGenerator` (``streak``, the cpu scale's): the decoder runs once per sample and returns the
  object's streak; sub-frame t is the streak inside a window moving along the streak's principal axis. Its
  appearance is relative either to I or to the blatting equation's solution for a static appearance given the
  predicted alpha (``deblatted``, :func:`deblat_appearance`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from defmo.models.checkpointing import checkpoint_segment
from defmo.models.pretrained import build_resnet

# Alpha logit of the untrained network: sigmoid(4) = 0.982, so that F_t = I composites to within 2% of I
# wherever B differs from I, i.e. the Image baseline.
ALPHA_BIAS = 4.0
# Clamp of I before its logit (an 8-bit image has exact 0s and 1s).
LOGIT_EPS = 1e-3
# StreakGenerator: |I - B| (channel sum) at which a pixel fully counts as streak; the window's edge softness in
# pixels; the initial object extent as fractions of the streak's (sigmoid(0) = 1/2: exact for a bar).
DIFF_SCALE = 0.1
TAU = 1.0
EXTENT_INIT = 0.0
# Smallest half-width of a soft ellipse (pixels): thinner than half a pixel is below what an image resolves.
RADIUS_MIN = 0.5
# StreakGenerator: the swept region's length is sqrt(12 var) * (1 + sigmoid(z_2)). sqrt(12 var) is exact for a
# uniform bar but short for a taper: a disk of size s travelling d with weights proportional to its coverage has
# var = d^2 / 12 + s^2 / 16, so sqrt(12 var) / (d + s) is 0.66-0.78 for d = s..3s; weights that saturate
# (high contrast) approach the bar. The initial stretch 1 + sigmoid(-2) = 1.12 lies between the two.
STRETCH_INIT = -2.0
# StreakGenerator "deblatted": the exposure coverage mean_t M_t is taken on this many evenly spaced times (so that
# sub-frame t does not depend on which other times are asked for), floored at COVER_MIN before dividing by it.
COVER_STEPS = 25
COVER_MIN = 0.05
APPEARANCES = ("image", "deblatted")
SKIP_CHANNELS = {"resnet18": (64, 64, 128, 256, 512), "resnet50": (64, 256, 512, 1024, 2048)}


def relative_rgba(logits: torch.Tensor, image: torch.Tensor, alpha_bias: float) -> torch.Tensor:
    """RGBA in [0, 1] from logits ``(..., 4, H, W)`` relative to ``image`` (broadcastable to ``(..., 3, H, W)``):
    ``sigmoid(logit(I) + d)`` and ``sigmoid(a + alpha_bias)``."""
    base = torch.logit(image.clamp(LOGIT_EPS, 1.0 - LOGIT_EPS)).to(logits.dtype)
    return torch.cat((torch.sigmoid(base + logits[..., :3, :, :]), torch.sigmoid(logits[..., 3:, :, :] + alpha_bias)),
                     dim=-3)


class FiLMBlock(nn.Module):
    """A decoder block: two 3x3 conv + BN + ReLU, then a time-dependent scale and shift of the channels (FiLM).

    ``x (B*T, C_x, h, w)`` (time folded into the batch, sample-major), ``skip (B, C_s, h, w)`` or None (the
    encoder's features, the same for every time step), ``t (B*T,)`` in [0, 1] -> ``(B*T, C_out, h, w)``.
    The first convolution acts on ``cat(x, t, skip)``; being linear, its skip part is computed once per sample
    and repeated over time (T times cheaper). The FiLM parameters come from a small MLP of ``t``.
    """

    def __init__(self, c_x: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.conv_x = nn.Conv2d(c_x + 1, c_out, 3, padding=1, bias=False)
        self.conv_skip = nn.Conv2d(c_skip, c_out, 3, padding=1, bias=False) if c_skip else None
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )
        self.film = nn.Sequential(nn.Linear(1, 64), nn.SiLU(), nn.Linear(64, 2 * c_out))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, t: torch.Tensor) -> torch.Tensor:
        t_map = t.view(-1, 1, 1, 1).to(x.dtype).expand(-1, 1, *x.shape[-2:])
        y = self.conv_x(torch.cat((x, t_map), dim=1))
        if self.conv_skip is not None:
            y = y + self.conv_skip(skip).repeat_interleave(x.shape[0] // skip.shape[0], dim=0)
        y = self.body(y)
        scale, shift = self.film(t.view(-1, 1).to(y.dtype)).chunk(2, dim=1)
        return y * (1.0 + scale[..., None, None]) + shift[..., None, None]


class UNetEncoder(nn.Module):
    """``cat(I, B)`` ``(B, 6, H, W)`` -> features at strides 2, 2, 4, 8, 16 (stem, layer1..4; no max-pool)."""

    def __init__(self, arch: str = "resnet18", pretrained: str = "none") -> None:
        super().__init__()
        res = build_resnet(arch, "RGBRGB", pretrained, "encoder")
        self.stem = nn.Sequential(res.conv1, res.bn1, res.relu)
        self.layers = nn.ModuleList([res.layer1, res.layer2, res.layer3, res.layer4])
        self.channels = SKIP_CHANNELS[arch]
        self.checkpointing = False

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self._run(self.stem, x)]
        for layer in self.layers:
            feats.append(self._run(layer, feats[-1]))
        return feats

    def _run(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return checkpoint_segment(module, [module], x) if self.checkpointing else module(x)


class UNetDecoder(nn.Module):
    """Encoder features + the input pair, times ``(T,)`` -> RGBA logits relative to I, ``(B*T, 4, H, W)``.

    Block 0 runs on the stride-16 features; each later block upsamples (bilinear x2) and takes the skip of its
    stride (layer3, layer2, layer1 + stem, then ``cat(I, B)`` at full resolution) as a :class:`FiLMBlock`.
    """

    def __init__(self, skips: tuple[int, ...], widths: tuple[int, ...] = (256, 128, 64, 32, 16),
                 out_channels: int = 4) -> None:
        super().__init__()
        skip_in = (0, skips[3], skips[2], skips[1] + skips[0], 6)
        x_in = (skips[4], *widths[:-1])
        self.blocks = nn.ModuleList([FiLMBlock(cx, cs, co) for cx, cs, co in zip(x_in, skip_in, widths)])
        self.width = widths[-1]
        self.head = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.checkpointing = False

    def forward(self, feats: list[torch.Tensor], pair: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(feats, pair, times))

    def trunk(self, feats: list[torch.Tensor], pair: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """The last block's full-resolution features ``(B*T, width, H, W)`` (the head's input)."""
        steps = times.shape[0]
        t = times.to(device=pair.device, dtype=pair.dtype).repeat(pair.shape[0])  # (B*T,), sample-major
        stem, l1, l2, l3, l4 = feats
        skips = (None, l3, l2, torch.cat((l1, stem), dim=1), pair)
        x = l4.repeat_interleave(steps, dim=0)
        for block, skip in zip(self.blocks, skips):
            if skip is not None:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = checkpoint_segment(block, [block], x, skip, t) if self.checkpointing else block(x, skip, t)
        return x


class _UNetBase(nn.Module):
    """The encoder and decoder both cpu-scale generators share, with the generator interface around them."""

    def __init__(self, encoder: str = "resnet18", pretrained: str = "none") -> None:
        super().__init__()
        self.encoder = UNetEncoder(encoder, pretrained)
        self.decoder = UNetDecoder(self.encoder.channels)

    @property
    def latent_channels(self) -> int:
        return self.encoder.channels[-1]

    def set_gradient_checkpointing(self, on: bool) -> None:
        """Checkpoint each encoder stage and each decoder block."""
        self.encoder.checkpointing = bool(on)
        self.decoder.checkpointing = bool(on)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 6, H, W)`` -> the stride-16 features ``(B, K, H/16, W/16)`` (the latent of L_L)."""
        return self.encoder(x)[-1]

    def forward_loop(self, image: torch.Tensor, background: torch.Tensor,
                     times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As ``forward``, one call per time step (a throughput reference)."""
        outs = [self.forward(image, background, t.view(1)) for t in times]
        return torch.cat([o[0] for o in outs], dim=1), outs[0][1]


class UNetGenerator(_UNetBase):
    """Blurred image + background -> N sharp RGBA sub-frames, with the :class:`~defmo.models.generator.Generator`
    interface.

    Shapes: images ``(B, 3, H, W)`` in [0, 1], H and W multiples of 16; times ``(T,)`` in [0, 1]; sub-frames
    ``(B, T, 4, H, W)`` in [0, 1]; the "latent" returned beside them (for L_L) is the stride-16 feature map
    ``(B, K, H/16, W/16)``.
    """

    def forward(self, image: torch.Tensor, background: torch.Tensor,
                times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image, background (B, 3, H, W)``, ``times (T,)`` -> ``(frames (B, T, 4, H, W), latent)``."""
        pair = torch.cat((image, background), dim=1)
        feats = self.encoder(pair)
        logits = self.decoder(feats, pair, times)
        batch, steps = image.shape[0], times.shape[0]
        logits = logits.view(batch, steps, 4, *image.shape[-2:])
        return relative_rgba(logits, image.unsqueeze(1), ALPHA_BIAS), feats[-1]



class StreakGenerator(_UNetBase):
    """The object at time t as the part of its swept streak that lies inside a window moving along the streak.

    A fast-moving object's long exposure is a streak: the region the object sweeps. The U-Net decoder runs once
    per sample (no time folding) and returns the streak's RGBA logits: alpha ``M = sigmoid(a + alpha_bias)`` and
    an appearance residual ``d``. The trajectory comes from the streak's geometry: its centre ``c``, principal
    axis ``u``, length ``l`` and width ``w`` are moments of ``M * clamp(|I - B|_1 / DIFF_SCALE, 0, 1)``
    (:func:`streak_moments`), the length stretched by ``1 + sigmoid(z_2)`` (a tapered streak's moments
    under-measure it, ``STRETCH_INIT``). A head on the pooled stride-16 features predicts ``z`` and so the
    object's half-length along the motion as a fraction of the streak's, ``h = sigmoid(z_0) l / 2``, its half-width
    ``r = sigmoid(z_1) w``; the object travels ``l - 2h``, its centre at time t is
    ``p(t) = c + (t - 1/2)(l - 2h) u``, and sub-frame t is ``(F, M * g_t)`` with ``g_t`` the soft ellipse of
    half-axes ``(h, r)`` about ``p(t)`` (:func:`window_gates`). ``u`` points towards +x (towards +y for
    vertical streaks): a canonical time direction, so that D_T sees one order.

    The appearance ``F = sigmoid(logit(A) + d)`` is relative to a base ``A``: with ``appearance="image"`` the
    input, ``A = I``; with ``"deblatted"`` the appearance that the blatting equation gives for the predicted
    alpha, ``A = B + (I - B) / mean_t(M g_t)`` (:func:`deblat_appearance`), so that at ``d = 0`` the sub-frames
    re-blur to I wherever A stays in [0, 1]: the network predicts where the object is at each time, and the
    image formation model says what colour it must have there.
    """

    def __init__(self, encoder: str = "resnet18", pretrained: str = "none", alpha_bias: float = 0.0,
                 appearance: str = "image") -> None:
        super().__init__(encoder, pretrained)
        if appearance not in APPEARANCES:
            raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
        self.extent = nn.Linear(self.encoder.channels[-1], 3)
        nn.init.zeros_(self.extent.weight)
        with torch.no_grad():
            self.extent.bias.copy_(torch.tensor([EXTENT_INIT, EXTENT_INIT, STRETCH_INIT]))
        self.alpha_bias = alpha_bias
        self.appearance = appearance

    def streak(self, image: torch.Tensor, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        """The streak's logits ``(B, 4, H, W)`` (appearance residual d, then alpha logit), the extent logits
        ``(B, 3)`` (object half-length, half-width, streak stretch) and the encoder's features."""
        pair = torch.cat((image, background), dim=1)
        feats = self.encoder(pair)
        logits = self.decoder(feats, pair, torch.full((1,), 0.5, device=image.device))
        return logits, self.extent(feats[-1].mean(dim=(2, 3))), feats

    def forward(self, image: torch.Tensor, background: torch.Tensor,
                times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image, background (B, 3, H, W)``, ``times (T,)`` -> ``(frames (B, T, 4, H, W), latent)``."""
        logits, extent, feats = self.streak(image, background)
        alpha = torch.sigmoid(logits[:, 3] + self.alpha_bias)  # (B, H, W)
        weight = alpha * ((image - background).abs().sum(dim=1) / DIFF_SCALE).clamp(0.0, 1.0)
        steps = times.shape[0]
        if self.appearance == "deblatted":
            grid = torch.linspace(0.0, 1.0, COVER_STEPS, device=times.device, dtype=times.dtype)
            gates = window_gates(weight, torch.sigmoid(extent), torch.cat((times, grid)))
            base = deblat_appearance(image, background, alpha * gates[:, steps:].mean(dim=1))
            gates = gates[:, :steps]
        else:
            gates = window_gates(weight, torch.sigmoid(extent), times)  # (B, T, H, W)
            base = image
        rgb = relative_rgba(logits, base, self.alpha_bias)[:, :3]
        frames = torch.cat((rgb[:, None].expand(-1, steps, -1, -1, -1), (alpha[:, None] * gates).unsqueeze(2)),
                           dim=2)
        return frames, feats[-1]


def deblat_appearance(image: torch.Tensor, background: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
    """The static appearance that the blatting equation gives for an exposure coverage, clipped to [0, 1].

    A pixel covered by the object (appearance F, constant over the exposure) for a share ``c = mean_t M_t`` of
    the exposure records ``I = c F + (1 - c) B``, so ``F = B + (I - B) / c`` (deblatting, as in TbD's appearance
    step). ``image, background (B, 3, H, W)`` in [0, 1], ``coverage (B, H, W)`` in [0, 1] (floored at
    ``COVER_MIN``) -> ``(B, 3, H, W)`` in [0, 1].
    """
    return (background + (image - background) / coverage.clamp_min(COVER_MIN).unsqueeze(1)).clamp(0.0, 1.0)


def _grid(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    height, width = weight.shape[-2:]
    return torch.meshgrid(torch.arange(height, device=weight.device, dtype=weight.dtype),
                          torch.arange(width, device=weight.device, dtype=weight.dtype), indexing="ij")


def streak_moments(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centre ``(B, 2)`` (x, y pixels), unit principal axis ``(B, 2)`` (canonical: x > 0, or y > 0 when x = 0),
    length ``(B,)`` = sqrt(12 lambda_1) and width ``(B,)`` = sqrt(12 lambda_2) of the weights ``(B, H, W)`` >= 0
    (a uniform bar of length l and width w has exactly those variances along and across its axis)."""
    ys, xs = _grid(weight)
    mass = weight.sum(dim=(1, 2)).clamp_min(1e-6)
    cx, cy = (weight * xs).sum(dim=(1, 2)) / mass, (weight * ys).sum(dim=(1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    sxx, syy = (weight * dx * dx).sum(dim=(1, 2)) / mass, (weight * dy * dy).sum(dim=(1, 2)) / mass
    sxy = (weight * dx * dy).sum(dim=(1, 2)) / mass
    # the eigenvalues of [[sxx, sxy], [sxy, syy]] and the major axis, in closed form
    half_gap = torch.sqrt(((sxx - syy) / 2) ** 2 + sxy ** 2 + 1e-8)
    major, minor = (sxx + syy) / 2 + half_gap, ((sxx + syy) / 2 - half_gap).clamp_min(1e-6)
    angle = 0.5 * torch.atan2(2 * sxy, sxx - syy)
    axis = torch.stack((torch.cos(angle), torch.sin(angle)), dim=1)  # angle in (-pi/2, pi/2]: x >= 0
    return torch.stack((cx, cy), dim=1), axis, torch.sqrt(12.0 * major), torch.sqrt(12.0 * minor)


def window_gates(weight: torch.Tensor, fraction: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Soft elliptic windows ``(B, T, H, W)`` in (0, 1) moving along the streak of ``weight (B, H, W)`` (see
    :func:`streak_moments`) from one end (t = 0) to the other (t = 1).

    ``fraction (B, 2)`` or ``(B, 3)`` in (0, 1): the object's half-length along the motion ``h = fraction_0 l / 2``
    and its half-width across it ``r = fraction_1 w`` (the streak is as wide as the object: the default 1/2 is
    exact for a bar); a third column stretches the streak's length, ``l = (1 + fraction_2) sqrt(12 var)``
    (see ``STRETCH_INIT``). The window is the ellipse ``(along / h)^2 + (across / r)^2 <= 1`` about ``p(t)``, with edges
    ``TAU`` pixels soft along the motion; the object travels ``l - 2h``.
    """
    centre, axis, length, width = streak_moments(weight)
    if fraction.shape[1] > 2:
        length = length * (1.0 + fraction[:, 2])
    half, radius = fraction[:, 0] * length / 2, fraction[:, 1] * width  # (B,)
    s = (times.to(weight.dtype) - 0.5).view(1, -1)  # (1, T)
    pos = centre[:, None, :] + (s * (length - 2 * half)[:, None])[..., None] * axis[:, None, :]  # (B, T, 2)
    ys, xs = _grid(weight)
    dx, dy = xs - pos[..., 0, None, None], ys - pos[..., 1, None, None]  # (B, T, H, W)
    ax, ay = axis[:, None, 0, None, None], axis[:, None, 1, None, None]
    along, across = dx * ax + dy * ay, dy * ax - dx * ay
    return torch.sigmoid(ellipse_edge(along, across, half[:, None, None, None], radius[:, None, None, None]))


def ellipse_edge(along: torch.Tensor, across: torch.Tensor, half: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Logit of a soft ellipse with half-axes ``half`` along the motion and ``radius`` across it, at offsets
    ``along, across`` from its centre (broadcasting): positive inside, edges ``TAU`` pixels soft along the motion.

    The half-width is floored at ``RADIUS_MIN`` pixels: a radius that reaches 0 (a collapsed width) would
    overflow ``(across / radius)^2`` to inf and turn the backward pass's ``0 * inf`` into NaN.
    """
    inside = 1.0 - (across / radius.clamp_min(RADIUS_MIN)) ** 2  # > 0 within the half-width
    reach = half * torch.sign(inside) * torch.sqrt(inside.abs() + 1e-4)  # < 0 beyond it
    return (reach - along.abs()) / TAU
