"""DeFMO's losses (report eqs. 4-10), each a function of tensors returning a float32 scalar.

Shapes: sub-frames ``(B, N, 4, H, W)`` in [0, 1] (RGB appearance F, alpha M); images ``(B, 3, H, W)``
in [0, 1]; latents ``(B, K, h, w)``. Losses are averaged over the batch. They are safe inside autocast
(fp16 on CUDA, bf16 on CPU): every loss computes in float32.
"""

from __future__ import annotations

import torch

from defmo.data.blatting import blat
from defmo.losses._precision import float32_region


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Report eq. 6: ``sum_ij ||a_ij - b_ij||_1 M_ij / sum_ij M_ij`` per image.

    Args:
        a, b: ``(..., C, H, W)``; the L1 norm runs over C.
        mask: ``(..., 1, H, W)`` weights in {0, 1}.
    Returns:
        ``(...)``; 0 where the mask is empty.
    """
    num = ((a - b).abs().sum(dim=-3, keepdim=True) * mask).sum(dim=(-3, -2, -1))
    return num / mask.sum(dim=(-3, -2, -1)).clamp_min(1.0)


def loss_r(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Report eq. 5 per sub-frame: mask L1 inside the GT object + mask L1 outside it + F*M L1 inside it.

    ``pred, gt (..., 4, H, W)`` -> ``(...)``. "Inside" is GT alpha > 0.
    """
    mask, mask_gt = pred[..., 3:4, :, :], gt[..., 3:4, :, :]
    inside = (mask_gt > 0).to(pred.dtype)
    fm, fm_gt = pred[..., :3, :, :] * mask, gt[..., :3, :, :] * mask_gt
    return masked_l1(mask, mask_gt, inside) + masked_l1(mask, mask_gt, 1.0 - inside) + masked_l1(fm, fm_gt, inside)


