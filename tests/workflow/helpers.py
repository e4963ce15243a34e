"""Helpers for the workflow tests: run the venv's tools, copy the repository into a temp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool_env(cwd: Path) -> dict:
    """Environment in which `snakemake`, `dvc` and `python -m defmo` resolve to this venv and ``cwd/src``."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(cwd / "src")
    env["PYOPENGL_PLATFORM"] = "egl"
    return env


def run(cmd: list[str], cwd: Path, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(cwd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def copy_repo(dest: Path) -> Path:
    """Copy the tracked and untracked-not-ignored files (what a clone plus local edits would have)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    shared = REPO.parent / "shared"
    if shared.exists() and not (dest.parent / "shared").exists():
        (dest.parent / "shared").symlink_to(shared)
    return dest


def set_param(repo: Path, dotted: str, value: str) -> None:
    """Edit one key of params.yaml in place, keeping comments (the way a user edits it)."""
    import yaml

    path = repo / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    node = raw
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
