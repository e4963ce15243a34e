"""``tables`` verb: Table 2 (hyper-parameters) regenerated from the params actually used.

Columns: each trained approach (``train.approaches``; the report's two are ``defmo`` and ``proposed``) with
the ``paper`` scale's values (the report's Table 2), then, when the run's scale is another one and changes
anything, the same approaches at the run's scale. ``-`` marks a value that does not apply (a discriminator's
learning rate for an approach without that discriminator), as in the report.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from defmo.config import add_paper_argument, paper_config
from defmo.utils.table_io import write_table
from defmo.settings import LOSSES, Approach, Config
from defmo.utils.provenance import Output, table_files

log = logging.getLogger(__name__)

LABELS = {"defmo": "DeFMO (ours)", "proposed": "Proposed"}
NA = "-"

Getter = Callable[[Config, Approach], object]


def _loss(key: str) -> Getter:
    return lambda cfg, app: app.losses.get(key, NA)


def _loss_row(key: str, impl: bool = False) -> tuple[str, Getter]:
    """The row of loss ``key``'s weight, named from :data:`defmo.settings.LOSSES`."""
    name = LOSSES[key]
    label = f"impl.: {name}" if impl else name[0].upper() + name[1:]
    return f"{label} loss weight (alpha_{key})", _loss(key)


def _with(losses: str, getter: Getter) -> Getter:
    """``getter``'s value when the approach uses one of ``losses`` (letters; a discriminator's loss), else ``-``."""
    return lambda cfg, app: getter(cfg, app) if set(losses) & set(app.losses) else NA


def _train(key: str) -> Getter:
    return lambda cfg, app: getattr(cfg.train, key)


def _resolution(cfg: Config, app: Approach) -> str:
    r = cfg.data.resolution
    return f"{r}x{r}"


# (row label, value of one approach under one resolved config). The report's rows first, then this
# implementation's choices that the report fixes in its text (marked "impl.").
ROWS: list[tuple[str, Getter]] = [
    ("Epochs", lambda cfg, app: app.epochs),
    ("Batch size", lambda cfg, app: app.batch_size),
    ("Input resolution", _resolution),
    ("Number of sub-frames (N)", lambda cfg, app: cfg.data.n_subframes),
    ("Learning rate (main model)", _train("lr_g")),
    ("Learning rate (D_S)", _with("G", _train("lr_ds"))),
    ("Learning rate (D_T)", _with("N", _train("lr_dt"))),
    ("Learning rate decay rate (all schedulers)", _train("lr_gamma")),
    ("Learning rate decay step size (all schedulers)", _train("lr_step")),
    ("D_S steps per main model step", _with("G", _train("ds_steps"))),
    ("D_T steps per main model step", _with("N", _train("dt_steps"))),
    *(_loss_row(key) for key in "ITSLGN"),  # the report's loss weights
    *(_loss_row(key, impl=True) for key in "FC"),
    ("impl.: generator", lambda cfg, app: cfg.model.generator),
    ("impl.: appearance", lambda cfg, app: cfg.model.appearance if cfg.model.generator in ("streak", "object") else "-"),
    ("impl.: encoder", lambda cfg, app: cfg.model.encoder),
    ("impl.: encoder initialisation", lambda cfg, app: cfg.model.pretrained),
    ("impl.: discriminator backbone", _with("GN", lambda cfg, app: cfg.model.discriminator)),
    ("impl.: training samples", lambda cfg, app: cfg.data.train_samples),
    ("impl.: renders per sub-frame (continuous exposure)", lambda cfg, app: cfg.data.exposure_samples),
    ("impl.: gradient checkpointing", lambda cfg, app: cfg.train.gradient_checkpointing),
    ("impl.: mixed precision", lambda cfg, app: cfg.train.mixed_precision),
    ("impl.: image reconstruction loss region", _with("I", _train("loss_i_region"))),
]


def cell(value: object) -> str:
    """Table text of one value: floats in plain positional notation (``0.00001``, ``1.0``), booleans yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return np.format_float_positional(value, trim="0")
    return str(value)


def column(cfg: Config, approach: str) -> list[str]:
    """One approach's Table 2 values under the resolved ``cfg`` (one entry per :data:`ROWS`), as text."""
    app = cfg.approach(approach)
    return [cell(getter(cfg, app)) for _, getter in ROWS]


def table2(paper: Config, run: Config) -> tuple[list[str], list[list[object]]]:
    """Header and rows: the ``paper`` config's columns, plus ``run``'s when its scale differs and changes a value."""
    approaches = list(run.train.approaches)
    names = [LABELS.get(a, a) for a in approaches]
    columns = [column(paper, a) for a in approaches]
    header = ["Name", *names]
    extra = [column(run, a) for a in approaches]
    if run.scale != paper.scale and extra != columns:
        header += [f"{n} [{run.scale} scale, this run]" for n in names]
        columns += extra
    rows = [[label, *(col[i] for col in columns)] for i, (label, _) in enumerate(ROWS)]
    return header, rows


def caption_for(params: str, scale: str, extra: bool) -> str:
    """Caption saying which columns hold the report's values and which the run's scale."""
    if extra:
        which = f"unbracketed columns: the paper scale (the report's values); bracketed: the {scale} scale this run used"
    elif scale == "paper":
        which = "the paper scale (the report's values), which this run used"
    else:
        which = f"the {scale} scale this run used, identical to the paper scale (the report's values)"
    return (f"Table 2: hyper-parameters from {params}; {which}. '-': not applicable; 'impl.' rows: choices of this "
            "implementation the report states in its text.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table2", type=Path, required=True, help="output stem of Table 2 (writes .csv/.md/.tex)")
    add_paper_argument(parser)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """Table 2's three files."""
    data = "parameters only (the run's resolved params and the paper scale's)"
    return [Output(p, data, "n/a (parameters only)") for p in table_files(args.table2)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    paper = paper_config(args, cfg)
    header, rows = table2(paper, cfg)
    caption = caption_for(args.params, cfg.scale, extra=len(header) > 1 + len(cfg.train.approaches))
    paths = write_table(args.table2.with_suffix(""), header, rows, caption)
    log.info("Table 2 (%d approaches, scale %s) -> %s", len(cfg.train.approaches), cfg.scale, paths[1])
    return 0
