"""The house's layers (pyproject.toml, [tool.importlinter]): no module imports from a layer above its own, so
shared metrics, on-disk names and quoted numbers live low and there is no import cycle between layers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def test_no_import_runs_up_a_layer(repo):
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run([lint, "--config", "pyproject.toml"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
