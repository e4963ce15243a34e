#!/usr/bin/env python3
"""Check the bar of the models issues from the committed training and evaluation outputs (not a timed test):

The bar was set for the pipeline's models, each network plus its fit at inference where the model has one (the
metrics' ``fit`` block, the ``<approach>+fit`` evaluation records), else the network alone.

1. validation: at scale ``cpu``, each trained approach's validation PSNR (its composited sub-frames,
   ``results/train/metrics/<approach>.json`` -> ``psnr.model``, ``fit.psnr.model`` with the fit) is at least ``--margin-db`` (1 dB)
   above the Image baseline and above the Background baseline (the PSNR after the blatting projection is
   printed alongside but does not count); its shape (``shape``): mean mask IoU at least ``--iou-min`` (0.67)
   and at least the reference run's + ``--iou-gain`` (0.10), and the length ratio's interquartile range inside
   ``--ratio-range`` (0.75, 1.33);
2. embedded benchmark, main background window (params.yaml ``evaluate.background_window``, or ``--window``): each
   trained model beats the Image baseline in PSNR and in SSIM on every dataset and on its bounce frames (the
   record's ``bounce``, where it has any), has a computed TIoU, a mean mask IoU at least the reference run's +
   ``--iou-gain``, the length ratio's interquartile range inside ``--ratio-range``, and a PSNR at most
   ``--psnr-drop`` (0.3 dB) below the reference run's (``results/evaluate/metrics/<dataset>/<method>.json``; a
   window other than the main one reads the ``<method>_w<window>.json`` variant);
3. D_T: the mean of the loss curve's ``dt`` column (D_T's mean BCE per pair; ln 2 = 0.693 at chance) over the
   last 10% of the proposed model's steps (``results/train/plots/proposed.csv``) is at most ``--dt-max`` (0.6);
4. time: training all the approaches took at most ``--limit-min`` minutes (30): the Snakemake ``benchmark:``
   wall time of each train rule when present and not a mere resume of a finished training, else the metrics'
   ``train_seconds``, the training steps' time summed over resumed runs.

The reference run is the committed ``streak`` generator's (``--reference``, default ``results/reference/streak``:
its ``train/metrics/<approach>.json`` shape and ``evaluate/metrics/<dataset>/<approach>.json`` as the same verbs
write them); without ``--reference`` files the comparisons with it are skipped and said so.

    python workflow/scripts/check_training_bar.py [--root .] [--limit-min 30] [--margin-db 1] [--dt-max 0.6]
        [--window W] [--approaches defmo proposed] [--reference results/reference/streak]

Exit status 0 when the bar is met, 1 when not, 2 when an input is missing.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from defmo import config
from defmo.errors import UserError
from defmo.evaluate.outputs import FIT_SUFFIX, variant_path

DATASETS = ("falling_objects", "tbd3d", "tbd")
DT_APPROACH = "proposed"
TAIL = 0.1  # share of the last steps the D_T mean covers
TRAIN = "snakemake --cores all train"
EVALUATE = "snakemake --cores all evaluate"


@dataclass(frozen=True)
class Bar:
    """The thresholds: validation margin over the trivial baselines [dB], D_T's BCE, mask IoU (absolute on
    validation, gain over the reference everywhere), the length ratio's range for its interquartile range, the
    benchmark PSNR the model may lose against the reference [dB]."""

    margin_db: float = 1.0
    dt_max: float = 0.6
    iou_min: float = 0.67
    iou_gain: float = 0.10
    ratio_range: tuple[float, float] = (0.75, 1.33)
    psnr_drop: float = 0.3


def read_json(path: Path, command: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `{command}` first")
    return json.loads(path.read_text())


def verdict(ok: bool, good: str = "ok", bad: str = "FAILS") -> str:
    return good if ok else bad


def main_window(root: Path) -> int:
    """The main background window: ``evaluate.background_window`` of ``root/params.yaml`` at scale ``cpu``."""
    path = root / "params.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run from the repository root or pass --window")
    return int(config.load(path, "cpu", []).to_dict()["evaluate"]["background_window"])


def eval_path(root: Path, dataset: str, method: str, window: int, main: int) -> Path:
    """Where ``evaluate`` writes ``method`` on ``dataset``: ``<method>.json`` for the main window, else the
    ``<method>_w<window>.json`` variant."""
    return variant_path(root / "results" / "evaluate" / "metrics" / dataset / f"{method}.json", window, main)


def wall_seconds(root: Path, approach: str, metrics: dict) -> tuple[float, str]:
    """Training time of ``approach``: the Snakemake ``benchmark:`` wall time of its train rule, unless that
    run was shorter than the training steps themselves (``train_seconds``, summed over resumed runs), i.e. the
    rule last ran as a resume of a finished training; then ``train_seconds``."""
    steps = float(metrics["train_seconds"])
    tsv = root / "results" / "train" / "timing" / f"train_{approach}.tsv"
    if tsv.is_file():
        with open(tsv, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if rows and float(rows[-1]["s"]) >= steps:
            return float(rows[-1]["s"]), "snakemake benchmark"
        if rows:
            return steps, "train_seconds: the last train rule run only resumed a finished training"
    return steps, "train_seconds (training steps only)"


def ratio_ok(ratio: dict | None, bar: Bar) -> bool:
    """Whether a length ratio's interquartile range ``{q25, q75}`` lies inside ``bar.ratio_range``."""
    return ratio is not None and bar.ratio_range[0] <= ratio["q25"] and ratio["q75"] <= bar.ratio_range[1]


