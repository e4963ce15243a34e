"""The seed study's summary: per reading (the network alone, then with its fit), approach and dataset the mean and
standard deviation over seeds; against the reference approach (the first of ``seeds.approaches``, DeFMO) the
paired difference with its t-interval over seeds (:func:`defmo.seeds.stats.paired_interval`); the table, the
verdicts (:mod:`defmo.seeds.verdicts`) and the figure of every seed's scores.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from defmo.errors import UserError
from defmo.seeds import runs
from defmo.seeds.runs import LABELS
from defmo.seeds.plots import plot_study
from defmo.seeds.stats import paired_interval, spread
from defmo.seeds.verdicts import (POWER, PRIMARY, claims, interval_text, multiplicity, power, power_line,
                                  readme_sentence, verdict_lines)
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.table_io import write_table

log = logging.getLogger(__name__)
DATASET_ORDER = (runs.VALIDATION, "falling_objects", "tbd3d", runs.BOUNCE, "tbd")


def load_runs(records: list[Path], frames: list[Path]) -> dict[str, list[tuple[dict, list[dict]]]]:
    """approach -> [(record, frame rows)] in seed order, from the runs' metrics JSONs and frames CSVs (paired
    by position)."""
    if len(records) != len(frames) or not records:
        raise UserError(f"seeds --summarize: {len(records)} --runs and {len(frames)} --frames; pass one of each per run")
    out: dict[str, list] = {}
    for record_path, frames_path in zip(records, frames):
        record = json.loads(Path(record_path).read_text())
        out.setdefault(record["approach"], []).append((record, runs.read_frames(Path(frames_path))))
    for approach, items in out.items():
        items.sort(key=lambda item: item[0]["seed"])
    return out


def _datasets(study: dict, reading: str) -> list[str]:
    present = {name for items in study.values() for record, _ in items for name in record["scores"].get(reading, {})}
    return [d for d in DATASET_ORDER if d in present] + sorted(present - set(DATASET_ORDER))


def _readings(study: dict) -> list[str]:
    """The readings every run has, in :data:`runs.READINGS` order."""
    have = [set(record["scores"]) for items in study.values() for record, _ in items]
    return [r for r in runs.READINGS if all(r in h for h in have)]


def _spreads(items: list[tuple[dict, list[dict]]], reading: str, dataset: str) -> dict:
    scores = [record["scores"][reading].get(dataset, {}) for record, _ in items]
    out = {m: spread([s.get(m) for s in scores]) for m in runs.METRICS}
    for q in ("median", "q25", "q75"):
        out[f"length_ratio_{q}"] = spread([(s.get("length_ratio") or {}).get(q) for s in scores])
    return out


def summarize_study(study: dict, reference: str, confidence: float, detect: float = POWER) -> dict:
    """The summary (``summary.json``): per reading (network alone, with the fit), approach and dataset the
    spreads; per non-reference approach the paired intervals of every metric against ``reference``; the claims'
    verdicts on :data:`PRIMARY`; the PSNR difference the design detects with probability ``detect``; and what a
    Holm correction over every interval would change."""
    if reference not in study:
        raise UserError(f"seeds: the reference approach '{reference}' has no runs; train it (seeds.approaches)")
    readings = _readings(study)
    if runs.NETWORK not in readings:
        raise UserError("seeds: a run has no network-alone scores (scored before the study had readings); "
                        "rerun `snakemake --cores all seeds`")
    summary = {"reference": reference, "interval": "t over seeds", "confidence": confidence,
               "seeds": [record["seed"] for record, _ in study[reference]],
               "steps": {a: items[0][0]["steps"] for a, items in study.items()},
               "primary": dict(PRIMARY), "readings": {}}
    for reading in readings:
        datasets = _datasets(study, reading)
        summary["readings"][reading] = {
            "approaches": {a: {d: _spreads(items, reading, d) for d in datasets} for a, items in study.items()},
            "differences": {a: _differences(items, study[reference], reading, datasets, confidence)
                            for a, items in study.items() if a != reference}}
    summary["claims"] = claims(summary)
    summary["power"] = power(study, reference, summary, confidence, detect)
    summary["multiplicity"] = multiplicity(summary)
    return summary


def _differences(items: list, reference: list, reading: str, datasets: list[str], confidence: float) -> dict:
    """Per dataset and metric, the paired interval of one approach's runs (``items``) against the reference's
    in one reading (None with fewer than 2 seeds: no interval)."""
    approach, ref = items[0][0]["approach"], reference[0][0]["approach"]
    if [rec["seed"] for rec, _ in items] != [rec["seed"] for rec, _ in reference]:
        raise UserError(f"seeds: {approach} has seeds {[rec['seed'] for rec, _ in items]}, {ref} "
                        f"{[rec['seed'] for rec, _ in reference]}; pair them seed by seed (rerun `seeds`)")
    rows, ref_rows = [r for _, r in items], [r for _, r in reference]
    return {d: {m: paired_interval(runs.metric_grid(rows, d, m, reading), runs.metric_grid(ref_rows, d, m, reading),
                                   confidence)
                for m in runs.METRICS} for d in datasets}


def _mean_std(s: dict, digits: int) -> str:
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:.{digits}f}" + (f" ± {s['std']:.{digits}f}" if s["std"] is not None else "")


DIGITS = {"psnr": 2, "ssim": 3, "tiou": 3, "mask_iou": 3}


def table_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the seed table: per dataset and approach, the network alone's mean ± std of each metric
    with the paired difference to the reference beside it, then the same PSNR pair with the fit."""
    ref = summary["reference"]
    header = ["dataset", "approach"]
    for m in runs.METRICS:
        header += [LABELS[m], f"Δ{LABELS[m]} vs {ref}"]
    with_fit = runs.FIT in summary["readings"]
    if with_fit:
        header += ["PSNR with fit", f"ΔPSNR with fit vs {ref}"]
    net = summary["readings"][runs.NETWORK]
    rows = []
    for approach, per_dataset in net["approaches"].items():
        for dataset, s in per_dataset.items():
            row = [dataset, approach]
            for m in runs.METRICS:
                row += [_mean_std(s[m], DIGITS[m]), _cell(net, approach, dataset, m)]
            if with_fit:
                fit = summary["readings"][runs.FIT]
                fs = fit["approaches"][approach].get(dataset)
                row += ["n/a" if fs is None else _mean_std(fs["psnr"], 2), _cell(fit, approach, dataset, "psnr")]
            rows.append(row)
    rows.sort(key=lambda r: (DATASET_ORDER.index(r[0]) if r[0] in DATASET_ORDER else len(DATASET_ORDER),
                             list(net["approaches"]).index(r[1])))
    return header, rows


