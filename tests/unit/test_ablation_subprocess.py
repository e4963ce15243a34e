"""The real path end to end at the tiny scale on CPU: two cells, each a fresh ``python -m defmo`` process
that spawns its worker, then Table 4 assembled through the CLI. Also: a worker killed by its time limit."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest

from defmo.config import load
from defmo.ablate import runner

CELLS = ("defmo:none", "defmo:gc")


def _cli(repo, *args):
    # two repeats per cell, each a fresh process (the end-to-end test measures each once, to save time)
    cmd = [sys.executable, "-m", "defmo", "--scale", "tiny", "--set", "scales.tiny.threads=1",
           "--set", "scales.tiny.ablate.repeats=2", *args]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def table_dir(repo, tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation")
    inputs = []
    for text in CELLS:
        path = out / runner.cell_filename(*text.split(":"))
        proc = _cli(repo, "ablate", "--cell", text, "--out", str(path))
        assert proc.returncode == 0, proc.stderr
        inputs.append(str(path))
    proc = _cli(repo, "ablate", "--table", "--inputs", *inputs, "--table-out", str(out / "table4.csv"),
                "--plot-csv", str(out / "memory.csv"), "--metrics", str(out / "memory.json"))
    assert proc.returncode == 0, proc.stderr
    return out


def test_two_cells_make_a_table_of_positive_finite_numbers(table_dir):
    with open(table_dir / "table4.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["block", "technique", "DeFMO"]
    body = rows[1:]
    assert [r[:2] for r in body] == [
        ["peak memory MiB (measured)", "None"], ["peak memory MiB (measured)", "Gradient checkpointing (GC)"],
        ["median step s (measured)", "None"], ["median step s (measured)", "Gradient checkpointing (GC)"],
        ["peak memory MiB (quoted, report)", "None"], ["peak memory MiB (quoted, report)", "Gradient checkpointing (GC)"],
    ]
    measured = [float(r[2]) for r in body[:4]]
    assert all(math.isfinite(v) and v > 0 for v in measured), measured
    assert [r[2] for r in body[4:]] == ["2413", "2121"]


def test_cell_records_are_cpu_memory_with_the_device_name(table_dir):
    for text in CELLS:
        rec = json.loads((table_dir / runner.cell_filename(*text.split(":"))).read_text())
        assert rec["status"] == "ok" and rec["device_type"] == "cpu"
        assert rec["memory_label"].startswith("CPU memory (peak RSS), ") and rec["device_name"]
        assert rec["idle_mib"] > 0 and rec["peak_mib"] > rec["idle_mib"]
        assert len(rec["step_times_s"]) == rec["steps"] == 2
        assert all(math.isfinite(v) for v in rec["losses"].values())
        peaks = rec["repeat_peak_minus_idle_mib"]
        assert rec["repeats"] == len(peaks) == 2 and min(peaks) <= rec["peak_minus_idle_mib"] <= max(peaks)
    metrics = json.loads((table_dir / "memory.json").read_text())
    assert metrics["failed_cells"] == 0 and metrics["setup"]["resolution"] == 32


def test_a_worker_that_dies_becomes_a_failed_cell(repo, tmp_path, monkeypatch):
    """A cell killed by its time limit is recorded with the reason, not raised."""
    monkeypatch.chdir(repo)
    cfg = load(repo / "params.yaml", scale="tiny", overrides=["scales.tiny.ablate.timeout_s=0.01"])
    rec = runner.run_cell(cfg, "defmo", "none", tmp_path / "c.json")
    assert rec["status"] == "failed" and rec["reason"].startswith("timed out after 0.01 s")
    assert json.loads((tmp_path / "c.json").read_text())["reason"] == rec["reason"]
