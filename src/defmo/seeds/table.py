"""The seed study's summary: per approach and dataset the mean and standard deviation over seeds, against the
reference approach (the first of ``seeds.approaches``, DeFMO) the paired difference with its t-interval over seeds
(:func:`defmo.seeds.stats.paired_interval`), one verdict per claim, and the figure of every seed's scores.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from defmo.errors import UserError
from defmo.seeds import runs
from defmo.seeds.runs import LABELS
from defmo.seeds.plots import plot_study
from defmo.seeds.stats import paired_interval, spread, verdict
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.table_io import write_table

log = logging.getLogger(__name__)
# What each non-reference approach of the report claims, keyed by approach (the verdicts' sentences).
CLAIMS = {
    "defmo+ds": "D_S in place of L_S",
    "defmo+dt": "D_T in place of L_T",
    "proposed": "D_S and D_T in place of L_S and L_T (the proposed model)",
}
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


def _datasets(study: dict) -> list[str]:
    present = {name for items in study.values() for record, _ in items for name in record["scores"]}
    return [d for d in DATASET_ORDER if d in present] + sorted(present - set(DATASET_ORDER))


def _spreads(items: list[tuple[dict, list[dict]]], dataset: str) -> dict:
    scores = [record["scores"].get(dataset, {}) for record, _ in items]
    out = {m: spread([s.get(m) for s in scores]) for m in runs.METRICS}
    for q in ("median", "q25", "q75"):
        out[f"length_ratio_{q}"] = spread([(s.get("length_ratio") or {}).get(q) for s in scores])
    return out


def summarize_study(study: dict, reference: str, confidence: float) -> dict:
    """The summary (``summary.json``): per approach and dataset the spreads, per non-reference approach the
    paired intervals of every metric against ``reference``."""
    if reference not in study:
        raise UserError(f"seeds: the reference approach '{reference}' has no runs; train it (seeds.approaches)")
    datasets = _datasets(study)
    summary = {"reference": reference, "interval": "t over seeds", "confidence": confidence,
               "seeds": [record["seed"] for record, _ in study[reference]],
               "steps": {a: items[0][0]["steps"] for a, items in study.items()},
               "approaches": {}, "differences": {}}
    for approach, items in study.items():
        summary["approaches"][approach] = {d: _spreads(items, d) for d in datasets}
        if approach != reference:
            summary["differences"][approach] = _differences(items, study[reference], datasets, confidence)
    return summary


def _differences(items: list, reference: list, datasets: list[str], confidence: float) -> dict:
    """Per dataset and metric, the paired interval of one approach's runs (``items``) against the reference's
    (None with fewer than 2 seeds: no interval)."""
    approach, ref = items[0][0]["approach"], reference[0][0]["approach"]
    if [rec["seed"] for rec, _ in items] != [rec["seed"] for rec, _ in reference]:
        raise UserError(f"seeds: {approach} has seeds {[rec['seed'] for rec, _ in items]}, {ref} "
                        f"{[rec['seed'] for rec, _ in reference]}; pair them seed by seed (rerun `seeds`)")
    rows, ref_rows = [r for _, r in items], [r for _, r in reference]
    return {d: {m: paired_interval(runs.metric_grid(rows, d, m), runs.metric_grid(ref_rows, d, m), confidence)
                for m in runs.METRICS} for d in datasets}


def _mean_std(s: dict, digits: int) -> str:
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:.{digits}f}" + (f" ± {s['std']:.{digits}f}" if s["std"] is not None else "")


def _interval(i: dict | None, digits: int) -> str:
    if i is None:
        return "n/a"
    return f"{i['diff']:+.{digits}f} [{i['lo']:+.{digits}f}, {i['hi']:+.{digits}f}]"


def table_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the seed table: per dataset and approach, mean ± std of each metric and the length
    ratio (median [q25, q75], means over seeds), then the paired difference to the reference."""
    digits = {"psnr": 2, "ssim": 3, "tiou": 3, "mask_iou": 3}
    header = ["dataset", "approach", *(LABELS[m] for m in runs.METRICS), "length ratio",
              *(f"Δ{LABELS[m]} vs {summary['reference']}" for m in runs.METRICS)]
    rows = []
    for approach, per_dataset in summary["approaches"].items():
        for dataset, s in per_dataset.items():
            ratio = "n/a" if s["length_ratio_median"]["mean"] is None else (
                f"{s['length_ratio_median']['mean']:.2f} [{s['length_ratio_q25']['mean']:.2f}, "
                f"{s['length_ratio_q75']['mean']:.2f}]")
            diffs = summary["differences"].get(approach, {}).get(dataset)
            rows.append([dataset, approach, *(_mean_std(s[m], digits[m]) for m in runs.METRICS), ratio,
                         *("—" if diffs is None else _interval(diffs[m], digits[m]) for m in runs.METRICS)])
    rows.sort(key=lambda r: (DATASET_ORDER.index(r[0]) if r[0] in DATASET_ORDER else len(DATASET_ORDER),
                             list(summary["approaches"]).index(r[1])))
    return header, rows


