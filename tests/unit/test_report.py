"""`report` verb on fake inputs in a tmp dir: every table and figure included with the provenance recorded when
it was made (never a file's mtime; a missing or stale record said as such), readings computed from the numbers
(they change when the numbers do) and printed once, missing inputs named."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from defmo.cli import build_parser
from defmo.config import load
from defmo.errors import UserError
from defmo.report.report import build
from defmo.report.readings import reading_table4, reading_table5, reading_training
from defmo.report.readings_benchmark import reading_table3
from defmo.utils import provenance

DATASETS = ("falling_objects", "tbd3d", "tbd")
# PSNR per dataset and method (image, background, defmo, proposed): proposed clears Image on 2 of 3
PSNR = {"falling_objects": (20.0, 18.0, 22.8, 19.5), "tbd3d": (19.0, 17.0, 20.2, 21.3), "tbd": (18.0, 16.5, 20.3, 21.0)}
FIGURES = ["samples_synthetic", "training_curves", *(f"benchmark_{d}" for d in DATASETS), "memory", "deblur_real"]


def _eval_record(dataset: str, method: str, psnr: float) -> dict:
    tiou = None if method in ("image", "background") else 0.1 + psnr / 100
    return {"dataset": dataset, "method": method, "psnr": psnr, "ssim": psnr / 40, "tiou": tiou,
            "quoted": False, "device": "cpu", "data_source": "embedded", "background_window": 50}


def _memory(scale: float = 1.0) -> dict:
    mib = {"defmo": {"none": 2413, "gc": 2121, "mp": 1807}, "proposed": {"none": 10023, "gc": 9803, "mp": 6073}}
    cells = {f"{a}/{t}": {"status": "ok", "peak_mib": v * scale} for a, ts in mib.items() for t, v in ts.items()}
    red = {a: {t: None if t == "none" else 100 * (ts["none"] - v) / ts["none"] for t, v in ts.items()}
           for a, ts in mib.items()}
    return {"setup": {"device_name": "Fake CPU", "memory_label": "RSS"}, "cells": cells, "reduction_pct": red}


def _quality(cc_avg: float = 2.5, blocks_over: int = 0) -> dict:
    project = {"cc_avg": cc_avg, "cc_max": 9, "difficulty_avg": 2.0, "difficulty_max": 8.0, "bugs_avg": 0.05,
               "bugs_max": 0.3, "mi_avg": 70.0, "mi_min": 41.5, "files": 30, "blocks": 200}
    return {"project": project, "compare": {}, "bar": {"max_cc": 10, "min_mi": 20, "blocks_over": blocks_over,
                                                       "files_under": 0}}


def write_inputs(root: Path, recorded: bool = True) -> list[str]:
    """Fake pipeline outputs under ``root/results``, each with a provenance record (device ``Fake GPU <name>``,
    data ``fake data of <name>``) unless not ``recorded``; returns the report verb's arguments."""
    res = root / "results"
    for sub in ("tables", "metrics/eval", "figures", "benchmarks"):
        (res / sub).mkdir(parents=True, exist_ok=True)
    for n in (2, 3, 4, 5):
        (res / "tables" / f"table{n}.md").write_text(f"Table {n}: fake\n\n| a | b |\n|---|---|\n| {n} | x |\n")
    evals = []
    for ds in DATASETS:
        for method, psnr in zip(("image", "background", "defmo", "proposed"), PSNR[ds]):
            path = res / "metrics" / "eval" / ds / f"{method}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_eval_record(ds, method, psnr)))
            evals.append(str(path))
    (res / "metrics" / "memory.json").write_text(json.dumps(_memory()))
    (res / "metrics" / "quality.json").write_text(json.dumps(_quality()))
    vals = []
    for approach, model in (("defmo", 25.0), ("proposed", 19.0)):
        path = res / "metrics" / f"val_{approach}.json"
        path.write_text(json.dumps({"psnr": {"model": model, "image": 20.0, "background": 18.0}, "steps": 30,
                                    "train_seconds": 12.5, "device": "cpu (x86_64)"}))
        vals.append(str(path))
    figs = []
    for name in FIGURES:
        path = res / "figures" / f"{name}.png"
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
        figs.append(str(path))
    (res / "benchmarks" / "render.md").write_text("Rendering: 150 samples/s (fake)\n")
    (res / "tables" / "quality_functions.md").write_text("Most complex blocks (fake)\n")
    if recorded:
        for path in sorted(res.rglob("*.*")):  # listed before any record is written
            provenance.record(path, SimpleNamespace(scale="cpu"), device=f"Fake GPU {path.name}",
                              data=f"fake data of {path.name}")
    return ["--table2", *(str(res / "tables" / f"table{n}.md") for n in (2,)),
            "--table3", str(res / "tables" / "table3.md"), "--table4", str(res / "tables" / "table4.md"),
            "--table5", str(res / "tables" / "table5.md"), "--quality-json", str(res / "metrics" / "quality.json"),
            "--quality-details", str(res / "tables" / "quality_functions.md"),
            "--memory-json", str(res / "metrics" / "memory.json"), "--eval-metrics", *evals,
            "--val-metrics", *vals, "--figures", *figs,
            "--benchmarks", str(res / "benchmarks" / "render.md"), str(res / "benchmarks" / "absent.md"),
            "--output", str(res / "report.md")]


