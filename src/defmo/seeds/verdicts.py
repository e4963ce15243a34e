"""The seed study's verdicts: each claim judged on the primary metric named before the study ran (:data:`PRIMARY`),
the design's power, what a Holm correction over every interval would change, and the sentences that say so
(the verdicts file, README.md's sentence). :mod:`defmo.seeds.table` computes the summary they read.
"""

from __future__ import annotations

import numpy as np

from defmo.seeds import runs
from defmo.seeds.runs import LABELS
from defmo.seeds.stats import claim_verdict, detectable_difference, holm, seed_differences, verdict

# What each non-reference approach of the report claims, keyed by approach (the verdicts' sentences).
CLAIMS = {
    "defmo+ds": "D_S in place of L_S",
    "defmo+dt": "D_T in place of L_T",
    "proposed": "D_S and D_T in place of L_S and L_T (the proposed model)",
}
# Named before the study: the claims are judged on the network alone's validation PSNR, the rest is secondary.
PRIMARY = {"reading": runs.NETWORK, "dataset": runs.VALIDATION, "metric": "psnr"}
POWER = 0.8  # the probability of detection the power line is stated at


def claims(summary: dict) -> dict:
    """Per non-reference approach: the claim, its verdict on the primary metric, and that interval."""
    p = summary["primary"]
    out = {}
    for approach, diffs in summary["readings"][p["reading"]]["differences"].items():
        interval = diffs.get(p["dataset"], {}).get(p["metric"])
        out[approach] = {"claim": CLAIMS.get(approach, approach), "verdict": claim_verdict(interval),
                         "interval": interval}
    return out


def power(study: dict, reference: str, summary: dict, confidence: float, detect: float) -> dict:
    """Per dataset, the smallest true PSNR difference (network alone, dB) the design detects with probability
    ``detect``: from the spread of the per-seed differences, pooled over the comparisons with the reference."""
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
            out[dataset] = {"sd": sd, "seeds": k, "detectable": detectable_difference(sd, k, confidence, detect)}
    return {"reading": reading, "metric": "psnr", "power": detect, "datasets": out}


def _labelled(summary: dict) -> list[tuple[str, dict]]:
    """Every interval the study computed, labelled ``reading/approach/dataset/metric``."""
    return [(f"{reading}/{approach}/{dataset}/{metric}", interval)
            for reading, body in summary["readings"].items()
            for approach, diffs in body["differences"].items()
            for dataset, per_metric in diffs.items()
            for metric, interval in per_metric.items() if interval is not None]


def multiplicity(summary: dict) -> dict:
    """How many intervals the study computes, how many exclude 0, and which of those a Holm correction over all
    of them (family-wise level ``1 - confidence``) would keep; the same over the primary tests alone."""
    alpha = 1.0 - summary["confidence"]
    labelled = _labelled(summary)
    primary = [(a, c["interval"]) for a, c in summary["claims"].items() if c["interval"] is not None]
    return {"intervals": len(labelled),
            "excluding_zero": [label for label, i in labelled if verdict(i) != "no difference"],
            "after_holm": _holm_kept(labelled, alpha),
            "primary_tests": len(primary),
            "primary_after_holm": _holm_kept(primary, alpha)}


def _holm_kept(labelled: list[tuple[str, dict]], alpha: float) -> list[str]:
    """The labels whose interval excludes 0 and whose test Holm's correction over ``labelled`` still rejects."""
    kept = holm([i["p"] for _, i in labelled], alpha)
    return [label for (label, i), k in zip(labelled, kept) if k and verdict(i) != "no difference"]


def interval_text(i: dict | None, digits: int) -> str:
    if i is None:
        return "n/a"
    return f"{i['diff']:+.{digits}f} [{i['lo']:+.{digits}f}, {i['hi']:+.{digits}f}]"


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
    said = "; ".join(f"{c['claim']}: **{c['verdict']}** ({interval_text(c['interval'], 2)} dB)"
                     for c in summary["claims"].values())
    power = summary["power"]["datasets"].get(p["dataset"])
    detect = f"; differences below {power['detectable']:.2f} dB are not resolved 80% of the time" if power else ""
    return (f"Seed study ({len(summary['seeds'])} seeds per approach, runs of {steps} steps, networks alone, "
            f"{p['dataset']} PSNR against DeFMO with a paired {level} t-interval over seeds): {said}{detect}.")


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
                f"{p['dataset']} {LABELS[p['metric']]} of the network alone, {interval_text(claim['interval'], 2)} dB. "
                f"Secondary (network alone): " + ". ".join(parts) + ".")
        if approach in fit:
            psnr = ", ".join(f"{d} {interval_text(per['psnr'], 2)}" for d, per in fit[approach].items())
            line += f" With the fit (second reading), PSNR difference [interval], dB: {psnr}."
        lines.append(line)
    return lines + [f"- {power_line(summary)}", f"- {multiplicity_line(summary)}"]
