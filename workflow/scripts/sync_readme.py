"""Copy the generated results summary (results/report/summary.md, written by the pipeline's report step) into
README.md's results block, and the seed study's verdicts (results/seeds/tables/seeds_verdicts.md) into README.md's
and docs/SEED_STUDY.md's seed blocks, so that every number they state comes from the results files.

    python workflow/scripts/sync_readme.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from defmo.report.summary import SEEDS_BEGIN, SEEDS_END, seeds_block, sync_readme

ROOT = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    summary = ROOT / "results" / "report" / "summary.md"
    if not summary.is_file():
        sys.exit(f"{summary}: not found; run the pipeline's report step first (snakemake --cores all report)")
    changed = sync_readme(ROOT / "README.md", summary.read_text())
    print("README.md: results block " + ("updated" if changed else "already current"))
    verdicts = ROOT / "results" / "seeds" / "tables" / "seeds_verdicts.md"
    summary_json = ROOT / "results" / "seeds" / "metrics" / "summary.json"
    # only a study summarised with its claims (this version's `seeds --summarize`) has the verdict sentence
    if verdicts.is_file() and summary_json.is_file() and "claims" in json.loads(summary_json.read_text()):
        table = (ROOT / "results" / "seeds" / "tables" / "seeds.md").read_text()
        for path, block in ((ROOT / "README.md", seeds_block(verdicts.read_text())),
                            (ROOT / "docs" / "SEED_STUDY.md", seeds_block(verdicts.read_text(), table))):
            changed = sync_readme(path, block, SEEDS_BEGIN, SEEDS_END)
            print(f"{path.name}: seed study block " + ("updated" if changed else "already current"))
