"""Scores of deblurred real footage without ground truth: what a clean object on a smooth path looks like.

Per deblurred frame (:class:`Deblurred`: the crop around the object, its sub-frames as straight RGBA and as
composites, the trajectory):

- :func:`continuity`: the gap between where frame k's path ends and frame k + 1's starts, over the path's
  length (an object under a long exposure leaves almost none; a path that points the wrong way leaves one);
- :func:`smoothness`: the RMS residual of a quadratic fit to the path (one polynomial segment, or two split at
  the best sub-frame where the path bounces), over the object's radius;
- :func:`appearance_spread`: the spread across sub-frames of the object's RGBA aligned on its centre;
- :func:`opacity`: the mean alpha where the object is (alpha above ``SUPPORT``): a ghostly blob scores low;
- :func:`reblur_error`: the mean |I - mean of the composited sub-frames| over the object's box (the blatting
  equation), the detected streak's box: the same pixels whatever crop a variant takes.

The ``footage`` verb gathers ``deblur --metrics`` JSONs into the real-footage table:

    python -m defmo footage --inputs results/evaluate/footage/*.json --table results/evaluate/tables/footage

Example:
    >>> import numpy as np
    >>> traj = np.stack([np.linspace(0, 14, 8), np.full(8, 5.0)], axis=1)
    >>> round(smoothness(traj, radius=3.0), 6)
    0.0
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from defmo.errors import UserError
from defmo.utils.io import atomic_path
from defmo.utils.provenance import Output, table_files
from defmo.utils.table_io import write_table

SUPPORT = 0.05  # alpha above which a pixel belongs to the object (opacity, alignment)


@dataclass
class Deblurred:
    """One deblurred frame, as the scores need it: ``index`` (frame number; None for an image pair), ``box``
    (row0, col0, row1, col1) of the crop, ``image`` ``(h, w, 3)`` the input crop, ``frames`` ``(n, h, w, 3)`` the
    composited sub-frames, ``rgba`` ``(n, h, w, 4)`` straight colour and alpha, ``traj`` ``(n, 2)`` (x, y)
    full-image centres, ``radius`` the object's half-width (pixels), ``region`` (row0, col0, row1, col1) the
    object's box in the image, where the re-blur error is taken (None: the whole crop)."""

    index: int | None
    box: np.ndarray
    image: np.ndarray
    frames: np.ndarray
    rgba: np.ndarray
    traj: np.ndarray
    radius: float
    region: np.ndarray | None = None


def path_length(traj: np.ndarray) -> float:
    """The length of the polyline through ``traj (n, 2)``."""
    return float(np.hypot(*np.diff(traj, axis=0).T).sum())


def exposure_path(traj: np.ndarray) -> np.ndarray:
    """The path over the whole exposure ``(n + 1, 2)`` of sub-frame centres ``traj (n, 2)``: a sub-frame is the
    mean over its slice of the exposure, so its centre is the slice's middle and the path starts and ends half a
    sub-frame step beyond the first and last centres."""
    if len(traj) < 2:
        return traj
    ends = (traj[0] - 0.5 * (traj[1] - traj[0]), traj[-1] + 0.5 * (traj[-1] - traj[-2]))
    return np.concatenate((ends[0][None], 0.5 * (traj[1:] + traj[:-1]), ends[1][None]))


def continuity(frames: list[Deblurred]) -> float | None:
    """Median over consecutive frames k, k + 1 of |start of k + 1's path - end of k's| / mean path length, the
    paths over the whole exposure (:func:`exposure_path`); None when no two consecutive frames were deblurred."""
    by_index = {f.index: exposure_path(f.traj) for f in frames if f.index is not None}
    gaps = []
    for k, path in sorted(by_index.items()):
        after = by_index.get(k + 1)
        if after is None:
            continue
        length = 0.5 * (path_length(path) + path_length(after))
        gaps.append(float(np.hypot(*(after[0] - path[-1]))) / max(length, 1e-6))
    return float(np.median(gaps)) if gaps else None


def _quadratic_residual(points: np.ndarray) -> np.ndarray:
    """Squared residuals ``(k,)`` of a least-squares quadratic in the sub-frame index through ``points (k, 2)``."""
    t = np.arange(len(points), dtype=np.float64)
    degree = min(2, len(points) - 1)
    out = np.zeros(len(points))
    for axis in range(2):
        coeffs = np.polyfit(t, points[:, axis], degree)
        out += (np.polyval(coeffs, t) - points[:, axis]) ** 2
    return out


