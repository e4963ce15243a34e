"""The pipeline's phases and what each one reads of the resolved configuration; the ``config`` verb.

A phase has one name everywhere: its params section (where it has one), package, CLI verb, Snakemake target,
DVC stage and results folder ``results/<phase>/``. :data:`READS` lists, per phase, the keys of the resolved
configuration its jobs read (a section, or ``section.key`` for part of one); ``report`` also reads the paper
scale's values (Table 2's report column). ``python -m defmo config --out results/config`` writes one file per
phase, ``results/config/<phase>.yaml``, holding exactly those values: the *record* of the values the phase's
results were made with. DVC takes each stage's params from its record, so a change to one value reruns the
stages that read it.

Snakemake goes one level finer: :data:`RULE_READS` says what each rule reads of its phase's values, and
:func:`sync_reads` (called by ``workflow/rules/common.smk`` when it resolves the run) writes one small file per
rule, ``results/config/run/reads/<rule>.yaml``, that the rule takes as an input. Its content is compared with
the record, so its modification time can tell Snakemake, without any metadata of an earlier run (a fresh
clone), whether the rule's results are current (see :func:`sync_reads`).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import fields
from pathlib import Path

import yaml

from defmo.config import add_paper_argument, paper_config
from defmo.settings import Config, Evaluate, Train, as_dict
from defmo.utils.io import write_text
from defmo.utils.provenance import Output

log = logging.getLogger(__name__)

PHASES = ("data", "train", "evaluate", "ablate", "quality", "report", "seeds")
RESULTS = Path("results")
# Phases outside the default run (`all`), each run by its own target. Such a study keeps a copy of its record,
# results/<phase>/config/<phase>.yaml, written by its last job once its results are complete, and its rules compare
# their values with that copy, not with results/config/<phase>.yaml: `all` and `config` rewrite the latter without
# running the study, which must not mark the study's committed results as made with the new values.
STUDIES = ("seeds",)
# What the seed study's evaluation reads of the benchmark's settings (not the methods, windows or figures).
_SEED_EVAL = ("datasets", "background_window", "oversample", "composite", "max_frames")
# The benchmark's values: all of ``evaluate`` but the detector and the real-footage fit, which only ``deblur`` reads
_BENCHMARK = tuple(f"evaluate.{f.name}" for f in fields(Evaluate) if f.name not in ("detect", "footage", "real_clips"))
# What deblur reads on the real clips: the detector, the fit's options, and how sub-frames are rendered.
_FOOTAGE = ("real_examples", "real_clips", "detect", "footage", "oversample", "composite")
# Keys of the resolved configuration each phase's jobs read (RULE_READS below splits them by rule).
READS: dict[str, tuple[str, ...]] = {
    "data": ("scale", "seed", "data", "benchmark_data", "evaluate.datasets"),
    "train": ("scale", "seed", "device", "data", "model", "train"),
    "evaluate": ("scale", "device", "evaluate", "model.fit_steps"),
    "ablate": ("scale", "seed", "threads", "device", "model", "train", "ablate"),
    "quality": ("quality",),
    "report": ("scale", "device", "data", "model", "train", *_BENCHMARK),
    "seeds": ("scale", "seed", "device", "data", "model", "train", *(f"evaluate.{k}" for k in _SEED_EVAL), "seeds"),
}
PAPER_READS = ("data", "model", "train")  # the report's values, for Table 2 (phase report)
HEADER = ("# What phase `{phase}` reads of the resolved configuration (python -m defmo config); DVC tracks this\n"
          "# file as the stage's params. Written by the pipeline: edit params.yaml, not this file.\n")

# What each Snakemake rule's jobs read: its phase, and keys of that phase's record (``paper`` in report's is the
# paper scale's values). ``{approach}`` stands for the job's approach wildcard: one reader per approach.
_DATA_SOURCES = ("meshes", "textures", "backgrounds", "val_meshes", "val_backgrounds", "val_fraction")
_TRAIN_SHARED = tuple(f"train.{f.name}" for f in fields(Train) if f.name not in ("approach", "approaches"))
RULE_READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "render": ("data", ("scale", "seed", "data")),
    "render_benchmark": ("data", ("scale", "seed", "benchmark_data", "data.exposure_samples",
                                  *(f"data.{k}" for k in _DATA_SOURCES))),
    "figure_samples": ("data", ("scale", "data")),
    "train_approach": ("train", ("scale", "seed", "device", "data", "model", *_TRAIN_SHARED,
                                 "train.approach.{approach}")),
    "figure_curves": ("train", ("scale", "train.approaches")),
    "evaluate_method": ("evaluate", ("scale", "device", *_BENCHMARK, "model.fit_steps")),
    "evaluate_quoted": ("evaluate", ("scale", *_BENCHMARK)),
    "table3": ("evaluate", ("scale", *_BENCHMARK, "model.fit_steps")),
    "figure_benchmark": ("evaluate", ("scale", *_BENCHMARK, "model.fit_steps")),
    "deblur_real": ("evaluate", ("scale", "device", "evaluate")),
    "deblur_footage": ("evaluate", ("scale", "device", *(f"evaluate.{k}" for k in _FOOTAGE), "model.fit_steps")),
    "footage_table": ("evaluate", ("scale", "evaluate.real_clips")),
    "footage_figure": ("evaluate", ("scale",)),
    "ablate_cell": ("ablate", ("scale", "seed", "threads", "device", "model", "train", "ablate")),
    "table4": ("ablate", ("scale", "ablate")),
    "figure_memory": ("ablate", ("scale", "ablate")),
    "quality_radon": ("quality", ("quality",)),
    "table2": ("report", ("scale", "data", "model", "train", "paper")),
    "report_md": ("report", ("scale", "device", "data", *_BENCHMARK, "train", "paper")),
    "seed_train": ("seeds", ("scale", "device", "data", "model", *_TRAIN_SHARED, "train.approach.{approach}",
                             "seeds.steps")),
    "seed_evaluate": ("seeds", ("scale", "device", *(f"evaluate.{k}" for k in _SEED_EVAL))),
    "seeds_table": ("seeds", ("scale", "seeds")),
    "seeds_record": ("seeds", READS["seeds"]),
}
# The time given to a reads file whose values are the recorded ones: older than any result.
RECORDED_MTIME = 0


def pick(cfg: dict, keys: tuple[str, ...]) -> dict:
    """The values of ``cfg`` at ``keys`` (``a``, ``a.b``, ``a.b.c``), nested as in ``cfg``; KeyError if one is absent."""
    out: dict = {}
    for dotted in keys:
        *heads, last = dotted.split(".")
        src, dst = cfg, out
        for head in heads:
            src, dst = src[head], dst.setdefault(head, {})
        dst[last] = src[last]
    return out


def record_keys(phase: str) -> tuple[str, ...]:
    """The top-level keys of phase ``phase``'s record."""
    return READS[phase] + (("paper",) if phase == "report" else ())


