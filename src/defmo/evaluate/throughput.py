"""``throughput-deblur`` verb: how fast ``deblur`` runs on the real clips, network alone and with the fit.

    python -m defmo throughput-deblur --checkpoint results/train/checkpoints/proposed/final.pt \\
        --json results/throughput/deblur_throughput.json --md results/throughput/deblur_throughput.md

Per clip of ``evaluate.real_clips``: the detector's pass over the whole video (frames read per second), then the
deblurring of the frames it found, in batches of ``evaluate.footage.batch`` (frames per second), with the
network alone and with the fit; files are not written, so the numbers are the computation's. Run it on an
otherwise idle machine: the numbers are this machine's (its CPU and thread count are recorded).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from defmo.evaluate.frames import video_inputs
from defmo.evaluate.streaks import deblur_batch
from defmo.evaluate.methods import NetworkMethod
from defmo.models.unet_arch import COVER_STEPS
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, device_label
from defmo.utils.runtime import configure_threads, resolve_device
from defmo.utils.table_io import to_markdown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained model's final.pt")
    parser.add_argument("--json", type=Path, required=True, help="results JSON")
    parser.add_argument("--md", type=Path, required=True, help="results table (Markdown)")
    parser.add_argument("--clips", nargs="*", help="clip names (default: evaluate.real_clips)")


def _timed(function, *args):
    start = time.perf_counter()
    out = function(*args)
    return out, time.perf_counter() - start


def measure_clip(video: Path, cfg: Config, model, model_cfg: dict, device, min_track: int | None) -> dict:
    """Detection fps over the clip, then deblurring fps of the frames found, network alone and with the fit."""
    import cv2

    settings = cfg.evaluate.detect if min_track is None else replace(cfg.evaluate.detect, min_track=min_track)
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    pairs, detect_s = _timed(video_inputs, video, settings)
    row = {"clip": video.stem, "frames": total, "found": len(pairs), "detect_fps": total / detect_s}
    footage, n = cfg.evaluate.footage, int(model_cfg["data"]["n_subframes"])
    for label, fit in (("network", False), ("fit", True)):
        method = NetworkMethod.of_trained(model, model_cfg, cfg.evaluate, device, fit=fit)
        method.options = footage.fit_options()
        seconds = 0.0
        with torch.no_grad():
            for start in range(0, len(pairs), footage.batch):
                _, spent = _timed(deblur_batch, method, pairs[start : start + footage.batch], n, False,
                                  footage.path, footage.margin)
                seconds += spent
        row[f"{label}_fps"] = len(pairs) / seconds if pairs else None
        row[f"{label}_video_fps"] = total / (detect_s + seconds)  # the whole clip, detection included
    return row


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    from defmo.models.weights import load_generator

    device = resolve_device(cfg)
    model, model_cfg = load_generator(args.checkpoint, device)
    folder = Path(cfg.evaluate.real_examples)
    own = cfg.evaluate.clips()
    rows = []
    for clip in args.clips or list(own):
        rows.append(measure_clip(folder / f"{clip}.avi", cfg, model, model_cfg, device, own.get(clip)))
    footage = cfg.evaluate.footage
    steps = footage.steps if footage.steps is not None else int(getattr(model, "fit_steps", 0))
    record = {"device": device_label(cfg), "fit_steps": steps, "samples": footage.samples or COVER_STEPS,
              "batch": footage.batch, "clips": rows}
    write_json(args.json, record)
    header = ["clip", "frames", "found", "detect fps", "network fps", "fit fps", "video fps (network)",
              "video fps (fit)"]
    table = [[r["clip"], r["frames"], r["found"], r["detect_fps"], r["network_fps"], r["fit_fps"],
              r["network_video_fps"], r["fit_video_fps"]] for r in rows]
    write_text(args.md, f"deblur throughput on {record['device']}; fit: {record['fit_steps']} steps rendering "
               f"{record['samples']} exposure times, batches of {record['batch']} frames; fps of the found frames, and of the whole clip with the "
               "detector's pass\n\n" + to_markdown(header, table, digits=1))
    return 0


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    data = f"real clips of {cfg.evaluate.real_examples} (timing only)"
    return [Output(args.json, data), Output(args.md, data)]
