"""The DeFMO encoder: a torchvision ResNet truncated after layer4, without its max-pool (stride 16).

The module layout matches the original DeFMO (and ``kornia.feature.DeFMO``) so its published
``encoder_best.pt`` loads as is: ``net.0`` = (conv1, bn1, relu), ``net.1`` = (layer1, layer2, layer3, layer4).
"""

from __future__ import annotations

import torch
from torch import nn

from defmo.models.checkpointing import checkpoint_segment
from defmo.models.pretrained import build_resnet

LATENT_CHANNELS = {"resnet18": 512, "resnet50": 2048}


class Encoder(nn.Module):
    """``cat(I, B)`` ``(B, 6, H, W)`` in [0, 1] -> latent ``(B, K, H/16, W/16)``, K = 512 (ResNet-18) or 2048 (50).

    H and W must be multiples of 16. With ``checkpointing`` on, the forward runs as two checkpointed segments
    (stem + layer1 + layer2, then layer3 + layer4).
    """

    def __init__(self, arch: str = "resnet18", pretrained: str = "none") -> None:
        super().__init__()
        res = build_resnet(arch, "RGBRGB", pretrained, "encoder")
        self.net = nn.Sequential(
            nn.Sequential(res.conv1, res.bn1, res.relu),
            nn.Sequential(res.layer1, res.layer2, res.layer3, res.layer4),
        )
        self.latent_channels = LATENT_CHANNELS[arch]
        self.checkpointing = False

    def segments(self) -> list[nn.Sequential]:
        """The two checkpoint segments, in order."""
        stem, layers = self.net
        return [nn.Sequential(stem, layers[0], layers[1]), nn.Sequential(layers[2], layers[3])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.checkpointing:
            return self.net(x)
        for seg in self.segments():
            x = checkpoint_segment(seg, [seg], x)
        return x