def views(cfg: Config | dict, paper: Config | dict | None = None) -> dict[str, dict]:
    """Per phase, the values of ``cfg`` it reads (:data:`READS`); ``report`` adds ``paper:`` (``paper`` or
    ``cfg``'s own values when the run is at the paper scale or none is given)."""
    plain = as_dict(cfg)
    out = {phase: pick(plain, READS[phase]) for phase in PHASES}
    out["report"]["paper"] = pick(as_dict(paper) if paper is not None else plain, PAPER_READS)
    return out


def write_views(cfg: Config | dict, paper: Config | dict | None, folder: str | Path,
                phases: tuple[str, ...] = PHASES) -> list[Path]:
    """Write ``folder/<phase>.yaml`` for each of ``phases``; a file whose content is unchanged is left untouched."""
    paths = []
    for phase, view in views(cfg, paper).items():
        if phase not in phases:
            continue
        path = Path(folder) / f"{phase}.yaml"
        text = HEADER.format(phase=phase) + yaml.safe_dump(view, sort_keys=False)
        if not path.is_file() or path.read_text() != text:
            write_text(path, text)
        paths.append(path)
    return paths


# --- Snakemake: one reads file per rule, compared by content with its phase's record ---


def readers(cfg: Config | dict) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every reader, named as its reads file: each rule of :data:`RULE_READS` (``train_approach-<approach>`` per
    approach of ``train.approach``), and ``config-<phase>`` (the job writing the phase's record: all of it)."""
    out = {f"config-{phase}": (phase, record_keys(phase)) for phase in PHASES}
    approaches = as_dict(cfg)["train"]["approach"]
    for rule, (phase, keys) in RULE_READS.items():
        if not any("{approach}" in key for key in keys):
            out[rule] = (phase, keys)
            continue
        for name in approaches:
            out[f"{rule}-{name}"] = (phase, tuple(key.format(approach=name) for key in keys))
    return out


def record_folder(reader: str, phase: str, records: str | Path = RESULTS / "config") -> Path:
    """The folder of the record ``reader`` is compared with: ``records`` (results/config/), or for a study's
    rules (:data:`STUDIES`; not its ``config-<phase>`` job) the study's own copy beside it, results/<phase>/config/."""
    records = Path(records)
    if phase in STUDIES and not reader.startswith("config-"):
        return records.parent / phase / "config"
    return records


def _recorded(folder: Path, phase: str) -> dict | None:
    """Phase ``phase``'s record (its values), or None where there is none or it cannot be read."""
    try:
        return yaml.safe_load((folder / f"{phase}.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None


def _same(recorded: dict | None, keys: tuple[str, ...], values: dict) -> bool:
    try:
        return recorded is not None and pick(recorded, keys) == values
    except (KeyError, TypeError):
        return False


def _sync(path: Path, text: str, recorded: bool) -> None:
    """Write ``text`` to ``path`` when it differs, and give the file its time (see :func:`sync_reads`)."""
    changed = not path.is_file() or path.read_text() != text
    if changed:
        write_text(path, text)
    if not recorded:
        os.utime(path)
    elif changed:
        os.utime(path, (RECORDED_MTIME, RECORDED_MTIME))


def sync_reads(cfg: Config | dict, paper: Config | dict | None, folder: str | Path,
               records: str | Path = RESULTS / "config") -> dict[str, dict]:
    """Write each reader's values (:func:`readers`) to ``folder/<reader>.yaml``; return reader -> values.

    A reads file's modification time is what Snakemake compares with the results of the rule that takes it:
    - values that differ from the phase's record (``records/<phase>.yaml``; a study's copy for its rules,
      :func:`record_folder`): the time now, at every call, so the
      rule's results are older and rerun (and the ``config-<phase>`` reader, the job that rewrites the record);
    - values equal to the record, in a file that did not hold them (a fresh clone, after another branch or a
      dry run with other values): :data:`RECORDED_MTIME`, older than any result, whatever order a checkout
      gave the files;
    - values unchanged since the last call: the file is left alone, so a record rewritten by an earlier
      run (``dvc repro``'s ``config`` stage) still reruns the rules that read a changed value.
    """
    folder, records = Path(folder), Path(records)
    now = views(cfg, paper)
    record: dict[Path, dict | None] = {}
    out = {}
    for reader, (phase, keys) in readers(cfg).items():
        values = pick(now[phase], keys)
        where = record_folder(reader, phase, records) / f"{phase}.yaml"
        if where not in record:
            record[where] = _recorded(where.parent, phase)
        text = f"# What `{reader}` reads of this run's values (workflow/rules/common.smk); do not edit.\n"
        _sync(folder / f"{reader}.yaml", text + yaml.safe_dump(values, sort_keys=False),
              _same(record[where], keys, values))
        out[reader] = values
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", "--out", dest="out", type=Path, default=RESULTS / "config",
                        help="folder for <phase>.yaml")
    parser.add_argument("--phase", choices=PHASES, action="append", default=None,
                        help="write only this phase's file (repeatable; default: every phase)")
    add_paper_argument(parser)


def _phases(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(args.phase) if getattr(args, "phase", None) else PHASES


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """One file per phase written (provenance records, written by defmo.cli)."""
    return [Output(args.out / f"{phase}.yaml", "parameters only", "n/a (parameters)") for phase in _phases(args)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    paths = write_views(cfg, paper_config(args, cfg), args.out, _phases(args))
    log.info("config (scale %s): %s", cfg.scale, ", ".join(str(p) for p in paths))
    return 0
