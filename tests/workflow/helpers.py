"""Helpers for the workflow tests: run the venv's tools, copy the repository into a temp dir."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
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


def make_placeholders(repo: Path, dry_run_output: str) -> None:
    """An empty file or folder for every output a (forced) dry run names that does not exist yet: what `dvc pull`
    brings (datasets, checkpoints) and anything else the committed results lack."""
    for line in dry_run_output.splitlines():
        if not line.strip().startswith("output:"):
            continue
        for name in line.split(":", 1)[1].split(","):
            path = repo / name.strip()
            if path.exists():
                continue
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:  # directory() outputs: data/synthetic/<split>, data/benchmark/<dataset>, results/evaluate/deblur
                path.mkdir(parents=True, exist_ok=True)


def fresh_clone(dest: Path, scale: str | None = None) -> Path:
    """The repository as a fresh clone plus `dvc pull` leaves it: no `.snakemake/` (no metadata of any run), every
    file written at one instant, and the records `results/config/<phase>.yaml` last, after the results made with
    their values (a checkout writes files in an order of its own).

    The records are written from the copy's params.yaml (at ``scale`` if given), as any pipeline run leaves them
    (the working tree under test may hold a parameter change that no committed result was made with yet).
    """
    repo = copy_repo(dest)
    if scale:
        set_param(repo, "scale", scale)
    run([sys.executable, "-m", "defmo", "--params", "params.yaml", "config", "--out", "results/config"], repo)
    # the seed study's own copy of its record, as its last job leaves it (defmo.phases.STUDIES)
    run([sys.executable, "-m", "defmo", "--params", "params.yaml", "config", "--phase", "seeds", "--out",
         "results/seeds/config"], repo)
    make_placeholders(repo, run(["snakemake", "-n", "--forceall", "all", "seeds"], repo).stdout)
    shutil.rmtree(repo / ".snakemake", ignore_errors=True)
    shutil.rmtree(repo / "results" / "config" / "run", ignore_errors=True)
    checkout = time.time() - 3600
    for root, folders, files in os.walk(repo):
        for name in folders + files:
            os.utime(os.path.join(root, name), (checkout, checkout), follow_symlinks=False)
    for path in [*(repo / "results" / "config").glob("*.yaml"), *(repo / "results").glob("*/config/*.yaml")]:
        os.utime(path, (checkout + 60, checkout + 60))
    return repo


def scheduled(dry_run_output: str) -> set[str]:
    """The rules of the jobs a dry run (`snakemake -n`) lists."""
    return set(re.findall(r"^(?:local)?rule (\w+):", dry_run_output, re.M))


def scheduled_records(dry_run_output: str) -> set[str]:
    """The phases whose record (results/config/<phase>.yaml) a dry run would rewrite."""
    return set(re.findall(r"^rule config_phase:\n(?:    .*\n)*?    wildcards: phase=(\w+)", dry_run_output, re.M))
