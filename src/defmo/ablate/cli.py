"""``ablate`` verb: the memory ablation of report Table 4.

Modes (exactly one):

- ``--cell APPROACH:TECHNIQUE --out results/ablate/cells/<A>__<T>.json``: measure one cell in a fresh subprocess;
- ``--all --out-dir results/ablate/cells``: every cell of ``ablate.approaches x ablate.techniques``, each in
  its own fresh subprocess, one after the other;
- ``--table --inputs CELLS... --table-out results/ablate/tables/table4.csv --plot-csv results/ablate/plots/memory.csv
  --metrics results/ablate/metrics/memory.json``: assemble Table 4 (``.csv``, ``.md``, ``.tex`` side by side).

A cell that fails (out of memory, no NVML, a crash) is recorded as failed with its reason; the verb still
exits 0 so the table is built and shows the failure.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tqdm import tqdm

from defmo.errors import UserError
from defmo.ablate import runner
from defmo.settings import Config
from defmo.utils.provenance import Output, inherited, table_files

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cell", help="APPROACH:TECHNIQUE, e.g. proposed:gc+mp")
    mode.add_argument("--all", action="store_true", help="every cell of params ablation.*")
    mode.add_argument("--table", action="store_true", help="assemble Table 4 from --inputs")
    parser.add_argument("--output", "--out", dest="out", type=Path, help="--cell: the cell record (JSON)")
    parser.add_argument("--output-dir", "--out-dir", dest="out_dir", type=Path,
                        help="--all: folder for <approach>__<technique>.json")
    parser.add_argument("--inputs", nargs="*", type=Path, default=[], help="--table: cell records")
    parser.add_argument("--table-out", type=Path, help="--table: results/ablate/tables/table4.csv (.md/.tex beside)")
    parser.add_argument("--plot-csv", type=Path, help="--table: results/ablate/plots/memory.csv")
    parser.add_argument("--metrics", type=Path, help="--table: results/ablate/metrics/memory.json")


def _require(args: argparse.Namespace, mode: str, names: tuple[str, ...]) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]
    if missing:
        raise UserError(f"ablate {mode} needs {', '.join(missing)}")


def _run_all(cfg: Config, out_dir: Path) -> list[dict]:
    cells = runner.all_cells(cfg)
    records = []
    for approach, technique in tqdm(cells, desc="ablation cells"):
        records.append(runner.run_cell(cfg, approach, technique, out_dir / runner.cell_filename(approach, technique)))
    return records


def _run_table(args: argparse.Namespace, cfg: Config) -> None:
    from defmo.ablate.records import load_records
    from defmo.ablate.table import write_all

    _require(args, "--table", ("table_out", "plot_csv", "metrics"))
    if args.table_out.suffix != ".csv":
        raise UserError(f"--table-out {args.table_out}: give the .csv path; .md and .tex are written beside it")
    records = load_records(args.inputs)
    write_all(records, cfg, args.table_out, args.plot_csv, args.metrics)
    failed = [r for r in records if r["status"] != "ok"]
    log.info("Table 4 from %d cells (%d failed) -> %s", len(records), len(failed), args.table_out)


RANDOM_BATCHES = "synthetic random batches (uniform noise; content does not change memory)"


def _cell_device(path: Path) -> str | None:
    """The device a cell record names (its memory label names the device too); None: the run's device."""
    rec = json.loads(Path(path).read_text()) if Path(path).is_file() else {}
    return rec.get("memory_label") or rec.get("device_name")


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The cell records, or Table 4's files, plot CSV and metrics (device as the cells')."""
    if args.table:
        device = inherited(args.inputs, "device") or "n/a"
        paths = [*table_files(args.table_out), args.plot_csv, args.metrics]
        return [Output(p, RANDOM_BATCHES, device, tuple(args.inputs)) for p in paths]
    cells = [args.out] if args.cell else [args.out_dir / runner.cell_filename(*c) for c in runner.all_cells(cfg)]
    return [Output(p, RANDOM_BATCHES, _cell_device(p)) for p in cells]


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.cell:
        _require(args, "--cell", ("out",))
        approach, technique = runner.parse_cell(args.cell, cfg)
        runner.run_cell(cfg, approach, technique, args.out)
    elif args.all:
        _require(args, "--all", ("out_dir",))
        for text in runner.all_cells(cfg):
            runner.parse_cell(":".join(text), cfg)
        _run_all(cfg, args.out_dir)
    else:
        _run_table(args, cfg)
    return 0