def _cell(body: dict, approach: str, dataset: str, metric: str) -> str:
    diffs = body["differences"].get(approach, {}).get(dataset)
    return "—" if diffs is None else interval_text(diffs[metric], DIGITS[metric])


def write_study(records: list[Path], frames: list[Path], stem: Path, summary_path: Path, figure: Path,
                cfg: Config) -> dict:
    """Read the runs, write the seed table (``stem``.csv/.md/.tex), the verdicts (``stem``_verdicts.md), the
    summary JSON and the figure; return the summary."""
    study = load_runs(records, frames)
    s = cfg.seeds
    summary = summarize_study(study, s.approaches[0], s.confidence)
    header, rows = table_rows(summary)
    steps = sorted(set(summary["steps"].values()))
    caption = (f"Seed study (scale {cfg.scale}, runs of {'/'.join(map(str, steps))} steps): the network alone's "
               f"mean ± std over seeds {summary['seeds']}, the with-fit PSNR as a second reading; Δ: paired "
               f"difference to {summary['reference']} [{100 * s.confidence:.0f}% t-interval over seeds of the "
               f"per-seed mean differences; n/a: fewer than 2 seeds]. {power_line(summary)}")
    write_table(stem, header, rows, caption)
    write_text(stem.with_name(stem.name + "_verdicts.md"),
               readme_sentence(summary) + "\n\n" + "\n".join(verdict_lines(summary)) + "\n")
    write_json(summary_path, summary)
    plot_study(study, summary, figure, cfg.scale)
    log.info("seed study: %d approaches x %d seeds -> %s", len(study), len(summary["seeds"]), stem)
    return summary
