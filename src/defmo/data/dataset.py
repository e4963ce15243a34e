"""PyTorch ``Dataset`` over a rendered split folder (``manifest.json`` + shards)."""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from defmo.data import shards


class SyntheticFMODataset(Dataset):
    """Samples of ``data/synthetic/<split>``.

    ``ds[i]`` is a dict of float32 tensors in [0, 1]: ``image``, ``background``, ``image2``, ``background2``
    ``(3, H, W)`` and ``frames`` ``(N, 4, H, W)`` (RGBA ground truth, ``t_i = i / (N - 1)``). With ``flips``,
    all of them are flipped together horizontally and/or vertically, each with probability 1/2 (torch RNG,
    so DataLoader worker seeding applies). A missing manifest or a truncated/corrupt shard raises UserError
    naming the file.
    """

    def __init__(self, root: str | Path, flips: bool = False):
        self.root = Path(root)
        self.flips = flips
        self.manifest = shards.read_manifest(self.root)
        self.readers = [shards.ShardReader(self.root / s["file"]) for s in self.manifest["shards"]]
        for reader, entry in zip(self.readers, self.manifest["shards"]):
            if len(reader) != entry["count"]:
                raise shards.corrupt_error(reader.path, f"holds {len(reader)} samples, manifest says {entry['count']}")
        self.starts = list(np.cumsum([0] + [len(r) for r in self.readers[:-1]]))
        self.n_subframes = self.manifest["n_subframes"]

    def __len__(self) -> int:
        return self.manifest["count"]

    def locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples in {self.root}")
        shard = bisect.bisect_right(self.starts, index) - 1
        return shard, index - self.starts[shard]

    def raw(self, index: int) -> dict:
        """uint8 arrays, channels last, as stored."""
        shard, offset = self.locate(index)
        return self.readers[shard][offset]

    def meta(self, index: int) -> dict:
        shard, offset = self.locate(index)
        return self.readers[shard].footer["meta"][offset]

    def __getitem__(self, index: int) -> dict:
        sample = {k: to_tensor(v) for k, v in self.raw(index).items()}
        if self.flips:
            dims = [d for d, flip in ((-1, torch.rand(()) < 0.5), (-2, torch.rand(()) < 0.5)) if flip]
            if dims:
                sample = {k: v.flip(dims) for k, v in sample.items()}
        return sample


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 channels-last ``(..., H, W, C)`` -> float32 channels-first ``(..., C, H, W)`` in [0, 1]."""
    tensor = torch.from_numpy(np.array(array, copy=True)).to(torch.float32).div_(255.0)
    return tensor.movedim(-1, -3).contiguous()
