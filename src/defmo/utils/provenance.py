"""Provenance recorded when a result is made, for the report to read back instead of guessing it.

Every result a verb writes (a table, a metrics JSON, a figure, a checkpoint, a data folder) gets a small JSON
*record* saying what made it: the scale, the device, the git commit, the date, the data it was computed from
and the sha256 of the result as written. The sha256 lets a reader tell whether the record still describes the
file it finds; the date is the date of making, which a file's mtime is not (a git or DVC checkout resets it).

:func:`defmo.cli.main` records, after a verb's ``run`` returned 0, each output its module names in
``outputs(args, cfg)`` (a list of :class:`Output`, or plain ``(path, data)`` pairs). The ``report`` verb prints
each record under its table or figure (:func:`read`, :func:`current`).

Where a record lives is :func:`sidecar`'s one rule; it never puts a record inside a folder DVC reads as
metrics or plots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, NamedTuple

from defmo.utils.io import write_json

if TYPE_CHECKING:  # a type only: utils sit below settings
    from defmo.settings import Config

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read at a time when hashing


class Output(NamedTuple):
    """One output a verb names for the record: its path, a one-line description of the data it was computed
    from, the device (None: the run's device, :func:`device_label`) and input files whose digests to keep."""

    path: Path
    data: str
    device: str | None = None
    inputs: tuple = ()


# ---------------------------------------------------------------- where


def sidecar(output: str | Path) -> Path:
    """Where the record of ``output`` lives (relative to the working directory when ``output`` is in it).

    - ``results/<phase>/<rest>`` -> ``results/<phase>/provenance/<rest>.json``
      (``results/train/metrics/defmo.json`` -> ``results/train/provenance/metrics/defmo.json.json``: never inside
      a folder DVC reads as metrics or plots);
    - ``data/<rest>`` -> ``results/data/provenance/<rest>.json``;
    - anything else (another folder, an absolute path outside the working directory) -> beside it,
      ``<name>.provenance.json``.
    """
    path = Path(output)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.with_name(path.name + ".provenance.json")
    parts = path.parts
    if len(parts) >= 3 and parts[0] == "results":
        return Path("results", parts[1], "provenance", *parts[2:-1], parts[-1] + ".json")
    if len(parts) >= 2 and parts[0] == "data":
        return Path("results", "data", "provenance", *parts[1:-1], parts[-1] + ".json")
    return path.with_name(path.name + ".provenance.json")


# ---------------------------------------------------------------- what


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: str | Path) -> str:
    """sha256 of a file; of a folder: over its files' sorted relative paths and their sha256 (hidden files and
    folders, such as Snakemake's ``.snakemake_timestamp`` or temporary shards, left out)."""
    path = Path(path)
    if not path.is_dir():
        return _file_sha256(path)
    files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for rel, file in files:
        if not any(part.startswith(".") for part in rel.split("/")):
            digest.update(f"{rel}\0{_file_sha256(file)}\n".encode())
    return digest.hexdigest()


def digest_label(path: str | Path) -> str:
    """``<path> (sha256 <first 12 hex digits>)``: a data folder or file named with its content."""
    return f"{Path(path).as_posix()} (sha256 {sha256(path)[:12]})"


# What a result is computed by: a tracked change here (not to results/, which a running pipeline rewrites)
# marks the commit as not the code that made it.
CODE_PATHS = ("src", "workflow", "Snakefile", "params.yaml", "dvc.yaml")


def git_commit(cwd: Path) -> str:
    """Short HEAD commit, with ``+ uncommitted changes`` when tracked code or params (:data:`CODE_PATHS`)
    differ from it; ``unknown`` outside git."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short=10", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes" if dirty else "")


def device_name(device) -> str:
    """``NVIDIA H100 ...`` or ``<cpu model> (k cores visible), t torch threads`` for a ``torch.device``."""
    import torch

    from defmo.utils.measure import cpu_name

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} cores visible), {torch.get_num_threads()} torch threads"


def device_label(cfg: Config) -> str:
    """The device ``cfg`` resolves to, with its name: ``cuda: NVIDIA H200`` or ``cpu: <model> (...)``."""
    from defmo.utils.runtime import resolve_device

    device = resolve_device(cfg)
    return f"{device.type}: {device_name(device)}"


def render_device(cfg: Config) -> str:
    """The device of the renderers (CPU processes driving OpenGL through EGL)."""
    from defmo.utils.measure import cpu_name

    return f"{cpu_name()}, {cfg.data.workers} render worker(s) (pyrender, OpenGL through EGL)"


def table_files(stem: str | Path) -> list[Path]:
    """The ``.csv``, ``.md`` and ``.tex`` files of a table written by :func:`defmo.utils.table_io.write_table`."""
    stem = Path(stem).with_suffix("")
    return [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]


# ---------------------------------------------------------------- write and read


def record(output: str | Path, cfg: Config, *, device: str, data: str, inputs: Iterable[str | Path] = (),
           commit: str | None = None) -> Path:
    """Write the record of ``output`` (a file or folder that exists) to :func:`sidecar` and return its path;
    ``commit``: :func:`git_commit` of the working directory when not given."""
    path = Path(output)
    rec = {
        "file": path.as_posix(), "sha256": sha256(path), "scale": cfg.scale, "device": device,
        "commit": commit or git_commit(Path.cwd()),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": data,
    }
    inputs = [Path(p) for p in inputs if Path(p).exists()]
    if inputs:
        rec["inputs"] = {p.as_posix(): sha256(p)[:12] for p in inputs}
    target = sidecar(path)
    write_json(target, rec)
    return target


def record_outputs(outputs: Iterable[tuple], cfg: Config) -> None:
    """Record each existing output of ``outputs`` (:class:`Output` or ``(path, data)``); one that cannot be
    written is logged and left unrecorded (the report then says so)."""
    default = commit = None
    for item in outputs:
        out = Output(Path(item[0]), *item[1:])
        if not out.path.exists():
            log.debug("provenance: %s does not exist; not recorded", out.path)
            continue
        if out.device is None and default is None:
            default = device_label(cfg)
        commit = commit or git_commit(Path.cwd())  # once per verb run, not per output
        try:
            target = record(out.path, cfg, device=out.device or default, data=out.data, inputs=out.inputs,
                            commit=commit)
        except OSError as exc:
            log.warning("provenance of %s not recorded: %s", out.path, exc)
            continue
        log.debug("provenance of %s -> %s", out.path, target)


def read(output: str | Path) -> dict | None:
    """The record of ``output``; None when there is none (or it is no JSON object)."""
    try:
        rec = json.loads(sidecar(output).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if isinstance(rec, dict) else None


def current(output: str | Path) -> bool:
    """True when ``output`` has a record and is still the file (or folder) that record describes."""
    rec = read(output)
    return rec is not None and Path(output).exists() and rec.get("sha256") == sha256(output)


def inherited(paths: Iterable[str | Path], key: str) -> str | None:
    """The distinct values of ``key`` (``device``, ``data``) in the records of ``paths``, joined by ``; ``;
    None when none of them is recorded (a result made from other results inherits what they were made from)."""
    values = dict.fromkeys(str(rec[key]) for rec in map(read, paths) if rec is not None and key in rec)
    return "; ".join(values) or None
