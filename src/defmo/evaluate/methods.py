"""Methods evaluated on the benchmark: the trivial baselines and DeFMO-style networks (ours or the original).

Every method has the protocol's signature ``method(I, B, box, n, radius, obj_dim)`` (see
:mod:`defmo.evaluate.protocol`): ``I``, ``B`` ``(H, W, 3)`` float in [0, 1]. The baselines return the simple
form ``(est, traj)`` (no alpha, so no shape metrics); a network returns an
:class:`~defmo.evaluate.protocol.Estimate`: ``frames`` ``(n, H, W, 3)`` (may leave [0, 1] slightly where the
bicubic resize back overshoots), ``traj`` ``(n, 2)`` (x, y) full-image pixels and ``alpha`` ``(n, H, W)`` in
[0, 1], full-image coordinates.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from defmo.data.blatting import composite
from defmo.evaluate.protocol import Estimate
from defmo.models.deblat_fit import infer


def image_method(image, background, box, n, radius, obj_dim):
    """The "Image" baseline: the input frame n times, no trajectory."""
    return np.repeat(image[None], n, axis=0), None


def background_method(image, background, box, n, radius, obj_dim):
    """The "Background" baseline: the median background n times, no trajectory."""
    return np.repeat(background[None], n, axis=0), None


def network_box(box: np.ndarray, radius: int, size: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Grow ``box`` by 4 x radius to the network's aspect ratio ``size`` = (height, width), clipped to the image.

    Returns (row0, col0, row1, col1), end exclusive.
    """
    aspect = size[0] / size[1]
    height = int(box[2] - box[0]) + 4 * int(radius)
    height = int(np.ceil(np.ceil(height / aspect) * aspect))
    width = int(height / aspect)
    dh, dw = height - int(box[2] - box[0]), width - int(box[3] - box[1])
    out = np.array(box, dtype=int) + np.array([-round(dh / 2), -round(dw / 2), dh - round(dh / 2), dw - round(dw / 2)])
    out[:2] = np.maximum(out[:2], 0)
    out[2] = min(out[2], shape[0] - 1)
    out[3] = min(out[3], shape[1] - 1)
    return out


def _to_tensor(img: np.ndarray, box: np.ndarray, size: tuple[int, int], device) -> torch.Tensor:
    """Crop ``img`` (H, W, 3) to ``box`` and resize (bicubic) to ``size`` -> ``(1, 3, h, w)`` in [0, 1]."""
    patch = torch.from_numpy(np.ascontiguousarray(img[box[0] : box[2], box[1] : box[3]])).float()
    patch = patch.permute(2, 0, 1)[None].to(device)
    return F.interpolate(patch, size=size, mode="bicubic", align_corners=False).clamp(0.0, 1.0)


def render_times(n: int, oversample: int) -> torch.Tensor:
    """Time steps rendered for n sub-frames: ``oversample * n + 1`` in [0, 1] (or n when oversample is 1)."""
    return torch.linspace(0.0, 1.0, n if oversample == 1 else oversample * n + 1)


