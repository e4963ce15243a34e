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


def project_to_image(subframes: torch.Tensor, image: torch.Tensor, dim: int = -4) -> torch.Tensor:
    """The sub-frames nearest to ``subframes`` (least squares) whose mean over time is ``image``, in [0, 1].

    By the blatting equation a long exposure is the mean of the sub-frames a high-speed camera films, so the
    true composited sub-frames ``G_t`` satisfy ``mean_t G_t = I``. This adds the residual ``I - mean_t S_t`` to
    every sub-frame (the orthogonal projection onto that affine set), then clips to [0, 1] (the projection onto
    the box). Both sets contain the ground truth, so for any ``G`` with ``mean_t G_t = I`` in [0, 1] the result
    is never further from ``G`` than ``subframes`` (in the sum of squares over all sub-frames): it can only raise
    PSNR. It keeps the estimate's temporal variation ``S_t - mean S`` and replaces its time mean by ``I``: a
    static estimate becomes the input image (the Image baseline), the background repeated too.

    Args:
        subframes: composited sub-frames in [0, 1], time along ``dim``, e.g. ``(..., N, 3, H, W)`` (dim -4)
            or ``(N, H, W, 3)`` (dim 0).
        image: the long exposure, ``subframes`` without the time dimension.
    Returns:
        a tensor shaped as ``subframes``.
    """
    residual = image.unsqueeze(dim) - subframes.mean(dim=dim, keepdim=True)
    return (subframes + residual).clamp(0.0, 1.0)


def project_to_image_np(subframes: np.ndarray, image: np.ndarray) -> np.ndarray:
    """:func:`project_to_image` for channels-last NumPy stacks ``(N, H, W, 3)``, image ``(H, W, 3)``; float64 out."""
    stack = torch.from_numpy(np.asarray(subframes, dtype=np.float64))
    return project_to_image(stack, torch.from_numpy(np.asarray(image, dtype=np.float64)), dim=0).numpy()
