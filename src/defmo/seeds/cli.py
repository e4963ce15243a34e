"""``seeds`` verb: score one run of the seed study, or summarize the study.

    python -m defmo seeds --approach defmo --seed 1 --checkpoint results/seeds/checkpoints/defmo/seed1/final.pt \\
        --train-metrics results/seeds/train/defmo/seed1.json --val data/synthetic/val \\
        --dataset tbd=data/benchmark/tbd ... --output results/seeds/metrics/defmo/seed1.json \\
        --frames results/seeds/plots/defmo/seed1.csv
    python -m defmo seeds --summarize --runs <metrics JSONs> --frames <frames CSVs> \\
        --table results/seeds/tables/seeds --summary results/seeds/metrics/summary.json \\
        --figure results/seeds/figures/seeds.png
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from defmo.errors import UserError
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, digest_label, inherited, table_files
from defmo.utils.runtime import configure_threads

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summarize", action="store_true", help="write the seed table from --runs and --frames")
    parser.add_argument("--approach", help="the run's approach (a key of train.approach)")
    parser.add_argument("--seed", type=int, help="the run's seed")
    parser.add_argument("--checkpoint", type=Path, help="the run's final.pt")
    parser.add_argument("--train-metrics", type=Path, help="the run's training metrics JSON (steps, seconds)")
    parser.add_argument("--val", type=Path, help="validation split folder")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=ROOT",
                        help="a benchmark dataset and its root in the FMO layout (repeatable)")
    parser.add_argument("--output", type=Path, help="the run's metrics JSON")
    parser.add_argument("--runs", nargs="*", type=Path, default=[], help="runs' metrics JSONs (with --summarize)")
    parser.add_argument("--frames", nargs="*", type=Path, default=[],
                        help="the run's frames CSV; with --summarize the runs' (in the order of --runs)")
    parser.add_argument("--table", type=Path, help="seed table stem (with --summarize)")
    parser.add_argument("--summary", type=Path, help="summary JSON (with --summarize)")
    parser.add_argument("--figure", type=Path, help="figure PNG (with --summarize)")


def _datasets(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, root = item.partition("=")
        if not sep or not name or not root:
            raise UserError(f"seeds --dataset '{item}': use NAME=ROOT, e.g. tbd=data/benchmark/tbd")
        out[name] = Path(root)
    return out


def _check(args: argparse.Namespace, keys: tuple[str, ...]) -> None:
    for key in keys:
        if getattr(args, key) in (None, []):
            raise UserError(f"seeds: --{key.replace('_', '-')} is required here")


def score(args: argparse.Namespace, cfg: Config) -> int:
    _check(args, ("approach", "seed", "checkpoint", "train_metrics", "val", "output", "frames"))
    if len(args.frames) != 1:
        raise UserError("seeds: a run writes one --frames CSV")
    for path, flag in ((args.checkpoint, "--checkpoint"), (args.train_metrics, "--train-metrics")):
        if not path.is_file():
            raise UserError(f"seeds {flag} {path}: not found; train the run first (snakemake --cores all seeds)")
    if not (args.val / "manifest.json").is_file():
        raise UserError(f"seeds --val {args.val}: no manifest.json; render the split first (snakemake data)")
    from defmo.seeds.runs import score_run

    trained = json.loads(args.train_metrics.read_text())
    text, scores = score_run(args.checkpoint, args.val, _datasets(args.dataset), cfg)
    write_text(args.frames[0], text)
    write_json(args.output, {"approach": args.approach, "seed": args.seed, "steps": trained["steps"],
                             "train_seconds": trained["train_seconds"], "scores": scores})
    return 0


def summarize(args: argparse.Namespace, cfg: Config) -> int:
    _check(args, ("runs", "frames", "table", "summary", "figure"))
    from defmo.seeds.table import write_study

    write_study(args.runs, args.frames, args.table, args.summary, args.figure, cfg)
    return 0


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """A run's JSON and frames CSV (from its checkpoint), or the study's table, summary and figure."""
    if args.summarize:
        device, data = inherited(args.runs, "device") or "n/a", inherited(args.runs, "data") or "not recorded"
        paths = [*table_files(args.table), args.table.with_name(args.table.name + "_verdicts.md"), args.summary,
                 args.figure]
        return [Output(p, data, device, tuple(args.runs)) for p in paths]
    data = f"validation shards {digest_label(args.val)}; benchmark {', '.join(args.dataset)}; " \
           f"model {digest_label(args.checkpoint)}"
    return [Output(p, data) for p in (args.output, *args.frames)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    return summarize(args, cfg) if args.summarize else score(args, cfg)
