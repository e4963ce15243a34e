"""workflow/scripts/check_training_bar.py on hand-written training outputs: verdicts, exit codes, which time counts."""

from __future__ import annotations

import importlib.util
import json

import pytest

from helpers import REPO

spec = importlib.util.spec_from_file_location("check_training_bar", REPO / "workflow" / "scripts" / "check_training_bar.py")
bar = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bar)


def write_outputs(root, approach, model_db, train_seconds, wall_seconds=None):
    metrics = root / "results" / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    record = {"scale": "cpu", "steps": 10, "train_seconds": train_seconds,
              "psnr": {"model": model_db, "model_projected": model_db + 1, "image": 27.0, "background": 24.0}}
    (metrics / f"val_{approach}.json").write_text(json.dumps(record))
    if wall_seconds is not None:
        tsv = root / "results" / "benchmarks" / "rules" / "train" / f"train_{approach}.tsv"
        tsv.parent.mkdir(parents=True, exist_ok=True)
        tsv.write_text(f"s\th:m:s\n{wall_seconds}\t0:00:00\n")


def test_met_when_both_beat_both_baselines_in_time(tmp_path, capsys):
    write_outputs(tmp_path, "defmo", 27.5, 300.0, 330.0)
    write_outputs(tmp_path, "proposed", 28.0, 400.0, 420.0)
    assert bar.main(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "total training time 12.5 min" in out and out.rstrip().endswith("BAR MET")


def test_not_met_below_image_or_too_slow(tmp_path):
    write_outputs(tmp_path, "defmo", 26.9, 300.0, 330.0)  # above Background, below Image
    write_outputs(tmp_path, "proposed", 28.0, 400.0, 420.0)
    assert bar.main(["--root", str(tmp_path)]) == 1
    write_outputs(tmp_path, "defmo", 27.5, 500.0, 520.0)  # 8.7 + 7.0 min > 15
    assert bar.main(["--root", str(tmp_path)]) == 1


def test_a_resumed_rule_run_does_not_hide_the_training_time(tmp_path):
    write_outputs(tmp_path, "defmo", 27.5, 434.5, 6.8)  # the last rule run only resumed a finished training
    seconds, source = bar.wall_seconds(tmp_path, "defmo", json.loads(
        (tmp_path / "results" / "metrics" / "val_defmo.json").read_text()))
    assert seconds == pytest.approx(434.5) and "resumed" in source
    write_outputs(tmp_path, "defmo", 27.5, 434.5, 450.0)  # an uninterrupted run: its wall time counts
    assert bar.wall_seconds(tmp_path, "defmo", {"train_seconds": 434.5})[0] == pytest.approx(450.0)


def test_missing_outputs_exit_2(tmp_path, capsys):
    assert bar.main(["--root", str(tmp_path)]) == 2
    assert "snakemake --cores all train" in capsys.readouterr().err
