"""The samples figure and the render throughput benchmark."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from defmo.cli import main
from defmo.config import load
from defmo.data.plots import over_checker


def test_over_checker_composites_straight_alpha():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255
    rgba[0, 0, 3] = 0
    out = over_checker(rgba)
    assert np.allclose(out[1, 1], [1, 0, 0]) and np.allclose(out[0, 0], [0.6, 0.6, 0.6])


def test_render_then_figure_then_throughput_via_cli(repo, tmp_path):
    base = ["--params", str(repo / "params.yaml"), "--scale", "tiny"]
    assert main(base + ["data", "--split", "val", "--out", str(tmp_path / "val"), "--samples", "4"]) == 0
    fig = tmp_path / "fig" / "samples.png"
    assert main(base + ["figures", "samples", "--inputs", str(tmp_path / "val"), "--output", str(fig)]) == 0
    img = np.asarray(Image.open(fig))
    assert img.shape[0] > 200 and img.std() > 10
    js, md = tmp_path / "t.json", tmp_path / "t.md"
    assert main(base + ["throughput-render", "--samples", "4", "--json", str(js), "--md", str(md)]) == 0
    result = json.loads(js.read_text())
    cfg = load(repo / "params.yaml", "tiny")
    assert result["samples"] == 4 and result["resolution"] == cfg.data.resolution
    assert np.isclose(result["samples_per_s"], 4 / result["seconds"], rtol=1e-2)
    assert np.isclose(result["mb_per_s"], result["bytes_written"] / 1e6 / result["seconds"], rtol=1e-2)
    assert result["mean_tries_per_sample"] >= 1 and f"| samples/s | {result['samples_per_s']} |" in md.read_text()
    check_projection(result, cfg, md.read_text())


def check_projection(result, cfg, md):
    """The scale's train + val at the measured rate, plus the embedded benchmark's measured time."""
    proj = result["projection"]
    assert proj["train_val_samples"] == cfg.data.train_samples + cfg.data.val_samples
    assert np.isclose(proj["synthetic_seconds"], proj["train_val_samples"] * result["seconds_per_sample"], rtol=1e-2)
    assert set(proj["benchmark_seconds"]) == {"falling_objects", "tbd3d", "tbd"}
    assert np.isclose(proj["total_seconds"], proj["synthetic_seconds"] + proj["benchmark_total_seconds"], atol=0.2)
    assert 0 < proj["synthetic_seconds_idle_machine"] and result["exposure_samples"] == cfg.data.exposure_samples
    assert f"| projected total render time (s) | {proj['total_seconds']} |" in md


def test_missing_manifest_is_a_clear_cli_error(repo, tmp_path, capsys):
    base = ["--params", str(repo / "params.yaml"), "--scale", "tiny"]
    code = main(base + ["figures", "samples", "--inputs", str(tmp_path / "none"), "--output", str(tmp_path / "f.png")])
    assert code == 2 and "manifest.json" in capsys.readouterr().err