@pytest.fixture()
def cpu_cfg(repo):
    return load(repo / "params.yaml", "cpu")


def _args(repo, argv):
    full = ["--params", str(repo / "params.yaml"), "--scale", "cpu", "report", *argv]
    return build_parser(full).parse_args(full)


def test_report_has_every_table_and_figure_with_provenance(repo, tmp_path, cpu_cfg):
    args = _args(repo, write_inputs(tmp_path))
    text = build(args, cpu_cfg)
    for n in (2, 3, 4, 5):
        assert f"| {n} | x |" in text and f"## Table {n}" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == len(FIGURES)
    assert all((tmp_path / "results" / link).is_file() for link in links)  # relative to report.md
    lines = text.count("*Provenance: scale `cpu`")
    assert lines == 4 + len(FIGURES) + 2 + 1  # tables, figures, each approach's training, one present note
    assert "device Fake GPU table3.md; commit `" in text and "data: fake data of table3.md; file `tables/table3.md`" in text
    assert "- `proposed`: *Provenance: scale `cpu`; device Fake GPU val_proposed.json;" in text
    assert "device Fake GPU deblur_real.png" in text and "data: fake data of render.md" in text
    assert "Rendering: 150 samples/s" in text and "absent" not in text
    assert "Most complex blocks (fake)" in text
    figures = text.split("## Figures")[1]
    assert "Reading: see Table 3 above (tbd3d)." in figures.split("### benchmark_tbd3d")[1]
    assert text.count("tbd3d: best PSNR: Proposed (21.30)") == 1  # in Table 3's reading only
    assert f"N = {cpu_cfg.data.n_subframes} sub-frames" in figures


def test_provenance_is_the_record_not_the_file_date(repo, tmp_path, cpu_cfg):
    argv = write_inputs(tmp_path)
    old = dt.datetime(2001, 2, 3, tzinfo=dt.timezone.utc).timestamp()
    for path in (tmp_path / "results").rglob("*"):
        os.utime(path, (old, old))  # a checkout's mtimes say nothing about when a result was made
    text = build(_args(repo, argv), cpu_cfg)
    assert "2001-" not in text
    date = provenance.read(tmp_path / "results" / "tables" / "table4.md")["date"]
    made = dt.datetime.fromisoformat(date).strftime("%Y-%m-%d %H:%M UTC")
    assert f"device Fake GPU table4.md; commit `{provenance.git_commit(Path.cwd())}`; made {made};" in text


