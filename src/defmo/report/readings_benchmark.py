"""Plain-language readings of Table 3, the benchmark, computed from the evaluation records (never canned).

Per background window: the best measured method of each dataset per metric; each trained model (network alone
and with the fit) against both trivial baselines on PSNR and SSIM, bounce frames included, naming every place
where it loses; after the blatting projection against Image; and the proposed network against DeFMO's network
(ours), next to the report's finding (the report scores networks alone).
"""

from __future__ import annotations

import re

from defmo.evaluate.outputs import FIT_SUFFIX
from defmo.evaluate.table import BOUNCE_BLOCKS
from defmo import quoted
from defmo.report.readings import as_number, label
from defmo.settings import Config


def _best(records: list[dict], key: str) -> tuple[str, float] | None:
    scored = [(r["method"], as_number(r.get(key))) for r in records]
    scored = [(m, v) for m, v in scored if v is not None]
    return max(scored, key=lambda mv: mv[1]) if scored else None


def dataset_sentence(dataset: str, records: list[dict]) -> str:
    """One bullet: the best measured method of ``dataset`` per metric (``records``: that dataset's records)."""
    parts = []
    for key, name, digits in (("psnr", "PSNR", 2), ("ssim", "SSIM", 3), ("tiou", "TIoU", 3)):
        best = _best(records, key)
        if best:
            parts.append(f"best {name}: {label(best[0])} ({best[1]:.{digits}f})")
    if _best(records, "tiou") is None:
        parts.append("no measured method returned a trajectory, so TIoU is n/a")
    return f"- {dataset}: " + "; ".join(parts) + "."


def _versus(records: list[dict], method: str, other: str, key: str = "psnr") -> float | None:
    """PSNR (``key``: ``psnr`` or ``psnr_proj``) of ``method`` minus the PSNR of ``other`` (dB) in one
    dataset's records, if both exist."""
    mine = next((as_number(r.get(key)) for r in records if r["method"] == method), None)
    theirs = next((as_number(r.get("psnr")) for r in records if r["method"] == other), None)
    return None if mine is None or theirs is None else mine - theirs


def _clears(by_dataset: dict[str, list[dict]], method: str, baseline: str, other: str,
            key: str = "psnr") -> str | None:
    gaps = {ds: _versus(recs, method, baseline, key) for ds, recs in by_dataset.items()}
    gaps = {ds: g for ds, g in gaps.items() if g is not None}
    if not gaps:
        return None
    wins = sum(g > 0 for g in gaps.values())
    detail = ", ".join(f"{ds} {g:+.2f} dB" for ds, g in gaps.items())
    name = label(method) + (" after the blatting projection" if key == "psnr_proj" else "")
    return f"- {name} beats {other} in PSNR on {wins} of {len(gaps)} datasets ({detail})."


def _by_dataset(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rec in records:
        if not rec.get("quoted"):
            out.setdefault(rec["dataset"], []).append(rec)
    return out


BASELINE_METRICS = (("psnr", "PSNR", 2), ("ssim", "SSIM", 3))


def _blocks_of(dataset: str, recs: list[dict], mine: dict) -> list[tuple[str, dict, dict]]:
    """(suffix, the method's record, records by method) of the dataset and, for a bounce block, its bounce frames."""
    blocks = [("", mine, {r["method"]: r for r in recs})]
    if dataset in BOUNCE_BLOCKS and mine.get("bounce"):
        blocks.append((" bounce frames", mine["bounce"], {r["method"]: r.get("bounce") or {} for r in recs}))
    return blocks


def _compare(where: str, rec: dict, by_method: dict) -> list[tuple[bool, str]]:
    """(beats, description) of ``rec`` against each baseline's record in ``by_method`` on PSNR and SSIM."""
    out = []
    for base in ("image", "background"):
        for key, name, digits in BASELINE_METRICS:
            ours, theirs = as_number(rec.get(key)), as_number((by_method.get(base) or {}).get(key))
            if ours is not None and theirs is not None:
                out.append((ours > theirs, f"{where} {name} {ours:.{digits}f} vs {label(base)} {theirs:.{digits}f}"))
    return out


def _losses(by_dataset: dict[str, list[dict]], method: str) -> tuple[int, list[str]] | None:
    """How many (dataset block, baseline, metric) comparisons ``method`` has, and those where it does not beat
    the baseline (``"tbd3d bounce frames SSIM 0.824 vs Background 0.854"``); None without a record of it."""
    compared = []
    for dataset, recs in by_dataset.items():
        mine = next((r for r in recs if r["method"] == method), None)
        for suffix, rec, by_method in _blocks_of(dataset, recs, mine) if mine else ():
            compared += _compare(dataset + suffix, rec, by_method)
    return (len(compared), [text for beats, text in compared if not beats]) if compared else None


def baseline_line(by_dataset: dict[str, list[dict]], method: str) -> str | None:
    """One bullet: ``method`` against Image and Background in PSNR and SSIM on every dataset and TbD-3D's bounce
    frames, naming each comparison it loses."""
    found = _losses(by_dataset, method)
    if found is None:
        return None
    count, lost = found
    head = f"- {label(method)} beats Image and Background in PSNR and SSIM in {count - len(lost)} of {count} comparisons"
    return head + (f"; it loses in {len(lost)}: " + "; ".join(lost) + "." if lost else " (every dataset, bounce "
                   "frames included).")


def _window_lines(records: list[dict], cfg: Config) -> list[str]:
    """Readings of the measured records of one background window."""
    by_dataset = _by_dataset(records)
    lines = [dataset_sentence(ds, recs) for ds, recs in by_dataset.items()]
    approaches = cfg.train.approaches
    models = [m for a in approaches for m in (a, a + FIT_SUFFIX)]
    lines += [baseline_line(by_dataset, m) for m in models]
    lines += [_clears(by_dataset, a, "image", "the Image baseline", "psnr_proj") for a in approaches]
    if {"defmo", "proposed"} <= set(approaches):
        lines.append(_clears(by_dataset, "proposed", "defmo",
                             f"the DeFMO re-implementation, networks alone (the report: {quoted.PROPOSED_VS_DEFMO})"))
    return [line for line in lines if line]


def _subject(line: str) -> str:
    """What a reading bullet is about: ``- tbd3d`` of ``- tbd3d: best PSNR ...``, ``- Proposed`` of ``- Proposed
    beats ...``."""
    return re.split(r":| beats ", line, maxsplit=1)[0]


def reading_table3(records: list[dict], cfg: Config) -> str:
    """Per background window: best measured method per dataset, trained models vs the Image baseline,
    proposed vs DeFMO (ours). Records without ``background_window`` count as the main window."""
    main = cfg.evaluate.background_window
    windows: dict[int, list[dict]] = {}
    for rec in records:
        windows.setdefault(rec.get("background_window") or main, []).append(rec)
    lines = _window_lines(windows.pop(main, []), cfg)
    for window, recs in sorted(windows.items()):
        # a line the main window already states (same numbers) is said once
        extra = [f"{_subject(line)}: as with the main window." if line in lines else line
                 for line in _window_lines(recs, cfg)]
        setting = quoted.BACKGROUND_WINDOW
        head = f"With a background median over {window} frames (the report's setting is {setting}):"
        lines += [head] + extra if extra else []
    if any(r.get("quoted") for r in records):
        lines.append("- DeFMO (original) is quoted from its paper (real datasets) in its own table (table3_quoted), "
                     "not measured here: not comparable with the synthetic sequences.")
    return "\n".join(lines) if lines else "No evaluation records were given."
