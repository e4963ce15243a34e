"""The results summary that README.md includes: a small table and a few sentences, every number read from the
results files (never typed), so the README cannot go stale.

``results/report/summary.md`` is written by the ``report`` verb; ``README.md`` holds a copy between
:data:`BEGIN` and :data:`END` (``python workflow/scripts/sync_readme.py`` copies it there;
``tests/unit/test_readme_numbers.py`` regenerates it from the committed results and fails while README differs).

Example:
    >>> print(table_row("Validation", "PSNR [dB]", [31.2, None], 2))
    | Validation | PSNR [dB] | 31.20 | n/a |
"""

from __future__ import annotations

from pathlib import Path

from defmo.evaluate.outputs import FIT_SUFFIX
from defmo.evaluate.table import dataset_label
from defmo.report.readings import as_number, label
from defmo.report.readings_benchmark import _by_dataset, baseline_line

BEGIN = "<!-- results:begin (generated from results/ by `python -m defmo report`; do not edit) -->"
END = "<!-- results:end -->"
BASELINES = ("image", "background")


def table_row(data: str, metric: str, values: list, digits: int) -> str:
    cells = ["n/a" if as_number(v) is None else f"{v:.{digits}f}" for v in values]
    return "| " + " | ".join([data, metric, *cells]) + " |"


def _models(approaches: list[str], fitted: bool) -> list[str]:
    return [m for a in approaches for m in ((a, a + FIT_SUFFIX) if fitted else (a,))]


def _validation_value(val: dict, method: str, key: str):
    """Validation PSNR (``key`` "psnr") or mask IoU ("mask_iou") of a method from the approaches' metrics."""
    if method in BASELINES:
        record = next(iter(val.values()), {})
        return record.get("psnr", {}).get(method) if key == "psnr" else None
    approach, fit = (method[: -len(FIT_SUFFIX)], True) if method.endswith(FIT_SUFFIX) else (method, False)
    record = val.get(approach, {})
    record = record.get("fit") or {} if fit else record
    return record.get("psnr", {}).get("model") if key == "psnr" else (record.get("shape") or {}).get("mask_iou")


def _main_records(records: list[dict], main_window: int, datasets: list[str]) -> dict[str, list[dict]]:
    """The measured records of the main background window by dataset, in ``datasets``' order (Table 3's)."""
    main = [r for r in records if not r.get("quoted") and r.get("background_window", main_window) == main_window]
    by_dataset = _by_dataset(main)
    return {d: by_dataset[d] for d in sorted(by_dataset, key=lambda d: (datasets.index(d) if d in datasets
                                                                       else len(datasets), d))}


def _dataset_rows(by_dataset: dict[str, list[dict]], methods: list[str]) -> list[str]:
    lines = []
    for dataset, recs in by_dataset.items():
        by_method = {r["method"]: r for r in recs}
        data = dataset_label(dataset, recs[0].get("data_source"))
        for key, name, digits in (("psnr", "PSNR [dB]", 2), ("ssim", "SSIM", 3), ("mask_iou", "mask IoU", 3)):
            lines.append(table_row(data, name, [by_method.get(m, {}).get(key) for m in methods], digits))
    return lines


