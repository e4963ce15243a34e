"""Figure captions have one source: the package's ``captions/<stem>.rst``, printed under each figure of
results/report/report.md and given to Snakemake's report by the rules."""

from __future__ import annotations

import re
from pathlib import Path

from defmo.report.report import CAPTIONS, figure_caption

FIGURES = ("samples_synthetic", "training_curves", "benchmark", "memory", "deblur_real")


def test_every_report_figure_has_a_caption_file():
    for stem in FIGURES:
        assert (CAPTIONS / f"{stem}.rst").is_file(), stem
        assert figure_caption(stem) != stem.replace("_", " ")


def test_caption_becomes_one_markdown_line():
    text = figure_caption("deblur_real")
    assert text.startswith("The `deblur` command on a real blurred frame") and "``" not in text
    assert "\n" not in text and "  " not in text and text.endswith("No ground truth exists for it.")
    assert figure_caption("training_curves_probe") == "training curves probe"  # no caption file: the stem


def test_rules_give_snakemake_the_same_caption_files(repo):
    rules = repo / "workflow" / "rules"
    folder = re.search(r'FIGURE_CAPTIONS = "([^"]+)"', (rules / "common.smk").read_text()).group(1)
    assert (rules / folder).resolve() == Path(str(CAPTIONS)).resolve()
    used = {m for smk in rules.glob("*.smk") for m in re.findall(r'caption=f"\{FIGURE_CAPTIONS\}/(\w+)\.rst"',
                                                                 smk.read_text())}
    assert used == set(FIGURES)
    leftovers = {p.stem for p in (repo / "workflow" / "report").glob("*.rst")} & set(FIGURES)
    assert not leftovers, f"second copies of figure captions in workflow/report: {leftovers}"
