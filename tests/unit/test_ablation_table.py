"""Table 4 assembly from cell records: layout, values, reductions, failed cells, quoted block, bars, CLI errors."""

from __future__ import annotations

import csv
import json
import logging

import pytest

from defmo.cli import main
from defmo.config import load
from defmo.errors import UserError
from defmo.ablate import plots, runner, table
from defmo.ablate import records as cell_records

APPROACHES = ["defmo", "defmo+ds", "defmo+dt", "proposed"]
TECHNIQUES = ["none", "gc", "mp", "gc+mp"]


@pytest.fixture(scope="module")
def cfg(repo):
    return load(repo / "params.yaml", scale="cpu")


def _record(a, t, peak, step, status="ok", reason=None):
    return {"approach": a, "technique": t, "status": status, "reason": reason, "peak_minus_idle_mib": peak,
            "median_step_s": step, "max_allocated_mib": None, "device_type": "cpu", "device_name": "Test CPU",
            "memory_label": "CPU memory (peak RSS), Test CPU", "batch_size": 2, "steps": 2, "resolution": 64,
            "n_subframes": 8}


@pytest.fixture()
def records():
    out = []
    for i, a in enumerate(APPROACHES):
        for j, t in enumerate(TECHNIQUES):
            out.append(_record(a, t, 1000.0 * (i + 1) - 100.0 * j, 0.5 + i + 0.1 * j))
    out[-1] = _record("proposed", "gc+mp", None, None, status="failed", reason="out of memory: test")
    return out


def test_layout_is_techniques_by_approaches_in_three_blocks(records, cfg):
    header, rows = table.table_rows(records[::-1], cfg)  # input order must not matter
    assert header == ["block", "technique", "DeFMO", "+D_S", "+D_T", "+D_S+D_T"]
    assert len(rows) == 12
    assert [r[1] for r in rows[:4]] == ["None", "Gradient checkpointing (GC)", "Mixed precision (MP)", "GC + MP"]
    assert rows[0][2:] == [1000.0, 2000.0, 3000.0, 4000.0]
    assert rows[1][2:] == [900.0, 1900.0, 2900.0, 3900.0]
    assert rows[3][5] is None  # the failed cell
    assert rows[4][0].startswith("median step") and rows[4][2:] == pytest.approx([0.5, 1.5, 2.5, 3.5])
    assert all(r[0] == "peak memory MiB (quoted, report)" for r in rows[8:])
    assert rows[8][2:] == [2413, 6351, 6211, 10023] and rows[11][2:] == [1667, 3909, 3835, 5991]


def test_reductions_are_percent_of_none(records, cfg):
    red = cell_records.reductions(records, cfg)
    assert red["defmo"]["gc+mp"] == pytest.approx(100 * 300 / 1000)
    assert red["defmo+dt"]["mp"] == pytest.approx(100 * 200 / 3000)
    assert red["proposed"]["gc+mp"] is None and red["proposed"]["none"] is None


def test_written_table_plot_csv_and_metrics(records, cfg, tmp_path):
    paths = dict(table=tmp_path / "t" / "table4.csv", plot_csv=tmp_path / "memory.csv", metrics_json=tmp_path / "m.json")
    table.write_all(records, cfg, **paths)
    md = (tmp_path / "t" / "table4.md").read_text()
    assert "| peak memory MiB (measured) | None | 1000 | 2000 | 3000 | 4000 |" in md
    assert "quoted" in md and "copied, not measured here" in md and "Test CPU" in md
    assert "- proposed / gc+mp: failed: out of memory: test" in md
    assert ("- GC + MP lowers the measured peak vs None by: DeFMO 30.0% (report 30.9%); +D_S 15.0% (report 38.5%); "
            "+D_T 10.0% (report 38.3%); +D_S+D_T n/a (report 40.2%)") in md
    assert r"\toprule" in (tmp_path / "t" / "table4.tex").read_text()
    with open(paths["table"]) as fh:
        rows = list(csv.reader(fh))
    assert rows[1][2:] == ["1000.0", "2000.0", "3000.0", "4000.0"] and rows[4][5] == ""
    with open(paths["plot_csv"]) as fh:
        plot = list(csv.DictReader(fh))
    assert len(plot) == 16 and plot[0]["quoted_mib"] == "2413" and plot[-1]["status"] == "failed"
    metrics = json.loads(paths["metrics_json"].read_text())
    assert metrics["failed_cells"] == 1 and metrics["cells"]["defmo/gc"]["peak_mib"] == 900.0
    assert metrics["reduction_pct"]["defmo+ds"]["gc+mp"] == pytest.approx(15.0)


