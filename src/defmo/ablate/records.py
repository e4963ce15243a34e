"""The memory ablation's cell records (``results/ablate/cells/<approach>__<technique>.json``), read and arranged.

:func:`load_records` checks each file is a cell record; :func:`grid` arranges them as approaches x techniques in
params order; :func:`reductions` is how much each technique lowers each approach's measured peak (%);
:func:`metrics` is ``results/ablate/metrics/memory.json`` and :func:`plot_rows` the rows of the plot CSV.
Table 4 itself is :mod:`defmo.ablate.table`'s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from defmo.errors import UserError
from defmo.quoted import TABLE4_MIB
from defmo.settings import Config

APPROACH_LABELS = {"defmo": "DeFMO", "defmo+ds": "+D_S", "defmo+dt": "+D_T", "proposed": "+D_S+D_T"}
TECHNIQUE_LABELS = {"none": "None", "gc": "Gradient checkpointing (GC)", "mp": "Mixed precision (MP)",
                    "gc+mp": "GC + MP"}
PLOT_COLUMNS = ["approach", "technique", "approach_label", "technique_label", "status", "peak_mib",
                "peak_min_mib", "peak_max_mib", "max_allocated_mib", "max_reserved_mib", "median_step_s",
                "quoted_mib", "device_name", "memory_label", "reason"]
REQUIRED = ("approach", "technique", "status")


def load_records(paths: list[Path]) -> list[dict]:
    """Read cell records, checking each is one (names the file otherwise)."""
    if not paths:
        raise UserError("ablate --table: no --inputs given (the cell JSONs from ablate --cell)")
    records = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such cell record; run `ablate --cell A:T --output {path}` first")
        try:
            rec = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not JSON ({exc}); rerun its cell (`ablate --cell A:T --output {path}` "
                            "rewrites it)") from exc
        if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED):
            raise UserError(f"{path}: not a cell record (needs keys {', '.join(REQUIRED)}); rerun its cell")
        records.append(rec)
    return records


def _ordered(records: list[dict], key: str, preferred: list[str]) -> list[str]:
    seen = [r[key] for r in records]
    return [x for x in preferred if x in seen] + sorted({x for x in seen if x not in preferred})


def value(rec: dict | None, key: str) -> float | None:
    """A successful cell's finite number ``key``, else None (a failed or missing cell, or no value)."""
    if rec is None or rec.get("status") != "ok":
        return None
    value = rec.get(key)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def grid(records: list[dict], cfg: Config) -> tuple[list[str], list[str], dict]:
    """``(approaches, techniques, {(approach, technique): record})`` in params order."""
    approaches = _ordered(records, "approach", cfg.ablate.approaches)
    techniques = _ordered(records, "technique", list(TECHNIQUE_LABELS))
    return approaches, techniques, {(r["approach"], r["technique"]): r for r in records}


def reductions(records: list[dict], cfg: Config) -> dict:
    """Percent by which each technique lowers each approach's measured peak relative to ``none``."""
    approaches, techniques, cells = grid(records, cfg)
    out = {}
    for a in approaches:
        base = value(cells.get((a, "none")), "peak_minus_idle_mib")
        out[a] = {}
        for t in techniques:
            v = value(cells.get((a, t)), "peak_minus_idle_mib")
            out[a][t] = None if t == "none" or base is None or v is None or base <= 0 else 100.0 * (base - v) / base
    return out


def describe_setup(records: list[dict]) -> dict:
    ok = [r for r in records if r.get("status") == "ok"]
    first = ok[0] if ok else records[0]
    keys = ("device_type", "batch_size", "steps", "resolution", "n_subframes", "repeats")
    setup = {k: first.get(k) for k in keys}
    setup["device_name"] = ", ".join(sorted({str(r.get("device_name")) for r in ok})) or "n/a"
    setup["memory_label"] = ", ".join(sorted({str(r.get("memory_label")) for r in ok})) or "n/a"
    return setup


def plot_rows(records: list[dict], cfg: Config) -> list[list]:
    approaches, techniques, cells = grid(records, cfg)
    rows = []
    for a in approaches:
        for t in techniques:
            r = cells.get((a, t), {"status": "missing"})
            rows.append([a, t, APPROACH_LABELS.get(a, a), TECHNIQUE_LABELS.get(t, t), r["status"],
                         value(r, "peak_minus_idle_mib"), *_peak_range(r), value(r, "max_allocated_mib"),
                         value(r, "max_reserved_mib"), value(r, "median_step_s"),
                         TABLE4_MIB.get(t, {}).get(a), r.get("device_name"), r.get("memory_label"), r.get("reason")])
    return rows


def _peak_range(rec: dict) -> tuple[float | None, float | None]:
    """The lowest and highest measured peak over a successful cell's repeats (None, None without them)."""
    peaks = rec.get("repeat_peak_minus_idle_mib") if rec.get("status") == "ok" else None
    return (min(peaks), max(peaks)) if peaks else (None, None)


def metrics(records: list[dict], cfg: Config) -> dict:
    """``results/ablate/metrics/memory.json``: per-cell numbers, reductions vs ``none`` (%), setup, failures."""
    cells = {
        f"{r['approach']}/{r['technique']}": {
            "status": r["status"], "peak_mib": value(r, "peak_minus_idle_mib"),
            "peak_mib_repeats": r.get("repeat_peak_minus_idle_mib"),
            "max_allocated_mib": value(r, "max_allocated_mib"), "median_step_s": value(r, "median_step_s"),
            "reason": r.get("reason"),
        }
        for r in records
    }
    failed = sum(r["status"] != "ok" for r in records)
    return {"setup": describe_setup(records), "cells": cells, "reduction_pct": reductions(records, cfg),
            "failed_cells": failed, "scale": cfg.scale}
