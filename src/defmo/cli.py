"""Command line: one verb per pipeline step, ``defmo [--params P] [--scale S] <verb> ...`` (or ``python -m
defmo``; the shared options may also follow the verb).

Snakemake's rules call ``python -m defmo --config-file results/config/<scale>-<hash>.yaml <verb> ...``: the
configuration it resolved once for the run (params.yaml, the scale, then ``--configfile``/``--config``), used
as is.

Each verb lives in its own module exposing ``add_arguments(parser)`` and ``run(args, cfg) -> int``;
they are imported lazily so ``--help`` and config errors stay fast. Config problems are reported before
any work starts, naming the key. A module that also defines ``outputs(args, cfg)`` (each output path with a
line on the data it was computed from) gets those outputs' provenance recorded after ``run`` returned 0
(:mod:`defmo.utils.provenance`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from defmo.config import ConfigError, load, load_resolved
from defmo.settings import Config
from defmo.errors import UserError

# verb -> (module, one-line help). A pipeline phase's verb is the phase's name (its package, params section,
# Snakemake target, DVC stage and results/<phase>/ folder); validate, deblur, figures and throughput-* are
# tools.
VERBS = {
    "config": ("defmo.phases", "write what each phase reads of the resolved configuration (results/config/)"),
    "data": ("defmo.data.cli", "render a synthetic split, or an embedded benchmark dataset in the FMO layout"),
    "train": ("defmo.train.cli", "train one approach (resumable)"),
    "validate": ("defmo.train.validate", "score a checkpoint on a validation split (PSNR, shape metrics)"),
    "evaluate": ("defmo.evaluate.cli", "evaluate one method on one benchmark dataset, or aggregate Table 3"),
    "ablate": ("defmo.ablate.cli", "memory ablation: one cell or the whole table (Table 4)"),
    "quality": ("defmo.quality.measure", "Radon code-quality table (Table 5)"),
    "table2": ("defmo.report.tables", "Table 2 from the params used"),
    "report": ("defmo.report.report", "assemble results/report/report.md"),
    "seeds": ("defmo.seeds.cli", "seed study: score one run, or the table of mean, std and paired intervals"),
    "figures": ("defmo.figures", "figures: samples, curves, benchmark, memory bars"),
    "deblur": ("defmo.evaluate.deblur", "deblur your own image+background or video"),
    "footage": ("defmo.evaluate.footage", "the real-footage table from deblur's --metrics JSONs"),
    "throughput-render": ("defmo.data.throughput", "measure rendering throughput, write results/throughput/"),
    "throughput-deblur": ("defmo.evaluate.throughput", "measure deblur's frames per second on the real clips"),
    "throughput-train": ("defmo.train.throughput", "measure training throughput and memory, write results/throughput/"),
}


def _add_global_options(parser: argparse.ArgumentParser, verb_level: bool = False) -> None:
    """The options every verb shares. Given again after the verb (``defmo train --scale tiny ...``) they
    override the ones before it: at the verb level their defaults are suppressed, so an option left out there
    keeps the value given (or defaulted) before the verb."""
    def default(value):
        return argparse.SUPPRESS if verb_level else value

    parser.add_argument("--params", default=default("params.yaml"), help="params file (default: params.yaml)")
    parser.add_argument("--scale", default=default(None), help="override params.yaml's `scale` (cpu, paper, tiny)")
    parser.add_argument(
        "--config-file", default=default(None), metavar="YAML",
        help="a resolved configuration, used as is instead of --params/--scale (Snakemake writes one per run "
             "under results/config/)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=default([]), metavar="KEY=VALUE",
        help="override one param, e.g. --set train.lr_g=0.0005 (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False), help="debug logging")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="defmo", description=__doc__.splitlines()[0])
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (module, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text)
        p.set_defaults(_module=module)
        p.add_argument("--log", default=None, help="also write the log to this file")
        _add_global_options(p.add_argument_group("options shared by every verb (also accepted before it)"),
                            verb_level=True)
        _add_verb_arguments(p, module, verb, _requested_verb(argv))
    return parser


def _requested_verb(argv: list[str]) -> str | None:
    return next((a for a in argv if a in VERBS), None)


def _add_verb_arguments(parser: argparse.ArgumentParser, module: str, verb: str, requested: str | None) -> None:
    # Only the verb asked for is imported (keeps `--help`, config errors and other verbs fast).
    if verb == requested:
        importlib.import_module(module).add_arguments(parser)


class TqdmHandler(logging.StreamHandler):
    """Writes each record above any progress bar (``tqdm.write``), so log lines and warnings never break one."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)


def setup_logging(path: str | None, verbose: bool) -> None:
    """Our loggers at INFO (DEBUG with ``-v``), third-party ones at WARNING; Python warnings logged too; on the
    terminal above the progress bars, and in ``path`` when given."""
    handlers: list[logging.Handler] = [TqdmHandler()]
    if path:
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    logging.getLogger("defmo").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(False)  # re-installed even where an earlier call in this process installed it
    logging.captureWarnings(True)


def params_file(args: argparse.Namespace) -> Path:
    """``--params``; when it is the default and the current folder has none, the ``params.yaml`` of the
    repository a ``--checkpoint`` lies in (so ``deblur`` runs from any folder)."""
    path = Path(args.params)
    checkpoint = getattr(args, "checkpoint", None)
    if path.is_file() or args.params != "params.yaml" or checkpoint is None:
        return path
    for folder in Path(checkpoint).resolve().parents:
        if (folder / "params.yaml").is_file():
            return folder / "params.yaml"
    return path


def load_config(args: argparse.Namespace) -> Config:
    """``--config-file`` as is (with ``--set``), else ``--params`` resolved at ``--scale`` (with ``--set``): the
    typed configuration every verb's ``run(args, cfg)`` receives, validated and built once here."""
    if args.config_file is None:
        return load(params_file(args), args.scale, args.overrides)
    if args.scale is not None:
        raise ConfigError(f"--scale {args.scale}: --config-file {args.config_file} is already resolved at its scale; "
                          "pass one of them")
    return load_resolved(args.config_file, args.overrides)


def record_outputs(module, args: argparse.Namespace, cfg: Config) -> None:
    """After a verb succeeded: record the provenance of each output its module's ``outputs(args, cfg)`` names."""
    outputs = getattr(module, "outputs", None)
    if outputs is not None:
        from defmo.utils import provenance

        provenance.record_outputs(outputs(args, cfg), cfg)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    setup_logging(args.log, args.verbose)
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    try:
        code = int(module.run(args, cfg) or 0)
        if code == 0:
            record_outputs(module, args, cfg)
        return code
    except UserError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
