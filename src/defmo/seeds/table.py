"""The seed study's summary: per reading (the network alone, then with its fit), approach and dataset the mean and
standard deviation over seeds; against the reference approach (the first of ``seeds.approaches``, DeFMO) the
paired difference with its t-interval over seeds (:func:`defmo.seeds.stats.paired_interval`); one verdict per
claim on the primary metric named in advance (:data:`PRIMARY`); the design's power; what a Holm correction would
change; and the figure of every seed's scores.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from defmo.errors import UserError
from defmo.seeds import runs
from defmo.seeds.runs import LABELS
from defmo.seeds.plots import plot_study
from defmo.seeds.stats import (claim_verdict, detectable_difference, holm, paired_interval, seed_differences, spread,
                               verdict)
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
# Named before the study: the claims are judged on the network alone's validation PSNR, the rest is secondary.
PRIMARY = {"reading": runs.NETWORK, "dataset": runs.VALIDATION, "metric": "psnr"}
POWER = 0.8  # the probability of detection the power line is stated at


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


def summarize_study(study: dict, reference: str, confidence: float, power: float = POWER) -> dict:
    """The summary (``summary.json``): per reading (network alone, with the fit), approach and dataset the
    spreads; per non-reference approach the paired intervals of every metric against ``reference``; the claims'
    verdicts on :data:`PRIMARY`; the PSNR difference the design detects with probability ``power``; and what a
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
    summary["claims"] = _claims(summary)
    summary["power"] = _power(study, reference, summary, confidence, power)
    summary["multiplicity"] = _multiplicity(summary)
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


def _claims(summary: dict) -> dict:
    """Per non-reference approach: the claim, its verdict on the primary metric, and that interval."""
    p = summary["primary"]
    out = {}
    for approach, diffs in summary["readings"][p["reading"]]["differences"].items():
        interval = diffs.get(p["dataset"], {}).get(p["metric"])
        out[approach] = {"claim": CLAIMS.get(approach, approach), "verdict": claim_verdict(interval),
                         "interval": interval}
    return out


def _power(study: dict, reference: str, summary: dict, confidence: float, power: float) -> dict:
    """Per dataset, the smallest true PSNR difference (network alone, dB) the design detects with ``power``: from
    the spread of the per-seed differences, pooled over the comparisons with the reference."""
    reading = summary["primary"]["reading"]
    ref_rows = [r for _, r in study[reference]]
    out = {}
    for dataset in summary["readings"][reading]["approaches"][reference]:
        variances, k = [], len(ref_rows)
        for approach, items in study.items():
            if approach == reference:
                continue
            d = seed_differences(runs.metric_grid([r for _, r in items], dataset, "psnr", reading),
                                 runs.metric_grid(ref_rows, dataset, "psnr", reading))
            if d.size >= 2:
                variances.append(float(np.var(d, ddof=1)))
                k = min(k, d.size)
        if variances and k >= 2:
            sd = float(np.sqrt(np.mean(variances)))
            out[dataset] = {"sd": sd, "seeds": k, "detectable": detectable_difference(sd, k, confidence, power)}
    return {"reading": reading, "metric": "psnr", "power": power, "datasets": out}


def _multiplicity(summary: dict) -> dict:
    """How many intervals the study computes, how many exclude 0, and which of those a Holm correction over all
    of them (family-wise level ``1 - confidence``) would keep; the same over the primary tests alone."""
    alpha = 1.0 - summary["confidence"]
    labelled = [(f"{reading}/{approach}/{dataset}/{metric}", i)
                for reading, body in summary["readings"].items()
                for approach, diffs in body["differences"].items()
                for dataset, per_metric in diffs.items()
                for metric, i in per_metric.items() if i is not None]
    kept = holm([i["p"] for _, i in labelled], alpha)
    excluding = [label for label, i in labelled if verdict(i) in ("better", "worse")]
    primary = [(a, c["interval"]) for a, c in summary["claims"].items() if c["interval"] is not None]
    primary_kept = holm([i["p"] for _, i in primary], alpha)
    return {"intervals": len(labelled), "excluding_zero": excluding,
            "after_holm": [label for (label, _), k in zip(labelled, kept) if k],
            "primary_tests": len(primary),
            "primary_after_holm": [a for (a, i), k in zip(primary, primary_kept) if k and verdict(i) != "no difference"]}


def _mean_std(s: dict, digits: int) -> str:
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:.{digits}f}" + (f" ± {s['std']:.{digits}f}" if s["std"] is not None else "")


