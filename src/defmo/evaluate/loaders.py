"""Loaders for the FMO deblurring benchmark datasets in their published on-disk layout (spec/benchmark.md).

Per dataset root: ``imgs/<seq>/%08d.png`` (blurred frames, numbered from 0 or 1), ``imgs_gt/<seq>/%08d.png``
(high-speed frames), trajectory GT as ``imgs/<seq>/gt.txt`` + ``gtr.txt``, or ``gt_bbox/<seq>.txt``, radii
possibly from ``templates/<seq>_template.mat``, and an optional ``roi_frames.txt``. Images come out as
float64 RGB ``(H, W, 3)`` in [0, 1]; trajectories as ``(n, 2)`` (x, y) = (column, row) pixels.

Ours, not the benchmark's: the embedded synthetic datasets also hold ``imgs_gt_alpha/<seq>/%08d.png``, the GT
alpha of every high-speed frame (grayscale, numbered like ``imgs_gt``), for the shape metrics; the real
datasets have no such folder (:meth:`Sequence.gt_alpha` is then None).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from defmo.data.layout import ALPHA_DIR
from defmo.errors import UserError
from defmo.utils.io import check_file

log = logging.getLogger(__name__)

PUBLISHED = (
    "the datasets are published at cmp.felk.cvut.cz/fmo (download script: "
    "github.com/rozumden/fmo-deblurring-benchmark)"
)
DATASETS = ("falling_objects", "tbd3d", "tbd")


def _missing(root: Path, dataset: str, what: str) -> UserError:
    return UserError(
        f"{root}: {what}. This is not a complete '{dataset}' benchmark folder; {PUBLISHED}. Download it and set "
        f"params key 'evaluate.datasets.{dataset}' to its root folder (or 'embedded' for the synthetic sequences "
        f"rendered by `data --benchmark` into data/benchmark/{dataset})."
    )


def _tbd_sequences(imgs: Path) -> list[Path]:
    """TbD: ``*_*`` without ping_wall / fall_coin, sorted by name ignoring a ``VS_`` prefix."""
    excluded = ("ping_wall", "fall_coin")
    seqs = [p for p in imgs.glob("*_*") if p.is_dir() and not any(e in p.name for e in excluded)]
    return sorted(seqs, key=lambda p: p.name.replace("VS_", ""))


_SELECT = {
    "falling_objects": lambda imgs: sorted(p for p in imgs.glob("*_GTgamma") if p.is_dir()),
    "tbd3d": lambda imgs: sorted(p for p in imgs.glob("*_GT_*") if p.is_dir()),
    "tbd": _tbd_sequences,
}


def list_sequences(root: str | Path, dataset: str) -> list[Path]:
    """The evaluated sequence folders under ``root/imgs`` for ``dataset``, in the benchmark's order."""
    root = Path(root)
    if dataset not in DATASETS:
        raise UserError(f"unknown benchmark dataset '{dataset}' (known: {', '.join(DATASETS)})")
    imgs = root / "imgs"
    if not imgs.is_dir():
        raise _missing(root, dataset, "no 'imgs/' folder")
    seqs = _SELECT[dataset](imgs)
    if not seqs:
        raise _missing(root, dataset, "no sequence folder matching the dataset's naming under 'imgs/'")
    return seqs


def imread(path: str | Path) -> np.ndarray:
    """Read a PNG as RGB float64 ``(H, W, 3)`` in [0, 1]: 16-bit /65535, 8-bit /255, alpha dropped."""
    check_file(path, "image")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{path}: the file exists but is not an image OpenCV reads (PNG, JPEG, ...)")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    rgb = img[:, :, 2::-1] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
    return rgb.astype(np.float64) / scale


def read_alpha(path: str | Path) -> np.ndarray:
    """Read a grayscale alpha PNG as float64 ``(H, W)`` in [0, 1]: 16-bit /65535, 8-bit /255."""
    check_file(path, "alpha image")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{path}: the file exists but is not a GT alpha image OpenCV reads (a grayscale PNG)")
    if img.ndim != 2:
        raise UserError(f"{path}: a GT alpha image must be one-channel grayscale, not {img.shape[2]}-channel")
    return img.astype(np.float64) / (65535.0 if img.dtype == np.uint16 else 255.0)