def smoothness(traj: np.ndarray, radius: float) -> float:
    """RMS distance of ``traj (n, 2)`` from its best one- or two-segment quadratic (the two segments share the
    split sub-frame, as a bounce does) over ``radius``: 0 for a parabola, large for a wiggle."""
    best = _quadratic_residual(traj).sum()
    for split in range(2, len(traj) - 2):
        two = _quadratic_residual(traj[: split + 1]).sum() + _quadratic_residual(traj[split:]).sum()
        best = min(best, two)
    return float(np.sqrt(best / len(traj)) / max(radius, 1e-6))


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``img (h, w, c)`` moved by (dx, dy) pixels, bilinear, zero outside."""
    import cv2

    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img.astype(np.float32), matrix, img.shape[1::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def appearance_spread(frame: Deblurred) -> float:
    """Mean over the object's pixels of the standard deviation across sub-frames of its RGBA, each sub-frame
    moved so that its alpha centroid sits at the crop's centre: 0 when every sub-frame shows the same object."""
    rgba = frame.rgba
    h, w = rgba.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w]
    aligned = []
    for sub in rgba:
        mass = sub[..., 3].sum()
        if mass <= 1e-6:
            continue
        cx, cy = (sub[..., 3] * xs).sum() / mass, (sub[..., 3] * ys).sum() / mass
        aligned.append(_shift(sub, (w - 1) / 2 - cx, (h - 1) / 2 - cy))
    if len(aligned) < 2:
        return 0.0
    stack = np.stack(aligned)
    where = stack[..., 3].max(axis=0) > SUPPORT
    if not where.any():
        return 0.0
    colour = np.concatenate((stack[..., :3] * stack[..., 3:], stack[..., 3:]), axis=-1)  # premultiplied
    return float(colour.std(axis=0)[where].mean())


def opacity(frame: Deblurred) -> float:
    """Mean alpha over the pixels where alpha exceeds ``SUPPORT`` (1 for an opaque object with a hard edge)."""
    alpha = frame.rgba[..., 3]
    inside = alpha > SUPPORT
    return float(alpha[inside].mean()) if inside.any() else 0.0


def reblur_error(frame: Deblurred) -> float:
    """Mean absolute difference (per channel, in [0, 1]) between the input and the mean of the composited
    sub-frames over ``frame.region`` within the crop (the whole crop without one, or where they do not meet):
    variants whose crops differ in size are scored on the same pixels."""
    error = np.abs(frame.frames.mean(axis=0) - frame.image)
    if frame.region is not None:
        top, left = frame.box[:2]
        rows = slice(max(int(frame.region[0] - top), 0), max(int(frame.region[2] - top), 0))
        cols = slice(max(int(frame.region[1] - left), 0), max(int(frame.region[3] - left), 0))
        if error[rows, cols].size:
            error = error[rows, cols]
    return float(error.mean())


def summarise(frames: list[Deblurred]) -> dict:
    """The clip's scores: continuity (median), and the median over frames of the others."""
    def median(values):
        return float(np.median(values)) if values else None

    return {
        "frames": len(frames),
        "continuity": continuity(frames),
        "smoothness": median([smoothness(f.traj, f.radius) for f in frames]),
        "appearance_spread": median([appearance_spread(f) for f in frames]),
        "opacity": median([opacity(f) for f in frames]),
        "reblur_error": median([reblur_error(f) for f in frames]),
    }


SCORES = ("continuity", "smoothness", "appearance_spread", "opacity", "reblur_error")
HEADER = ("Clip", "Variant", "Frames", "Continuity gap", "Path residual / r", "Appearance spread", "Opacity",
          "Re-blur error")
VARIANTS = {"fit": "network + fit", "network": "network alone", "previous": "network + previous fit",
            "previous_local": "network + previous fit, frame's background"}  # deblur_footage's (common.smk)
CAPTION = ("Real footage (no ground truth), per clip: the network alone and the network + fit as deblur runs it "
           "(evaluate.footage: the path started from whichever of the track's, the streak's and the network's "
           "blurs to the frame best, its ends pulled there, one fitted ellipse as the mask, total variation, the "
           "network's colour as a prior; the background the frame's own beyond the streak), the network + previous "
           "fit (deblur before: the network's path with free knots, a free per-pixel mask, no regulariser, over the "
           "running median) and the same previous fit over the frame's own background. "
           "Continuity gap: median over consecutive frames of the distance between where a frame's path ends and "
           "the next one's starts (paths over the whole exposure: half a sub-frame beyond the first and last "
           "sub-frame centres), over the path length. Path residual: RMS distance from the best one- or "
           "two-segment quadratic, over the object's half-width. Appearance spread: standard deviation across "
           "sub-frames of the object's aligned premultiplied RGBA. Opacity: mean alpha where alpha > 0.05. "
           "Re-blur error: mean |I - mean of the sub-frames| on the object's box (the detected streak's). Lower is better except opacity. "
           "Medians over the deblurred frames.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inputs", nargs="+", type=Path, default=[],
                        help="deblur --metrics JSONs, named <clip>_<variant>.json (with --table)")
    parser.add_argument("--table", type=Path, help="table stem, e.g. results/evaluate/tables/footage")
    parser.add_argument("--panels", nargs="+", type=Path, default=[],
                        help="one clip's deblur --figure PNGs, named footage_<clip>_<variant>.png (with --figure)")
    parser.add_argument("--figure", type=Path, help="the clip's figure: the --panels one above the other")


