"""`evaluate` end to end on a tiny FMO-layout folder: metrics JSON (+ window variant), CSV, sample, Table 3, figure."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from defmo.cli import main
from defmo.config import load
from defmo.evaluate import table
from defmo.evaluate.plots import plot_benchmark_samples
from defmo.utils import provenance
from test_eval_loaders import write_sequence

torch.set_num_threads(1)


def random_checkpoint(path: Path, repo: Path, generator: str | None = None) -> Path:
    """A checkpoint in the trainer's format holding a randomly initialised tiny-scale generator (the tiny scale's
    ``model.generator`` unless ``generator`` names another)."""
    from defmo.models import build_generator
    from defmo.train.checkpoint import FORMAT

    # the fit at inference (model.fit_steps) belongs to the object generator: off for any other
    others = [f"model.generator={generator}", "model.fit_steps=0"] if generator and generator != "object" else []
    cfg = load(repo / "params.yaml", "tiny", others)
    torch.manual_seed(0)
    gen = build_generator(cfg)
    payload = {"format": FORMAT, "trainer": {"nets": {"generator": gen.state_dict()}}, "cfg": cfg.to_dict(), "extra": {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def cli(repo: Path, *argv: str) -> int:
    return main(["--params", str(repo / "params.yaml"), "--scale", "tiny", *argv])


def test_evaluate_methods_then_table3_and_figure(tmp_path, repo, monkeypatch):
    monkeypatch.chdir(repo)
    data = tmp_path / "tbd"
    write_sequence(data, "aa_ball", frames=4, alpha=True)  # GT alpha, as the embedded data has it
    write_sequence(data, "bb_ball", frames=3, seed=1, alpha=True)
    ckpt = random_checkpoint(tmp_path / "ckpt" / "final.pt", repo)
    out = tmp_path / "out"
    extra = ["--set", "scales.tiny.evaluate.background_variants=[2]", "--set", "threads=1"]
    for method in ("image", "background", "defmo", "original"):
        args = ["evaluate", "--dataset", "tbd", "--data", str(data), "--method", method,
                "--output", str(out / f"{method}.json"), "--csv", str(out / f"{method}.csv"),
                "--sample", str(out / f"{method}_sample.npz")]
        if method == "defmo":
            args += ["--checkpoint", str(ckpt)]
        assert main(["--params", "params.yaml", "--scale", "tiny", *extra, *args]) == 0
    image = json.loads((out / "image.json").read_text())
    assert image["tiou"] is None and image["frames"] == 7 and image["sequences"] == 2
    assert image["background_window"] == 50 and image["data_source"] == "embedded"
    assert np.isfinite(image["psnr"]) and 0 < image["ssim"] < 1
    variant = json.loads((out / "image_w2.json").read_text())
    assert variant["background_window"] == 2 and np.isfinite(variant["psnr"])  # B also shapes the tight box
    assert json.loads((out / "background_w2.json").read_text())["psnr"] != pytest.approx(
        json.loads((out / "background.json").read_text())["psnr"])
    ours = json.loads((out / "defmo.json").read_text())
    assert 0.0 <= ours["tiou"] <= 1.0 and ours["seconds_per_frame"] > 0
    # shape metrics: the network's alpha over all 7 x 8 sub-frames; the baselines have none
    assert 0.0 <= ours["mask_iou"] <= 1.0 and ours["shape_subframes"] == 56
    assert image["mask_iou"] is None and image["length_ratio"] is None and image["shape_subframes"] == 0
    # the bounce frames' record: the discs' paths are nearly straight within each frame, so it is empty
    assert ours["bounce"]["frames"] == 0 and ours["bounce"]["sequences"] == 0 and ours["bounce"]["psnr"] is None
    assert set(ours["bounce"]) >= {"tiou", "psnr", "ssim", "mask_iou", "length_ratio", "seconds_per_frame"}
    # the blatting projection leaves the Image baseline as it is and turns the Background baseline into it
    background = json.loads((out / "background.json").read_text())
    assert image["psnr_proj"] == pytest.approx(image["psnr"]) and image["ssim_proj"] == pytest.approx(image["ssim"])
    assert background["psnr_proj"] == pytest.approx(image["psnr"])
    assert np.isfinite(ours["psnr_proj"]) and 0 < ours["ssim_proj"] < 1
    quoted = json.loads((out / "original.json").read_text())
    assert quoted["quoted"] and quoted["psnr"] == 25.54
    rows = list(csv.DictReader((out / "image.csv").open()))
    assert [r["sequence"] for r in rows] == ["aa_ball", "bb_ball"]
    seq_mean = np.mean([float(r["psnr"]) for r in rows])
    assert seq_mean == pytest.approx(image["psnr"])  # sequences weighted equally
    assert [r["mask_iou"] for r in rows] == ["", ""]  # n/a for a baseline
    assert all(0.0 <= float(r["mask_iou"]) <= 1.0 for r in csv.DictReader((out / "defmo.csv").open()))

    records = {p.name: provenance.read(p) for p in out.iterdir() if not p.name.endswith(".provenance.json")}
    assert all(rec is not None for rec in records.values()), records  # every file the verb wrote is recorded
    assert records["image_w2.csv"]["device"] == "n/a (no network)" and records["original.json"]["device"] == "n/a (quoted)"
    assert records["defmo.json"]["device"].startswith("cpu: ") and f"model {ckpt.as_posix()} (sha256 " in records[
        "defmo_sample.npz"]["data"]
    assert records["image.json"]["data"] == f"benchmark dataset tbd at {data.as_posix()} (embedded synthetic)"

    inputs = sorted(str(p) for p in out.glob("*.json") if not p.name.endswith(".provenance.json"))
    stem = tmp_path / "tables" / "table3"
    assert cli(repo, "evaluate", "--aggregate", "--inputs", *inputs, "--table", str(stem)) == 0
    table3 = provenance.read(stem.with_suffix(".md"))
    assert table3["device"].startswith("n/a (no network); ") and set(table3["inputs"]) == set(inputs)
    header, *body = list(csv.reader(stem.with_suffix(".csv").open()))
    assert header == ["Dataset", "Metric", "Image", "Background", "DeFMO (ours)"]  # main window, measured only
    assert [r[0] for r in body] == ["TbD (synthetic)"] * 6 and [r[1] for r in body] == [
        "TIoU", "PSNR", "SSIM", "mask IoU", "length ratio", "time/frame [ms]"]  # tbd: no bounce-frames block
    header, *body = list(csv.reader(table.table_stem(stem, "variants").with_suffix(".csv").open()))
    assert "Image (w=2)" in header and "DeFMO (original) [quoted]" not in header
    assert header[5] == "DeFMO (ours) + proj." and "Image + proj." not in header and "DeFMO (ours) (w=2) + proj." in header
    psnr = dict(zip(header, body[1]))
    assert float(psnr["DeFMO (ours) + proj."]) == pytest.approx(ours["psnr_proj"], abs=1e-3)
    tiou = dict(zip(header, body[0]))
    assert tiou["Metric"] == "TIoU" and tiou["Image"] == ""
    md = stem.with_suffix(".md").read_text()
    assert "n/a" in md and "| 0.000 |" not in md.split("TIoU")[1].split("\n")[0]
    quoted_stem = table.table_stem(stem, "quoted")
    header, *body = list(csv.reader(quoted_stem.with_suffix(".csv").open()))
    assert header == ["Dataset", "Metric", "DeFMO (original) [quoted]"] and float(body[0][2]) == 0.583
    assert body[0][0] == "TbD" and "not comparable" in quoted_stem.with_suffix(".md").read_text()

    fig = tmp_path / "benchmark_tbd.png"
    samples = [out / f"{m}_sample.npz" for m in ("image", "background", "defmo")]
    plot_benchmark_samples(samples, fig, load(repo / "params.yaml", "tiny"))
    assert fig.stat().st_size > 1000


def test_table3_never_writes_zero_for_missing_tiou(repo):
    cfg = load(repo / "params.yaml", "tiny")
    recs = [dict(dataset="tbd", method="image", background_window=50, tiou=None, psnr=20.0, ssim=0.5,
                 seconds_per_frame=0.01, data_source="embedded"), table.quoted_record("tbd", 50)]
    header, rows = table.build_table3(recs, cfg)
    assert header == ["Dataset", "Metric", "Image"]
    assert rows[0] == ["TbD (synthetic)", "TIoU", None]
    header, rows = table.build_table3(recs, cfg, "quoted")  # the paper's real-data numbers: their own table
    assert header == ["Dataset", "Metric", "DeFMO (original) [quoted]"] and rows[0] == ["TbD", "TIoU", 0.583]


def test_evaluate_missing_dataset_is_a_user_error(tmp_path, repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    rc = cli(repo, "evaluate", "--dataset", "tbd", "--data", str(tmp_path / "nope"), "--method", "image",
             "--output", str(tmp_path / "a.json"), "--csv", str(tmp_path / "a.csv"))
    assert rc == 2
    err = capsys.readouterr().err
    assert "cmp.felk.cvut.cz/fmo" in err and "evaluate.datasets.tbd" in err


def test_baseline_failures_flags_a_model_below_a_baseline():
    def rec(method, psnr, ssim, window=50):
        return dict(dataset="tbd", method=method, background_window=window, psnr=psnr, ssim=ssim)

    recs = [rec("image", 20, 0.5), rec("background", 15, 0.3), rec("defmo", 22, 0.6), rec("proposed", 21, 0.45),
            rec("image", 20, 0.5, 5), rec("proposed", 19, 0.7, 5), table.quoted_record("tbd", 50)]
    out = table.baseline_failures(recs, ["defmo", "proposed"])
    assert out == ["tbd w=50: proposed ssim 0.450 <= image 0.500", "tbd w=5: proposed psnr 19.000 <= image 20.000"]
    recs[2].update(psnr_proj=19.5, ssim_proj=0.8)  # projected: below Image in PSNR only
    recs[3].update(psnr_proj=23.0, ssim_proj=0.9)  # the w=5 record has no projected scores: skipped
    out = table.baseline_failures(recs, ["defmo", "proposed"], "_proj")
    assert out == ["tbd w=50: defmo_proj psnr 19.500 <= image 20.000"]


def test_table3_shape_rows_na_for_baselines_and_the_tbd3d_bounce_block(repo, tmp_path):
    """mask IoU and length ratio ("median [q25, q75]", a string cell) in every dataset's block, n/a for the
    baselines and the quoted numbers; TbD-3D alone gets a "(bounce frames)" block read from the records'
    ``bounce`` sub-records; the three formats carry the string."""
    from defmo.utils.table_io import write_table

    cfg = load(repo / "params.yaml", "tiny")
    ratio = {"median": 0.934, "q25": 0.8, "q75": 1.1}
    common = dict(background_window=50, ssim=0.5, seconds_per_frame=0.01, data_source="embedded")
    none = dict(tiou=None, mask_iou=None, length_ratio=None)

    def rec(dataset, method, psnr):
        net = method != "image"
        bounce = dict(tiou=0.6, mask_iou=0.4, length_ratio=dict(ratio, median=0.5)) if net else none
        shape = dict(tiou=0.7, mask_iou=0.61, length_ratio=ratio, psnr_proj=psnr + 1, ssim_proj=0.6) if net else none
        bounce = dict(common, psnr=psnr - 2, **bounce)
        return dict(common, dataset=dataset, method=method, psnr=psnr, **shape, bounce=bounce)

    recs = [rec(d, m, p) for d in ("tbd3d", "tbd") for m, p in (("image", 20.0), ("defmo", 22.0))]
    header, rows = table.build_table3(recs + [table.quoted_record("tbd3d", 50)], cfg, "variants")
    assert header[2:] == ["Image", "DeFMO (ours)", "DeFMO (ours) + proj."]
    metrics_rows = ["TIoU", "PSNR", "SSIM", "mask IoU", "length ratio", "time/frame [ms]"]
    blocks = ("TbD-3D (synthetic)", "TbD-3D (synthetic) (bounce frames)", "TbD (synthetic)")
    assert [r[:2] for r in rows] == [[d, m] for d in blocks for m in metrics_rows]
    by = {(r[0].replace(" (synthetic)", ""), r[1]): r[2:] for r in rows}
    assert by["TbD-3D", "mask IoU"] == [None, 0.61, 0.61]
    assert by["TbD-3D", "length ratio"] == [None, "0.93 [0.80, 1.10]", "0.93 [0.80, 1.10]"]
    assert by["TbD-3D (bounce frames)", "PSNR"] == [18.0, 20.0, None]  # no projected score in the record
    assert by["TbD-3D (bounce frames)", "length ratio"] == [None, "0.50 [0.80, 1.10]", "0.50 [0.80, 1.10]"]
    assert by["TbD", "mask IoU"] == [None, 0.61, 0.61]
    assert table.BOUNCE_BLOCKS == ("tbd3d",)
    paths = write_table(tmp_path / "t3", header, rows)
    assert "| TbD-3D (synthetic) | length ratio | n/a | 0.93 [0.80, 1.10] | 0.93 [0.80, 1.10] |" in paths[1].read_text()
    assert "TbD-3D (synthetic),mask IoU,,0.61,0.61" in paths[0].read_text()
    assert r"TbD-3D (synthetic) (bounce frames) & length ratio & n/a & 0.50 [0.80, 1.10]" in paths[2].read_text()
