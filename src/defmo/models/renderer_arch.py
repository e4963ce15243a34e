"""The DeFMO renderer (report Table 1): latent + time channel -> one RGBA sub-frame, upsampled x16.

Layout of ``net`` matches the original DeFMO's ``rendering_best.pt`` (and ``kornia.feature.DeFMO``): the
time channel comes FIRST, ``cat(t, latent)``, so K + 1 input channels (513 for ResNet-18, 2049 for
ResNet-50). :meth:`Renderer.forward` renders all T time steps in one batched call: the first convolution
is linear, so ``conv(cat(t, X)) = conv_X(X) + t * conv_t(1)``; the latent part is computed once per sample
and the time part once per call, and the rest of the network runs on time folded into the batch.
:meth:`Renderer.forward_loop` is the original's one call per time step (same numbers in eval mode).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from defmo.models.checkpointing import checkpoint_segment

SPLIT = 5  # net[:SPLIT] is checkpoint segment 1 (conv, BN, ReLU, bottleneck 1024, shuffle), net[SPLIT:] segment 2


def _bottleneck(channels: int) -> Bottleneck:
    """A ResNet bottleneck keeping ``channels`` (width channels / 4), as DeFMO's ``Bottleneck(c, c // 4)``."""
    return Bottleneck(channels, channels // 4)


# Initial bias of the alpha logit: sigmoid(-3) ~ 0.05, a nearly transparent start. From the default ~0.5, L_S
# (binary entropy) against L_F's background term holds a freshly initialised renderer at alpha ~0.7, where it
# does not learn (docs/CPU_TRAINING.md, "Why each cpu-scale value"). Published weights overwrite it.
ALPHA_BIAS_INIT = -3.0
# Bound of the uniform init of the time channel's 3x3 weights in the first convolution: 1/sqrt(9), the default
# bound of a layer whose fan-in is that one channel's kernel, instead of the default 1/sqrt(9 (K + 1)) shared
# with the K latent channels, under which the time signal starts ~20x weaker than the latent's and the
# sub-frames stay nearly identical over time (docs/history/streak-and-table1-generators.md, "The time channel is too quiet at init").
# Published weights overwrite it.
TIME_WEIGHT_INIT = 1.0 / 3.0


class Renderer(nn.Module):
    """Latent ``(B, K, h, w)`` and times ``(T,)`` in [0, 1] -> sub-frames ``(B, T, 4, 16h, 16w)`` in [0, 1]."""

    def __init__(self, latent_channels: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels + 1, 1024, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(1024),
            nn.ReLU(inplace=True),
            _bottleneck(1024),
            nn.PixelShuffle(2),
            _bottleneck(256),
            nn.PixelShuffle(2),
            _bottleneck(64),
            nn.PixelShuffle(2),
            nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False),
            nn.PixelShuffle(2),
            nn.Conv2d(4, 4, kernel_size=3, padding=1, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(4, 4, kernel_size=3, padding=1, bias=True),
        )
        with torch.no_grad():  # start nearly transparent: objects cover a few % of a frame (GT mean alpha ~0.03)
            self.net[-1].bias[3] = ALPHA_BIAS_INIT
            self.net[0].weight[:, :1].uniform_(-TIME_WEIGHT_INIT, TIME_WEIGHT_INIT)
        self.checkpointing = False

    def _first(self, latent: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Segment 1 on time folded into the batch: ``(B, K, h, w), (T,)`` -> ``(B*T, 256, 2h, 2w)``."""
        conv = self.net[0]
        w_t, w_x = conv.weight[:, :1], conv.weight[:, 1:]
        per_sample = F.conv2d(latent, w_x, padding=1)  # (B, 1024, h, w)
        ones = torch.ones_like(latent[:1, :1])
        per_time = F.conv2d(ones, w_t, padding=1)  # (1, 1024, h, w): the time channel's response to t = 1
        t = times.to(device=per_sample.device, dtype=per_sample.dtype).view(1, -1, 1, 1, 1)
        x = per_sample.unsqueeze(1) + t * per_time.unsqueeze(1)  # (B, T, 1024, h, w)
        return self.net[1:SPLIT](x.flatten(0, 1))

    def _second(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[SPLIT:](x)

    def forward(self, latent: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        batch, steps = latent.shape[0], times.shape[0]
        if self.checkpointing:
            x = checkpoint_segment(self._first, [self.net[:SPLIT]], latent, times)
            x = checkpoint_segment(self._second, [self.net[SPLIT:]], x)
        else:
            x = self._second(self._first(latent, times))
        return torch.sigmoid(x).view(batch, steps, *x.shape[1:])

    def forward_loop(self, latent: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """The original DeFMO's rendering: one network call per time step on ``cat(t, latent)``."""
        frames = []
        for t in times:
            t_map = torch.full_like(latent[:, :1], float(t))
            frames.append(torch.sigmoid(self.net(torch.cat((t_map, latent), dim=1))))
        return torch.stack(frames, dim=1)
