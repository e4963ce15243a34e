"""Float32 islands inside autocast regions: losses compute logs, entropies and correlations in float32."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def float32_region(reference: torch.Tensor) -> Iterator[None]:
    """Disable autocast for ``reference``'s device type within the block (callers cast inputs with ``.float()``)."""
    with torch.autocast(device_type=reference.device.type, enabled=False):
        yield