def test_missing_and_stale_records_are_said_as_such(repo, tmp_path, cpu_cfg):
    argv = write_inputs(tmp_path)
    table3 = tmp_path / "results" / "tables" / "table3.md"
    table3.write_text(table3.read_text() + "| 9 | edited |\n")  # the file changed after its record was written
    provenance.sidecar(tmp_path / "results" / "tables" / "table2.md").unlink()
    text = build(_args(repo, argv), cpu_cfg)
    assert ("*Provenance: recorded for a different version of this file (rerun `evaluate --aggregate`); "
            "file `tables/table3.md`.*") in text and "Fake GPU table3.md" not in text
    assert "*Provenance: not recorded (rerun `table2`); file `tables/table2.md`.*" in text
    bare = build(_args(repo, write_inputs(tmp_path / "bare", recorded=False)), cpu_cfg)
    assert bare.count("*Provenance: not recorded (rerun `") == 4 + len(FIGURES) + 2 + 1
    assert "(rerun `figures memory`); file `figures/memory.png`" in bare and "(rerun `throughput-render`)" in bare


def test_no_paragraph_is_repeated(repo, tmp_path, cpu_cfg):
    text = build(_args(repo, write_inputs(tmp_path)), cpu_cfg)
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    repeated = [p for p, n in Counter(paragraphs).items() if n > 1]
    assert not repeated, repeated
    for reading in (reading_table4(_memory()), reading_training({a: json.loads(
            (tmp_path / "results" / "metrics" / f"val_{a}.json").read_text()) for a in ("defmo", "proposed")})):
        assert text.count(reading) == 1
    figures = text.split("## Figures")[1]
    assert "Reading: see Table 4 above." in figures.split("### memory")[1]
    assert "Reading: see the training section above." in figures.split("### training_curves")[1]


def test_table3_reading_from_numbers(cpu_cfg):
    records = [_eval_record(ds, m, p) for ds in DATASETS for m, p in zip(("image", "background", "defmo", "proposed"),
                                                                            PSNR[ds])]
    text = reading_table3(records, cpu_cfg)
    assert "- tbd3d: best PSNR: Proposed (21.30)" in text
    assert "- falling_objects: best PSNR: DeFMO (ours) (22.80)" in text
    assert ("Proposed beats Image and Background in PSNR and SSIM in 10 of 12 comparisons; it loses in 2: "
            "falling_objects PSNR 19.50 vs Image 20.00; falling_objects SSIM 0.487 vs Image 0.500.") in text
    assert "DeFMO (ours) beats Image and Background in PSNR and SSIM in 12 of 12 comparisons" in text
    bounce = [dict(r, bounce=dict(psnr=r["psnr"], ssim=0.9 if r["method"] == "background" else 0.5))
              for r in records if r["dataset"] == "tbd3d"]
    assert "tbd3d bounce frames SSIM 0.500 vs Background 0.900" in reading_table3(bounce, cpu_cfg)
    assert "Proposed beats the DeFMO re-implementation" in text and "on 2 of 3 datasets (falling_objects -3.30 dB" in text
    w5 = [dict(r, background_window=5, psnr=r["psnr"] + (5.0 if r["method"] == "image" else 0.0)) for r in records]
    both = reading_table3(records + w5, cpu_cfg)
    assert both.startswith(text.split("\n- DeFMO (original)")[0])  # main window first, unchanged
    assert "With a background median over 5 frames" in both
    assert "DeFMO (ours) beats Image and Background in PSNR and SSIM in 9 of 12" in both.split("5 frames")[1]
    same = reading_table3(records + [dict(r, background_window=5) for r in records], cpu_cfg).split("5 frames")[1]
    assert "- tbd3d: as with the main window." in same and "best PSNR" not in same  # said once
    no_traj = [dict(r, tiou=None) for r in records if r["dataset"] == "tbd"]
    assert "TIoU is n/a" in reading_table3(no_traj, cpu_cfg)


