"""Figure kind ``benchmark`` (report figures 4-6): input crop, ground truth and each method's sub-frames."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from defmo.errors import UserError  # noqa: E402
from defmo.evaluate.table import BASELINES, PROJ_SUFFIX, method_label  # noqa: E402
from defmo.settings import Config  # noqa: E402
from defmo.utils.io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)
SUFFIX = "_sample"


def _load(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: no evaluation sample; run `evaluate ... --sample {path}` first")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _method(path: Path) -> str:
    stem = path.stem
    return stem[: -len(SUFFIX)] if stem.endswith(SUFFIX) else stem


def _show_row(axes, label: str, frames) -> None:
    axes[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    for ax, img in zip(axes, frames):
        ax.imshow(np.clip(img, 0, 1))


def plot_benchmark_samples(inputs: list[Path], output: Path, cfg: Config) -> None:
    """``inputs``: ``<method>_sample.npz`` files of one dataset (from ``evaluate --sample``), each holding
    ``image (h, w, 3)``, ``gt (n, h, w, 3)``, ``est (n, h, w, 3)`` and ``est_proj`` (the estimate after the
    blatting projection) crops of the same frame in [0, 1].

    Writes one PNG: row 1 the input crop, row 2 the GT sub-frames, then one row per method, then one row per
    network method after the projection (for the baselines it is the Image baseline: not repeated).
    """
    if not inputs:
        raise UserError("figures benchmark: pass the evaluation samples with --inputs <method>_sample.npz ...")
    samples = [(_method(Path(p)), _load(Path(p))) for p in inputs]
    rows = [(method_label(m), d["est"]) for m, d in samples]
    rows += [(method_label(m) + PROJ_SUFFIX, d["est_proj"]) for m, d in samples if m not in BASELINES and "est_proj" in d]
    gt = samples[0][1]["gt"]
    n = len(gt)
    fig, axes = plt.subplots(len(rows) + 2, n, figsize=(1.2 * n + 1.5, 1.2 * (len(rows) + 2)), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    _show_row(axes[0], "Input", [samples[0][1]["image"]])
    _show_row(axes[1], "GT", gt)
    for row, (label, frames) in enumerate(rows, start=2):
        _show_row(axes[row], label, frames)
    fig.suptitle(f"frame {int(samples[0][1]['frame'])}: input, ground truth and each method's sub-frames", fontsize=9)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    log.info("benchmark figure with %d methods -> %s", len(samples), output)