def results_table(val: dict[str, dict], by_dataset: dict[str, list[dict]], approaches: list[str]) -> list[str]:
    """Rows: validation (PSNR, mask IoU) and each benchmark dataset (PSNR, SSIM, mask IoU); columns: both
    baselines, each model alone and with the fit."""
    methods = [*BASELINES, *_models(approaches, _fitted(val))]
    lines = ["| Data | Metric | " + " | ".join(label(m) for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for key, name, digits in (("psnr", "PSNR [dB]", 2), ("mask_iou", "mask IoU", 3)):
        lines.append(table_row("Validation (synthetic)", name, [_validation_value(val, m, key) for m in methods],
                               digits))
    return lines + _dataset_rows(by_dataset, methods)


def _fitted(val: dict[str, dict]) -> bool:
    return any(v.get("fit") for v in val.values())


def _training_line(val: dict[str, dict]) -> str:
    parts = []
    for approach, rec in val.items():
        skipped = sum((rec.get("skipped_steps") or {}).values())
        width = rec.get("width_logit") or {}
        collapsed = (f", {100 * width['collapsed_share']:.1f}% of {width['samples']} training samples with a "
                     f"collapsed width logit (< {width['collapsed_below']:g})" if width else "")
        parts.append(f"{label(approach)} {rec.get('steps')} steps in {rec.get('train_seconds', 0) / 60:.1f} min, "
                     f"{skipped} non-finite steps skipped{collapsed}")
    device = next(iter(val.values()), {}).get("device", "n/a")
    return f"- Training ({device}): " + "; ".join(parts) + "."


def _versus_line(val: dict[str, dict], by_dataset: dict[str, list[dict]]) -> str | None:
    """Proposed against DeFMO (ours), networks alone: validation and each dataset's PSNR difference."""
    if not {"defmo", "proposed"} <= set(val):
        return None
    diffs = [f"validation {val['proposed']['psnr']['model'] - val['defmo']['psnr']['model']:+.2f} dB"]
    for dataset, recs in by_dataset.items():
        psnr = {r["method"]: as_number(r.get("psnr")) for r in recs}
        if psnr.get("proposed") is not None and psnr.get("defmo") is not None:
            diffs.append(f"{dataset_label(dataset, recs[0].get('data_source'))} {psnr['proposed'] - psnr['defmo']:+.2f} dB")
    return ("- Proposed minus DeFMO (ours), networks alone, one training run each (PSNR): " + ", ".join(diffs) +
            "; whether a difference exceeds the run-to-run spread is the seed study's question.")


def _fit_sentence(val: dict[str, dict]) -> str:
    steps = next((v["fit"].get("fit_steps") for v in val.values() if v.get("fit")), None)
    return (f"Networks alone are the report's methods; '+ fit' adds {steps} Adam steps of Tracking by Deblatting's "
            "fit per frame (`model.fit_steps`)." if steps else "")


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def _seed_range(approach: str, runs: list[dict]) -> list[str]:
    """``"DeFMO (ours) network 30.9-31.4 dB (std 0.25)"`` and the same with the fit, over ``runs``."""
    out = []
    for name, key in (("network", None), ("with the fit", "fit")):
        values = [(r.get(key) if key else r)["psnr"]["model"] for r in runs if not key or r.get(key)]
        if len(values) >= 2:
            out.append(f"{label(approach)} {name} {min(values):.2f}-{max(values):.2f} dB (std {_std(values):.2f})")
    return out


def spread_line(val: dict[str, dict], spread: list[dict]) -> str | None:
    """Run-to-run spread of the validation scores: the committed run and the other seeds' runs of the same
    approach (``spread``: the train verb's metrics JSONs of ``workflow/scripts/seed_spread.sh``), network alone
    and with the fit: range and sample standard deviation over the seeds."""
    parts = []
    for approach in dict.fromkeys(r.get("approach") for r in spread):
        if approach in val:
            parts += _seed_range(approach, [val[approach], *(r for r in spread if r.get("approach") == approach)])
    if not parts:
        return None
    return (f"- Run-to-run spread, validation PSNR over {1 + len(spread)} training seeds of the same settings (the "
            "committed run and `results/spread/`): " + "; ".join(parts) + ".")


def summary_markdown(val: dict[str, dict], records: list[dict], approaches: list[str], main_window: int,
                     datasets: list[str] = (), spread: list[dict] = ()) -> str:
    """The block README.md includes: the results table, then the generated sentences; the benchmark's datasets
    in ``datasets``' order (then any other, by name); with ``spread`` (other seeds' metrics), their spread."""
    by_dataset = _main_records(records, main_window, list(datasets))
    lines = [BEGIN, "", *results_table(val, by_dataset, approaches), ""]
    lines += [line for line in (_fit_sentence(val), "") if line] + [_training_line(val)]
    lines += [line for line in [spread_line(val, list(spread))] if line]
    lines += [line for line in [_versus_line(val, by_dataset)] if line]
    lines += [line for m in _models(approaches, _fitted(val)) if (line := baseline_line(by_dataset, m))]
    return "\n".join([*lines, "", END]) + "\n"


def headline_metrics(val: dict[str, dict], records: list[dict], approaches: list[str], main_window: int,
                     datasets: list[str] = (), seeds: dict | None = None) -> dict:
    """The few numbers ``dvc metrics diff`` shows (``results/report/metrics.json``): per model (each approach
    alone and with the fit) the validation PSNR and mask IoU and each benchmark dataset's PSNR (and SSIM of the
    networks alone); with ``seeds`` (the seed study's summary), each claim's validation PSNR difference of the
    networks to the reference (the study's primary metric). Rounded to 4 digits so a diff shows changes, not float noise.
    """
    def rounded(value):
        number = as_number(value)
        return None if number is None else round(number, 4)

    models = _models(approaches, _fitted(val))
    out: dict = {"validation": {m: {"psnr": rounded(_validation_value(val, m, "psnr")),
                                    "mask_iou": rounded(_validation_value(val, m, "mask_iou"))} for m in models}}
    for dataset, recs in _main_records(records, main_window, list(datasets)).items():
        by_method = {r["method"]: r for r in recs}
        out[dataset] = {m: {"psnr": rounded(by_method.get(m, {}).get("psnr")),
                            **({} if m.endswith(FIT_SUFFIX) else {"ssim": rounded(by_method.get(m, {}).get("ssim"))})}
                        for m in models}
    if seeds:
        out["seed_study"] = {approach: {"validation_psnr_difference": rounded((claim.get("interval") or {}).get("diff"))}
                             for approach, claim in seeds.get("claims", {}).items()}
    return out


def sync_readme(readme: Path, summary: str, begin: str = BEGIN, end: str = END) -> bool:
    """Replace the block between ``begin`` and ``end`` (the results block by default) of ``readme`` by
    ``summary``, which starts with ``begin`` and ends with ``end``; whether it changed."""
    text = readme.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{readme}: no generated block ({begin!r} ... {end!r}) to replace")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    new = head + summary.rstrip("\n") + tail
    if new != text:
        readme.write_text(new)
    return new != text


SEEDS_BEGIN = "<!-- seeds:begin (generated from results/seeds/ by `python -m defmo seeds --summarize`; do not edit) -->"
SEEDS_END = "<!-- seeds:end -->"


def seeds_block(verdicts: str, table: str | None = None) -> str:
    """The seed study's generated block: the README takes the verdict sentence (the first line of
    ``seeds_verdicts.md``), docs/SEED_STUDY.md every verdict line and the table too."""
    body = verdicts.strip() if table is not None else verdicts.strip().splitlines()[0]
    parts = [SEEDS_BEGIN, "", body, ""] + ([table.strip(), ""] if table is not None else [])
    return "\n".join([*parts, SEEDS_END]) + "\n"


def readme_block(readme: Path, begin: str = BEGIN, end: str = END) -> str:
    """The generated block currently in ``readme`` (markers included), as :func:`summary_markdown` (or
    :func:`seeds_block`, with its markers) writes it."""
    text = readme.read_text()
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
