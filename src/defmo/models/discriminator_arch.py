"""The learned-loss networks: D_S (Wasserstein patch critic on one RGBA sub-frame) and D_T (pair order).

Both have a ResNet-18 trunk (report: up to and excluding global average pooling, max-pool kept, so stride
32) or, with ``model.discriminator: light``, a small CNN of five stride-2 convolutions (also stride 32) for
2-core machines. Spectral normalisation is applied to every convolution and linear weight. The ResNet-18
trunk keeps its batch norms, as the report's code did.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from defmo.models.pretrained import build_resnet

LIGHT_WIDTHS = (32, 64, 128, 128, 128)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalise the weight of every Conv2d and Linear in ``module`` (in place); returns it."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            setattr(module, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


def resnet18_trunk(layout: str, pretrained: str, what: str) -> tuple[nn.Sequential, int]:
    """ResNet-18 to layer4 (with max-pool) taking ``len(layout)`` channels: ``(B, C, H, W) -> (B, 512, H/32, W/32)``."""
    res = build_resnet("resnet18", layout, pretrained, what)
    trunk = nn.Sequential(res.conv1, res.bn1, res.relu, res.maxpool, res.layer1, res.layer2, res.layer3, res.layer4)
    return trunk, 512


def light_trunk(channels: int) -> tuple[nn.Sequential, int]:
    """Five 3x3 stride-2 convolutions with LeakyReLU(0.2): ``(B, C, H, W) -> (B, 128, H/32, W/32)``."""
    layers: list[nn.Module] = []
    for width in LIGHT_WIDTHS:
        layers += [nn.Conv2d(channels, width, kernel_size=3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        channels = width
    return nn.Sequential(*layers), channels


def build_trunk(kind: str, layout: str, pretrained: str, what: str) -> tuple[nn.Sequential, int]:
    """``kind`` = ``resnet18`` | ``light``; returns (trunk, output channels). ``pretrained`` only for resnet18."""
    if kind == "resnet18":
        return resnet18_trunk(layout, pretrained, what)
    return light_trunk(len(layout))


class SharpnessCritic(nn.Module):
    """D_S: RGBA sub-frames ``(B, 4, H, W)`` in [0, 1] -> Wasserstein scores ``(B,)`` (unbounded reals).

    A linear 1x1 conv head scores each of the ``ceil(H/32) x ceil(W/32)`` patches; the patch scores are
    averaged. ``masked`` input multiplies RGB by alpha first, so RGB where alpha is 0 (unconstrained in the
    generator's output) cannot be used as a cue; ``raw`` scores the sub-frame as it is (the report's code).
    ``noise`` > 0 adds N(0, noise^2) to every channel of the (masked) input in training mode only, as the
    report's code did with sigma 1e-3 (real and fake alike); eval mode is deterministic.
    """

    def __init__(self, kind: str = "resnet18", pretrained: str = "none", masked: bool = True,
                 noise: float = 0.0) -> None:
        super().__init__()
        trunk, channels = build_trunk(kind, "RGBA", pretrained, "D_S")
        self.trunk = trunk
        self.head = nn.Conv2d(channels, 1, kernel_size=1, bias=True)
        self.masked = masked
        self.noise = float(noise)
        apply_spectral_norm(self)

    def forward(self, rgba: torch.Tensor) -> torch.Tensor:
        if self.masked:
            rgba = torch.cat((rgba[:, :3] * rgba[:, 3:4], rgba[:, 3:4]), dim=1)
        if self.training and self.noise > 0:
            rgba = rgba + self.noise * torch.randn_like(rgba)
        patches = self.head(self.trunk(rgba))  # (B, 1, ceil(H/32), ceil(W/32))
        return patches.mean(dim=(1, 2, 3))


class OrderDiscriminator(nn.Module):
    """D_T: two RGBA sub-frames ``(B, 4, H, W)`` each -> logit ``(B,)`` that the second immediately follows the first.

    The pair is stacked as 8 channels; trunk, global average pool, linear. The report's sigmoid is left to
    ``binary_cross_entropy_with_logits`` (``torch.sigmoid`` of the output is the probability).
    """

    def __init__(self, kind: str = "resnet18", pretrained: str = "none") -> None:
        super().__init__()
        trunk, channels = build_trunk(kind, "RGBARGBA", pretrained, "D_T")
        self.trunk = trunk
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 1)
        apply_spectral_norm(self)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.trunk(torch.cat((first, second), dim=1)))
        return self.fc(x.flatten(1)).squeeze(1)
