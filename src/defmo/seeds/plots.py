"""The seed study's figure: every seed's scores per approach and dataset, and the paired differences to the
reference with their intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from defmo.seeds.runs import LABELS
from defmo.utils.io import atomic_path


def _difference_panel(ax, body: dict, reference: str, dataset: str, approaches: list[str]) -> None:
    """The paired PSNR difference of each approach to the reference, with its interval, against 0."""
    for x, approach in enumerate(approaches):
        interval = body["differences"].get(approach, {}).get(dataset, {}).get("psnr")
        if interval is not None:
            below, above = interval["diff"] - interval["lo"], interval["hi"] - interval["diff"]
            ax.errorbar(x, interval["diff"], yerr=[[below], [above]], fmt="o", ms=5, color=f"C{x}", capsize=4)
    ax.axhline(0.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(approaches)), approaches, rotation=30, fontsize=7)
    ax.set_title(f"{dataset}: ΔPSNR vs {reference} (dB)", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def plot_study(study: dict, summary: dict, output: Path, scale: str) -> None:
    """Every seed's PSNR and mask IoU of the network alone per approach (dots) with the mean ± std (bars), and
    the paired PSNR differences with their intervals, one column per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reading = summary["primary"]["reading"]
    body = summary["readings"][reading]
    datasets = list(next(iter(body["approaches"].values())))
    approaches = list(body["approaches"])
    fig, axes = plt.subplots(3, len(datasets), figsize=(3.0 * len(datasets), 8.6), squeeze=False)
    for col, dataset in enumerate(datasets):
        _difference_panel(axes[2][col], body, summary["reference"], dataset, approaches)
        for row, metric in enumerate(("psnr", "mask_iou")):
            ax = axes[row][col]
            for x, approach in enumerate(approaches):
                values = [rec["scores"][reading].get(dataset, {}).get(metric) for rec, _ in study[approach]]
                values = [np.nan if v is None else v for v in values]
                ax.plot(np.full(len(values), x) + np.linspace(-0.12, 0.12, len(values)), values, "o", ms=4,
                        color=f"C{x}", alpha=0.7)
                s = body["approaches"][approach][dataset][metric]
                if s["mean"] is not None:
                    ax.errorbar(x + 0.25, s["mean"], yerr=s["std"] or 0.0, fmt="_", ms=12, color="k", capsize=3)
            ax.set_xticks(range(len(approaches)), approaches, rotation=30, fontsize=7)
            ax.set_title(f"{dataset}: {LABELS[metric]}", fontsize=9)
            ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"Seed study (scale {scale}), the network alone: {len(summary['seeds'])} seeds per approach; "
                 f"dots = seeds, bars = mean ± std; bottom: PSNR minus {summary['reference']}'s, paired, "
                 f"{100 * summary['confidence']:.0f}% interval", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