def ratio_text(ratio: dict | None) -> str:
    return "n/a" if ratio is None else f"{ratio['median']:.2f} [{ratio['q25']:.2f}, {ratio['q75']:.2f}]"


def check_shape(iou: float | None, ratio: dict | None, ref_iou: float | None, bar: Bar,
                floor: float | None = None) -> tuple[bool, str]:
    """Mask IoU against ``floor`` and the reference + gain (when given), the length ratio's IQR in range."""
    need = max(v for v in (floor, None if ref_iou is None else ref_iou + bar.iou_gain, -1.0) if v is not None)
    ok = iou is not None and iou >= need and ratio_ok(ratio, bar)
    ref = "no reference" if ref_iou is None else f"reference {ref_iou:.3f}"
    iou_text = "n/a" if iou is None else f"{iou:.3f}"
    return ok, (f"mask IoU {iou_text} (required >= {need:.3f}; {ref}), length ratio {ratio_text(ratio)} "
                f"(IQR inside [{bar.ratio_range[0]:g}, {bar.ratio_range[1]:g}])")


def check_validation(approach: str, m: dict, bar: Bar, ref: dict | None = None) -> tuple[bool, list[str]]:
    p = m["psnr"]
    margin = p["model"] - max(p["image"], p["background"])
    good = margin >= bar.margin_db and m["scale"] == "cpu"
    shape = m.get("shape") or {}
    ref_iou = ((ref or {}).get("shape") or {}).get("mask_iou")
    shape_ok, shape_line = check_shape(shape.get("mask_iou"), shape.get("length_ratio"), ref_iou, bar, bar.iou_min)
    ok = good and shape_ok
    lines = [f"{approach:>10} validation: scale {m['scale']}, {m['steps']} steps; PSNR model {p['model']:.2f} dB vs "
             f"image {p['image']:.2f}, background {p['background']:.2f}: margin {margin:+.2f} dB (required "
             f">= {bar.margin_db:g}) -> {verdict(good)}",
             f"{'':>10}   {shape_line} -> {verdict(shape_ok)}"]
    if "model_projected" in p:  # reported, not part of the bar
        proj = p["model_projected"] - max(p["image"], p["background"])
        lines.append(f"{'':>10}   after the blatting projection: {p['model_projected']:.2f} dB, margin "
                     f"{proj:+.2f} dB (reported only)")
    return ok, lines


def tiou_computed(value) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def read_eval(root: Path, dataset: str, method: str, window: int, main: int) -> dict:
    """One ``evaluate`` record; a ValueError when it was written with another background window (stale)."""
    path = eval_path(root, dataset, method, window, main)
    record = read_json(path, EVALUATE)
    if record.get("background_window", window) != window:
        raise ValueError(f"{path}: background window {record['background_window']}, not {window}; "
                         f"rerun `{EVALUATE}`")
    return record


