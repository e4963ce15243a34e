"""One run of the seed study scored frame by frame: the validation split (per sample) and every benchmark
dataset (per frame, the benchmark protocol of :mod:`defmo.evaluate.protocol`, main background window).

Each run is scored twice (:data:`READINGS`): the network alone, which the study's verdicts are about, and the
network plus its fit at inference, a second reading (only for a model with ``fit_steps``). A run writes two
files: the ``frames`` CSV, one row per reading, validation sample and benchmark frame (what the paired
differences are taken over), and the run's metrics JSON (the protocol's summaries per reading).
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np

from defmo.settings import Config
from defmo.utils.table_io import to_csv

log = logging.getLogger(__name__)
VALIDATION = "validation"  # the dataset name of the validation split's rows
BOUNCE = "tbd3d_bounce"  # the TbD-3D frames with a bounce, reported on their own (issue: sharp objects)
NETWORK, FIT = "network", "fit"
READINGS = (NETWORK, FIT)  # the network alone (the verdicts), then with its fit at inference (a second reading)
FRAME_COLUMNS = ("reading", "dataset", "sequence", "frame", "bounce", "psnr", "ssim", "tiou", "mask_iou")
METRICS = ("psnr", "ssim", "tiou", "mask_iou")
LABELS = {"psnr": "PSNR", "ssim": "SSIM", "tiou": "TIoU", "mask_iou": "mask IoU"}


def _value(row: dict, key: str) -> float:
    value = row.get(key)
    return float("nan") if value is None else float(value)


def frame_rows(reading: str, dataset: str, per_sequence: dict[str, list[dict]]) -> list[list]:
    """Rows of :data:`FRAME_COLUMNS` from :func:`defmo.evaluate.protocol.evaluate_sequence`'s rows."""
    return [[reading, dataset, name, r["frame"], int(bool(r.get("bounce"))), *(_value(r, k) for k in METRICS)]
            for name, rows in per_sequence.items() for r in rows]


def validation_rows(reading: str, samples: list[dict]) -> list[list]:
    """Rows of :data:`FRAME_COLUMNS` from :func:`defmo.train.validate.evaluate`'s ``samples`` (no SSIM, no TIoU)."""
    nan = float("nan")
    return [[reading, VALIDATION, "val", i, 0, s["psnr"], nan, nan, s["mask_iou"]] for i, s in enumerate(samples)]


def read_frames(path: Path) -> list[dict]:
    """A run's frames CSV as rows of floats (``dataset`` and ``sequence`` kept as text)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        parsed = {k: (v if k in ("reading", "dataset", "sequence") else float(v) if v != "" else math.nan)
                  for k, v in row.items()}
        out.append(parsed)
    return out


def _validation_record(result: dict) -> dict:
    return {"psnr": result["psnr"]["model"], "psnr_image": result["psnr"]["image"],
            "mask_iou": result["shape"]["mask_iou"], "length_ratio": result["shape"]["length_ratio"],
            "samples": result["samples"]}


def _dataset_record(summary: dict) -> dict:
    keys = ("psnr", "ssim", "tiou", "mask_iou", "length_ratio", "frames")
    return {k: summary[k] for k in keys}


def score_run(checkpoint: Path, val_dir: Path, datasets: dict[str, Path], cfg: Config) -> tuple[str, dict]:
    """Score ``checkpoint`` on the validation split and on each benchmark dataset (name -> root), as the network
    alone and, for a model with a fit at inference, as the network plus its fit.

    Returns the frames CSV text and the record ``{reading: {validation: {...}, <dataset>: {...},
    tbd3d_bounce: {...}}}`` (per dataset the protocol's PSNR, SSIM, TIoU, mask IoU and length ratio; TbD-3D's
    bounce frames as their own entry when it has any).
    """
    from defmo.models.weights import load_generator
    from defmo.utils.runtime import resolve_device

    device = resolve_device(cfg)
    generator, model_cfg = load_generator(checkpoint, device)
    readings = READINGS if getattr(generator, "fit_steps", 0) else (NETWORK,)
    rows, record = [], {}
    for reading in readings:
        reading_rows, record[reading] = _score_reading(generator, model_cfg, reading == FIT, val_dir, datasets,
                                                       cfg, device)
        rows += reading_rows
    return to_csv(FRAME_COLUMNS, rows), record


def _score_reading(generator, model_cfg: dict, fit: bool, val_dir: Path, datasets: dict[str, Path], cfg: Config,
                   device) -> tuple[list[list], dict]:
    """One reading of a run: its frame rows and its record."""
    from defmo.data.dataset import SyntheticFMODataset
    from defmo.evaluate.loaders import load_dataset
    from defmo.evaluate.methods import NetworkMethod
    from defmo.evaluate.protocol import evaluate_sequence, summarize
    from defmo.train import validate

    reading = FIT if fit else NETWORK
    samples: list[dict] = []
    result = validate.evaluate(generator, SyntheticFMODataset(val_dir, flips=False), device, 8, samples, fit=fit)
    rows, record = validation_rows(reading, samples), {VALIDATION: _validation_record(result)}
    method = NetworkMethod.of_trained(generator, model_cfg, cfg.evaluate, device, fit)
    for name, root in datasets.items():
        per_seq = {seq.name: evaluate_sequence(seq, method, cfg.evaluate.background_window, cfg.evaluate.max_frames)
                   for seq in load_dataset(root, name)}
        summary = summarize(per_seq)
        rows += frame_rows(reading, name, per_seq)
        record[name] = _dataset_record(summary)
        if name == "tbd3d" and summary["bounce"]["frames"]:
            record[BOUNCE] = _dataset_record(summary["bounce"])
        log.info("%s, %s: PSNR %.2f dB, SSIM %.3f, mask IoU %.3f over %d frames", reading, name, summary["psnr"],
                 summary["ssim"], summary["mask_iou"] if summary["mask_iou"] is not None else float("nan"),
                 summary["frames"])
    return rows, record


def groups(rows: list[dict], reading: str = NETWORK) -> dict[str, list[dict]]:
    """A run's frame rows of one reading by reported dataset: each dataset, and :data:`BOUNCE` (TbD-3D's bounce
    frames)."""
    out: dict[str, list[dict]] = {}
    for row in rows:
        if row["reading"] != reading:
            continue
        out.setdefault(row["dataset"], []).append(row)
        if row["dataset"] == "tbd3d" and row["bounce"] == 1:
            out.setdefault(BOUNCE, []).append(row)
    return out


def metric_grid(runs: list[list[dict]], dataset: str, metric: str, reading: str = NETWORK) -> np.ndarray:
    """``(seeds, frames)`` of ``metric`` on ``dataset`` in one reading over the runs of one approach (seed
    order), the frames in the runs' own order, which is the same for every run (checked: the frame keys must
    match)."""
    keyed = []
    for rows in runs:
        picked = groups(rows, reading).get(dataset, [])
        keyed.append(([(r["sequence"], r["frame"]) for r in picked], [r[metric] for r in picked]))
    keys = keyed[0][0]
    for other, _ in keyed[1:]:
        if other != keys:
            raise ValueError(f"seed study: the runs scored different frames of {dataset}; rerun `seeds`")
    return np.array([values for _, values in keyed], np.float64).reshape(len(runs), len(keys))
