"""Table 4 from the cell records (``results/ablate/tables/table4.{csv,md,tex}``), and beside it the plot CSV and
the metrics (:mod:`defmo.ablate.records` reads and arranges the records).

Table 4 is laid out as in the report: techniques (rows) x approaches (columns), peak memory in MiB, then a
second block with the median step time and a third with the report's own numbers, marked as quoted.
"""

from __future__ import annotations

from pathlib import Path

from defmo.ablate.records import (APPROACH_LABELS, PLOT_COLUMNS, TECHNIQUE_LABELS, describe_setup, grid, metrics,
                                  plot_rows, reductions, value)
from defmo.quoted import TABLE4_MIB, TABLE4_SETUP
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.table_io import to_csv, to_latex, to_markdown


def table_rows(records: list[dict], cfg: Config) -> tuple[list[str], list[list]]:
    """Header and rows of Table 4: measured MiB, measured median step time (s), quoted MiB."""
    approaches, techniques, cells = grid(records, cfg)
    header = ["block", "technique"] + [APPROACH_LABELS.get(a, a) for a in approaches]
    rows = []
    for block, key in (("peak memory MiB (measured)", "peak_minus_idle_mib"), ("median step s (measured)", "median_step_s")):
        for t in techniques:
            rows.append([block, TECHNIQUE_LABELS.get(t, t)] + [value(cells.get((a, t)), key) for a in approaches])
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


def _with_ranges(shown: list[list], records: list[dict], cfg: Config) -> list[list]:
    """``shown`` with each measured peak followed by its range over the cell's repeats, ``664 [650, 680]``."""
    approaches, techniques, cells = grid(records, cfg)
    out = [list(row) for row in shown]
    for i, t in enumerate(techniques):  # the measured memory block comes first, one row per technique
        for j, a in enumerate(approaches):
            peaks = (cells.get((a, t)) or {}).get("repeat_peak_minus_idle_mib") or []
            if len(peaks) > 1 and out[i][2 + j] is not None:
                out[i][2 + j] = f"{out[i][2 + j]} [{min(peaks):.0f}, {max(peaks):.0f}]"
    return out


def caption(setup: dict) -> str:
    return (
        f"Table 4: peak memory during training (MiB, peak minus the idle reading before the model is built) and "
        f"median step time, batch {setup['batch_size']}, {setup['steps']} steps, "
        f"{setup['resolution']}x{setup['resolution']}, N = {setup['n_subframes']}; measured as "
        f"{setup['memory_label']}; {_repeats_text(setup)}. The quoted block is the report's Table 4 "
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


def _repeats_text(setup: dict) -> str:
    n = setup.get("repeats") or 1
    if n == 1:
        return "one fresh process per cell"
    return f"median of {n} fresh processes per cell, their range in brackets"


def _pct(pct: float | None) -> str:
    return "n/a" if pct is None else f"{pct:.1f}%"


def failure_notes(records: list[dict]) -> list[str]:
    return [f"- {r['approach']} / {r['technique']}: failed: {r.get('reason')}" for r in records if r["status"] != "ok"]


def write_table4(stem: Path, records: list[dict], cfg: Config) -> list[Path]:
    """Write ``stem.{csv,md,tex}``; failed cells are ``n/a`` with the reasons listed under the Markdown table."""
    header, rows = table_rows(records, cfg)
    text_caption = caption(describe_setup(records))
    shown = _with_ranges(_formatted(rows), records, cfg)
    notes = failure_notes(records)
    md = f"{text_caption}\n\n" + to_markdown(header, shown) + "\n" + reduction_note(records, cfg) + "\n"
    md += "\nFailed cells:\n" + "\n".join(notes) + "\n" if notes else ""
    paths = [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]
    write_text(paths[0], to_csv(header, rows))
    write_text(paths[1], md)
    write_text(paths[2], to_latex(header, shown, text_caption))
    return paths


def write_all(records: list[dict], cfg: Config, table: Path, plot_csv: Path, metrics_json: Path) -> None:
    """Table 4 (three formats), the plot CSV and the metrics JSON."""
    write_table4(table.with_suffix(""), records, cfg)
    write_text(plot_csv, to_csv(PLOT_COLUMNS, plot_rows(records, cfg)))
    write_json(metrics_json, metrics(records, cfg))