def beats_image(r: dict, image: dict) -> bool:
    return r["psnr"] is not None and r["psnr"] > image["psnr"] and r["ssim"] > image["ssim"]


def check_bounce(r: dict, image: dict, label: str) -> tuple[bool, list[str]]:
    """The bounce frames' record (``bounce``), where the dataset has any: above Image in PSNR and SSIM."""
    rb, ib = r.get("bounce") or {}, image.get("bounce") or {}
    if not rb.get("frames"):
        return True, []
    good = beats_image(rb, ib)
    return good, [f"{'':>10}   {label} bounce frames ({rb['frames']}): PSNR {rb['psnr']:.2f} vs image "
                  f"{ib['psnr']:.2f} dB, SSIM {rb['ssim']:.3f} vs image {ib['ssim']:.3f} -> {verdict(good)}"]


def check_reference_psnr(r: dict, ref: dict | None, bar: Bar) -> tuple[bool, str]:
    if ref is None:
        return True, "no reference PSNR"
    ok = r["psnr"] >= ref["psnr"] - bar.psnr_drop
    return ok, f"PSNR vs reference {ref['psnr']:.2f} dB: {r['psnr'] - ref['psnr']:+.2f} (>= -{bar.psnr_drop:g})"


def check_method(root: Path, approach: str, dataset: str, image: dict, where: tuple[int, int],
                 reference: Path | None, bar: Bar) -> tuple[bool, list[str]]:
    window, main = where
    fitted = approach + FIT_SUFFIX  # the pipeline's model: the network plus its fit, where it has one
    r = read_eval(root, dataset, fitted if eval_path(root, dataset, fitted, window, main).is_file() else approach,
                  window, main)
    ref = read_reference(reference, dataset, approach, window, main)
    good = beats_image(r, image) and tiou_computed(r["tiou"])
    tiou = f"{r['tiou']:.3f}" if tiou_computed(r["tiou"]) else "NOT COMPUTED"
    shape_ok, shape_line = check_shape(r.get("mask_iou"), r.get("length_ratio"),
                                       None if ref is None else ref.get("mask_iou"), bar)
    psnr_ok, psnr_line = check_reference_psnr(r, ref, bar)
    bounce_ok, bounce_lines = check_bounce(r, image, dataset)
    lines = [f"{approach:>10} {dataset} (w={window}): PSNR {r['psnr']:.2f} vs image {image['psnr']:.2f} dB, "
             f"SSIM {r['ssim']:.3f} vs image {image['ssim']:.3f}, TIoU {tiou} -> {verdict(good)}",
             f"{'':>10}   {shape_line}; {psnr_line} -> {verdict(shape_ok and psnr_ok)}", *bounce_lines]
    return good and shape_ok and psnr_ok and bounce_ok, lines


def read_reference(reference: Path | None, dataset: str, approach: str, window: int, main: int) -> dict | None:
    """The reference run's record of ``approach`` on ``dataset``, or None without a reference folder."""
    if reference is None:
        return None
    path = variant_path(reference / "evaluate" / "metrics" / dataset / f"{approach}.json", window, main)
    return read_json(path, "the reference run's `evaluate` (docs/CPU_TRAINING.md)")


def check_dataset(root: Path, approaches: list[str], dataset: str, where: tuple[int, int],
                  reference: Path | None, bar: Bar) -> tuple[bool, list[str]]:
    image = read_eval(root, dataset, "image", *where)
    ok, lines = True, []
    for approach in approaches:
        good, more = check_method(root, approach, dataset, image, where, reference, bar)
        ok &= good
        lines += more
    return ok, lines