def group_mean(x: torch.Tensor, n: int) -> torch.Tensor:
    """Average ``(T, ...)`` renders into n groups (dropping the last step when T = k n + 1) -> ``(n, ...)``."""
    x = x[: (x.shape[0] // n) * n]
    return x.reshape(n, -1, *x.shape[1:]).mean(dim=1)


def centroids(alpha: torch.Tensor) -> np.ndarray:
    """Alpha-weighted centroids of masks ``(n, h, w)`` -> ``(n, 2)`` (x, y), pixels indexed from 1 as DeFMO.

    A mask with no mass gets the crop centre.
    """
    n, h, w = alpha.shape
    mass = alpha.sum(dim=(1, 2))
    cols = torch.arange(1, w + 1, dtype=alpha.dtype, device=alpha.device)
    rows = torch.arange(1, h + 1, dtype=alpha.dtype, device=alpha.device)
    x = (alpha.sum(dim=1) * cols).sum(dim=1) / mass.clamp_min(1e-8)
    y = (alpha.sum(dim=2) * rows).sum(dim=1) / mass.clamp_min(1e-8)
    empty = mass <= 1e-8
    x[empty], y[empty] = (w + 1) / 2.0, (h + 1) / 2.0
    return torch.stack([x, y], dim=1).cpu().numpy().astype(np.float64)


def to_image_coords(points: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Map (x, y) in the ``size`` = (h, w) network crop to full-image pixels of ``box`` (row0, col0, row1, col1)."""
    scale = np.array([(box[3] - box[1]) / size[1], (box[2] - box[0]) / size[0]])
    return points * scale + np.array([box[1], box[0]])


def to_crop_coords(points: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`to_image_coords`: full-image (x, y) to the ``size`` network crop of ``box``."""
    scale = np.array([(box[3] - box[1]) / size[1], (box[2] - box[0]) / size[0]])
    return (points - np.array([box[1], box[0]])) / scale


COMPOSITES = ("crop", "full")


class NetworkMethod:
    """DeFMO's benchmark method around a generator ``forward(image, background, times) -> (frames, latent)``.

    ``size`` = (height, width) of the network input; ``oversample`` renders per sub-frame (short exposure).
    As the benchmark's DeFMO wrapper: the input crops are clamped to [0, 1] after the bicubic resize, the
    pasted estimate is not (bicubic overshoot is scored as it is). ``composite`` says where the sub-frames are
    composited over the background:

    - ``"crop"`` (the benchmark's DeFMO wrapper): at the network's resolution, then the composite is resized
      back (bicubic) and pasted into I, so every pixel of the crop passes through the network's resolution;
    - ``"full"``: the group-averaged straight RGBA is resized back (bicubic, clamped to [0, 1]) and composited
      over the full-resolution background crop, so pixels the object never covers keep B's detail. For a
      network whose input is much smaller than the crop (the cpu scale's 64x64) the resize round trip alone
      costs more than the object's deblurring gains on textured backgrounds.
    """

    def __init__(self, model: torch.nn.Module, size: tuple[int, int], oversample: int, device: torch.device,
                 composite: str = "crop", fit: bool = False, options: dict | None = None):
        if composite not in COMPOSITES:
            raise ValueError(f"composite must be one of {COMPOSITES}, got {composite!r}")
        self.model, self.size, self.oversample, self.device = model, size, oversample, device
        self.composite, self.fit = composite, fit
        self.options = dict(options or {})  # the fit's options (real footage: tv, prior)

    @torch.no_grad()
    def render(self, image: np.ndarray, background: np.ndarray, box: np.ndarray, n: int,
               line: np.ndarray | None = None):
        """Sub-frames in the crop: composited RGB ``(n, 3, h, w)``, RGBA ``(n, 4, h, w)`` (network size).

        As the benchmark's DeFMO wrapper: the straight RGBA of each group of ``oversample`` time steps is
        averaged first (all four channels, a plain mean), then composited once over the background crop. With
        :attr:`fit` the fit renders each of the n sub-frames as the mean over its own slice of the exposure
        (:func:`defmo.models.deblat_fit.slice_times`), which is what the protocol's oversampling approximates,
        so it is asked for n sub-frames directly (no group drops a time step, none is shifted). ``line`` ``(2, 2)``
        (start and end, (x, y) full-image pixels: the detected streak's centre line) is the fit's path.
        """
        return self.render_batch([image], [background], [box], n, None if line is None else [line])[0]

    @torch.no_grad()
    def render_batch(self, images, backgrounds, boxes, n: int, lines=None,
                     starts=None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`render` for several frames in one pass of the network and one fit (``lines``: one per frame,
        or None for all; ``starts``: per frame, a list of other lines the fit may start from)."""
        img_t = torch.cat([_to_tensor(i, b, self.size, self.device) for i, b in zip(images, boxes)])
        bg_t = torch.cat([_to_tensor(g, b, self.size, self.device) for g, b in zip(backgrounds, boxes)])
        times = render_times(n, 1 if self.fit else self.oversample).to(self.device)
        options = dict(self.options)
        if self.fit and lines is not None:
            options["line"] = self._in_crops([[line] for line in lines], boxes)[:, 0]
            if starts is not None:
                options["starts"] = self._in_crops(starts, boxes)
        frames = infer(self.model, img_t, bg_t, times, self.fit, **options)
        out = []
        for i in range(len(images)):
            rgba = group_mean(frames[i].float().clamp(0.0, 1.0), n)  # (T, 4, h, w) -> (n, 4, h, w)
            out.append((composite(rgba, bg_t[i]), rgba))
        return out

    def _in_crops(self, lines: list, boxes) -> torch.Tensor:
        """Per frame, its lines (start and end (x, y), full-image pixels) in its network crop: ``(B, K, 2, 2)``."""
        crop = [np.stack([to_crop_coords(np.asarray(line, dtype=np.float64), b, self.size) for line in frame])
                for frame, b in zip(lines, boxes)]
        return torch.as_tensor(np.stack(crop), dtype=torch.float32, device=self.device)

    def resize_back(self, rgba: torch.Tensor, crop_box: np.ndarray) -> torch.Tensor:
        """The group-averaged straight RGBA ``(n, 4, h, w)`` resized (bicubic, clamped to [0, 1]) to the size
        of ``crop_box`` -> ``(n, 4, height, width)``, as the ``full`` composite pastes it."""
        height, width = int(crop_box[2] - crop_box[0]), int(crop_box[3] - crop_box[1])
        return F.interpolate(rgba, size=(height, width), mode="bicubic", align_corners=False).clamp(0.0, 1.0)

    def paste(self, image: np.ndarray, background: np.ndarray, crop_box: np.ndarray, rgb: torch.Tensor,
              rgba: torch.Tensor) -> np.ndarray:
        """The full-size estimate ``(n, H, W, 3)``: I outside ``crop_box``, the sub-frames resized back inside
        (:meth:`paste_crop`)."""
        est = np.repeat(image[None], rgba.shape[0], axis=0)  # a new array
        est[:, crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]] = self.paste_crop(background, crop_box, rgb, rgba)
        return est

    def paste_crop(self, background: np.ndarray, crop_box: np.ndarray, rgb: torch.Tensor,
                   rgba: torch.Tensor, resized: torch.Tensor | None = None) -> np.ndarray:
        """What :meth:`paste` puts inside ``crop_box``: the sub-frames resized back, ``(n, height, width, 3)``
        float64 (``deblur`` keeps only this, not n copies of the whole frame). ``resized``: the
        :meth:`resize_back` of ``rgba`` where the caller has it already."""
        height, width = int(crop_box[2] - crop_box[0]), int(crop_box[3] - crop_box[1])
        if self.composite == "full":
            big = self.resize_back(rgba, crop_box) if resized is None else resized
            bg = np.ascontiguousarray(background[crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]])
            back = composite(big.cpu().double(), torch.from_numpy(bg).double().permute(2, 0, 1))  # B kept exact
        else:
            back = F.interpolate(rgb, size=(height, width), mode="bicubic", align_corners=False)
        return back.permute(0, 2, 3, 1).cpu().double().numpy()

    def paste_alpha(self, shape: tuple[int, ...], crop_box: np.ndarray, rgba: torch.Tensor) -> np.ndarray:
        """The predicted alpha in full-image coordinates ``(n, H, W)`` in [0, 1]: the group-averaged alpha
        resized back into ``crop_box`` exactly as the ``full`` composite pastes the RGBA (whatever
        ``composite``), zero outside it."""
        alpha = np.zeros((rgba.shape[0], *shape[:2]))
        alpha[:, crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]] = (
            self.resize_back(rgba, crop_box)[:, 3].cpu().double().numpy())
        return alpha

    @classmethod
    def of_trained(cls, model: torch.nn.Module, model_cfg: dict, evaluate, device: torch.device,
                   fit: bool = False) -> "NetworkMethod":
        """One of our trained generators (``model_cfg``: its checkpoint's config) at its own resolution, with the
        run's ``evaluate`` section's oversampling and compositing; with ``fit``, plus its fit at inference."""
        res = int(model_cfg["data"]["resolution"])
        return cls(model, (res, res), evaluate.oversample, device, evaluate.composite, fit)

    def __call__(self, image, background, box, n, radius, obj_dim, line=None) -> Estimate:
        crop_box = network_box(box, radius, self.size, image.shape)
        rgb, rgba = self.render(image, background, crop_box, n, line)
        traj = to_image_coords(centroids(rgba[:, 3]), crop_box, self.size)
        return Estimate(self.paste(image, background, crop_box, rgb, rgba), traj,
                        self.paste_alpha(image.shape, crop_box, rgba))
