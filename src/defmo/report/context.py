"""What every report section shares: the captions of the figures, the provenance line under each table and figure,
the report's context (scale, commit, device, output folder) and reading the JSON inputs with a clear error."""

from __future__ import annotations

import datetime as dt
import json
import os
from importlib import resources
from pathlib import Path

from defmo.errors import UserError
from defmo.settings import Config
from defmo.utils import provenance
from defmo.utils.runtime import resolve_device

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


def made(date: object) -> str:
    """A record's ISO date as ``YYYY-MM-DD HH:MM UTC`` (as recorded when it is no ISO date)."""
    try:
        stamp = dt.datetime.fromisoformat(str(date)).astimezone(dt.timezone.utc)
    except ValueError:
        return str(date)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def provenance_line(path: Path, verb: str, shown: str) -> str:
    """The recorded provenance of ``path`` (shown as ``shown``) in one line; when there is no record, or the
    record describes another version of the file, says so and names the ``verb`` that rewrites both."""
    rec = provenance.read(path)
    where = f"file `{shown}`"
    if rec is None:
        return f"*Provenance: not recorded (rerun `{verb}`); {where}.*"
    if not provenance.current(path):
        return f"*Provenance: recorded for a different version of this file (rerun `{verb}`); {where}.*"
    return (f"*Provenance: scale `{rec.get('scale')}`; device {rec.get('device')}; commit `{rec.get('commit')}`; "
            f"made {made(rec.get('date'))}; data: {rec.get('data')}; {where}.*")


class Context:
    """What every section needs: the resolved config, the commit and the device of this report run."""

    def __init__(self, cfg: Config, commit: str, out_dir: Path):
        self.cfg = cfg
        self.commit = commit
        self.out_dir = out_dir
        device = resolve_device(cfg)
        self.device = f"{device.type} (device: {cfg.device})"

    def provenance(self, path: Path, verb: str) -> str:
        return provenance_line(path, verb, self.rel(path))

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