def fill_nans(traj: np.ndarray) -> np.ndarray:
    """Fill NaN sub-frame positions of one frame's ``(n, 2)`` trajectory as the benchmark does.

    Index 0 takes the first valid point; an index whose next neighbour is valid takes the mean of both
    neighbours; otherwise the previous (already filled) point.
    """
    traj = np.array(traj, dtype=np.float64)
    nans = np.isnan(traj.sum(axis=1))
    if not nans.any():
        return traj
    valid = np.flatnonzero(~nans)
    if valid.size == 0:
        raise ValueError("a frame's trajectory is NaN at every sub-frame")
    n = len(traj)
    for i in np.flatnonzero(nans):
        if i == 0:
            traj[i] = traj[valid[0]]
        elif i < n - 1 and not nans[i + 1]:
            traj[i] = (traj[i - 1] + traj[i + 1]) / 2.0
        else:
            traj[i] = traj[i - 1]
    return traj


@dataclass
class Sequence:
    """One benchmark sequence. Frame ``k`` (0-based over the evaluated range) is file ``start + k``."""

    name: str
    path: Path  # root/imgs/<name>
    hs_path: Path  # root/imgs_gt/<name>
    n: int  # sub-frames per frame
    start: int  # file index of evaluated frame 0 (roi start + numbering offset)
    frames: int  # evaluated frames
    hs_offset: int  # 1 when imgs_gt numbering starts at 1
    traj: np.ndarray  # (rows, n, 2) per file index (rows indexed start + k)
    radii: np.ndarray  # (rows, n) per file index, or (1, 1) for one radius
    alpha_path: Path | None = None  # root/imgs_gt_alpha/<name>, None for data without GT alpha (real data)

    def image(self, k: int) -> np.ndarray:
        """Blurred frame k: ``(H, W, 3)`` in [0, 1]."""
        return imread(self.path / f"{self.start + k:08d}.png")

    def high_speed(self, k: int, shape: tuple[int, int]) -> np.ndarray:
        """GT high-speed frames of frame k, cropped to ``shape`` (H, W): ``(n, H, W, 3)`` in [0, 1]."""
        first = (k + self.start) * self.n + self.hs_offset
        out = [imread(self.hs_path / f"{first + j:08d}.png")[: shape[0], : shape[1]] for j in range(self.n)]
        return np.stack(out)

    def gt_alpha(self, k: int, shape: tuple[int, int]) -> np.ndarray | None:
        """GT alpha of frame k's n high-speed frames, cropped like :meth:`high_speed`: ``(n, H, W)`` in
        [0, 1]; None when the dataset has no ``imgs_gt_alpha/`` (the real datasets)."""
        if self.alpha_path is None:
            return None
        first = (k + self.start) * self.n + self.hs_offset
        paths = [self.alpha_path / f"{first + j:08d}.png" for j in range(self.n)]
        return np.stack([read_alpha(path)[: shape[0], : shape[1]] for path in paths])

    def trajectory(self, k: int) -> tuple[np.ndarray, int]:
        """GT trajectory ``(n, 2)`` (x, y) with NaNs filled, and the frame's rounded max radius (pixels)."""
        row = self.start + k
        if row >= len(self.traj):
            raise UserError(f"{self.path}: trajectory ground truth has no entry for frame file {row:08d}.png")
        radii = self.radii[row] if len(self.radii) > 1 else self.radii[0]
        return fill_nans(self.traj[row]), int(np.round(np.nanmax(radii)))


def _read_gt_txt(seq: Path, n: int) -> np.ndarray:
    """gt.txt: 2 rows (x, y) per frame, n columns -> ``(frames, n, 2)``."""
    pars = np.atleast_2d(np.loadtxt(seq / "gt.txt"))
    if pars.shape[1] != n or len(pars) % 2:
        raise UserError(f"{seq / 'gt.txt'}: expected 2 rows per frame with {n} columns, got shape {pars.shape}")
    return pars.reshape(-1, 2, n).transpose(0, 2, 1)


