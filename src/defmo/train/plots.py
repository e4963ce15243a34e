"""Training-curve figure: one panel per approach, every loss term of its per-step CSV (raw and smoothed), and a
panel of the validation PSNR over the steps against the two trivial baselines when the CSVs hold it."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from defmo.errors import UserError  # noqa: E402
from defmo.settings import Config  # noqa: E402
from defmo.train.loop import VAL_COLUMNS  # noqa: E402
from defmo.train.trainer import LOSS_TERMS  # noqa: E402
from defmo.utils.io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)
TERMS = (*LOSS_TERMS, "total", "ds", "dt")


def read_curve(path: Path) -> dict[str, np.ndarray]:
    """Columns of a ``results/train/plots/<approach>.csv`` with at least one value, as float arrays."""
    if not path.is_file():
        raise UserError(f"{path}: no such loss-curve CSV (train the approach first)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "step" not in rows[0]:
        raise UserError(f"{path}: not a training curve CSV (needs a header with 'step' and rows)")
    cols = {}
    for key in ["step", *TERMS, *VAL_COLUMNS]:
        values = [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows]
        if not np.all(np.isnan(values)):
            cols[key] = np.asarray(values)
    return cols


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` steps (shorter at the start)."""
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_curves(inputs: list[Path], output: Path, cfg: Config) -> None:
    """Write ``output`` (PNG): one panel per CSV in ``inputs`` (named ``<approach>.csv``)."""
    if not inputs:
        raise UserError("figures curves: give the loss CSVs with --inputs results/train/plots/<approach>.csv")
    curves = [(Path(p).stem.removeprefix("train_"), read_curve(Path(p))) for p in inputs]
    validated = [(name, cols) for name, cols in curves if "val_model" in cols]
    panels = len(curves) + bool(validated)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    for ax, (name, cols) in zip(axes[0], curves):
        _panel(ax, name, cols)
    if validated:
        _validation_panel(axes[0][-1], validated)
    fig.suptitle(f"training losses (scale {cfg.scale})")
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    log.info("wrote %s", output)


def _panel(ax, name: str, cols: dict[str, np.ndarray]) -> None:
    steps = cols["step"]
    window = max(1, len(steps) // 20)
    for key in TERMS:
        if key in cols:
            line, = ax.plot(steps, smooth(cols[key], window), label=key, lw=1.4)
            ax.plot(steps, cols[key], color=line.get_color(), alpha=0.2, lw=0.6)
    ax.set_title(name)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (moving average over {window} steps)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)


def _validation_panel(ax, curves: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    """Validation PSNR of each approach over its steps; the baselines (the same validation set) as lines."""
    for name, cols in curves:
        at = ~np.isnan(cols["val_model"])
        ax.plot(cols["step"][at], cols["val_model"][at], marker="o", ms=3, lw=1.4, label=name)
    cols = curves[0][1]
    for key, label, style in (("val_image", "Image baseline", "--"), ("val_background", "Background baseline", ":")):
        if key in cols:
            ax.axhline(np.nanmean(cols[key]), color="k", ls=style, lw=1.0, label=label)
    ax.set_title("validation PSNR of the composited sub-frames")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR [dB]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
