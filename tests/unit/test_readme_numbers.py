"""README.md's numbers come from the results files: its generated results block equals the summary regenerated
from the committed metrics (so a retrained model, a rescored benchmark or a hand edit that is not synced fails
here), and every relative link of the README resolves."""

from __future__ import annotations

import json
import re

from defmo.config import load
from defmo.report.summary import BEGIN, END, headline_metrics, readme_block, spread_line, summary_markdown


def _committed_summary(repo) -> str:
    cfg = load(repo / "params.yaml")
    vals = {a: json.loads((repo / "results" / "train" / "metrics" / f"{a}.json").read_text())
            for a in cfg.train.approaches}
    records = [json.loads(p.read_text()) for p in sorted((repo / "results" / "evaluate" / "metrics").glob("*/*.json"))]
    spread = [json.loads(p.read_text()) for p in sorted((repo / "results" / "spread").glob("*.json"))]
    return summary_markdown(vals, records, list(cfg.train.approaches), cfg.evaluate.background_window,
                            list(cfg.evaluate.datasets), spread)


def test_readme_results_block_is_generated_from_the_committed_results(repo):
    block = readme_block(repo / "README.md")
    expected = _committed_summary(repo)
    assert block == expected, ("README.md's results block differs from the committed results: run the pipeline's "
                               "report step, then `python workflow/scripts/sync_readme.py`")
    assert (repo / "results" / "report" / "summary.md").read_text() == expected  # the pipeline wrote the same
    numbers = re.findall(r"\d+\.\d+", block)
    assert len(numbers) > 40  # the table and sentences are numbers from results, not prose


def test_a_changed_result_changes_the_block(repo, tmp_path):
    """The check above can fail: one PSNR in a metrics file changes the generated block."""
    cfg = load(repo / "params.yaml")
    vals = {a: json.loads((repo / "results" / "train" / "metrics" / f"{a}.json").read_text())
            for a in cfg.train.approaches}
    before = summary_markdown(vals, [], cfg.train.approaches, cfg.evaluate.background_window)
    vals[cfg.train.approaches[0]]["psnr"]["model"] += 0.5
    assert summary_markdown(vals, [], cfg.train.approaches, cfg.evaluate.background_window) != before
    assert before.startswith(BEGIN) and before.rstrip().endswith(END)


def test_readme_links_resolve(repo):
    text = (repo / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local and all((repo / t).exists() for t in local), [t for t in local if not (repo / t).exists()]
    assert "../shared" not in text


def test_spread_line_reads_the_seeds_range_and_std():
    def run(network, fit):
        return {"approach": "defmo", "psnr": {"model": network}, "fit": {"psnr": {"model": fit}}}

    line = spread_line({"defmo": run(31.0, 34.0)}, [run(31.4, 33.0), run(30.8, 34.5)])
    assert "over 3 training seeds" in line
    assert "DeFMO (ours) network 30.80-31.40 dB (std 0.31)" in line  # std of (31.0, 31.4, 30.8), n - 1
    assert "DeFMO (ours) with the fit 33.00-34.50 dB (std 0.76)" in line
    assert spread_line({"defmo": run(31.0, 34.0)}, []) is None


def test_the_headline_metrics_are_the_committed_results(repo):
    """results/report/metrics.json (what `dvc metrics diff` prints) holds the same numbers as the README's table,
    a few dozen of them, and the seed study's primary differences when its summary has claims."""
    cfg = load(repo / "params.yaml")
    vals = {a: json.loads((repo / "results" / "train" / "metrics" / f"{a}.json").read_text())
            for a in cfg.train.approaches}
    records = [json.loads(p.read_text()) for p in sorted((repo / "results" / "evaluate" / "metrics").glob("*/*.json"))]
    seeds_path = repo / "results" / "seeds" / "metrics" / "summary.json"
    seeds = json.loads(seeds_path.read_text()) if seeds_path.is_file() else None
    expected = headline_metrics(vals, records, list(cfg.train.approaches), cfg.evaluate.background_window,
                                list(cfg.evaluate.datasets), seeds)
    assert json.loads((repo / "results" / "report" / "metrics.json").read_text()) == expected
    assert f"{expected['validation']['defmo']['psnr']:.2f}" in readme_block(repo / "README.md")

    def leaves(node):
        return sum(leaves(v) if isinstance(v, dict) else 1 for v in node.values())

    assert 12 <= leaves(expected) <= 40
    claims = {"proposed": {"interval": {"diff": 0.123456, "lo": -0.1, "hi": 0.3}}}
    with_seeds = headline_metrics(vals, records, list(cfg.train.approaches), cfg.evaluate.background_window,
                                  list(cfg.evaluate.datasets), {"claims": claims})
    assert with_seeds["seed_study"] == {"proposed": {"validation_psnr_difference": 0.1235}}


def test_the_seed_study_s_blocks_are_generated_from_its_results(repo):
    """README's verdict sentence and docs/SEED_STUDY.md's verdicts and table are the committed study's."""
    from defmo.report.summary import SEEDS_BEGIN, SEEDS_END, seeds_block

    summary = json.loads((repo / "results" / "seeds" / "metrics" / "summary.json").read_text())
    assert "claims" in summary and len(summary["seeds"]) >= 5  # this design's study, K >= 5
    tables = repo / "results" / "seeds" / "tables"
    verdicts, table = (tables / "seeds_verdicts.md").read_text(), (tables / "seeds.md").read_text()
    assert readme_block(repo / "README.md", SEEDS_BEGIN, SEEDS_END) == seeds_block(verdicts)
    assert readme_block(repo / "docs" / "SEED_STUDY.md", SEEDS_BEGIN, SEEDS_END) == seeds_block(verdicts, table)
