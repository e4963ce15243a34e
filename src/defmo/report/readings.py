"""Plain-language readings of the report's tables, computed from the numbers (never canned).

Each ``reading_*`` takes the parsed inputs of one table (see :mod:`defmo.report.report` for their
layout) and returns Markdown bullet lines: the best method per dataset, whether trained models clear the
Image baseline, memory reductions in %, the code-quality bar, and how the run's scale departs from Table 2.
"""

from __future__ import annotations

from defmo.report import quoted
from defmo.report.tables import LABELS, ROWS, column
from defmo.settings import Config


METHOD_LABELS = {**LABELS, "image": "Image", "background": "Background", "original": "DeFMO (original)"}


def label(method: str) -> str:
    """Display name of a method or approach (``defmo`` -> ``DeFMO (ours)``); unknown names unchanged."""
    return METHOD_LABELS.get(method, method)


def _num(value) -> float | None:
    """``value`` as a float, or None for non-numbers and NaN."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value else None


def reading_table2(paper: Config, cfg: Config) -> str:
    """Which Table 2 values the run's scale changes relative to the report's."""
    if cfg.scale == paper.scale:
        return f"This run used the report's hyper-parameters (scale `{cfg.scale}`)."
    changes = []
    for approach in cfg.train.approaches:
        before, after = column(paper, approach), column(cfg, approach)
        diffs = [f"{ROWS[i][0]} {b} -> {a}" for i, (b, a) in enumerate(zip(before, after)) if a != b]
        if diffs:
            changes.append(f"{label(approach)}: " + "; ".join(diffs))
    if not changes:
        return f"Scale `{cfg.scale}` uses the report's values unchanged."
    return (f"Scale `{cfg.scale}` departs from the report's Table 2 as follows (report -> this run). "
            + " ".join(f"{c}." for c in changes))


def _best(records: list[dict], key: str) -> tuple[str, float] | None:
    scored = [(r["method"], _num(r.get(key))) for r in records]
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
    mine = next((_num(r.get(key)) for r in records if r["method"] == method), None)
    theirs = next((_num(r.get("psnr")) for r in records if r["method"] == other), None)
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


def _window_lines(records: list[dict], cfg: Config) -> list[str]:
    """Readings of the measured records of one background window."""
    by_dataset = _by_dataset(records)
    lines = [dataset_sentence(ds, recs) for ds, recs in by_dataset.items()]
    approaches = cfg.train.approaches
    lines += [_clears(by_dataset, a, "image", "the Image baseline (the blurred input)") for a in approaches]
    lines += [_clears(by_dataset, a, "image", "the Image baseline", "psnr_proj") for a in approaches]
    if {"defmo", "proposed"} <= set(approaches):
        lines.append(_clears(by_dataset, "proposed", "defmo",
                             f"the DeFMO re-implementation (the report: {quoted.PROPOSED_VS_DEFMO})"))
    return [line for line in lines if line]


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
        extra = [f"{line.split(':')[0]}: as with the main window." if line in lines else line
                 for line in _window_lines(recs, cfg)]
        setting = quoted.BACKGROUND_WINDOW
        head = f"With a background median over {window} frames (the report's setting is {setting}):"
        lines += [head] + extra if extra else []
    if any(r.get("quoted") for r in records):
        lines.append("- DeFMO (original) is quoted from its paper (real datasets), not measured here; compare it "
                     "with the measured columns only where the data is real too.")
    return "\n".join(lines) if lines else "No evaluation records were given."


def _reduction_lines(reductions: dict) -> list[str]:
    lines = []
    for approach, techniques in reductions.items():
        parts = [f"{t} {p:.1f}%" for t, p in techniques.items() if _num(p) is not None]
        if parts:
            lines.append(f"- {label(approach)}: peak memory lowered by " + ", ".join(parts) +
                         " relative to no technique (a negative value means more memory).")
    found = [(p, t, a) for a, ts in reductions.items() for t, p in ts.items() if _num(p) is not None]
    if found:
        p, t, a = max(found)
        lines.append(f"- Largest reduction: {t} on {label(a)} ({p:.1f}%).")
    return lines + _mp_vs_gc(reductions)


def _mp_vs_gc(reductions: dict) -> list[str]:
    """Whether mixed precision saved more than gradient checkpointing, as in the report (every approach)."""
    pairs = [(_num(ts.get("mp")), _num(ts.get("gc"))) for ts in reductions.values()]
    pairs = [(mp, gc) for mp, gc in pairs if mp is not None and gc is not None]
    if not pairs:
        return []
    wins = sum(mp > gc for mp, gc in pairs)
    return [f"- Mixed precision saved more than gradient checkpointing for {wins} of {len(pairs)} approaches "
            f"(the report: {quoted.MP_BEATS_GC})."]


def _overhead_line(cells: dict) -> list[str]:
    base, full = (_num(cells.get(k, {}).get("peak_mib")) for k in ("defmo/none", "proposed/none"))
    if not (base and full):
        return []
    change = 100 * (full - base) / base
    more = f"{change:.0f}% more" if change >= 0 else f"{-change:.0f}% less"
    return [f"- With both discriminators (proposed), training needs {more} memory than DeFMO "
            f"({full:.0f} vs {base:.0f} MiB); the report measured {quoted.discriminator_overhead()} on its GPU."]


def reading_table4(memory: dict) -> str:
    """Memory reduction of each technique vs none (%), and the discriminators' overhead."""
    lines = _reduction_lines(memory.get("reduction_pct", {})) + _overhead_line(memory.get("cells", {}))
    return "\n".join(lines) if lines else "No successful memory cells to compare."


