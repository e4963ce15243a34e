"""``report`` verb: assemble ``results/report/report.md`` from every table, metric and figure of the pipeline.

Each table and figure comes with its provenance as recorded when it was made (scale, device, git commit, date
and the data it was computed from; :mod:`defmo.utils.provenance`), or a note that none was recorded or that
the record is for another version of the file, and a short reading computed from the numbers (best method per
dataset, whether trained models clear the Image baseline, memory reductions in %, the code-quality bar), never
canned text. Each reading is printed once: a figure whose numbers have their table or section points to it.

Inputs (all explicit CLI arguments): ``table{2,3,4,5}.md``, ``results/evaluate/metrics/<dataset>/<method>.json``
(evaluation records: ``dataset, method, tiou (None = no trajectory), psnr, ssim, quoted, device,
data_source``), ``memory.json`` (``setup, cells, reduction_pct``), ``quality.json``, ``results/train/metrics/<approach>.json``
(``psnr.{model,image,background}, beats_baselines, margin_db, steps, device``), the figures' PNGs and
optional performance notes (``results/throughput/*.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

from defmo.errors import UserError
from defmo.report.context import (CAPTIONS, Context, _table_text, eval_records, figure_caption, made,  # noqa: F401
                                  provenance_line, read_json)
from defmo.report.readings import reading_table2, reading_table4, reading_table5, reading_training
from defmo.report.readings_benchmark import reading_table3
from defmo.report.summary import headline_metrics, summary_markdown
from defmo.config import add_paper_argument, paper_config
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, git_commit  # git_commit: also the report header's commit

log = logging.getLogger(__name__)


def section_table2(ctx: Context, args: argparse.Namespace) -> list[str]:
    paper = paper_config(args, ctx.cfg)
    return ["## Table 2: hyper-parameters", "", _table_text(args.table2), ctx.provenance(args.table2, "table2"), "",
            reading_table2(paper, ctx.cfg), ""]


def section_table3(ctx: Context, args: argparse.Namespace, records: list[dict]) -> list[str]:
    """Table 3, links to its companions that exist (projection and other windows; the quoted real-data
    numbers), and the readings."""
    companions = [Path(args.table3).with_name(f"{Path(args.table3).stem}_{which}.md") for which in ("variants", "quoted")]
    links = [f"[{p.stem}]({ctx.rel(p)})" for p in companions if p.is_file()]
    more = ["Also: " + ", ".join(links) + ".", ""] if links else []
    return ["## Table 3: FMO deblurring benchmark", "", _table_text(args.table3),
            ctx.provenance(args.table3, "evaluate --aggregate"), "", *more, reading_table3(records, ctx.cfg), ""]


def section_table4(ctx: Context, args: argparse.Namespace, memory: dict) -> list[str]:
    return ["## Table 4: memory ablation", "", _table_text(args.table4),
            ctx.provenance(args.table4, "ablate --table"), "", reading_table4(memory), ""]


def section_table5(ctx: Context, args: argparse.Namespace, quality: dict) -> list[str]:
    lines = ["## Table 5: code quality", "", _table_text(args.table5), ctx.provenance(args.table5, "quality"), "",
             reading_table5(quality), ""]
    for path in args.quality_details:
        lines += [_table_text(path)]
    return lines


def section_training(ctx: Context, args: argparse.Namespace, vals: dict[str, dict]) -> list[str]:
    """The validation reading, with each approach's recorded provenance (its val metrics' record)."""
    lines = ["## Training: validation on the synthetic set", ""]
    for path in args.val_metrics:
        lines += [f"- `{path.stem.removeprefix('val_')}`: {ctx.provenance(path, 'train')}"]
    lines += [""] if args.val_metrics else []
    return lines + [reading_training(vals), ""]


# figure stem -> the command that writes it (benchmark_<dataset>: figures benchmark)
FIGURE_VERBS = {"samples_synthetic": "figures samples", "training_curves": "figures curves",
                "memory": "figures memory", "deblur_real": "deblur"}


def figure_caption_of(stem: str) -> str:
    if stem.startswith("benchmark_"):
        return f"{figure_caption('benchmark')} Dataset: {stem.removeprefix('benchmark_')}."
    return figure_caption(stem)


def figure_verb(stem: str) -> str:
    return "figures benchmark" if stem.startswith("benchmark_") else FIGURE_VERBS.get(stem, "figures")


def figure_reading(stem: str, ctx: Context) -> str:
    """What the figure ``stem`` shows in numbers; a pointer when its numbers have their table or section above."""
    if stem.startswith("benchmark_"):
        return f"Reading: see Table 3 above ({stem.removeprefix('benchmark_')})."
    d = ctx.cfg.data
    readings = {
        "samples_synthetic": f"Each sample has N = {d.n_subframes} sub-frames at {d.resolution}x{d.resolution}"
                             f" pixels; {d.train_samples} training and {d.val_samples} validation samples.",
        "training_curves": "Reading: see the training section above.",
        "memory": "Reading: see Table 4 above.",
        "deblur_real": "Judge the sharpness of the sub-frames and the trajectory by eye.",  # the caption: no GT
    }
    return readings.get(stem, "")


def section_figures(ctx: Context, figures: list[Path]) -> list[str]:
    lines = ["## Figures", ""]
    for path in figures:
        lines += [f"### {path.stem}", "", f"![{path.stem}]({ctx.rel(path)})", "", figure_caption_of(path.stem), "",
                  ctx.provenance(path, figure_verb(path.stem)), "", figure_reading(path.stem, ctx), ""]
    return lines


NOTE_VERBS = {"render": "throughput-render", "train": "throughput-train", "deblur": "throughput-deblur"}  # note stem prefix -> the verb that writes it


def section_benchmarks(ctx: Context, paths: list[Path]) -> list[str]:
    present = [p for p in paths if p.is_file()]
    for p in paths:
        if not p.is_file():
            log.warning("performance note %s does not exist; left out", p)
    if not present:
        return []
    lines = ["## Performance notes", ""]
    for path in present:
        verb = next((v for k, v in NOTE_VERBS.items() if path.stem.startswith(k)), "the throughput-* verb that wrote it")
        lines += [f"### {path.stem}", "", _table_text(path), ctx.provenance(path, verb), ""]
    return lines


def section_footage(ctx: Context, table: Path | None, figures: list[Path]) -> list[str]:
    """The real-footage table, its reading and each clip's figures (deblur on the real clips; no ground truth)."""
    if table is None:
        return []
    from defmo.evaluate.footage import reading
    from defmo.utils.table_io import read_csv_rows

    rows = read_csv_rows(table.with_suffix(".csv"))
    lines = ["## Real footage (no ground truth)", "", _table_text(table),
             ctx.provenance(table, "footage"), "", "Reading:", "", reading(rows), ""]
    for path in figures:
        lines += [f"![{path.stem}]({ctx.rel(path)})", "", ctx.provenance(path, "deblur"), ""]
    return lines