def test_table4_reading_percentages():
    text = reading_table4(_memory())
    assert "Proposed: peak memory lowered by gc 2.2%, mp 39.4%" in text  # (10023-6073)/10023
    assert "Largest reduction: mp on Proposed (39.4%)" in text
    assert "Mixed precision saved more than gradient checkpointing for 2 of 2 approaches" in text
    swapped = _memory()
    swapped["reduction_pct"]["defmo"]["gc"] = 30.0
    assert "for 1 of 2 approaches" in reading_table4(swapped)
    assert "training needs 315% more memory than DeFMO (10023 vs 2413 MiB)" in text
    assert "8% less memory" in reading_table4(_memory() | {"cells": {"defmo/none": {"peak_mib": 100},
                                                                     "proposed/none": {"peak_mib": 92}}})
    assert "No successful" in reading_table4({"reduction_pct": {}, "cells": {}})


def test_table5_and_training_readings_follow_the_numbers():
    assert "Average complexity 2.50" in reading_table5(_quality()) and "holds" in reading_table5(_quality())
    broken = reading_table5(_quality(cc_avg=3.75, blocks_over=2))
    assert "Average complexity 3.75" in broken and "is broken: 2 blocks over" in broken
    text = reading_training({"a": {"psnr": {"model": 21.0, "image": 20.0, "background": 18.0}},
                             "b": {"psnr": {"model": 19.0, "image": 20.0, "background": 18.0}}})
    assert "- a (network alone): validation PSNR 21.00 dB" in text and "it beats both trivial baselines" in text
    assert "- b (network alone): validation PSNR 19.00 dB" in text and "it beats the Background baseline only" in text
    fitted = reading_training({"a": {"psnr": {"model": 21.0, "image": 20.0, "background": 18.0},
                                     "fit": {"psnr": {"model": 19.0}, "fit_steps": 50}}})
    assert "With the fit at inference (50 steps): 19.00 dB, which beats the Background baseline only" in fitted
    assert "beats neither" in reading_training({"c": {"psnr": {"model": 1.0, "image": 20.0, "background": 18.0}}})


def test_missing_input_named_before_work(repo, tmp_path, cpu_cfg):
    argv = write_inputs(tmp_path)
    (tmp_path / "results" / "metrics" / "memory.json").unlink()
    with pytest.raises(UserError, match=r"memory.json \(written by `ablate`\)"):
        build(_args(repo, argv), cpu_cfg)


def test_cli_writes_report(repo, tmp_path):
    argv = write_inputs(tmp_path)
    cmd = [sys.executable, "-m", "defmo", "--params", str(repo / "params.yaml"), "--scale", "tiny", "report", *argv]
    subprocess.run(cmd, check=True, capture_output=True, cwd=repo)
    text = (tmp_path / "results" / "report.md").read_text()
    assert text.startswith("# Improving DeFMO with learned losses: results")
    assert provenance.current(tmp_path / "results" / "report.md")  # the report records itself too
    assert "Scale `tiny` departs from the report's Table 2" in text and "Epochs 7 -> 1" in text
    (tmp_path / "results" / "figures" / "memory.png").unlink()
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=repo)
    assert bad.returncode == 2 and "memory.png" in bad.stderr


def test_git_commit_provenance(repo, tmp_path):
    from defmo.report.report import git_commit

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert git_commit(repo).split(" ")[0] == head[:10]
    assert git_commit(tmp_path) == "unknown (not a git checkout)"


def test_the_seed_study_s_section_when_its_files_are_present(repo, tmp_path, cpu_cfg):
    """The seed study is outside the default run: its verdicts and table enter the report when present, each with its
    provenance, and a missing file is left out."""
    argv = write_inputs(tmp_path)
    seeds = tmp_path / "results" / "seeds"
    seeds.mkdir()
    (seeds / "seeds_verdicts.md").write_text("- **D_T in place of L_T** (defmo+dt vs defmo): tbd: PSNR better.\n")
    provenance.record(seeds / "seeds_verdicts.md", SimpleNamespace(scale="cpu"), device="Fake CPU", data="runs")
    text = build(_args(repo, [*argv, "--seeds", str(seeds / "seeds_verdicts.md"), str(seeds / "absent.md")]),
                 cpu_cfg)
    section = text.split("## Seed study")[1].split("\n## ")[0]
    assert "tbd: PSNR better" in section and "device Fake CPU" in section and "absent" not in section
    assert "## Seed study" not in build(_args(repo, argv), cpu_cfg)