def stack_panels(panels: list[Path], output: Path) -> None:
    """One figure of a clip's ``deblur --figure`` panels (``footage_<clip>_<variant>.png``), one above the other,
    each titled with its variant (:data:`VARIANTS`), so the sub-frames with and without the fit are compared
    on the same frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = [plt.imread(p) for p in panels]
    width = max(im.shape[1] for im in images)
    heights = [im.shape[0] * width / im.shape[1] for im in images]
    fig, axes = plt.subplots(len(images), 1, figsize=(width / 110, sum(heights) / 110 + 0.3 * len(images)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, path, image in zip(axes[:, 0], panels, images):
        variant = path.stem.rsplit("_", 1)[-1]
        ax.imshow(image)
        ax.set_title(VARIANTS.get(variant, variant), fontsize=9, loc="left")
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def table_rows(inputs: list[Path]) -> list[list]:
    """One row per ``deblur --metrics`` JSON named ``<clip>_<variant>.json``, in the order given."""
    rows = []
    for path in inputs:
        if not path.is_file():
            raise UserError(f"{path}: no such metrics file (written by deblur --metrics)")
        record = json.loads(path.read_text())
        for clip, scores in record["clips"].items():
            variant = path.stem.removeprefix(f"{clip}_")
            rows.append([clip, VARIANTS.get(variant, variant), scores["frames"], *(scores[k] for k in SCORES)])
    return rows


NAMES = dict(zip(SCORES, ("continuity gap", "path residual", "appearance spread", "opacity", "re-blur error")))


def _better(score: str, value, base) -> bool:
    return value > base if score == "opacity" else value < base


def _split(fit: dict, base: dict) -> tuple[list[str], list[str]]:
    """The scores where the fit is better than ``base``, and those where it is worse (ties and unknowns in
    neither)."""
    better, worse = [], []
    for k in SCORES:
        if None in (fit[k], base[k]) or fit[k] == base[k]:
            continue
        (better if _better(k, fit[k], base[k]) else worse).append(k)
    return better, worse


def _compare(fit: dict, base: dict, label: str) -> str:
    """Where the fit beats ``base`` (named ``label``) and where it loses, with both numbers."""
    better, worse = _split(fit, base)
    text = f"better than the {label} on {', '.join(NAMES[k] for k in better) or 'nothing'}"
    if worse:
        text += " and worse on " + ", ".join(f"{NAMES[k]} ({fit[k]:.3g} vs {base[k]:.3g})" for k in worse)
    return text


def reading(rows: list[list]) -> str:
    """Per clip, which scores the fit as deblur runs it improves on the previous fit and on the network alone."""
    by_clip: dict[str, dict] = {}
    for clip, variant, _, *values in rows:
        by_clip.setdefault(clip, {})[variant] = dict(zip(SCORES, values))
    out = []
    for clip, variants in by_clip.items():
        fit = variants.get(VARIANTS["fit"])
        parts = [_compare(fit, variants[VARIANTS[o]], VARIANTS[o]) for o in ("previous", "previous_local", "network")
                 if fit is not None and VARIANTS[o] in variants]
        if parts:
            out.append(f"- {clip}: the network + fit is " + "; ".join(parts) + ".")
    return "\n".join(out)


def _check_mode(args: argparse.Namespace) -> None:
    if bool(args.table) == bool(args.figure) or (args.table and not args.inputs) or (args.figure and not args.panels):
        raise UserError("footage: give either --inputs with --table (the table) or --panels with --figure "
                        "(one clip's figure)")
    missing = [p for p in args.panels if not p.is_file()]
    if missing:
        raise UserError(f"footage --panels: {missing[0]}: no such figure (written by deblur --figure)")


def run(args: argparse.Namespace, cfg) -> int:
    _check_mode(args)
    if args.figure:
        stack_panels(args.panels, args.figure)
        return 0
    rows = table_rows(args.inputs)
    write_table(args.table, HEADER, rows, CAPTION)
    return 0


def outputs(args: argparse.Namespace, cfg) -> list[Output]:
    _check_mode(args)
    if args.figure:
        data = "deblur on a real clip (no ground truth): " + ", ".join(p.stem for p in args.panels)
        return [Output(args.figure, data, inputs=tuple(args.panels))]
    data = "real clips of examples/ (no ground truth): " + ", ".join(p.stem for p in args.inputs)
    return [Output(p, data, inputs=tuple(args.inputs)) for p in table_files(args.table)]
