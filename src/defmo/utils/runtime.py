"""Device choice, thread count and seeding from the resolved config."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from defmo.errors import UserError

if TYPE_CHECKING:  # a type only: utils sit below settings
    from defmo.settings import Config


def resolve_device(cfg: Config) -> torch.device:
    """``device: auto`` picks CUDA when present; ``cuda`` without CUDA is a clear error."""
    choice = cfg.device
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("params.yaml: key 'device' is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(choice)


def configure_threads(cfg: Config) -> None:
    """Torch's intra-op threads: ``threads`` of the config."""
    torch.set_num_threads(cfg.threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
