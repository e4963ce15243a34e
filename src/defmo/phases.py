"""The pipeline's phases and what each one reads of the resolved configuration; the ``config`` verb.

A phase has one name everywhere: its params section (where it has one), package, CLI verb, Snakemake target,
DVC stage and results folder ``results/<phase>/``. :data:`READS` lists, per phase, the keys of the resolved
configuration its jobs read (a section, or ``section.key`` for part of one); ``report`` also reads the paper
scale's values (Table 2's report column). ``python -m defmo config --out results/config`` writes one file per
phase, ``results/config/<phase>.yaml``, holding exactly those values: the ``config`` DVC stage writes them
and every other stage takes its own file as its params, so a change to one value reruns the stages that read it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from defmo.config import add_paper_argument, paper_config
from defmo.settings import Config, as_dict
from defmo.utils.io import write_text
from defmo.utils.provenance import Output

log = logging.getLogger(__name__)

PHASES = ("data", "train", "evaluate", "ablate", "quality", "report")
RESULTS = Path("results")
# Keys of the resolved configuration each phase's jobs read (Snakemake's rule params list the same, per job).
READS: dict[str, tuple[str, ...]] = {
    "data": ("scale", "seed", "data", "benchmark_data", "evaluate.datasets"),
    "train": ("scale", "seed", "device", "data", "model", "train"),
    "evaluate": ("scale", "device", "evaluate"),
    "ablate": ("scale", "seed", "threads", "device", "model", "train", "ablate"),
    "quality": ("quality",),
    "report": ("scale", "device", "data", "model", "train", "evaluate"),
}
PAPER_READS = ("data", "model", "train")  # the report's values, for Table 2 (phase report)
HEADER = ("# What phase `{phase}` reads of the resolved configuration (python -m defmo config); DVC tracks this\n"
          "# file as the stage's params. Written by the pipeline: edit params.yaml, not this file.\n")


def _pick(cfg: dict, keys: tuple[str, ...]) -> dict:
    out: dict = {}
    for dotted in keys:
        head, _, rest = dotted.partition(".")
        if rest:
            out.setdefault(head, {})[rest] = cfg[head][rest]
        else:
            out[head] = cfg[head]
    return out


def views(cfg: Config | dict, paper: Config | dict | None = None) -> dict[str, dict]:
    """Per phase, the values of ``cfg`` it reads (:data:`READS`); ``report`` adds ``paper:`` (``paper`` or
    ``cfg``'s own values when the run is at the paper scale or none is given)."""
    plain = as_dict(cfg)
    out = {phase: _pick(plain, READS[phase]) for phase in PHASES}
    out["report"]["paper"] = _pick(as_dict(paper) if paper is not None else plain, PAPER_READS)
    return out


def write_views(cfg: Config | dict, paper: Config | dict | None, folder: str | Path) -> list[Path]:
    """Write ``folder/<phase>.yaml`` for every phase; a file whose content is unchanged is left untouched."""
    paths = []
    for phase, view in views(cfg, paper).items():
        path = Path(folder) / f"{phase}.yaml"
        text = HEADER.format(phase=phase) + yaml.safe_dump(view, sort_keys=False)
        if not path.is_file() or path.read_text() != text:
            write_text(path, text)
        paths.append(path)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=RESULTS / "config", help="folder for <phase>.yaml")
    add_paper_argument(parser)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """One file per phase (provenance records, written by defmo.cli)."""
    return [Output(args.out / f"{phase}.yaml", "parameters only", "n/a (parameters)") for phase in PHASES]


def run(args: argparse.Namespace, cfg: Config) -> int:
    paths = write_views(cfg, paper_config(args, cfg), args.out)
    log.info("config (scale %s): %s", cfg.scale, ", ".join(str(p) for p in paths))
    return 0
