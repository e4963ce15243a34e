"""Table 2 from params: the paper scale's columns are the report's Table 2; the run's scale is added when it differs."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import yaml

from defmo.config import load
from defmo.report.tables import ROWS, cell, table2


def _rows(header, rows):
    return {r[0]: dict(zip(header[1:], r[1:])) for r in rows}


@pytest.fixture(scope="module")
def paper(repo):
    return load(repo / "params.yaml", "paper")


def test_paper_scale_reproduces_report_table2(paper):
    header, rows = table2(paper, paper)
    assert header == ["Name", "DeFMO (ours)", "Proposed"]
    t = _rows(header, rows)
    expected = {  # the report's Table 2, row by row (DeFMO, Proposed); '-' where not applicable
        "Epochs": ("7", "4"), "Batch size": ("24", "9"), "Input resolution": ("128x128", "128x128"),
        "Number of sub-frames (N)": ("24", "24"), "Learning rate (main model)": ("0.001", "0.001"),
        "Learning rate (D_S)": ("-", "0.00001"), "Learning rate (D_T)": ("-", "0.00005"),
        "Learning rate decay rate (all schedulers)": ("0.5", "0.5"),
        "Learning rate decay step size (all schedulers)": ("10", "10"),
        "D_S steps per main model step": ("-", "1"), "D_T steps per main model step": ("-", "2"),
        "Image reconstruction loss weight (alpha_I)": ("1.0", "1.0"),
        "Time-consistency loss weight (alpha_T)": ("1.0", "-"), "Sharpness loss weight (alpha_S)": ("1.0", "-"),
        "Latent learning loss weight (alpha_L)": ("1.0", "1.0"), "GAN sharpness loss weight (alpha_G)": ("-", "1.0"),
        "NN-based time-consistency loss weight (alpha_N)": ("-", "0.05"),
    }
    for name, (defmo, proposed) in expected.items():
        assert (t[name]["DeFMO (ours)"], t[name]["Proposed"]) == (defmo, proposed), name
    assert len(rows) == len(ROWS)


def test_run_scale_columns_added_when_different(repo, paper):
    cpu = load(repo / "params.yaml", "cpu")
    header, rows = table2(paper, cpu)
    assert header[3:] == ["DeFMO (ours) [cpu scale, this run]", "Proposed [cpu scale, this run]"]
    t = _rows(header, rows)
    assert t["Epochs"]["DeFMO (ours) [cpu scale, this run]"] == str(cpu.approach("defmo").epochs)
    assert t["Batch size"]["Proposed [cpu scale, this run]"] == str(cpu.approach("proposed").batch_size)
    r = cpu.data.resolution
    assert t["Input resolution"]["Proposed [cpu scale, this run]"] == f"{r}x{r}"
    assert t["Epochs"]["DeFMO (ours)"] == "7"  # paper columns untouched


def test_identical_scale_adds_nothing_and_overrides_show(repo, tmp_path):
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["scales"]["same"] = raw["scales"]["paper"]  # a scale resolving to the paper's values
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    same, paper = load(params, "same"), load(params, "paper")
    assert table2(paper, same)[0] == ["Name", "DeFMO (ours)", "Proposed"]
    bumped = load(params, "paper", ["train.lr_g=0.002"])
    assert _rows(*table2(bumped, bumped))["Learning rate (main model)"]["Proposed"] == "0.002"


def test_cell_formatting():
    assert [cell(1e-05), cell(0.05), cell(1.0), cell(True), cell(7), cell("-")] == ["0.00001", "0.05", "1.0", "yes", "7", "-"]


def test_cli_writes_three_formats(repo, tmp_path):
    stem = tmp_path / "tables" / "table2"
    subprocess.run([sys.executable, "-m", "defmo", "--params", str(repo / "params.yaml"), "--scale", "tiny",
                    "table2", "--table2", str(stem)], check=True, capture_output=True, cwd=repo)
    rows = list(csv.reader(stem.with_suffix(".csv").open()))
    tiny = load(repo / "params.yaml", "tiny")
    assert rows[0][-1] == "Proposed [tiny scale, this run]"
    assert rows[1] == ["Epochs", "7", "4", str(tiny.approach("defmo").epochs), str(tiny.approach("proposed").epochs)]
    assert "tiny scale this run used" in stem.with_suffix(".md").read_text()
    assert r"\begin{tabular}" in stem.with_suffix(".tex").read_text()