def section_seeds(ctx: Context, paths: list[Path]) -> list[str]:
    """The seed study's verdicts, table and figure (``seeds``: outside the default run, so optional here)."""
    present = [p for p in paths if p.is_file()]
    if not present:
        return []
    lines = ["## Seed study: the report's claims with error bars", "",
             "Each approach trained from several seeds on a shortened schedule (`snakemake --cores all seeds`, "
             "outside the default run; `seeds` in params.yaml); differences are paired by seed and frame, and the "
             "interval is a t-interval over the seeds' mean differences. The verdicts are on the networks alone, "
             "by the primary metric named in advance (validation PSNR); the network plus its fit at inference "
             "(`model.fit_steps`) is a second reading beside it. The files below are those the study last wrote "
             "(their provenance says which commit).", ""]
    for path in present:
        if path.suffix == ".png":
            lines += [f"![{path.stem}]({ctx.rel(path)})", ""]
        else:
            lines += [_table_text(path)]
        lines += [ctx.provenance(path, "seeds"), ""]
    return lines


def header(ctx: Context) -> list[str]:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ["# Improving DeFMO with learned losses: results", "",
            f"Scale `{ctx.cfg.scale}`; report assembled {now} on {ctx.device}; commit `{ctx.commit}`.",
            "Under each table and figure: its provenance as recorded when it was made (scale, device, commit, "
            "date, the data it was computed from).",
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
    parser.add_argument("--figures", type=Path, nargs="*", default=[], help="results/<phase>/figures/*.png")
    parser.add_argument("--benchmarks", type=Path, nargs="*", default=[], help="optional notes (missing: left out)")
    parser.add_argument("--metrics", type=Path,
                        help="the headline metrics JSON that `dvc metrics diff` shows (results/report/metrics.json)")
    parser.add_argument("--seeds-summary", type=Path,
                        help="the seed study's summary JSON (results/seeds/metrics/summary.json, optional)")
    parser.add_argument("--seeds", type=Path, nargs="*", default=[],
                        help="the seed study's verdicts, table and figure (optional: missing ones are left out)")
    parser.add_argument("--footage", type=Path, help="the real-footage table (results/evaluate/tables/footage.md)")
    parser.add_argument("--footage-figures", type=Path, nargs="*", default=[],
                        help="results/evaluate/figures/footage_<clip>.png (each clip's variants)")
    parser.add_argument("--output", type=Path, required=True, help="results/report/report.md")
    parser.add_argument("--spread", type=Path, nargs="*", default=[],
                        help="other seeds' validation metrics (results/spread/*.json, optional) for the summary")
    parser.add_argument("--summary", type=Path,
                        help="also write the results summary README.md includes (results/report/summary.md)")
    add_paper_argument(parser)


def check_inputs(args: argparse.Namespace) -> None:
    """Every required input exists, before any work; the message names the file and the producing verb."""
    producers = [(args.table2, "table2"), (args.table3, "evaluate"), (args.table4, "ablate"),
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
    spread = [read_json(p, "workflow/scripts/seed_spread.sh") for p in args.spread if Path(p).is_file()]
    return {"records": records, "vals": vals, "memory": memory, "quality": read_json(args.quality_json, "quality"),
            "spread": spread}


def summary_of(data: dict, cfg: Config) -> str:
    """The results summary (:mod:`defmo.report.summary`) of the gathered inputs."""
    return summary_markdown(data["vals"], data["records"], list(cfg.train.approaches), cfg.evaluate.background_window,
                            list(cfg.evaluate.datasets), data["spread"])


def build(args: argparse.Namespace, cfg: Config) -> str:
    """The whole report as Markdown text."""
    check_inputs(args)
    ctx = Context(cfg, git_commit(Path.cwd()), args.output.parent)
    data = gather(args)
    lines = header(ctx) + ["## Summary", "", summary_of(data, cfg)] + section_table2(ctx, args)
    lines += section_training(ctx, args, data["vals"])
    lines += section_table3(ctx, args, data["records"])
    lines += section_footage(ctx, args.footage, list(args.footage_figures))
    lines += section_table4(ctx, args, data["memory"]) + section_table5(ctx, args, data["quality"])
    lines += section_seeds(ctx, list(args.seeds))
    lines += section_figures(ctx, list(args.figures)) + section_benchmarks(ctx, list(args.benchmarks))
    return "\n".join(lines).rstrip() + "\n"


def headline_of(data: dict, args: argparse.Namespace, cfg: Config) -> dict:
    """The headline metrics (:func:`defmo.report.summary.headline_metrics`) of the gathered inputs."""
    seeds = args.seeds_summary
    summary = read_json(seeds, "seeds --summarize") if seeds is not None and Path(seeds).is_file() else None
    return headline_metrics(data["vals"], data["records"], list(cfg.train.approaches), cfg.evaluate.background_window,
                            list(cfg.evaluate.datasets), summary)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """results/report/report.md, the summary and the headline metrics."""
    return [Output(p, "the tables, metrics, figures and notes named on its command line", "n/a (assembles text)")
            for p in (args.output, args.summary, args.metrics) if p is not None]


def run(args: argparse.Namespace, cfg: Config) -> int:
    text = build(args, cfg)
    write_text(args.output, text)
    if args.summary or args.metrics:
        data = gather(args)
        if args.summary:
            write_text(args.summary, summary_of(data, cfg))
        if args.metrics:
            write_json(args.metrics, headline_of(data, args, cfg))
    log.info("report: %d lines, %d figures -> %s", text.count("\n"), len(args.figures), args.output)
    return 0