def test_memory_figure_is_a_png(records, cfg, tmp_path):
    table.write_all(records, cfg, tmp_path / "table4.csv", tmp_path / "memory.csv", tmp_path / "m.json")
    out = tmp_path / "fig" / "memory.png"
    plots.plot_memory([tmp_path / "memory.csv"], out, cfg)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    with pytest.raises(UserError, match="no such file"):
        plots.plot_memory([tmp_path / "missing.csv"], out, cfg)


def test_load_records_names_the_bad_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="x.json: not JSON"):
        cell_records.load_records([bad])
    bad.write_text('{"approach": "defmo"}')
    with pytest.raises(UserError, match="not a cell record"):
        cell_records.load_records([bad])
    with pytest.raises(UserError, match="no such cell record"):
        cell_records.load_records([tmp_path / "none.json"])


def test_parse_cell_checks_params(cfg):
    assert runner.parse_cell("defmo+ds:gc+mp", cfg) == ("defmo+ds", "gc+mp")
    for text, msg in (("defmo", "APPROACH:TECHNIQUE"), ("nope:gc", "train.approach"), ("defmo:fast", "technique")):
        with pytest.raises(UserError, match=msg):
            runner.parse_cell(text, cfg)
    assert runner.cell_filename("defmo+ds", "gc+mp") == "defmo+ds__gc+mp.json"


@pytest.fixture()
def restore_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]


def test_cli_reports_bad_input_with_exit_2(repo, tmp_path, capsys, monkeypatch, restore_logging):
    monkeypatch.chdir(repo)
    code = main(["--scale", "tiny", "ablate", "--cell", "defmo:warp", "--out", str(tmp_path / "c.json")])
    assert code == 2 and "technique 'warp'" in capsys.readouterr().err
    code = main(["--scale", "tiny", "ablate", "--table", "--inputs", str(tmp_path / "no.json"),
                 "--table-out", str(tmp_path / "t.csv"), "--plot-csv", str(tmp_path / "p.csv"),
                 "--metrics", str(tmp_path / "m.json")])
    assert code == 2 and "no such cell record" in capsys.readouterr().err
    code = main(["--scale", "tiny", "ablate", "--cell", "defmo:none"])
    assert code == 2 and "needs --out" in capsys.readouterr().err


def test_exit_reasons():
    assert runner._exit_reason(-9, "") == "worker killed by SIGKILL (likely the out-of-memory killer)"
    assert runner._exit_reason(1, "a\nb\nImportError: x\n") == "worker exited with code 1: a | b | ImportError: x"


def test_repeats_combine_to_the_median_and_show_their_range(records, cfg, tmp_path):
    """A cell measured three times keeps the median peak and step time; Table 4 shows the range, the plot CSV
    and the metrics keep it; a failed repeat fails the cell."""
    runs = [dict(records[0], peak_minus_idle_mib=p, median_step_s=s) for p, s in ((700.0, 0.9), (640.0, 0.7),
                                                                                  (660.0, 0.8))]
    cell = runner.combine(runs)
    assert cell["peak_minus_idle_mib"] == 660.0 and cell["median_step_s"] == 0.8
    assert cell["repeat_peak_minus_idle_mib"] == [700.0, 640.0, 660.0] and cell["repeats"] == 3
    broken = runner.combine(runs[:2] + [runner.failed_record("defmo", "none", "worker killed by SIGKILL")])
    assert broken["status"] == "failed" and broken["reason"].startswith("worker killed")
    table.write_all([cell] + records[1:], cfg, tmp_path / "table4.csv", tmp_path / "memory.csv",
                    tmp_path / "memory.json")
    md = (tmp_path / "table4.md").read_text()
    assert "| 660 [640, 700] |" in md and "median of 3 fresh processes per cell" in md
    with open(tmp_path / "memory.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["approach"] == "defmo" and r["technique"] == "none")
    assert (float(row["peak_min_mib"]), float(row["peak_mib"]), float(row["peak_max_mib"])) == (640.0, 660.0, 700.0)
    metrics = json.loads((tmp_path / "memory.json").read_text())
    assert metrics["cells"]["defmo/none"]["peak_mib_repeats"] == [700.0, 640.0, 660.0]
