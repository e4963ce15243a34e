"""``report`` verb: assemble ``results/report/report.md`` from every table, metric and figure of the pipeline.

Each table and figure comes with its provenance (scale, device, git commit, date the input was written, and
whether its data is the embedded synthetic default or real data) and a short reading computed from the
numbers (best method per dataset, whether trained models clear the Image baseline, memory reductions in %,
the code-quality bar), never canned text.

Inputs (all explicit CLI arguments): ``table{2,3,4,5}.md``, ``results/evaluate/metrics/<dataset>/<method>.json``
(evaluation records: ``dataset, method, tiou (None = no trajectory), psnr, ssim, quoted, device,
data_source``), ``memory.json`` (``setup, cells, reduction_pct``), ``quality.json``, ``val_<approach>.json``
(``psnr.{model,image,background}, beats_baselines, margin_db, steps, device``), the figures' PNGs and
optional performance notes (``results/throughput/*.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
from importlib import resources
from pathlib import Path

from defmo.errors import UserError
from defmo.report.readings import (
    dataset_sentence,
    reading_table2,
    reading_table3,
    reading_table4,
    reading_table5,
    reading_training,
)
from defmo.config import add_paper_argument, paper_config
from defmo.settings import Config
from defmo.utils.io import write_text
from defmo.utils.runtime import resolve_device

log = logging.getLogger(__name__)

# Figure captions: one reStructuredText file per figure stem, also the caption of Snakemake's report.
CAPTIONS = resources.files("defmo.report") / "captions"


def figure_caption(stem: str) -> str:
    """The caption of the figure ``stem`` (``captions/<stem>.rst``) as one Markdown line; without a caption
    file, the stem in words."""
    path = CAPTIONS / f"{stem}.rst"
    if not path.is_file():
        return stem.replace("_", " ")
    return " ".join(path.read_text().split()).replace("``", "`")


# ---------------------------------------------------------------- provenance


def git_commit(cwd: Path) -> str:
    """Short HEAD commit, with ``+uncommitted changes`` when tracked files differ; ``unknown`` outside git."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short=10", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes" if dirty else "")


def file_date(path: Path) -> str:
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def data_kind(source: str) -> str:
    return "embedded synthetic" if source == "embedded" else f"real ({source})"


def training_data(cfg: Config) -> str:
    """Where the training data came from: embedded synthetic, or the real folders params name."""
    keys = ("meshes", "textures", "backgrounds")
    real = [f"{k}: {getattr(cfg.data, k)}" for k in keys if getattr(cfg.data, k) != "embedded"]
    return "embedded synthetic (rendered here)" if not real else "rendered from " + ", ".join(real)


def benchmark_data(cfg: Config) -> str:
    return ", ".join(f"{ds}: {data_kind(src)}" for ds, src in cfg.evaluate.datasets.items())


class Context:
    """What every section needs: the resolved config, the commit and the device of this report run."""

    def __init__(self, cfg: Config, commit: str, out_dir: Path):
        self.cfg = cfg
        self.commit = commit
        self.out_dir = out_dir
        device = resolve_device(cfg)
        self.device = f"{device.type} (device: {cfg.device})"

    def provenance(self, path: Path, device: str, data: str) -> str:
        return (f"*Provenance: scale `{self.cfg.scale}`; device {device}; commit `{self.commit}`; "
                f"written {file_date(path)}; data: {data}; file `{self.rel(path)}`.*")

    def rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.out_dir)).as_posix()


# ---------------------------------------------------------------- readers


def read_json(path: Path, producer: str) -> dict:
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read this JSON ({exc}); rerun `{producer}` to rewrite it") from exc
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object; rerun `{producer}`")
    return obj


def eval_records(paths: list[Path]) -> list[dict]:
    """Evaluation records; dataset and method default to the ``<dataset>/<method>.json`` path."""
    records = []
    for path in paths:
        rec = read_json(path, "evaluate")
        rec.setdefault("dataset", Path(path).parent.name)
        rec.setdefault("method", Path(path).stem)
        records.append(rec)
    return records


# ---------------------------------------------------------------- sections


def _table_text(path: Path) -> str:
    return Path(path).read_text().strip() + "\n"


def section_table2(ctx: Context, args: argparse.Namespace) -> list[str]:
    paper = paper_config(args, ctx.cfg)
    return ["## Table 2: hyper-parameters", "", _table_text(args.table2),
            ctx.provenance(args.table2, "n/a (parameters)", training_data(ctx.cfg)), "",
            reading_table2(paper, ctx.cfg), ""]