def reading_table5(quality: dict) -> str:
    """This project's Radon numbers against the report's two quoted rows and the bar."""
    p, bar = quality["project"], quality["bar"]
    (orig_name, orig), (ref_name, ref) = quoted.TABLE5_RADON.items()
    lines = [
        f"- Average complexity {p['cc_avg']:.2f} (max {p['cc_max']}) over {p['blocks']} blocks in {p['files']} files, "
        f"vs {orig[0]} (max {orig[1]}) for the original DeFMO and {ref[0]} (max {ref[1]}) for the report's refactor.",
        f"- Lowest maintainability index {p['mi_min']:.1f} (average {p['mi_avg']:.1f}), vs {orig[7]} and {ref[7]}.",
        f"- Average Halstead difficulty {p['difficulty_avg']:.2f}, delivered bugs {p['bugs_avg']:.3f} per file.",
    ]
    verdict = "holds" if bar["blocks_over"] == 0 and bar["files_under"] == 0 else "is broken"
    lines.append(f"- The bar (CC <= {bar['max_cc']}, MI >= {bar['min_mi']}) {verdict}: {bar['blocks_over']} blocks "
                 f"over, {bar['files_under']} files under.")
    for name, s in quality.get("compare", {}).items():
        lines.append(f"- {name} (measured the same way): CC average {s['cc_avg']:.2f}, max {s['cc_max']}, "
                     f"MI min {s['mi_min']:.1f}.")
    return "\n".join(lines)


def _verdict(model: float, image: float, background: float) -> str:
    beaten = [name for name, v in (("Image", image), ("Background", background)) if model > v]
    if len(beaten) == 2:
        return "beats both trivial baselines"
    if beaten:
        return f"beats the {beaten[0]} baseline only"
    return "beats neither trivial baseline"


def reading_training(vals: dict[str, dict]) -> str:
    """Validation PSNR of each approach against the Image/Background baselines."""
    lines = []
    for approach, v in vals.items():
        psnr = v.get("psnr", {})
        model, image, background = (_num(psnr.get(k)) for k in ("model", "image", "background"))
        if model is None or image is None or background is None:
            lines.append(f"- {label(approach)}: no validation PSNR recorded.")
            continue
        projected = _num(psnr.get("model_projected"))
        after = "" if projected is None else (
            f" After the blatting projection onto the input image: {projected:.2f} dB, which "
            f"{_verdict(projected, image, background)}.")
        lines.append(f"- {label(approach)}: validation PSNR {model:.2f} dB after {v.get('steps', '?')} steps "
                     f"({v.get('train_seconds', '?')} s on {v.get('device', '?')}); it {_verdict(model, image, background)} "
                     f"(Image {image:.2f} dB, Background {background:.2f} dB).{after}")
    return "\n".join(lines) if lines else "No validation metrics were given."
