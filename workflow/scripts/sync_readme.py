"""Copy the generated results summary (results/report/summary.md, written by the pipeline's report step) into
README.md's results block, so that every number the README states comes from the results files.

    python workflow/scripts/sync_readme.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from defmo.report.summary import sync_readme

ROOT = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    summary = ROOT / "results" / "report" / "summary.md"
    if not summary.is_file():
        sys.exit(f"{summary}: not found; run the pipeline's report step first (snakemake --cores all report)")
    changed = sync_readme(ROOT / "README.md", summary.read_text())
    print("README.md: results block " + ("updated" if changed else "already current"))