def _devices(records: list[dict]) -> str:
    found = sorted({str(r["device"]) for r in records if r.get("device") not in (None, "none") and not r.get("quoted")})
    return ", ".join(found) or "n/a"


def section_table3(ctx: Context, args: argparse.Namespace, records: list[dict]) -> list[str]:
    return ["## Table 3: FMO deblurring benchmark", "", _table_text(args.table3),
            ctx.provenance(args.table3, _devices(records), benchmark_data(ctx.cfg)), "",
            reading_table3(records, ctx.cfg), ""]


def memory_device(memory: dict) -> str:
    setup = memory.get("setup", {})
    return f"{setup.get('device_name', 'n/a')} (memory as {setup.get('memory_label', 'n/a')})"


def section_table4(ctx: Context, args: argparse.Namespace, memory: dict) -> list[str]:
    return ["## Table 4: memory ablation", "", _table_text(args.table4),
            ctx.provenance(args.table4, memory_device(memory), "synthetic training batches"), "",
            reading_table4(memory), ""]


def section_table5(ctx: Context, args: argparse.Namespace, quality: dict) -> list[str]:
    lines = ["## Table 5: code quality", "", _table_text(args.table5),
             ctx.provenance(args.table5, "n/a (static analysis with Radon)", "this repository's source code"), "",
             reading_table5(quality), ""]
    for path in args.quality_details:
        lines += [_table_text(path)]
    return lines


def section_training(ctx: Context, args: argparse.Namespace, vals: dict[str, dict]) -> list[str]:
    devices = ", ".join(sorted({str(v.get("device", "n/a")) for v in vals.values()})) or "n/a"
    newest = max(args.val_metrics, key=lambda p: p.stat().st_mtime) if args.val_metrics else None
    lines = ["## Training: validation on the synthetic set", ""]
    if newest is not None:
        lines += [ctx.provenance(newest, devices, training_data(ctx.cfg)), ""]
    return lines + [reading_training(vals), ""]


def figure_info(stem: str, ctx: Context, facts: dict) -> tuple[str, str, str]:
    """(caption, device, data) of the figure with file stem ``stem``."""
    if stem.startswith("benchmark_"):
        dataset = stem[len("benchmark_"):]
        source = ctx.cfg.evaluate.datasets.get(dataset, "embedded")
        return (f"{figure_caption('benchmark')} Dataset: {dataset}.", facts["eval_devices"].get(dataset, "n/a"),
                data_kind(source))
    table = {
        "samples_synthetic": ("n/a (rendering)", training_data(ctx.cfg)),
        "training_curves": (facts["train_devices"], training_data(ctx.cfg)),
        "memory": (facts["memory_device"], "synthetic training batches"),
        "deblur_real": (ctx.device, "real (DeFMO's published example frame)"),
    }
    device, data = table.get(stem, ("n/a", "see the producing rule"))
    return figure_caption(stem), device, data


def figure_reading(stem: str, ctx: Context, data: dict) -> str:
    """What the numbers behind the figure ``stem`` say (from the same inputs as the tables)."""
    if stem.startswith("benchmark_"):
        dataset = stem[len("benchmark_"):]
        main = ctx.cfg.evaluate.background_window
        recs = [r for r in data["records"] if r["dataset"] == dataset and not r.get("quoted")
                and r.get("background_window", main) == main]
        return dataset_sentence(dataset, recs).removeprefix("- ") if recs else "No measured records for it."
    d = ctx.cfg.data
    readings = {
        "samples_synthetic": f"Each sample has N = {d.n_subframes} sub-frames at {d.resolution}x{d.resolution}"
                             f" pixels; {d.train_samples} training and {d.val_samples} validation samples.",
        "training_curves": reading_training(data["vals"]),
        "memory": reading_table4(data["memory"]),
        "deblur_real": "Real data has no ground truth: judge the sharpness of the sub-frames and the trajectory by eye.",
    }
    return readings.get(stem, "")


def section_figures(ctx: Context, figures: list[Path], data: dict) -> list[str]:
    lines = ["## Figures", ""]
    for path in figures:
        caption, device, source = figure_info(path.stem, ctx, data["facts"])
        lines += [f"### {path.stem}", "", f"![{path.stem}]({ctx.rel(path)})", "", caption, "",
                  ctx.provenance(path, device, source), "", figure_reading(path.stem, ctx, data), ""]
    return lines


