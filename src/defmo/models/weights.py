"""Read a checkpoint written by ``defmo train`` and build its trained generator, for every stage that uses one
(evaluation, ``deblur``, the seed study, validation); :mod:`defmo.train.checkpoint` writes them.

Read with ``torch.load(..., weights_only=True)``: only tensors and plain containers, no pickled code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from defmo.errors import UserError

FORMAT = 1  # the checkpoint layout's version (defmo.train.checkpoint.save writes it)
DEFMO_FILES = ("encoder_best.pt", "rendering_best.pt")  # DeFMO's published weights (the `original` method's)


def _foreign(path: Path, payload) -> str:
    """What to tell a user whose ``path`` is not one of our checkpoints."""
    if path.name in DEFMO_FILES or (isinstance(payload, dict) and payload and "format" not in payload
                                    and all(isinstance(v, torch.Tensor) for v in payload.values())):
        return (f"{path}: a plain state dict such as DeFMO's published {' / '.join(DEFMO_FILES)}, not a checkpoint "
                "of `defmo train`. DeFMO's own weights are the `original` method: set evaluate.original_weights "
                "to their folder (python -m defmo evaluate ...); --checkpoint takes a final.pt that `defmo train` "
                "wrote.")
    found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    return (f"{path}: not a checkpoint of this version of `defmo train` (layout {found!r}, expected format "
            f"{FORMAT}); pass a final.pt it wrote (results/train/checkpoints/<approach>/final.pt), or train one to a "
            "new path.")


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; a missing, damaged or foreign file is a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint (train the approach first: python -m defmo train ...)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise UserError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); it may be an "
                        "interrupted copy or another kind of file. Pass another --checkpoint, or train the approach "
                        "again to a new path.") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(_foreign(path, payload))
    return payload


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The trained Generator of a checkpoint, in eval mode on ``device``, and the config it was trained with.

    The config is the checkpoint's plain dict, as saved (perhaps by an older version, with fewer keys).
    """
    from defmo.models import build_generator

    payload = load(path, device)
    cfg = payload["cfg"]
    generator = build_generator(cfg)
    generator.load_state_dict(payload["trainer"]["nets"]["generator"])
    return generator.to(device).eval(), cfg
