"""ImageNet / file weights for the ResNet trunks, and first-conv adaptation to 4, 6 or 8 input channels.

``model.pretrained``: ``none`` (random init), ``imagenet`` (torchvision's weights, read offline from the
torch hub cache; a UserError says which file to put where when it is missing) or a path to a torchvision
ResNet state dict (``.pth``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import nn

from defmo.errors import UserError

log = logging.getLogger(__name__)

WEIGHTS = {
    "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
}


def imagenet_file(arch: str) -> tuple[Path, str]:
    """Where torchvision looks for ``arch``'s ImageNet weights offline, and the URL they come from."""
    url = WEIGHTS[arch].url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name, url


def _read_state_dict(path: Path, what: str) -> dict:
    if not path.is_file():
        raise UserError(f"{what}: weights file {path} does not exist; put a torchvision ResNet state dict there, "
                        "or set model.pretrained to none")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"{what}: cannot read {path} as a torch state dict ({exc}); "
                        "point model.pretrained to a torchvision ResNet .pth file") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{what}: {path} holds a {type(state).__name__}, not a state dict")
    return state


def pretrained_state(spec: str, arch: str) -> dict | None:
    """The ImageNet-layout (3-channel) state dict that ``model.pretrained = spec`` asks for, or None."""
    if spec == "none":
        return None
    if spec == "imagenet":
        path, url = imagenet_file(arch)
        if not path.is_file():
            raise UserError(
                f"model.pretrained=imagenet: the {arch} ImageNet weights are not in the offline torch hub cache. "
                f"Download {url} on a machine with internet and copy it to {path} (or set TORCH_HOME), "
                "or set model.pretrained to the path of a ResNet state dict, or to none")
        return _read_state_dict(path, "model.pretrained=imagenet")
    return _read_state_dict(Path(spec), f"model.pretrained={spec}")


def adapt_first_conv(weight: torch.Tensor, layout: str) -> torch.Tensor:
    """Build a first-conv kernel for ``layout`` channels from a pretrained RGB kernel.

    Args:
        weight: ``(C_out, 3, k, k)`` pretrained kernel (RGB).
        layout: one letter per input channel from ``RGBA``, e.g. ``"RGBRGB"`` (encoder: image and
            background), ``"RGBA"`` (D_S), ``"RGBARGBA"`` (D_T). R/G/B copy that channel of the RGB kernel
            (the RGB kernel duplicated per image); A gets the mean of the three.
    Returns:
        ``(C_out, len(layout), k, k)`` kernel.
    """
    rgb = {"R": weight[:, 0], "G": weight[:, 1], "B": weight[:, 2], "A": weight.mean(dim=1)}
    return torch.stack([rgb[c] for c in layout], dim=1).contiguous()


def _mismatched(net: nn.Module, state: dict) -> list[str]:
    """Keys of ``net`` (``fc`` aside) that ``state`` lacks or holds with another shape."""
    own = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    return sorted(k for k, v in own.items() if k not in state or state[k].shape != v.shape)


def load_trunk_weights(net: nn.Module, state: dict, layout: str, what: str) -> None:
    """Copy an ImageNet-layout ResNet ``state`` into torchvision ``net`` whose conv1 takes ``layout``.

    ``fc.*`` is ignored; any other missing or misshaped key raises a UserError naming ``what``.
    """
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if "conv1.weight" not in state or state["conv1.weight"].shape[1] != 3:
        raise UserError(f"{what}: the state dict has no 3-channel 'conv1.weight'; it must be a torchvision ResNet")
    state["conv1.weight"] = adapt_first_conv(state["conv1.weight"], layout)
    bad = _mismatched(net, state)
    if bad:
        raise UserError(f"{what}: the state dict does not fit this ResNet "
                        f"({len(bad)} keys missing or misshaped, e.g. {', '.join(bad[:5])}); "
                        "use weights of the same architecture")
    net.load_state_dict(state, strict=False)
    log.info("%s: loaded pretrained trunk weights (first conv adapted to %s)", what, layout)


def build_resnet(arch: str, layout: str, pretrained: str, what: str) -> nn.Module:
    """A torchvision ResNet (``resnet18`` | ``resnet50``) whose conv1 takes ``len(layout)`` channels.

    ``pretrained``: as ``model.pretrained``. The classifier (``fc``) is left in place; callers truncate.
    """
    if arch not in WEIGHTS:
        raise UserError(f"model.encoder/discriminator: unknown ResNet '{arch}' (use resnet18 or resnet50)")
    state = pretrained_state(pretrained, arch)
    net = getattr(torchvision.models, arch)(weights=None)
    net.conv1 = nn.Conv2d(len(layout), 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    if state is not None:
        load_trunk_weights(net, state, layout, what)
    return net
