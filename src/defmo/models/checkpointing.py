"""Gradient checkpointing of a network's segments that keeps outputs, gradients AND batch-norm statistics.

``torch.utils.checkpoint`` re-runs a segment's forward during backward. In training mode that would update
batch-norm running statistics a second time; :func:`checkpoint_segment` freezes them (momentum 0 and the
batch counter restored) during the recomputation, so a checkpointed step leaves the model exactly as an
ordinary one. Unlike ``checkpoint_sequential``, every segment given is checkpointed, the last included.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@contextmanager
def frozen_batchnorm(modules: list[nn.Module]) -> Iterator[None]:
    """Within the block, batch norms in ``modules`` normalise as usual but leave running stats unchanged."""
    norms = [m for mod in modules for m in mod.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def checkpoint_segment(fn: Callable[..., torch.Tensor], modules: list[nn.Module], *args) -> torch.Tensor:
    """``fn(*args)`` under non-reentrant checkpointing; ``modules`` are those ``fn`` runs (for BN freezing)."""
    calls = {"n": 0}

    def run(*inner):
        calls["n"] += 1
        if calls["n"] == 1:
            return fn(*inner)
        with frozen_batchnorm(modules):
            return fn(*inner)

    return checkpoint(run, *args, use_reentrant=False)
