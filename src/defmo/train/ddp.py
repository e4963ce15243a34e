"""DistributedDataParallel helpers: ``torchrun`` sets the environment, we join the process group.

Without ``torchrun`` (no ``WORLD_SIZE`` > 1 in the environment) everything is a single process and
:func:`wrap` returns the module unchanged. CPU runs use the ``gloo`` backend, CUDA runs ``nccl`` with one
GPU per local rank.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> torch.device:
    """Join the process group when launched by ``torchrun``; return this process's device."""
    if env_world_size() <= 1 or is_active():
        return device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    log.info("DDP: rank %d of %d (%s, %s)", rank(), world_size(), backend, device)
    return device


def teardown() -> None:
    if is_active():
        dist.destroy_process_group()


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def is_main() -> bool:
    return rank() == 0


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """DDP-wrap ``module`` when a process group is active (BatchNorm synced across GPUs on CUDA).

    On CPU (gloo) BatchNorm stays per process: each rank normalises its own shard, as DDP does
    without SyncBatchNorm.
    """
    if not is_active():
        return module
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def barrier() -> None:
    if is_active():
        dist.barrier()


def all_mean(value: float) -> float:
    """Mean of a float over ranks (for logging)."""
    if not is_active():
        return value
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([value], dtype=torch.float64, device=on)
    dist.all_reduce(t)
    return float(t.item()) / world_size()
