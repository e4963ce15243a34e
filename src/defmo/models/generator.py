"""The generator: encoder + renderer (DeFMO's architecture; ResNet-18 as in the report, ResNet-50 as the original)."""

from __future__ import annotations

import torch
from torch import nn

from defmo.models.encoder_arch import Encoder
from defmo.models.renderer_arch import Renderer


class Generator(nn.Module):
    """Blurred image + background -> N sharp RGBA sub-frames.

    Shapes: images ``(B, 3, H, W)`` in [0, 1], H and W multiples of 16; latent ``(B, K, H/16, W/16)``;
    times ``(T,)`` in [0, 1] (sub-frame i of N at ``i / (N - 1)``); sub-frames ``(B, T, 4, H, W)`` in [0, 1]
    (RGB appearance F, then alpha M).
    """

    def __init__(self, encoder: str = "resnet18", pretrained: str = "none") -> None:
        super().__init__()
        self.encoder = Encoder(encoder, pretrained)
        self.renderer = Renderer(self.encoder.latent_channels)

    @property
    def latent_channels(self) -> int:
        """K, the latent's channel count."""
        return self.encoder.latent_channels

    def set_gradient_checkpointing(self, on: bool) -> None:
        """Checkpoint 2 segments of the encoder and 2 of the renderer (all four really checkpointed)."""
        self.encoder.checkpointing = bool(on)
        self.renderer.checkpointing = bool(on)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 6, H, W)`` = cat(image, background) -> latent ``(B, K, H/16, W/16)``."""
        return self.encoder(x)

    def render(self, latent: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Latent ``(B, K, h, w)``, times ``(T,)`` -> ``(B, T, 4, 16h, 16w)``, all T in one batched call."""
        return self.renderer(latent, times)

    def render_loop(self, latent: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """As :meth:`render`, but one renderer call per time step (the original DeFMO; a benchmark reference)."""
        return self.renderer.forward_loop(latent, times)

    def forward_loop(self, image: torch.Tensor, background: torch.Tensor,
                     times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`forward`, rendering with :meth:`render_loop` (one renderer call per time step)."""
        latent = self.encode(torch.cat((image, background), dim=1))
        return self.render_loop(latent, times), latent

    def forward(self, image: torch.Tensor, background: torch.Tensor,
                times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image, background (B, 3, H, W)``, ``times (T,)`` -> ``(frames (B, T, 4, H, W), latent)``."""
        latent = self.encode(torch.cat((image, background), dim=1))
        return self.render(latent, times), latent


def subframe_times(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The N sub-frame times ``i / (N - 1)``, ``(N,)`` float32 in [0, 1] (``[0.]`` for N = 1)."""
    if n == 1:
        return torch.zeros(1, device=device)
    return torch.linspace(0.0, 1.0, n, device=device)
