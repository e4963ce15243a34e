"""The benchmark protocol per frame (spec/benchmark.md): median background, GT boxes, method call, metrics.

A *method* is a callable ``method(I, B, box, n, radius, obj_dim)`` with ``I``, ``B`` ``(H, W, 3)`` float in
[0, 1], ``box`` = (row0, col0, row1, col1) ints (end exclusive). It returns an :class:`Estimate` (sub-frames,
trajectory and, for the shape metrics, the predicted alpha), or the simple form ``(est, traj)`` of a method
without alpha (the trivial baselines): ``est`` ``(n, H, W, 3)`` (about [0, 1]; scored unclipped, as the
benchmark does) and ``traj`` ``(n, 2)`` (x, y) full-image pixels, or None (TIoU not counted).

Ours beside the benchmark's metrics: the shape metrics of the predicted alpha against the GT alpha (where the
dataset has it, :meth:`~defmo.evaluate.loaders.Sequence.gt_alpha`), and every metric again over the *bounce*
frames alone (:func:`is_bounce`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from skimage.measure import label, regionprops

from defmo.data.blatting import project_to_image_np
from defmo import metrics
from defmo.evaluate.loaders import Sequence

log = logging.getLogger(__name__)

DIFF_THRESHOLD = 0.1  # sum over channels of |GT - B| marking object pixels
TIGHT_MARGIN = 10  # pixels added around the GT box before tightening
METRIC_KEYS = ("tiou", "psnr", "ssim", "psnr_proj", "ssim_proj")
BOUNCE_TOLERANCE = 0.15  # a path leaving its chord by more than this x the chord's length bounces


@dataclass
class Estimate:
    """What a method returns for one frame.

    ``frames``: ``(n, H, W, 3)`` full-size sub-frames (about [0, 1]); ``traj``: ``(n, 2)`` (x, y) full-image
    pixels or None; ``alpha``: the predicted alpha ``(n, H, W)`` in [0, 1] in full-image coordinates (zero
    where the method predicts no object), or None for a method without one (no shape metrics).
    """

    frames: np.ndarray
    traj: np.ndarray | None = None
    alpha: np.ndarray | None = None


Method = Callable[..., "Estimate | tuple[np.ndarray, np.ndarray | None]"]


def as_estimate(result) -> Estimate:
    """A method's return value as an :class:`Estimate`: as is, or from the simple form ``(est, traj)``."""
    if isinstance(result, Estimate):
        return result
    frames, traj = result
    return Estimate(frames, traj)


class MedianBackground:
    """The benchmark's running median: a buffer of ``min(window, frames)`` frames, filled with the first frames
    of the evaluated range; from frame ``window`` on, each frame enters the buffer after it is evaluated."""

    def __init__(self, seq: Sequence, window: int):
        self.used = min(window, seq.frames)
        self.buffer = np.stack([seq.image(k) for k in range(self.used)])  # (w, H, W, 3)
        self.cursor = 0

    def current(self) -> np.ndarray:
        """The background for the frame about to be evaluated: ``(H, W, 3)`` in [0, 1]."""
        return np.median(self.buffer, axis=0)

    def push(self, k: int, image: np.ndarray) -> None:
        """Call after evaluating frame ``k`` with its image."""
        if k >= self.used:
            self.buffer[self.cursor] = image
            self.cursor = (self.cursor + 1) % self.used


def grow_box(box: np.ndarray, ext: int, shape: tuple[int, ...]) -> np.ndarray:
    """Grow (row0, col0, row1, col1) by ``ext`` on every side; clip to the image as the benchmark does."""
    box = np.array(box, dtype=int) + np.array([-ext, -ext, ext, ext])
    box[box < 0] = 0
    box[2] = min(box[2], shape[0] - 1)
    box[3] = min(box[3], shape[1] - 1)
    return box


def gt_box(traj: np.ndarray, radius: int, shape: tuple[int, ...]) -> np.ndarray:
    """Box spanning the GT sub-frame centres ``(n, 2)`` (x, y), grown by ``radius`` and clipped."""
    box = np.array([traj[:, 1].min(), traj[:, 0].min(), traj[:, 1].max(), traj[:, 0].max()]).astype(int)
    return grow_box(box, radius, shape)


def _largest_region(mask: np.ndarray) -> np.ndarray | None:
    regions = regionprops(label(mask))
    if not regions:
        return None
    return np.array(max(regions, key=lambda r: r.area).bbox, dtype=int)


