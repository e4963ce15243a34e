"""What `pip install .` (the core set, requirements.txt) must run: the CLI's help without loading torch (it
answers in well under a second), and `deblur`'s whole code path without any pipeline tool (Snakemake, DVC, the
renderer, Radon, NVML, psutil): each is blocked from import here, as if not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

PIPELINE = ("snakemake", "dvc", "pyrender", "pybullet", "trimesh", "radon", "pynvml", "psutil", "OpenGL")
BLOCKER = f"""
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {PIPELINE!r}:
            raise ImportError("not installed (core install): " + name)
sys.meta_path.insert(0, Blocked())
"""


def _python(code: str, repo) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], cwd=repo, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("argv", [["defmo", "--help"], ["defmo", "deblur", "--help"], ["defmo", "footage", "--help"]])
def test_help_needs_neither_torch_nor_the_pipeline(repo, argv):
    proc = _python(f"""
import sys
sys.argv = {argv!r}
from defmo.cli import main
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
assert "torch" not in sys.modules, "torch loaded for --help"
""", repo)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_deblur_runs_without_the_pipeline_tools(repo):
    """Every module `deblur` loads to run (detection, the network, the fit, the outputs) imports with the
    pipeline's packages missing."""
    proc = _python("""
import defmo.evaluate.deblur, defmo.evaluate.methods, defmo.evaluate.streaks, defmo.evaluate.frames
import defmo.evaluate.deblur_outputs, defmo.evaluate.footage, defmo.evaluate.detect, defmo.evaluate.loaders
import defmo.train.checkpoint, defmo.utils.runtime, defmo.models.deblat_fit
print("ok")
""", repo)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr
