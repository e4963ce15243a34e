"""``quality`` verb: Radon code-quality metrics (report Table 5) through Radon's Python API.

Method (spec/defmo.md, "Code quality"), which reproduces the report's numbers with Radon 6.0.1:

* cyclomatic complexity (CC) as ``radon cc -a``: every block ``cc_visit`` returns (functions, classes and
  their methods, closures not expanded, asserts counted), averaged over all blocks of all files, and the max;
* Halstead difficulty and delivered bugs from ``h_visit(code).total`` per file, then averaged / maxed over
  files;
* maintainability index (MI) from ``mi_visit(code, multi=True)`` per file (as ``radon mi``), average and min.

Outputs: ``table5.{csv,md,tex}`` (this project, the report's two rows quoted and marked, and every
checkout named in ``quality.compare`` measured the same way), the worst functions by CC and the files by MI
as Markdown tables, and a metrics JSON for ``dvc metrics diff``.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
from dataclasses import dataclass, field
from pathlib import Path

from radon.complexity import cc_rank, cc_visit
from radon.metrics import h_visit, mi_visit
from radon.raw import analyze
from tqdm import tqdm

from defmo.errors import UserError
from defmo.quoted import TABLE5_RADON
from defmo.utils.table_io import to_markdown, write_table
from defmo.settings import Config, Quality
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, table_files

log = logging.getLogger(__name__)

METRICS = ("cc_avg", "cc_max", "difficulty_avg", "difficulty_max", "bugs_avg", "bugs_max", "mi_avg", "mi_min")
HEADER = ["Code", "CC avg", "CC max", "Difficulty avg", "Difficulty max", "Bugs avg", "Bugs max", "MI avg",
          "MI min", "Source"]
QUOTED_SOURCE = "quoted from the report (Table 5)"


@dataclass(frozen=True)
class Block:
    """One Radon block: a function, method or class, with its cyclomatic complexity and rank (A-F)."""

    file: str
    name: str
    kind: str
    lineno: int
    complexity: int

    @property
    def rank(self) -> str:
        return cc_rank(self.complexity)


@dataclass
class FileMetrics:
    """Per-file Radon numbers; ``path`` is relative to the measured root (POSIX form)."""

    path: str
    sloc: int
    difficulty: float
    bugs: float
    mi: float
    blocks: list[Block] = field(default_factory=list)


def _excluded(rel: str, patterns: list[str]) -> bool:
    """True when ``rel`` (or one of its parent folders) matches a glob of ``patterns``."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.rstrip("/")) for pat in patterns for p in prefixes)


def python_files(root: Path, exclude: list[str]) -> list[Path]:
    """Sorted ``*.py`` files under ``root`` minus those matching ``exclude`` globs (relative to ``root``)
    and hidden folders (as Radon's CLI ignores them)."""
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if not _excluded(rel, exclude):
            files.append(path)
    return files


def _block(rel: str, obj) -> Block:
    if hasattr(obj, "methods"):
        kind = "class"
    else:
        kind = "method" if obj.is_method else "function"
    return Block(rel, getattr(obj, "fullname", obj.name), kind, obj.lineno, int(obj.complexity))


def measure_code(code: str, rel: str) -> FileMetrics:
    """Radon numbers of one module's source text (see the module docstring for the method)."""
    total = h_visit(code).total
    blocks = [_block(rel, obj) for obj in cc_visit(code)]
    return FileMetrics(rel, analyze(code).sloc, float(total.difficulty), float(total.bugs),
                       float(mi_visit(code, True)), blocks)


def measure_file(path: Path, root: Path) -> FileMetrics:
    """Radon numbers of the file at ``path``; a file Python cannot parse is a :class:`UserError`."""
    rel = path.relative_to(root).as_posix()
    try:
        return measure_code(path.read_text(encoding="utf-8"), rel)
    except (SyntaxError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: Radon cannot parse it ({exc}); fix the file or add it to quality.exclude") from exc


def measure_tree(root: Path, exclude: list[str], label: str = "quality") -> list[FileMetrics]:
    """Measure every Python file under ``root`` (minus ``exclude``); an empty or missing tree is an error."""
    if not root.is_dir():
        raise UserError(f"{label}: folder {root} does not exist; give the path of a source checkout")
    files = python_files(root, exclude)
    if not files:
        raise UserError(f"{label}: no Python files under {root} (after quality.exclude {exclude})")
    return [measure_file(p, root) for p in tqdm(files, desc=f"radon {root}", unit="file", leave=False)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(files: list[FileMetrics]) -> dict[str, float]:
    """Table 5's eight numbers over ``files``: CC over all blocks; difficulty, bugs and MI over files."""
    cc = [b.complexity for f in files for b in f.blocks]
    diff = [f.difficulty for f in files]
    bugs = [f.bugs for f in files]
    mi = [f.mi for f in files]
    return {
        "cc_avg": _mean(cc), "cc_max": max(cc, default=0),
        "difficulty_avg": _mean(diff), "difficulty_max": max(diff),
        "bugs_avg": _mean(bugs), "bugs_max": max(bugs),
        "mi_avg": _mean(mi), "mi_min": min(mi),
        "files": len(files), "blocks": len(cc),
    }


def worst_blocks(files: list[FileMetrics], n: int) -> list[Block]:
    """The ``n`` blocks with the highest complexity (ties by file and line)."""
    blocks = [b for f in files for b in f.blocks]
    return sorted(blocks, key=lambda b: (-b.complexity, b.file, b.lineno))[:n]


def offenders(files: list[FileMetrics], max_cc: int, min_mi: float) -> tuple[list[Block], list[FileMetrics]]:
    """Blocks with CC above ``max_cc`` and files with MI below ``min_mi`` (the project's bar)."""
    blocks = [b for f in files for b in f.blocks if b.complexity > max_cc]
    low = [f for f in files if f.mi < min_mi]
    return sorted(blocks, key=lambda b: -b.complexity), sorted(low, key=lambda f: f.mi)


def table5_rows(measured: dict[str, dict[str, float]], sources: dict[str, str]) -> list[list]:
    """Rows of Table 5: measured entries first (``sources`` says where each came from), then the quoted ones."""
    rows = [[name, *(summary[m] for m in METRICS), sources[name]] for name, summary in measured.items()]
    rows += [[name, *values, QUOTED_SOURCE] for name, values in TABLE5_RADON.items()]
    return rows


def _functions_md(blocks: list[Block], root: str) -> str:
    rows = [[b.complexity, b.rank, b.kind, f"{b.file}:{b.lineno}", b.name] for b in blocks]
    title = f"Most complex blocks under {root} (Radon cyclomatic complexity, rank A-F)\n\n"
    return title + to_markdown(["CC", "Rank", "Kind", "Location", "Name"], rows)


def _files_md(files: list[FileMetrics], root: str) -> str:
    ordered = sorted(files, key=lambda f: f.mi)
    rows = [[f.path, f.mi, f.difficulty, f.bugs, max((b.complexity for b in f.blocks), default=0), f.sloc]
            for f in ordered]
    title = f"Files under {root} by maintainability index, lowest first (Radon)\n\n"
    return title + to_markdown(["File", "MI", "Difficulty", "Bugs", "CC max", "SLOC"], rows, digits=2)


def _compare_entry(name: str, value) -> tuple[Path, list[str]]:
    """``quality.compare.<name>``: a path, or ``{path, exclude}``."""
    if isinstance(value, str):
        return Path(value), []
    return Path(value["path"]), list(value.get("exclude", []))


def measure_all(root: Path, qcfg: Quality, label: str) -> tuple[list[FileMetrics], dict, dict]:
    """Measure the project and every ``quality.compare`` checkout; return (project files, summaries, sources)."""
    files = measure_tree(root, list(qcfg.exclude), "quality.exclude")
    summaries = {label: summarise(files)}
    sources = {label: f"measured here: {root.as_posix()}"}
    for name, value in qcfg.compare.items():
        path, exclude = _compare_entry(name, value)
        log.info("measuring quality.compare.%s at %s", name, path)
        summaries[name] = summarise(measure_tree(path, exclude, f"params.yaml quality.compare.{name}"))
        sources[name] = f"measured here: {path.as_posix()}"
    return files, summaries, sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("src/defmo"), help="package folder to measure")
    parser.add_argument("--table", type=Path, required=True, help="output stem of Table 5 (writes .csv/.md/.tex)")
    parser.add_argument("--functions", type=Path, required=True, help="Markdown: the worst functions by CC")
    parser.add_argument("--files", type=Path, required=True, help="Markdown: the files by MI")
    parser.add_argument("--metrics", type=Path, required=True, help="JSON metrics for dvc metrics diff")


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """Table 5's files, the two detail tables and the metrics JSON."""
    compared = "".join(f", compared with {_compare_entry(k, v)[0].as_posix()}" for k, v in cfg.quality.compare.items())
    data = f"this repository's source code under {args.root.as_posix()}{compared}"
    paths = [*table_files(args.table), args.functions, args.files, args.metrics]
    return [Output(p, data, "n/a (static analysis with Radon)") for p in paths]


def run(args: argparse.Namespace, cfg: Config) -> int:
    qcfg = cfg.quality
    label = "this project (measured)"
    files, summaries, sources = measure_all(args.root, qcfg, label)
    caption = "Table 5: code quality with Radon (CC, Halstead difficulty and delivered bugs, maintainability index)."
    write_table(args.table.with_suffix(""), HEADER, table5_rows(summaries, sources), caption)
    root = args.root.as_posix()
    write_text(args.functions, _functions_md(worst_blocks(files, qcfg.worst), root))
    write_text(args.files, _files_md(files, root))
    bad_blocks, bad_files = offenders(files, qcfg.max_cc, qcfg.min_mi)
    metrics = {
        "project": summaries[label],
        "bar": {"max_cc": qcfg.max_cc, "min_mi": qcfg.min_mi,
                "blocks_over": len(bad_blocks), "files_under": len(bad_files)},
        "compare": {k: v for k, v in summaries.items() if k != label},
    }
    write_json(args.metrics, metrics)
    p = summaries[label]
    log.info("quality of %s: %d files, %d blocks, CC avg %.3f max %d, MI avg %.2f min %.2f; "
             "%d blocks over CC %d, %d files under MI %s", root, p["files"], p["blocks"], p["cc_avg"],
             p["cc_max"], p["mi_avg"], p["mi_min"], len(bad_blocks), qcfg.max_cc, len(bad_files), qcfg.min_mi)
    return 0
