"""Run ablation cells each in fresh Python subprocesses (``ablate.repeats`` of them) and turn every way one can
die into a failed cell.

The child (:mod:`defmo.ablate.worker`) gets the resolved config as JSON and writes its record; the parent
never imports torch's models, so no cell inherits another's allocator state. A non-zero exit, a kill by a
signal (the kernel's out-of-memory killer sends SIGKILL), a timeout or a missing record becomes a record with
``status: failed`` and the reason, so one bad cell never aborts the table.
"""

from __future__ import annotations

import json
import logging
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from defmo.errors import UserError
from defmo.settings import Config
from defmo.utils.io import write_json

log = logging.getLogger(__name__)
TECHNIQUE_NAMES = ("none", "gc", "mp", "gc+mp")
SEPARATOR = "__"


def parse_cell(text: str, cfg: Config) -> tuple[str, str]:
    """``"APPROACH:TECHNIQUE"`` -> ``(approach, technique)``, checked against params.yaml."""
    if text.count(":") != 1:
        raise UserError(f"--cell '{text}': write APPROACH:TECHNIQUE, e.g. proposed:gc+mp")
    approach, technique = text.split(":")
    if approach not in cfg.train.approach:
        known = ", ".join(cfg.train.approach)
        raise UserError(f"--cell '{text}': approach '{approach}' is not under params.yaml 'train.approach' ({known})")
    if technique not in TECHNIQUE_NAMES:
        raise UserError(f"--cell '{text}': technique '{technique}' is not one of {', '.join(TECHNIQUE_NAMES)}")
    return approach, technique


def cell_filename(approach: str, technique: str) -> str:
    """``<approach>__<technique>.json`` (the name the Snakemake rule and ``--all`` use)."""
    return f"{approach}{SEPARATOR}{technique}.json"


def failed_record(approach: str, technique: str, reason: str) -> dict:
    return {"approach": approach, "technique": technique, "status": "failed", "reason": reason}


def _exit_reason(code: int, stderr: str) -> str:
    tail = " | ".join(line for line in stderr.strip().splitlines()[-3:])
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (likely the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"worker killed by {name}{hint}"
    return f"worker exited with code {code}: {tail or 'no output'}"


def _launch(cmd: list[str], timeout_s: float) -> tuple[int | None, str]:
    """Run ``cmd``; its stderr is echoed to the log. Returns ``(exit code or None on timeout, stderr)``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, err
    for line in proc.stderr.strip().splitlines():
        log.debug("worker: %s", line)
    return proc.returncode, proc.stderr


def run_cell(cfg: Config, approach: str, technique: str, out: str | Path) -> dict:
    """Measure one cell ``ablate.repeats`` times, each in a fresh subprocess, write the combined record
    (:func:`combine`) to ``out`` (atomically) and return it."""
    runs = []
    for _ in range(cfg.ablate.repeats):
        runs.append(_run_once(cfg, approach, technique))
        if runs[-1]["status"] != "ok":
            break  # a cell that runs out of memory or time once would do so again
    record = combine(runs)
    write_json(out, record)
    log.info("cell %s:%s -> %s (%s)", approach, technique, out, record["status"])
    return record


def combine(runs: list[dict]) -> dict:
    """One cell record from its repeated measurements: the first failure if any failed, else the run with the
    median peak, holding the median peak and step time over all runs and every run's peak and step time
    (``repeat_peak_minus_idle_mib``, ``repeat_median_step_s``).

    Example:
        >>> runs = [{"status": "ok", "peak_minus_idle_mib": p, "median_step_s": 0.5} for p in (3.0, 1.0, 2.0)]
        >>> rec = combine(runs)
        >>> rec["peak_minus_idle_mib"], rec["repeat_peak_minus_idle_mib"], rec["repeats"]
        (2.0, [3.0, 1.0, 2.0], 3)
    """
    failed = [r for r in runs if r["status"] != "ok"]
    peaks = [r["peak_minus_idle_mib"] for r in runs if r["status"] == "ok"]
    steps = [r["median_step_s"] for r in runs if r["status"] == "ok"]
    if failed:
        record = dict(failed[0])
    else:
        middle = sorted(range(len(runs)), key=lambda i: peaks[i])[(len(runs) - 1) // 2]
        record = dict(runs[middle])
        record["peak_minus_idle_mib"] = statistics.median(peaks)
        record["median_step_s"] = statistics.median(steps)
    record.update(repeats=len(runs), repeat_peak_minus_idle_mib=peaks, repeat_median_step_s=steps,
                  wall_s=sum(r.get("wall_s", 0.0) for r in runs))
    return record


def _run_once(cfg: Config, approach: str, technique: str) -> dict:
    """One measurement of a cell in a fresh subprocess: the worker's record, or a failed one with the reason."""
    timeout_s = cfg.ablate.timeout_s
    with tempfile.TemporaryDirectory(prefix="defmo-ablate-") as tmp:
        cfg_path, rec_path = Path(tmp) / "cfg.json", Path(tmp) / "cell.json"
        cfg_path.write_text(json.dumps(cfg.to_dict()))
        cmd = [sys.executable, "-m", "defmo.ablate.worker", "--cfg", str(cfg_path),
               "--cell", f"{approach}:{technique}", "--out", str(rec_path)]
        start = time.perf_counter()
        code, stderr = _launch(cmd, timeout_s)
        record = _collect(approach, technique, code, stderr, rec_path, timeout_s)
    record["wall_s"] = time.perf_counter() - start
    return record


def _collect(approach: str, technique: str, code: int | None, stderr: str, rec_path: Path, timeout_s: float) -> dict:
    if code is None:
        return failed_record(approach, technique, f"timed out after {timeout_s} s (params ablate.timeout_s)")
    if code != 0:
        return failed_record(approach, technique, _exit_reason(code, stderr))
    if not rec_path.is_file():
        return failed_record(approach, technique, "worker wrote no record")
    return json.loads(rec_path.read_text())


def all_cells(cfg: Config) -> list[tuple[str, str]]:
    abl = cfg.ablate
    return [(a, t) for a in abl.approaches for t in abl.techniques]
