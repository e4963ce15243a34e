"""Radon numbers of the `quality` verb against hand counts on tests/fixtures/radon_tree/ and Radon's CLI."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys

import pytest

from defmo.config import load
from defmo.errors import UserError
from defmo.quoted import TABLE5_RADON
from defmo.quality.measure import (
    measure_all,
    measure_code,
    measure_tree,
    offenders,
    summarise,
    worst_blocks,
)
from defmo.settings import Quality


@pytest.fixture(scope="module")
def tree(repo):
    return repo / "tests" / "fixtures" / "radon_tree"


def test_hand_counted_complexity(tree):
    files = {f.path: f for f in measure_tree(tree, ["skipme"])}
    assert sorted(files) == ["__init__.py", "branchy.py", "plain.py"]  # skipme/ excluded by glob
    cc = {b.name: (b.kind, b.complexity) for b in files["branchy.py"].blocks}
    assert cc == {
        "straight": ("function", 1), "branches": ("function", 6), "comprehension": ("function", 4),
        "Counter": ("class", 4), "Counter.__init__": ("method", 1), "Counter.step": ("method", 5),
    }
    s = summarise(list(files.values()))
    assert s["blocks"] == 6 and s["cc_max"] == 6
    assert s["cc_avg"] == pytest.approx((1 + 6 + 4 + 4 + 1 + 5) / 6)
    assert [(b.name, b.rank) for b in worst_blocks(list(files.values()), 2)] == [("branches", "B"), ("Counter.step", "A")]


def test_hand_computed_halstead_and_mi():
    # `x = a + b`: one operator (+) used once, two distinct operands used once each.
    f = measure_code("x = a + b\n", "plain.py")
    h1, h2, n1, n2 = 1, 2, 1, 2
    volume = (n1 + n2) * math.log2(h1 + h2)
    assert f.difficulty == pytest.approx(h1 / 2 * n2 / h2)  # 0.5
    assert f.bugs == pytest.approx(volume / 3000)
    # MI = max(0, 100/171 * (171 - 5.2 ln V - 0.23 CC - 16.2 ln SLOC)), no comments; module CC 1, SLOC 1
    assert f.mi == pytest.approx(100 / 171 * (171 - 5.2 * math.log(volume) - 0.23 * 1 - 16.2 * math.log(1)))
    assert measure_code("", "empty.py").mi == 100.0


def test_file_metrics_are_averaged_per_file(tree):
    files = measure_tree(tree, ["skipme"])
    by = {f.path: f for f in files}
    s = summarise(files)
    # Difficulty and bugs per file, then mean/max over the three files (the empty __init__ scores 0).
    assert s["difficulty_avg"] == pytest.approx((by["branchy.py"].difficulty + 0.5 + 0.0) / 3)
    assert s["difficulty_max"] == pytest.approx(by["branchy.py"].difficulty)
    assert s["mi_min"] == pytest.approx(min(f.mi for f in files))
    assert s["mi_avg"] == pytest.approx(sum(f.mi for f in files) / 3)
    assert s["bugs_max"] == pytest.approx(max(f.bugs for f in files))


def test_cc_average_matches_radon_cli(tree):
    """Same number as `radon cc -a` (the report's method), including the otherwise excluded folder."""
    out = subprocess.run([sys.executable, "-m", "radon", "cc", "-a", str(tree)], capture_output=True, text=True,
                         check=True).stdout
    cli_avg = float(re.search(r"Average complexity: \w \(([\d.]+)\)", out).group(1))
    assert summarise(measure_tree(tree, []))["cc_avg"] == pytest.approx(cli_avg)
    assert summarise(measure_tree(tree, []))["cc_avg"] == pytest.approx(24 / 7)


def test_offenders(tree):
    files = measure_tree(tree, [])
    blocks, low = offenders(files, max_cc=4, min_mi=96)
    assert [b.name for b in blocks] == ["branches", "Counter.step"]
    assert [f.path for f in low] == ["branchy.py", "plain.py"]  # MI 79.3 and 95.1 (hand-computed above)
    assert [f.mi for f in low] == sorted(f.mi for f in low)


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        measure_tree(tmp_path / "nope", [])
    with pytest.raises(UserError, match="no Python files"):
        measure_tree(tmp_path, [])
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(UserError, match="broken.py.*quality.exclude"):
        measure_tree(tmp_path, [])


def test_missing_compare_checkout_names_the_key(tree, tmp_path):
    qcfg = Quality.from_dict({"exclude": ["skipme"], "compare": {"orig": str(tmp_path / "DeFMO")}, "worst": 10,
                              "max_cc": 10, "min_mi": 20})
    with pytest.raises(UserError, match=r"quality.compare.orig: folder .*DeFMO does not exist"):
        measure_all(tree, qcfg, "here")


def test_cli_writes_table5_and_metrics(repo, tree, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "m.py").write_text("def f(a):\n    return 1 if a else 2\n")
    (other / "renderer").mkdir()  # left out as the report left out DeFMO's renderer/
    (other / "renderer" / "r.py").write_text("def g(a, b):\n    return a and b and (1 if a else 2)\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "defmo", "--params", str(repo / "params.yaml"), "--scale", "tiny",
           "--set", "quality.compare={other: {path: " + str(other) + ", exclude: [renderer]}, whole: " + str(other) + "}", "--set", "quality.exclude=[skipme]",
           "quality", "--root", str(tree), "--table", str(out / "table5"), "--functions", str(out / "fn.md"),
           "--files", str(out / "files.md"), "--metrics", str(out / "quality.json")]
    subprocess.run(cmd, check=True, capture_output=True, cwd=repo)
    rows = list(csv.DictReader((out / "table5.csv").open()))
    assert [r["Code"] for r in rows] == ["this project (measured)", "other", "whole", *TABLE5_RADON]
    assert float(rows[0]["CC avg"]) == pytest.approx(21 / 6) and rows[1]["CC max"] == "2"
    assert rows[2]["CC max"] == "4" and float(rows[2]["CC avg"]) == pytest.approx(3)  # renderer/ counted: (2+4)/2
    assert all("quoted" in r["Source"] for r in rows[3:]) and "measured" in rows[0]["Source"]
    metrics = json.loads((out / "quality.json").read_text())
    assert metrics["project"]["cc_max"] == 6 and metrics["compare"]["other"]["cc_avg"] == 2
    bar = load(repo / "params.yaml", "tiny").quality
    assert metrics["bar"] == {"max_cc": bar.max_cc, "min_mi": bar.min_mi, "blocks_over": 0, "files_under": 0}
    assert "| 6 | B | function | branchy.py:10 | branches |" in (out / "fn.md").read_text()
    assert (out / "table5.tex").read_text().count(r"\\") == 1 + len(rows)
