"""Assemble cell records into Table 4 (``results/ablate/tables/table4.{csv,md,tex}``), the plot CSV and the metrics.

Table 4 is laid out as in the report: techniques (rows) x approaches (columns), peak memory in MiB, then a
second block with the median step time and a third with the report's own numbers, marked as quoted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from defmo.errors import UserError
from defmo.report.quoted import TABLE4_MIB, TABLE4_SETUP
from defmo.utils.table_io import to_csv, to_latex, to_markdown
from defmo.settings import Config
from defmo.utils.io import write_json, write_text

APPROACH_LABELS = {"defmo": "DeFMO", "defmo+ds": "+D_S", "defmo+dt": "+D_T", "proposed": "+D_S+D_T"}
TECHNIQUE_LABELS = {"none": "None", "gc": "Gradient checkpointing (GC)", "mp": "Mixed precision (MP)",
                    "gc+mp": "GC + MP"}
PLOT_COLUMNS = ["approach", "technique", "approach_label", "technique_label", "status", "peak_mib",
                "max_allocated_mib", "max_reserved_mib", "median_step_s", "quoted_mib", "device_name",
                "memory_label", "reason"]
REQUIRED = ("approach", "technique", "status")


def load_records(paths: list[Path]) -> list[dict]:
    """Read cell records, checking each is one (names the file otherwise)."""
    if not paths:
        raise UserError("ablate --table: no --inputs given (the cell JSONs from ablate --cell)")
    records = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such cell record; run `ablate --cell A:T --out {path}` first")
        try:
            rec = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not JSON ({exc}); delete it and rerun its cell") from exc
        if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED):
            raise UserError(f"{path}: not a cell record (needs keys {', '.join(REQUIRED)}); rerun its cell")
        records.append(rec)
    return records


def _ordered(records: list[dict], key: str, preferred: list[str]) -> list[str]:
    seen = [r[key] for r in records]
    return [x for x in preferred if x in seen] + sorted({x for x in seen if x not in preferred})


def _value(rec: dict | None, key: str) -> float | None:
    if rec is None or rec.get("status") != "ok":
        return None
    value = rec.get(key)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def grid(records: list[dict], cfg: Config) -> tuple[list[str], list[str], dict]:
    """``(approaches, techniques, {(approach, technique): record})`` in params order."""
    approaches = _ordered(records, "approach", cfg.ablate.approaches)
    techniques = _ordered(records, "technique", list(TECHNIQUE_LABELS))
    return approaches, techniques, {(r["approach"], r["technique"]): r for r in records}


def table_rows(records: list[dict], cfg: Config) -> tuple[list[str], list[list]]:
    """Header and rows of Table 4: measured MiB, measured median step time (s), quoted MiB."""
    approaches, techniques, cells = grid(records, cfg)
    header = ["block", "technique"] + [APPROACH_LABELS.get(a, a) for a in approaches]
    rows = []
    for block, key in (("peak memory MiB (measured)", "peak_minus_idle_mib"), ("median step s (measured)", "median_step_s")):
        for t in techniques:
            rows.append([block, TECHNIQUE_LABELS.get(t, t)] + [_value(cells.get((a, t)), key) for a in approaches])
    for t in techniques:
        rows.append(["peak memory MiB (quoted, report)", TECHNIQUE_LABELS.get(t, t)]
                    + [TABLE4_MIB.get(t, {}).get(a) for a in approaches])
    return header, rows


def _formatted(rows: list[list]) -> list[list]:
    def one(block: str, v):
        if not isinstance(v, float):
            return v
        return f"{v:.3f}" if block.startswith("median") else f"{v:.0f}"

    return [[row[0], row[1]] + [one(row[0], v) for v in row[2:]] for row in rows]


def reductions(records: list[dict], cfg: Config) -> dict:
    """Percent by which each technique lowers each approach's measured peak relative to ``none``."""
    approaches, techniques, cells = grid(records, cfg)
    out = {}
    for a in approaches:
        base = _value(cells.get((a, "none")), "peak_minus_idle_mib")
        out[a] = {}
        for t in techniques:
            v = _value(cells.get((a, t)), "peak_minus_idle_mib")
            out[a][t] = None if t == "none" or base is None or v is None or base <= 0 else 100.0 * (base - v) / base
    return out