def loss_f(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Report eq. 4: ``1/N min(sum_t L_R(R_t, GT_t), sum_t L_R(R_t, GT_{N-1-t}))`` per sample, batch mean.

    ``pred, gt (B, N, 4, H, W)`` in [0, 1] -> scalar. The minimum over the two time directions is taken
    per sample, so the loss is symmetric under reversing time in either argument.
    """
    with float32_region(pred):
        pred, gt = pred.float(), gt.float()
        forward = loss_r(pred, gt).mean(dim=1)
        backward = loss_r(pred, gt.flip(1)).mean(dim=1)
        return torch.minimum(forward, backward).mean()


def loss_i(
    pred: torch.Tensor, image: torch.Tensor, background: torch.Tensor, region: torch.Tensor | None = None
) -> torch.Tensor:
    """Report eq. 7: L1 between the blatted sub-frames over B and the input image I.

    Args:
        pred: ``(B, N, 4, H, W)`` sub-frames in [0, 1].
        image, background: ``(B, 3, H, W)`` in [0, 1].
        region: optional ``(B, 1, H, W)`` {0, 1} mask. None (the report): the per-pixel L1 norm over RGB (as
            eq. 6) averaged over all pixels. A mask (the original code's choice, see ``object_region``): the
            same norm averaged over the mask's pixels only (eq. 6 with that mask), so the term does not fade
            in proportion to how small the object is in the frame.
    Returns:
        Scalar, the batch mean.
    """
    with float32_region(pred):
        recon = blat(pred.float(), background.float())
        if region is None:
            return (recon - image.float()).abs().sum(dim=1).mean()
        return masked_l1(recon, image.float(), region.float()).mean()


def object_region(gt: torch.Tensor) -> torch.Tensor:
    """Where the ground-truth object appears in any sub-frame: ``gt (B, N, 4, H, W)`` -> ``(B, 1, H, W)`` in {0, 1}."""
    return (gt[:, :, 3:4].amax(dim=1) > 0).to(gt.dtype)


def _standardise(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean and unit (population) std over each ``(C, H, W)`` of ``x (P, C, H, W)``."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / (std + eps)


def max_ncc(a: torch.Tensor, b: torch.Tensor, max_shift: float = 0.1) -> torch.Tensor:
    """Maximum normalised cross-correlation of image pairs over shifts of up to ``max_shift`` of the size.

    Args:
        a, b: ``(P, C, H, W)`` pairs; each image is standardised over all its channels and pixels.
        max_shift: fraction of H (and of W) bounding the shift; ``int(max_shift * H)`` pixels.
    Returns:
        ``(P,)`` in [-1, 1]: ``max_s 1/(CHW) sum_p a(p + s) b(p)`` with zeros outside the image
        (1 for identical images; close to 1 for an object on a flat background shifted within range,
        short of it by the background pixels shifted into the zero padding).

    All shifts at once by FFT: zero-padding to ``(H + sy, W + sx)`` makes the circular correlation equal
    the zero-padded one for every shift up to ``(sy, sx)``. O(PC HW log HW) instead of a convolution
    with an HxW kernel per pair (whose backward dominated a CPU training step).
    """
    pairs, channels, height, width = a.shape
    sy, sx = int(max_shift * height), int(max_shift * width)
    size = (height + sy, width + sx)
    spec = torch.fft.rfft2(_standardise(a), s=size) * torch.fft.rfft2(_standardise(b), s=size).conj()
    corr = torch.fft.irfft2(spec.sum(dim=1), s=size)  # (P, H+sy, W+sx); corr[k] = sum_n a[n + k] b[n]
    rows = torch.arange(-sy, sy + 1, device=a.device) % size[0]
    cols = torch.arange(-sx, sx + 1, device=a.device) % size[1]
    window = corr[:, rows][:, :, cols]
    return window.flatten(1).amax(dim=1) / (channels * height * width)


def loss_t(pred: torch.Tensor, max_shift: float = 0.1) -> torch.Tensor:
    """Report eq. 8: ``1 - 1/(N-1) sum_t maxNCC(R_t, R_{t+1})`` on the RGBA sub-frames, batch mean.

    ``pred (B, N, 4, H, W)`` -> scalar in [0, 2]; 0 for N = 1. Static sub-frames reach the minimum 0,
    which is why the report replaces it by L_N.
    """
    if pred.shape[1] < 2:
        return pred.new_zeros((), dtype=torch.float32)
    with float32_region(pred):
        pred = pred.float()
        first, second = pred[:, :-1].flatten(0, 1), pred[:, 1:].flatten(0, 1)
        return 1.0 - max_ncc(first, second, max_shift).mean()


def binary_entropy(p: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``H2(p) = -p log2 p - (1-p) log2 (1-p)`` elementwise in float32; exactly 0 (zero gradient) at 0 and 1."""
    p = p.float()
    q = p.clamp(eps, 1.0 - eps)
    h = -(q * torch.log2(q) + (1.0 - q) * torch.log2(1.0 - q))
    return torch.where((p > 0) & (p < 1), h, torch.zeros_like(h))


def loss_s(pred: torch.Tensor) -> torch.Tensor:
    """Report eq. 9: binary entropy (bits) of the alpha mask, averaged over pixels, time and batch.

    ``pred (B, N, 4, H, W)`` -> scalar in [0, 1]; 0 for binary masks, 1 for masks of 0.5.
    """
    with float32_region(pred):
        return binary_entropy(pred[:, :, 3]).mean()


def loss_l(latent1: torch.Tensor, latent2: torch.Tensor) -> torch.Tensor:
    """Report eq. 10: ``||X1 - X2||_1 / K`` per sample (K = all latent elements, ``K*h*w`` here), batch mean.

    ``latent1, latent2 (B, K, h, w)`` -> scalar.
    """
    with float32_region(latent1):
        return (latent1.float() - latent2.float()).abs().flatten(1).mean(dim=1).mean()