def section_benchmarks(ctx: Context, paths: list[Path]) -> list[str]:
    present = [p for p in paths if p.is_file()]
    for p in paths:
        if not p.is_file():
            log.warning("performance note %s does not exist; left out", p)
    if not present:
        return []
    lines = ["## Performance notes", ""]
    for path in present:
        lines += [f"### {path.stem}", "", _table_text(path), ctx.provenance(path, "see the note", "see the note"), ""]
    return lines


def header(ctx: Context) -> list[str]:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ["# Improving DeFMO with learned losses: results", "",
            f"Scale `{ctx.cfg.scale}`; report assembled {now} on {ctx.device}; commit `{ctx.commit}`.",
            f"Training data: {training_data(ctx.cfg)}. Benchmark data: {benchmark_data(ctx.cfg)}.",
            "Numbers marked *quoted* are copied from the report or the papers it cites; all others were "
            "measured by this pipeline.", ""]


# ---------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for name in ("table2", "table3", "table4", "table5"):
        parser.add_argument(f"--{name}", type=Path, required=True, help=f"{name}.md")
    parser.add_argument("--quality-json", type=Path, required=True, help="results/quality/metrics/quality.json")
    parser.add_argument("--quality-details", type=Path, nargs="*", default=[],
                        help="the quality verb's worst-functions / files-by-MI Markdown")
    parser.add_argument("--memory-json", type=Path, required=True, help="results/ablate/metrics/memory.json")
    parser.add_argument("--eval-metrics", type=Path, nargs="*", default=[],
                        help="results/evaluate/metrics/<dataset>/<method>.json")
    parser.add_argument("--val-metrics", type=Path, nargs="*", default=[], help="results/train/metrics/<approach>.json")
    parser.add_argument("--figures", type=Path, nargs="*", default=[], help="results/figures/*.png")
    parser.add_argument("--benchmarks", type=Path, nargs="*", default=[], help="optional notes (missing: left out)")
    parser.add_argument("--output", type=Path, required=True, help="results/report/report.md")
    add_paper_argument(parser)


def check_inputs(args: argparse.Namespace) -> None:
    """Every required input exists, before any work; the message names the file and the producing verb."""
    producers = [(args.table2, "tables"), (args.table3, "evaluate"), (args.table4, "ablate"),
                 (args.table5, "quality"), (args.quality_json, "quality"), (args.memory_json, "ablate")]
    producers += [(p, "quality") for p in args.quality_details] + [(p, "evaluate") for p in args.eval_metrics]
    producers += [(p, "train") for p in args.val_metrics] + [(p, "figures/deblur") for p in args.figures]
    missing = [f"{p} (written by `{verb}`)" for p, verb in producers if not Path(p).is_file()]
    if missing:
        raise UserError("report: missing inputs; run their steps first (snakemake --cores all report):\n  "
                        + "\n  ".join(missing))


def gather(args: argparse.Namespace) -> dict:
    """Load every JSON input once."""
    records = eval_records(args.eval_metrics)
    vals = {p.stem.removeprefix("val_"): read_json(p, "train") for p in args.val_metrics}
    memory = read_json(args.memory_json, "ablate")
    eval_devices: dict[str, str] = {}
    for rec in records:
        eval_devices[rec["dataset"]] = _devices([r for r in records if r["dataset"] == rec["dataset"]])
    facts = {"eval_devices": eval_devices, "memory_device": memory_device(memory),
             "train_devices": ", ".join(sorted({str(v.get("device", "n/a")) for v in vals.values()})) or "n/a"}
    return {"records": records, "vals": vals, "memory": memory, "facts": facts,
            "quality": read_json(args.quality_json, "quality")}


def build(args: argparse.Namespace, cfg: Config) -> str:
    """The whole report as Markdown text."""
    check_inputs(args)
    ctx = Context(cfg, git_commit(Path.cwd()), args.output.parent)
    data = gather(args)
    lines = header(ctx) + section_table2(ctx, args)
    lines += section_training(ctx, args, data["vals"])
    lines += section_table3(ctx, args, data["records"])
    lines += section_table4(ctx, args, data["memory"]) + section_table5(ctx, args, data["quality"])
    lines += section_figures(ctx, list(args.figures), data) + section_benchmarks(ctx, list(args.benchmarks))
    return "\n".join(lines).rstrip() + "\n"


def run(args: argparse.Namespace, cfg: Config) -> int:
    text = build(args, cfg)
    write_text(args.output, text)
    log.info("report: %d lines, %d figures -> %s", text.count("\n"), len(args.figures), args.output)
    return 0
