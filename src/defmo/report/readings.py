"""Plain-language readings of the report's tables, computed from the numbers (never canned).

Each ``reading_*`` takes the parsed inputs of one table (see :mod:`defmo.report.report` for their
layout) and returns Markdown bullet lines: how the run's scale departs from Table 2, memory reductions in %,
the code-quality bar and the validation PSNR against the baselines. Table 3's (the benchmark: the best method
per dataset, whether trained models clear the Image baseline) are :mod:`defmo.report.readings_benchmark`'s.
"""

from __future__ import annotations

from defmo.evaluate.outputs import approach_of, is_fitted
from defmo import quoted
from defmo.report.tables import LABELS, ROWS, column
from defmo.settings import Config


METHOD_LABELS = {**LABELS, "image": "Image", "background": "Background", "original": "DeFMO (original)"}


def label(method: str) -> str:
    """Display name of a method or approach (``defmo`` -> ``DeFMO (ours)``, ``defmo+fit`` -> ``DeFMO (ours) +
    fit``); unknown names unchanged."""
    if is_fitted(method):
        return label(approach_of(method)) + " + fit"
    return METHOD_LABELS.get(method, method)


def as_number(value) -> float | None:
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


def _reduction_lines(reductions: dict) -> list[str]:
    lines = []
    for approach, techniques in reductions.items():
        parts = [f"{t} {p:.1f}%" for t, p in techniques.items() if as_number(p) is not None]
        if parts:
            lines.append(f"- {label(approach)}: peak memory lowered by " + ", ".join(parts) +
                         " relative to no technique (a negative value means more memory).")
    found = [(p, t, a) for a, ts in reductions.items() for t, p in ts.items() if as_number(p) is not None]
    if found:
        p, t, a = max(found)
        lines.append(f"- Largest reduction: {t} on {label(a)} ({p:.1f}%).")
    return lines + _mp_vs_gc(reductions)


def _mp_vs_gc(reductions: dict) -> list[str]:
    """Whether mixed precision saved more than gradient checkpointing, as in the report (every approach)."""
    pairs = [(as_number(ts.get("mp")), as_number(ts.get("gc"))) for ts in reductions.values()]
    pairs = [(mp, gc) for mp, gc in pairs if mp is not None and gc is not None]
    if not pairs:
        return []
    wins = sum(mp > gc for mp, gc in pairs)
    return [f"- Mixed precision saved more than gradient checkpointing for {wins} of {len(pairs)} approaches "
            f"(the report: {quoted.MP_BEATS_GC})."]


def _overhead_line(cells: dict) -> list[str]:
    base, full = (as_number(cells.get(k, {}).get("peak_mib")) for k in ("defmo/none", "proposed/none"))
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
        model, image, background = (as_number(psnr.get(k)) for k in ("model", "image", "background"))
        if model is None or image is None or background is None:
            lines.append(f"- {label(approach)}: no validation PSNR recorded.")
            continue
        projected = as_number(psnr.get("model_projected"))
        after = "" if projected is None else (
            f" After the blatting projection onto the input image: {projected:.2f} dB, which "
            f"{_verdict(projected, image, background)}.")
        fit = v.get("fit") or {}
        fitted = as_number(fit.get("psnr", {}).get("model"))
        with_fit = "" if fitted is None else (
            f" With the fit at inference ({fit.get('fit_steps', '?')} steps): {fitted:.2f} dB, which "
            f"{_verdict(fitted, image, background)}.")
        lines.append(f"- {label(approach)} (network alone): validation PSNR {model:.2f} dB after "
                     f"{v.get('steps', '?')} steps ({v.get('train_seconds', '?')} s on {v.get('device', '?')}); it "
                     f"{_verdict(model, image, background)} (Image {image:.2f} dB, Background {background:.2f} dB)."
                     f"{after}{with_fit}")
    return "\n".join(lines) if lines else "No validation metrics were given."