def curve_rows(path: Path) -> list[tuple[int, str]]:
    """(step, dt text) of each loss-curve row with a step; dt may be empty."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `{TRAIN}` first")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [(int(float(r["step"])), (r.get("dt") or "").strip()) for r in rows if (r.get("step") or "").strip()]


def dt_tail_mean(path: Path) -> tuple[float, int, int]:
    """Mean of the non-empty ``dt`` values over the steps after 90% of the last step; (mean, rows, last step)."""
    rows = curve_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows with a step; rerun `{TRAIN}`")
    last = max(step for step, _ in rows)
    tail = [float(dt) for step, dt in rows if step > (1 - TAIL) * last and dt]
    if not tail:
        raise ValueError(f"{path}: no dt values over the last {TAIL:.0%} of the steps; rerun `{TRAIN}`")
    return sum(tail) / len(tail), len(tail), last


def check_dt(root: Path, dt_max: float) -> tuple[bool, list[str]]:
    mean, n, last = dt_tail_mean(root / "results" / "train" / "plots" / f"{DT_APPROACH}.csv")
    ok = mean <= dt_max
    return ok, [f"{DT_APPROACH:>10} D_T: mean dt {mean:.3f} over the last {n} of {last} steps (chance ln 2 = "
                f"{math.log(2):.3f}; required <= {dt_max:g}) -> {verdict(ok)}"]


def resolve_window(root: Path, window: int | None) -> tuple[int, int]:
    """(window to check, main window): ``--window`` or the main one of ``root/params.yaml``; with ``--window``
    and no params.yaml, the unsuffixed files are taken as that window's (their records say which they are)."""
    if window is None:
        main = main_window(root)
        return main, main
    try:
        return window, main_window(root)
    except FileNotFoundError:
        return window, window


def check(root: Path, approaches: list[str], limit_min: float, bar: Bar = Bar(), window: int | None = None,
          reference: Path | None = None) -> tuple[bool, list[str]]:
    ok, lines, total = True, [], 0.0
    if reference is not None and not reference.is_dir():
        lines.append(f"no reference run at {reference}: the comparisons with it are skipped")
        reference = None
    for approach in approaches:
        m = read_json(root / "results" / "train" / "metrics" / f"{approach}.json", TRAIN)
        ref = None if reference is None else read_json(reference / "train" / "metrics" / f"{approach}.json",
                                                       "the reference run's `validate`")
        seconds, source = wall_seconds(root, approach, m)
        total += seconds
        good, more = check_validation(approach, dict(m, **m.get("fit", {})), bar, ref)
        ok &= good
        lines += more + [f"{'':>10}   training time {seconds / 60:.1f} min ({source})"]
    where = resolve_window(root, window)
    for dataset in DATASETS:
        good, more = check_dataset(root, approaches, dataset, where, reference, bar)
        ok &= good
        lines += more
    good, more = check_dt(root, bar.dt_max)
    fast = total <= limit_min * 60
    lines += more + [f"total training time {total / 60:.1f} min (limit {limit_min:g}) -> {verdict(fast, 'ok', 'TOO SLOW')}"]
    return ok and good and fast, lines


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path("."))
    p.add_argument("--limit-min", type=float, default=30.0)
    p.add_argument("--margin-db", type=float, default=Bar.margin_db)
    p.add_argument("--dt-max", type=float, default=Bar.dt_max)
    p.add_argument("--iou-min", type=float, default=Bar.iou_min)
    p.add_argument("--iou-gain", type=float, default=Bar.iou_gain)
    p.add_argument("--ratio-range", type=float, nargs=2, default=Bar.ratio_range)
    p.add_argument("--psnr-drop", type=float, default=Bar.psnr_drop)
    p.add_argument("--reference", type=Path, default=Path("results/reference/streak"),
                   help="the reference run's folder (relative to --root)")
    p.add_argument("--window", type=int, default=None,
                   help="background window of the benchmark files (default: params.yaml evaluate.background_window)")
    p.add_argument("--approaches", nargs="+", default=["defmo", "proposed"])
    args = p.parse_args(argv)
    try:
        bar = Bar(args.margin_db, args.dt_max, args.iou_min, args.iou_gain, tuple(args.ratio_range), args.psnr_drop)
        reference = args.reference if args.reference.is_absolute() else args.root / args.reference
        ok, lines = check(args.root, args.approaches, args.limit_min, bar, args.window, reference)
    except (FileNotFoundError, KeyError, ValueError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    print("BAR MET" if ok else "BAR NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
