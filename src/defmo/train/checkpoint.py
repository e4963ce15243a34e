"""Checkpoints: every network, optimizer, scaler, scheduler, the step, the RNG states and the resolved config.

Saved atomically (temp file + rename, :func:`defmo.utils.io.save_torch`) and loaded with
``torch.load(..., weights_only=True)``: only tensors and plain containers, no pickled code. RNG states are
stored as tensors and lists for that reason.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from defmo.errors import UserError
from defmo.settings import Config, as_dict
from defmo.utils.io import save_torch

log = logging.getLogger(__name__)
FORMAT = 1


def rng_state() -> dict:
    """Python, NumPy, torch CPU (and CUDA when present) RNG states as weights_only-safe objects."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, np_gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, trainer, cfg: Config | dict, extra: dict | None = None) -> None:
    """Write the full training state of ``trainer`` (a :class:`~defmo.train.trainer.Trainer`) atomically.

    The config is stored as its plain resolved dict (what ``weights_only`` loading accepts, and what older
    checkpoints hold too).
    """
    payload = {
        "format": FORMAT,
        "trainer": trainer.state_dict(),
        "rng": rng_state(),
        "cfg": as_dict(cfg),
        "extra": extra or {},
    }
    save_torch(path, payload)
    log.debug("checkpoint written: %s (step %d)", path, trainer.step)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; a damaged or foreign file is a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint (train the approach first: python -m defmo train ...)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise UserError(f"{path}: not a readable checkpoint ({exc}); delete it and train again") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not a defmo checkpoint (format {FORMAT}); delete it and train again")
    return payload


def resume(path: str | Path, trainer) -> dict:
    """Restore ``trainer`` and the RNG states from ``path``; return the checkpoint's ``extra`` dict."""
    payload = load(path, trainer.device)
    trainer.load_state_dict(payload["trainer"])
    set_rng_state(payload["rng"])
    return payload["extra"]


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
