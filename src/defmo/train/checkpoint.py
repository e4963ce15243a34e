"""Training checkpoints: every network, optimizer, scaler, scheduler, the step, the RNG states and the resolved
config; written to resume a run and read by :mod:`defmo.models.weights` (:func:`load`, ``load_generator``).

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

from defmo.models.weights import FORMAT, load
from defmo.settings import Config, as_dict
from defmo.utils.io import save_torch

__all__ = ["FORMAT", "load", "resume", "rng_state", "save", "set_rng_state"]
log = logging.getLogger(__name__)


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


def resume(path: str | Path, trainer) -> dict:
    """Restore ``trainer`` and the RNG states from ``path``; return the checkpoint's ``extra`` dict."""
    payload = load(path, trainer.device)
    trainer.load_state_dict(payload["trainer"])
    set_rng_state(payload["rng"])
    return payload["extra"]