def crop(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``img[..., row0:row1, col0:col1, :]`` for channels-last images or stacks."""
    return img[..., box[0] : box[2], box[1] : box[3], :]


def tight_box(box: np.ndarray, gt_hs: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Grow ``box`` by 10 px and tighten it to the largest region where the GT sub-frames ``(n, H, W, 3)`` differ
    from B (as the benchmark's code: channel-summed |GT - B| > 0.1 in at least one sub-frame)."""
    box = grow_box(box, TIGHT_MARGIN, background.shape)
    diff = np.abs(crop(gt_hs, box) - crop(background, box)[None]).sum(axis=-1) > DIFF_THRESHOLD
    region = _largest_region(diff.sum(axis=0) > 0.5)
    if region is None:
        return box
    return region + np.array([box[0], box[1], box[0], box[1]])


def object_size(box: np.ndarray, gt_hs: np.ndarray, background: np.ndarray) -> tuple[int, int]:
    """Largest (height, width) of the object over the GT sub-frames inside ``box``."""
    dims = [0, 0]
    bg = crop(background, box)
    for frame in crop(gt_hs, box):
        region = _largest_region(np.abs(frame - bg).sum(axis=-1) > DIFF_THRESHOLD)
        size = (box[2:] - box[:2]) if region is None else (region[2:] - region[:2])
        dims = [max(dims[0], int(size[0])), max(dims[1], int(size[1]))]
    return dims[0], dims[1]


def is_bounce(traj: np.ndarray) -> bool:
    """Whether a frame's GT path ``(n, 2)`` (x, y) bounces: its largest perpendicular distance from the
    straight chord through its first and last centres exceeds :data:`BOUNCE_TOLERANCE` x the chord's length (a
    path that ends where it started bounces as soon as it moves at all)."""
    traj = np.asarray(traj, np.float64)
    chord = traj[-1] - traj[0]
    length = float(np.hypot(chord[0], chord[1]))
    rel = traj - traj[0]
    if length > 0:
        dist = np.abs(chord[0] * rel[:, 1] - chord[1] * rel[:, 0]) / length
    else:
        dist = np.hypot(rel[:, 0], rel[:, 1])
    return bool(dist.max() > BOUNCE_TOLERANCE * length)


def _crop_alpha(alpha: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``alpha[..., row0:row1, col0:col1]`` of ``(n, H, W)`` masks."""
    return alpha[..., box[0] : box[2], box[1] : box[3]]


def shape_row(gt_alpha: np.ndarray | None, est_alpha: np.ndarray | None, traj: np.ndarray,
              box: np.ndarray) -> dict:
    """A frame's shape metrics inside ``box`` (:func:`defmo.metrics.shape_scores`; alphas
    ``(n, H, W)`` in [0, 1], GT centres ``traj`` ``(n, 2)``): ``mask_iou`` (the frame's mean, NaN when either
    alpha is None), ``mask_ious`` and ``length_ratios`` ``(n,)`` (NaN where skipped) or None,
    ``shape_flipped`` or None."""
    if gt_alpha is None or est_alpha is None:
        return {"mask_iou": float("nan"), "mask_ious": None, "length_ratios": None, "shape_flipped": None}
    est_alpha = np.asarray(est_alpha, np.float64)
    scores = metrics.shape_scores(_crop_alpha(gt_alpha, box), _crop_alpha(est_alpha, box), traj)
    return {"mask_iou": float(scores["mask_iou"].mean()), "mask_ious": scores["mask_iou"],
            "length_ratios": scores["length_ratio"], "shape_flipped": scores["reversed"]}


def evaluate_frame(seq: Sequence, k: int, image: np.ndarray, background: np.ndarray, method: Method) -> dict:
    """Run ``method`` on frame ``k`` and score it. Returns a row: frame, tiou (NaN without trajectory), psnr,
    ssim, the same two after the blatting projection (``psnr_proj``, ``ssim_proj``:
    :func:`defmo.data.blatting.project_to_image_np` of the estimate onto the input frame), seconds (the method
    call only), flipped, the shape metrics (:func:`shape_row`: where the dataset has GT alpha and the method
    predicts alpha), ``bounce`` (:func:`is_bounce` of the GT path) and the crops used (``crops``: input, GT,
    estimate, projected estimate; for figures).
    The estimate is scored as returned, not clipped to [0, 1] (the benchmark's rule); the projection clips."""
    traj, radius = seq.trajectory(k)
    gt_hs = seq.high_speed(k, image.shape[:2])
    box = tight_box(gt_box(traj, radius, image.shape), gt_hs, background)
    obj_dim = object_size(box, gt_hs, background)
    start = time.perf_counter()
    result = as_estimate(method(image, background, box, seq.n, radius, obj_dim))
    seconds = time.perf_counter() - start
    est = np.ascontiguousarray(result.frames, np.float64)  # methods may return views (reversed, strided)
    gt_crop = crop(gt_hs, box)
    est_crop, flipped = metrics.sync_direction(crop(est, box), gt_crop)
    proj_crop, _ = metrics.sync_direction(crop(project_to_image_np(est, image), box), gt_crop)
    tiou = float("nan") if result.traj is None else metrics.tiou(traj, result.traj, radius)
    gt_alpha = None if result.alpha is None else seq.gt_alpha(k, image.shape[:2])
    return {
        "frame": k,
        "tiou": tiou,
        "psnr": metrics.psnr(gt_crop, est_crop),
        "ssim": metrics.ssim(gt_crop, est_crop),
        "psnr_proj": metrics.psnr(gt_crop, proj_crop),
        "ssim_proj": metrics.ssim(gt_crop, proj_crop),
        "seconds": seconds,
        "flipped": flipped,
        **shape_row(gt_alpha, result.alpha, traj, box),
        "bounce": is_bounce(traj),
        "crops": (crop(image, box), gt_crop, est_crop, proj_crop),
    }


def evaluate_sequence(seq: Sequence, method: Method, window: int, max_frames: int | None = None) -> list[dict]:
    """All evaluated frames of one sequence, in order, with the running median background of ``window``."""
    background = MedianBackground(seq, window)
    frames = seq.frames if max_frames is None else min(seq.frames, max_frames)
    rows = []
    for k in range(frames):
        image = seq.image(k)
        rows.append(evaluate_frame(seq, k, image, background.current(), method))
        background.push(k, image)
    return rows


def _nanmean(values) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0 or np.all(np.isnan(arr)):
        return float("nan")
    return float(np.nanmean(arr))


def summarize(per_sequence: dict[str, list[dict]]) -> dict:
    """Mean over frames per sequence, then NaN-safe mean over sequences (each weighted equally); the shape
    metrics pooled over all sub-frames of the dataset.

    Returns ``{"sequences": {name: {tiou, psnr, ssim, psnr_proj, ssim_proj, mask_iou, frames}}, "tiou",
    "psnr", "ssim", "psnr_proj", "ssim_proj", "seconds_per_frame", "frames", "n_sequences", "mask_iou",
    "length_ratio", "shape_subframes", "length_ratio_skipped", "bounce"}`` (:func:`shape_summary` for the
    shape keys).
    ``bounce`` is the same summary, without ``sequences``, over the bounce frames alone (:func:`is_bounce`;
    ``frames`` 0 and every metric None when there are none). A metric never computed is None, not 0 or NaN
    (TIoU where no trajectory was returned).
    """
    out = _summary(per_sequence)
    bounce = {name: [r for r in rows if r.get("bounce")] for name, rows in per_sequence.items()}
    out["bounce"] = _summary({name: rows for name, rows in bounce.items() if rows})
    del out["bounce"]["sequences"]
    return out


def _summary(per_sequence: dict[str, list[dict]]) -> dict:
    seqs = {name: _means(rows) for name, rows in per_sequence.items()}
    out = {key: _nanmean(s[key] for s in seqs.values()) for key in METRIC_KEYS}
    all_rows = [r for rows in per_sequence.values() for r in rows]
    out.update(seconds_per_frame=_nanmean(r["seconds"] for r in all_rows), frames=len(all_rows))
    out.update(n_sequences=len(seqs), sequences=seqs, **shape_summary(all_rows))
    for record in [out, *seqs.values()]:
        for key in (*METRIC_KEYS, "seconds_per_frame"):
            if key in record:
                record[key] = _none_if_nan(record[key])
    return out


def shape_summary(rows: list[dict]) -> dict:
    """The shape metrics pooled over all sub-frames of ``rows`` (frames with both alphas; see
    :func:`shape_row`): ``mask_iou`` (mean) and ``length_ratio`` ``{median, q25, q75}`` (None where not
    available), ``shape_subframes`` (sub-frames scored) and ``length_ratio_skipped`` (of those, without a
    length ratio: a mask empty or the object static)."""
    ious = [r["mask_ious"] for r in rows if r.get("mask_ious") is not None]
    ratios = [r["length_ratios"] for r in rows if r.get("length_ratios") is not None]
    iou = np.concatenate(ious) if ious else np.empty(0)
    ratio = np.concatenate(ratios) if ratios else np.empty(0)
    return {"mask_iou": float(iou.mean()) if iou.size else None, "length_ratio": metrics.ratio_summary(ratio),
            "shape_subframes": int(iou.size), "length_ratio_skipped": int(np.isnan(ratio).sum())}


def _means(rows: list[dict]) -> dict:
    out = {key: _nanmean(r[key] for r in rows) for key in METRIC_KEYS}
    out["mask_iou"] = shape_summary(rows)["mask_iou"]
    out["frames"] = len(rows)
    return out


def _none_if_nan(value):
    return None if value is None or np.isnan(value) else value
