"""The training benchmark (``throughput-train``): one row per generator option, approach and technique."""

from __future__ import annotations

import json

from defmo.cli import main


def test_bench_train_measures_every_generator_and_the_loop(repo, tmp_path):
    js, md = tmp_path / "t.json", tmp_path / "t.md"
    args = ["--params", str(repo / "params.yaml"), "--scale", "tiny", "throughput-train", "--json", str(js),
            "--md", str(md), "--approaches", "defmo", "--techniques", "none", "loop", "--steps", "1",
            "--warmup", "0", "--batch-size", "2", "--generators", "table1", "streak"]
    assert main(args) == 0
    rows = json.loads(js.read_text())["rows"]
    assert [(r["generator"], r["technique"]) for r in rows] == [
        ("table1", "none"), ("table1", "loop"), ("streak", "none"), ("streak", "loop")]
    assert all(r["samples_per_s"] > 0 and r["peak_mb"] > 0 for r in rows)
    text = md.read_text()
    assert "| streak | defmo | loop |" in text and "- table1 / defmo: batched rendering is" in text
