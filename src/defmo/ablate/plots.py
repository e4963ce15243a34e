"""Figure kind ``memory``: grouped bars of Table 4 (``results/ablate/figures/memory.png``).

Three panels over the approaches, one bar per technique: measured peak memory (MiB, the median of the cell's
repeats with a whisker over their range), measured median step time (s), and the report's quoted GPU numbers for
comparison. Failed cells are drawn as missing bars marked ``x``.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np

from defmo.errors import UserError
from defmo.settings import Config
from defmo.utils.io import atomic_path

log = logging.getLogger(__name__)
PANELS = (("peak_mib", "peak memory, MiB (measured)"), ("median_step_s", "median step time, s (measured)"),
          ("quoted_mib", "peak memory, MiB (report, quoted)"))


def read_memory_csv(path: Path) -> list[dict]:
    """Rows of ``results/ablate/plots/memory.csv`` (written by ``ablate --table``)."""
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file; run `ablate --table ... --plot-csv {path}` first")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "peak_mib" not in rows[0]:
        raise UserError(f"{path}: not the memory ablation CSV (no rows or no peak_mib column); regenerate it")
    return rows


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _series(rows: list[dict], key: str) -> tuple[list[str], dict[str, list[float]]]:
    """Approach labels (x) and, per technique label, the values of column ``key`` (NaN when missing)."""
    approaches = list(dict.fromkeys(r["approach_label"] for r in rows))
    table = {(r["approach_label"], r["technique_label"]): _number(r.get(key)) for r in rows}
    techniques = list(dict.fromkeys(r["technique_label"] for r in rows))
    return approaches, {t: [table.get((a, t), math.nan) for a in approaches] for t in techniques}


def _panel(ax, rows: list[dict], key: str, title: str) -> None:
    approaches, series = _series(rows, key)
    width = 0.8 / max(len(series), 1)
    for j, (tech, values) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(approaches))]
        ax.bar(xs, [0.0 if math.isnan(v) else v for v in values], width, label=tech)
        if key == "peak_mib":
            lows, highs = (_series(rows, k)[1].get(tech) for k in ("peak_min_mib", "peak_max_mib"))
            _whiskers(ax, xs, values, lows, highs)
        missing = [x for x, v in zip(xs, values) if math.isnan(v)]
        if missing:
            ax.plot(missing, [0.0] * len(missing), "kx")
    ax.set_xticks(range(len(approaches)), approaches)
    ax.set_title(title, fontsize=9)


def _whiskers(ax, xs: list[float], values: list[float], lows: list[float] | None, highs: list[float] | None) -> None:
    """A black whisker from each bar's lowest to highest repeat (none where the CSV has no range)."""
    if lows is None or highs is None:
        return
    x, mid, lo, hi = (np.asarray(v, dtype=float) for v in (xs, values, lows, highs))
    keep = np.isfinite(mid) & np.isfinite(lo) & np.isfinite(hi)
    if keep.any():
        ax.errorbar(x[keep], mid[keep], yerr=[mid[keep] - lo[keep], hi[keep] - mid[keep]], fmt="none", ecolor="k",
                    capsize=2, lw=0.8)


def plot_memory(inputs: list[Path], output: Path, cfg: Config) -> None:
    """Grouped bar chart from ``inputs[0]`` (``results/ablate/plots/memory.csv``) to ``output`` (PNG)."""
    if len(inputs) != 1:
        raise UserError("figures memory: pass exactly one --inputs file, results/ablate/plots/memory.csv")
    rows = read_memory_csv(inputs[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4))
    for ax, (key, title) in zip(axes, PANELS):
        _panel(ax, rows, key, title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    device = rows[0].get("memory_label") or "n/a"
    fig.suptitle(f"Memory ablation (scale {cfg.scale}): {device}", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    log.info("wrote %s", output)
