"""The single source of the evaluation's file names and of which method is quoted (evaluate, rules, scripts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from defmo.evaluate.outputs import is_quoted, variant_path


def test_variant_path_of_paths_and_strings():
    assert variant_path(Path("results/evaluate/metrics/tbd/proposed.json"), 5) == Path(
        "results/evaluate/metrics/tbd/proposed_w5.json")
    assert variant_path("results/evaluate/plots/tbd/proposed.csv", 5) == "results/evaluate/plots/tbd/proposed_w5.csv"
    assert isinstance(variant_path("a/b.json", 5), str) and isinstance(variant_path(Path("a/b.json"), 5), Path)
    assert variant_path("b.json", 7) == "b_w7.json"  # no folder: none added
    assert variant_path("a/defmo+ds.tar.gz", 5) == "a/defmo+ds.tar_w5.gz"  # only the last suffix moves


def test_main_window_keeps_the_main_file():
    assert variant_path(Path("a/image.json"), 50, main_window=50) == Path("a/image.json")
    assert variant_path(Path("a/image.json"), 5, main_window=50) == Path("a/image_w5.json")


def test_variant_path_of_snakemake_patterns():
    """The rules expand these patterns: the window wildcard lands where evaluate writes its variants."""
    pattern = variant_path("results/evaluate/{kind}/{{dataset}}/{{method}}.{ext}", "{w}")
    assert pattern == "results/evaluate/{kind}/{{dataset}}/{{method}}_w{w}.{ext}"
    filled = pattern.format(kind="metrics", w=5, ext="json").format(dataset="tbd", method="defmo")
    assert Path(filled) == variant_path(Path("results/evaluate/metrics/tbd/defmo.json"), 5)


@pytest.mark.parametrize(("method", "weights", "quoted"), [
    ("original", None, True),
    ("original", "weights/defmo", False),  # published weights given: computed
    ("image", None, False),
    ("proposed", None, False),
])
def test_is_quoted(method, weights, quoted):
    assert is_quoted(method, {"evaluate": {"original_weights": weights}}) is quoted


def test_quoted_original_needs_no_data(repo, tmp_path, capsys):
    """`evaluate` of the quoted original writes the paper's record without --data; computed (weights given),
    the original needs --data like any other method."""
    import json

    from defmo.cli import main

    common = ["--params", str(repo / "params.yaml"), "--scale", "tiny"]
    evaluate = ["evaluate", "--dataset", "tbd", "--method", "original", "--output"]
    assert main([*common, *evaluate, str(tmp_path / "quoted.json")]) == 0
    assert json.loads((tmp_path / "quoted.json").read_text())["quoted"] is True
    weights = ["--set", f"evaluate.original_weights={tmp_path}"]
    assert main([*common, *weights, *evaluate, str(tmp_path / "computed.json")]) == 2
    assert "--data is required" in capsys.readouterr().err and not (tmp_path / "computed.json").exists()
