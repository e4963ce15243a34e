"""Figure ``samples``: a few synthetic training samples, each row I, B, I2 and the GT sub-frames."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from defmo.data.dataset import SyntheticFMODataset  # noqa: E402
from defmo.errors import UserError  # noqa: E402
from defmo.settings import Config  # noqa: E402
from defmo.utils.io import atomic_path  # noqa: E402

ROWS = 4
MAX_FRAMES = 8


def checkerboard(h: int, w: int, cell: int = 4) -> np.ndarray:
    """Grey checkerboard ``(h, w, 3)`` in [0, 1] to show transparency."""
    yy, xx = np.mgrid[0:h, 0:w] // cell
    return np.repeat((0.6 + 0.2 * ((yy + xx) % 2))[..., None], 3, axis=2)


def over_checker(rgba: np.ndarray) -> np.ndarray:
    """Straight RGBA uint8 ``(H, W, 4)`` composited over a checkerboard; float ``(H, W, 3)`` in [0, 1]."""
    alpha = rgba[..., 3:4] / 255.0
    return rgba[..., :3] / 255.0 * alpha + (1 - alpha) * checkerboard(*rgba.shape[:2])


def plot_samples(inputs: list[Path], output: Path, cfg: Config) -> None:
    """Plot ``ROWS`` evenly spaced samples of the first rendered split folder in ``inputs`` to ``output`` (PNG)."""
    if not inputs:
        raise UserError("figure 'samples' needs --inputs <rendered split folder, e.g. data/synthetic/train>")
    ds = SyntheticFMODataset(inputs[0])
    picks = np.linspace(0, len(ds) - 1, min(ROWS, len(ds))).round().astype(int)
    n = ds.n_subframes
    shown = np.linspace(0, n - 1, min(n, MAX_FRAMES)).round().astype(int)
    cols = 3 + len(shown)
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.3 * cols, 1.4 * len(picks)), squeeze=False)
    for row, index in zip(axes, picks):
        raw = ds.raw(int(index))
        panels = [raw["image"] / 255.0, raw["background"] / 255.0, raw["image2"] / 255.0]
        panels += [over_checker(raw["frames"][t]) for t in shown]
        titles = ["I", "B", "I2 (2nd B)"] + [f"t={t / (n - 1):.2f}" for t in shown]
        for ax, img, title in zip(row, panels, titles):
            ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if index == picks[0]:
                ax.set_title(title, fontsize=7)
    fig.suptitle(f"synthetic {ds.manifest['split']} samples ({len(ds)} in all, {ds.manifest['resolution']} px, N={n}): "
                 "input I, background B, I over a second background, GT sub-frames over a checkerboard",
                 fontsize=8)
    fig.tight_layout()
    output = Path(output)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