def describe_setup(records: list[dict]) -> dict:
    ok = [r for r in records if r.get("status") == "ok"]
    first = ok[0] if ok else records[0]
    keys = ("device_type", "batch_size", "steps", "resolution", "n_subframes")
    setup = {k: first.get(k) for k in keys}
    setup["device_name"] = ", ".join(sorted({str(r.get("device_name")) for r in ok})) or "n/a"
    setup["memory_label"] = ", ".join(sorted({str(r.get("memory_label")) for r in ok})) or "n/a"
    return setup


def caption(setup: dict) -> str:
    return (
        f"Table 4: peak memory during training (MiB, peak minus the idle reading before the model is built) and "
        f"median step time, batch {setup['batch_size']}, {setup['steps']} steps, "
        f"{setup['resolution']}x{setup['resolution']}, N = {setup['n_subframes']}; measured as "
        f"{setup['memory_label']}. The quoted block is the report's Table 4 "
        f"({TABLE4_SETUP}), copied, not measured here."
    )


def reduction_note(records: list[dict], cfg: Config) -> str:
    """One line per technique: how much it lowers each approach's measured peak, next to the report's."""
    red = reductions(records, cfg)
    lines = []
    for t in [t for t in TECHNIQUE_LABELS if t != "none" and any(t in v for v in red.values())]:
        parts = []
        for a, by_t in red.items():
            quoted = TABLE4_MIB.get(t, {}).get(a)
            ref = f" (report {100 * (1 - quoted / TABLE4_MIB['none'][a]):.1f}%)" if quoted else ""
            parts.append(f"{APPROACH_LABELS.get(a, a)} {_pct(by_t.get(t))}{ref}")
        lines.append(f"- {TECHNIQUE_LABELS[t]} lowers the measured peak vs None by: " + "; ".join(parts))
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def failure_notes(records: list[dict]) -> list[str]:
    return [f"- {r['approach']} / {r['technique']}: failed: {r.get('reason')}" for r in records if r["status"] != "ok"]


def write_table4(stem: Path, records: list[dict], cfg: Config) -> list[Path]:
    """Write ``stem.{csv,md,tex}``; failed cells are ``n/a`` with the reasons listed under the Markdown table."""
    header, rows = table_rows(records, cfg)
    text_caption = caption(describe_setup(records))
    shown = _formatted(rows)
    notes = failure_notes(records)
    md = f"{text_caption}\n\n" + to_markdown(header, shown) + "\n" + reduction_note(records, cfg) + "\n"
    md += "\nFailed cells:\n" + "\n".join(notes) + "\n" if notes else ""
    paths = [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]
    write_text(paths[0], to_csv(header, rows))
    write_text(paths[1], md)
    write_text(paths[2], to_latex(header, shown, text_caption))
    return paths


def plot_rows(records: list[dict], cfg: Config) -> list[list]:
    approaches, techniques, cells = grid(records, cfg)
    rows = []
    for a in approaches:
        for t in techniques:
            r = cells.get((a, t), {"status": "missing"})
            rows.append([a, t, APPROACH_LABELS.get(a, a), TECHNIQUE_LABELS.get(t, t), r["status"],
                         _value(r, "peak_minus_idle_mib"), _value(r, "max_allocated_mib"),
                         _value(r, "max_reserved_mib"), _value(r, "median_step_s"),
                         TABLE4_MIB.get(t, {}).get(a), r.get("device_name"), r.get("memory_label"), r.get("reason")])
    return rows


def metrics(records: list[dict], cfg: Config) -> dict:
    """``results/ablate/metrics/memory.json``: per-cell numbers, reductions vs ``none`` (%), setup, failures."""
    cells = {
        f"{r['approach']}/{r['technique']}": {
            "status": r["status"], "peak_mib": _value(r, "peak_minus_idle_mib"),
            "max_allocated_mib": _value(r, "max_allocated_mib"), "median_step_s": _value(r, "median_step_s"),
            "reason": r.get("reason"),
        }
        for r in records
    }
    failed = sum(r["status"] != "ok" for r in records)
    return {"setup": describe_setup(records), "cells": cells, "reduction_pct": reductions(records, cfg),
            "failed_cells": failed, "scale": cfg.scale}


def write_all(records: list[dict], cfg: Config, table: Path, plot_csv: Path, metrics_json: Path) -> None:
    """Table 4 (three formats), the plot CSV and the metrics JSON."""
    write_table4(table.with_suffix(""), records, cfg)
    write_text(plot_csv, to_csv(PLOT_COLUMNS, plot_rows(records, cfg)))
    write_json(metrics_json, metrics(records, cfg))