def _interval(i: dict | None, digits: int) -> str:
    if i is None:
        return "n/a"
    return f"{i['diff']:+.{digits}f} [{i['lo']:+.{digits}f}, {i['hi']:+.{digits}f}]"


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
    return "—" if diffs is None else _interval(diffs[metric], DIGITS[metric])


def _by_verdict(diffs: dict, metric: str) -> dict[str, list[str]]:
    """Datasets by the verdict of ``metric``'s interval: ``{"better": [...], "worse": [...], ...}``."""
    out: dict[str, list[str]] = {}
    for dataset, per_metric in diffs.items():
        out.setdefault(verdict(per_metric[metric]), []).append(dataset)
    return out


def power_line(summary: dict) -> str:
    """The design's power: the PSNR difference each dataset's comparison detects 80% of the time."""
    pw = summary["power"]
    parts = [f"{d} {v['detectable']:.2f}" for d, v in pw["datasets"].items()]
    seeds = max((v["seeds"] for v in pw["datasets"].values()), default=0)
    return (f"Power: with {seeds} seeds per approach, the smallest paired PSNR difference of the network alone "
            f"that the {100 * summary['confidence']:.0f}% t-interval excludes from 0 in {100 * pw['power']:.0f}% of "
            f"studies (from the spread of the per-seed differences), dB: " + ", ".join(parts) + ".")


def multiplicity_line(summary: dict) -> str:
    """How many intervals were looked at and what Holm's correction changes."""
    m = summary["multiplicity"]
    lost = [x for x in m["excluding_zero"] if x not in m["after_holm"]]
    text = (f"Multiplicity: {m['intervals']} intervals were computed (readings x approaches x datasets x metrics); "
            f"{len(m['excluding_zero'])} exclude 0, {len(m['after_holm'])} of them still do after a Holm correction "
            f"over all {m['intervals']} at a family-wise {100 * (1 - summary['confidence']):.0f}%")
    text += f" (no longer: {', '.join(lost)})" if lost else ""
    kept = ", ".join(m["primary_after_holm"]) or "none"
    return text + f". Over the {m['primary_tests']} primary tests alone, Holm keeps: {kept}."


def readme_sentence(summary: dict) -> str:
    """The study's verdict in one sentence (README.md): per claim its verdict on the primary metric with the
    interval, the design, and the power on the primary metric."""
    p, level = summary["primary"], f"{100 * summary['confidence']:.0f}%"
    steps = "/".join(str(s) for s in sorted(set(summary["steps"].values())))
    claims = "; ".join(f"{c['claim']}: **{c['verdict']}** ({_interval(c['interval'], 2)} dB)"
                       for c in summary["claims"].values())
    power = summary["power"]["datasets"].get(p["dataset"])
    detect = f"; differences below {power['detectable']:.2f} dB are not resolved 80% of the time" if power else ""
    return (f"Seed study ({len(summary['seeds'])} seeds per approach, runs of {steps} steps, networks alone, "
            f"{p['dataset']} PSNR against DeFMO with a paired {level} t-interval over seeds): {claims}{detect}.")


def verdict_lines(summary: dict) -> list[str]:
    """One line per claim: its verdict on the primary metric (the network's validation PSNR), the secondary
    metrics' verdicts per dataset, and the with-fit reading; then the power and multiplicity lines."""
    level = f"{100 * summary['confidence']:.0f}%"
    p = summary["primary"]
    lines = []
    net = summary["readings"][runs.NETWORK]["differences"]
    fit = summary["readings"].get(runs.FIT, {}).get("differences", {})
    for approach, claim in summary["claims"].items():
        parts = []
        for metric in ("psnr", "ssim", "mask_iou"):
            groups = _by_verdict(net[approach], metric)
            said = [f"{v} on {', '.join(ds)}" for v, ds in groups.items() if v != "n/a"]
            parts.append(f"{LABELS[metric]} " + "; ".join(said))
        line = (f"- **{claim['claim']}** ({approach} vs {summary['reference']}, {len(summary['seeds'])} seeds, "
                f"paired {level} t-interval over seeds): **{claim['verdict']}** by the primary metric, the "
                f"{p['dataset']} {LABELS[p['metric']]} of the network alone, {_interval(claim['interval'], 2)} dB. "
                f"Secondary (network alone): " + ". ".join(parts) + ".")
        if approach in fit:
            psnr = ", ".join(f"{d} {_interval(per['psnr'], 2)}" for d, per in fit[approach].items())
            line += f" With the fit (second reading), PSNR difference [interval], dB: {psnr}."
        lines.append(line)
    return lines + [f"- {power_line(summary)}", f"- {multiplicity_line(summary)}"]


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