def _read_bbox(path: Path, n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """gt_bbox/<seq>.txt: one ``x y w h`` per high-speed frame -> centres ``(frames, n, 2)``, radii ``(frames, n)``.

    ``offset`` empty rows (the first evaluated file index) are prepended, as the benchmark does, so rows
    are indexed by ``start + k`` like gt.txt's.
    """
    boxes = np.atleast_2d(np.loadtxt(path))
    if boxes.shape[1] != 4 or len(boxes) % n:
        raise UserError(f"{path}: expected one 'x y w h' row per high-speed frame, {n} per frame; got {boxes.shape}")
    centres = (boxes[:, :2] + boxes[:, 2:] / 2.0).reshape(-1, n, 2)
    radii = np.max(boxes[:, 2:] / 2.0, axis=1).reshape(-1, n)
    pad = np.zeros((offset, n))
    return np.concatenate([np.zeros((offset, n, 2)), centres]), np.concatenate([pad, radii])


def _read_radii(root: Path, seq: Path) -> np.ndarray | None:
    if (seq / "gtr.txt").is_file():
        return np.atleast_2d(np.loadtxt(seq / "gtr.txt"))
    template = root / "templates" / f"{seq.name}_template.mat"
    if template.is_file():
        data = scipy.io.loadmat(template)
        return np.atleast_2d(data["template"].shape[0] / 2.0 / np.asarray(data["scale"], np.float64))
    return None


def _ground_truth(root: Path, seq: Path, n: int, offset: int, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    radii = _read_radii(root, seq)
    if (seq / "gt.txt").is_file():
        traj = _read_gt_txt(seq, n)
    elif (root / "gt_bbox" / f"{seq.name}.txt").is_file():
        traj, box_radii = _read_bbox(root / "gt_bbox" / f"{seq.name}.txt", n, offset)
        radii = box_radii
    else:
        raise _missing(root, dataset, f"sequence '{seq.name}' has no trajectory GT (gt.txt or gt_bbox/{seq.name}.txt)")
    if radii is None:
        raise _missing(root, dataset, f"sequence '{seq.name}' has no radius GT (gtr.txt or templates/)")
    return traj, radii


def _roi(root: Path, index: int) -> tuple[int, int] | None:
    path = root / "roi_frames.txt"
    if not path.is_file():
        return None
    roi = np.atleast_2d(np.loadtxt(path)).astype(int)
    if index >= len(roi):
        raise UserError(f"{path}: no row for sequence number {index} (one 'first last' row per sequence)")
    return int(roi[index, 0]), int(roi[index, 1])


def load_sequence(root: str | Path, seq: Path, index: int, dataset: str) -> Sequence:
    """Read one sequence's metadata (``index``: its position in :func:`list_sequences`, for roi_frames.txt)."""
    root = Path(root)
    count = len(list(seq.glob("*.png")))
    if count == 0:
        raise _missing(root, dataset, f"sequence folder '{seq}' holds no PNG frames")
    start, frames = 0, count
    roi = _roi(root, index)
    if roi is not None:
        start, frames = roi[0], roi[1] - roi[0] + 1
    offset = 0 if (seq / f"{0:08d}.png").is_file() else 1
    start += offset
    hs_path = root / "imgs_gt" / seq.name
    if not hs_path.is_dir():
        raise _missing(root, dataset, f"no ground-truth high-speed folder 'imgs_gt/{seq.name}'")
    hs_offset = 0 if (hs_path / f"{0:08d}.png").is_file() else 1
    n = 12 if "-12" in seq.name else 8
    traj, radii = _ground_truth(root, seq, n, start, dataset)
    alpha_path = _alpha_path(root, seq.name)
    return Sequence(seq.name, seq, hs_path, n, start, frames, hs_offset, traj, radii, alpha_path)


def _alpha_path(root: Path, name: str) -> Path | None:
    """``root/imgs_gt_alpha/<name>``, None without ``imgs_gt_alpha/``; a missing sequence folder there is an
    error (a partial dataset)."""
    alpha_root = root / ALPHA_DIR
    if not alpha_root.is_dir():
        return None
    if not (alpha_root / name).is_dir():
        raise UserError(f"{root}: '{ALPHA_DIR}/' holds no folder '{name}' for this sequence's GT alpha; "
                        f"re-render the dataset (`data --benchmark`) or remove '{ALPHA_DIR}/' to score "
                        "without shape metrics")
    return alpha_root / name


def load_dataset(root: str | Path, dataset: str) -> list[Sequence]:
    """All evaluated sequences of a dataset root, validated before any evaluation starts."""
    root = Path(root)
    if not root.is_dir():
        raise _missing(root, dataset, "folder does not exist")
    seqs = [load_sequence(root, p, i, dataset) for i, p in enumerate(list_sequences(root, dataset))]
    log.info("%s: %d sequences, %d frames at %s", dataset, len(seqs), sum(s.frames for s in seqs), root)
    return seqs