def _by_verdict(diffs: dict, metric: str) -> dict[str, list[str]]:
    """Datasets by the verdict of ``metric``'s interval: ``{"better": [...], "worse": [...], ...}``."""
    out: dict[str, list[str]] = {}
    for dataset, per_metric in diffs.items():
        out.setdefault(verdict(per_metric[metric]), []).append(dataset)
    return out


def _holds(psnr: dict[str, list[str]]) -> str:
    """Whether a claim of improvement holds, from the PSNR verdicts over the datasets."""
    better, worse = psnr.get("better", []), psnr.get("worse", [])
    if better and not worse:
        return "holds" if not psnr.get("no difference") else "holds in part"
    if worse and not better:
        return "does not hold: worse"
    return "mixed" if better else "not resolved (no difference)"


def verdict_lines(summary: dict) -> list[str]:
    """One sentence per claim (approach against the reference): whether it holds in PSNR, the datasets where each
    metric's interval lies above 0, below 0 or around it, and the PSNR differences with their intervals."""
    level = f"{100 * summary['confidence']:.0f}%"
    lines = []
    for approach, diffs in summary["differences"].items():
        parts = []
        for metric in ("psnr", "mask_iou", "ssim"):
            groups = _by_verdict(diffs, metric)
            said = [f"{v} on {', '.join(ds)}" for v, ds in groups.items() if v != "n/a"]
            parts.append(f"{LABELS[metric]} " + "; ".join(said))
        psnr = ", ".join(f"{d} {_interval(per['psnr'], 2)}" for d, per in diffs.items())
        lines.append(f"- **{CLAIMS.get(approach, approach)}** ({approach} vs {summary['reference']}, "
                     f"{len(summary['seeds'])} seeds, paired {level} t-interval over seeds): "
                     f"{_holds(_by_verdict(diffs, 'psnr'))} in PSNR. " + ". ".join(parts)
                     + f". PSNR difference [interval], dB: {psnr}.")
    return lines


def write_study(records: list[Path], frames: list[Path], stem: Path, summary_path: Path, figure: Path,
                cfg: Config) -> dict:
    """Read the runs, write the seed table (``stem``.csv/.md/.tex), the verdicts (``stem``_verdicts.md), the
    summary JSON and the figure; return the summary."""
    study = load_runs(records, frames)
    s = cfg.seeds
    summary = summarize_study(study, s.approaches[0], s.confidence)
    header, rows = table_rows(summary)
    caption = (f"Seed study (scale {cfg.scale}): mean ± std over seeds {summary['seeds']}; Δ: paired difference "
               f"to {summary['reference']} [{100 * s.confidence:.0f}% t-interval over seeds of the per-seed mean "
               f"differences; n/a: fewer than 2 seeds]")
    write_table(stem, header, rows, caption)
    write_text(stem.with_name(stem.name + "_verdicts.md"), "\n".join(verdict_lines(summary)) + "\n")
    write_json(summary_path, summary)
    plot_study(study, summary, figure, cfg.scale)
    log.info("seed study: %d approaches x %d seeds -> %s", len(study), len(summary["seeds"]), stem)
    return summary
