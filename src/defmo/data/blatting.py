"""The blatting (blurring + matting) equation, report eq. 2/7: the one implementation everything uses.

``I = mean_t(F_t * M_t) + (1 - mean_t(M_t)) * B`` for sub-frames ``R_t = (F_t, M_t)``.
"""

from __future__ import annotations

import numpy as np
import torch


def blat(frames: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Composite sub-frames over a background as one long exposure.

    Args:
        frames: ``(..., N, 4, H, W)`` RGBA sub-frames in [0, 1] (RGB appearance F, alpha M).
        background: ``(..., 3, H, W)`` RGB in [0, 1], broadcastable to the frames' leading dims.
    Returns:
        ``(..., 3, H, W)`` blurred image in [0, 1].
    """
    rgb, alpha = frames[..., :3, :, :], frames[..., 3:4, :, :]
    fg = (rgb * alpha).mean(dim=-4)
    cover = alpha.mean(dim=-4)
    return fg + (1.0 - cover) * background


def blat_np(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`blat` for channels-last data: frames ``(N, H, W, 4)``, background ``(H, W, 3)``.

    Float arrays in [0, 1] in, float64 ``(H, W, 3)`` out.
    """
    frames = np.asarray(frames, dtype=np.float64)
    alpha = frames[..., 3:4]
    fg = (frames[..., :3] * alpha).mean(axis=0)
    return fg + (1.0 - alpha.mean(axis=0)) * np.asarray(background, dtype=np.float64)


def composite(frames: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Each sub-frame over the background separately (what a high-speed camera would film).

    frames ``(..., N, 4, H, W)``, background ``(..., 3, H, W)`` -> ``(..., N, 3, H, W)`` in [0, 1].
    """
    rgb, alpha = frames[..., :3, :, :], frames[..., 3:4, :, :]
    return rgb * alpha + (1.0 - alpha) * background.unsqueeze(-4)
