"""The original DeFMO (ResNet-50 encoder, 2049-channel renderer input) with its published weights.

DeFMO's ``encoder_best.pt`` and ``rendering_best.pt`` are plain state dicts whose layout our
:class:`~defmo.models.encoder_arch.Encoder` / :class:`~defmo.models.renderer_arch.Renderer` share (as does
``kornia.feature.DeFMO``), so they load strictly into ``Generator("resnet50")``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from defmo.errors import UserError
from defmo.models.generator import Generator

log = logging.getLogger(__name__)

ENCODER_FILE = "encoder_best.pt"
RENDERER_FILE = "rendering_best.pt"
ORIGINAL_SUBFRAMES = 24  # the published model was trained with N = 24 (times i / 23)


def _load_into(module: nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, AttributeError, TypeError) as exc:
        raise UserError(f"evaluate.original_weights: {path} is not DeFMO's published {path.name} state dict ({exc}); "
                        "use the files from github.com/rozumden/DeFMO") from exc


def load_original(folder: str | Path, device: torch.device | str = "cpu") -> Generator:
    """A ResNet-50 :class:`Generator` in eval mode holding DeFMO's weights from ``folder``.

    ``folder`` must contain ``encoder_best.pt`` and ``rendering_best.pt``; otherwise a UserError says so.
    """
    folder = Path(folder)
    missing = [name for name in (ENCODER_FILE, RENDERER_FILE) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"evaluate.original_weights: {folder} lacks {', '.join(missing)}; put DeFMO's published "
                        f"{ENCODER_FILE} and {RENDERER_FILE} there (or set evaluate.original_weights to null)")
    model = Generator("resnet50", "none")
    _load_into(model.encoder, folder / ENCODER_FILE)
    _load_into(model.renderer, folder / RENDERER_FILE)
    log.info("loaded the original DeFMO weights from %s", folder)
    return model.to(device).eval()


def save_original(model: Generator, folder: str | Path) -> None:
    """Write ``model``'s encoder/renderer as DeFMO-layout ``encoder_best.pt`` / ``rendering_best.pt`` (atomic)."""
    from defmo.utils.io import save_torch

    folder = Path(folder)
    save_torch(folder / ENCODER_FILE, model.encoder.state_dict())
    save_torch(folder / RENDERER_FILE, model.renderer.state_dict())
