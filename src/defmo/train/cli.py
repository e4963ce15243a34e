"""``train`` verb: train one approach, resumable, then write the final checkpoint, the per-step loss CSV
and the validation metrics.

    python -m defmo train --approach proposed --data data/synthetic/train --val data/synthetic/val \\
        --out results/train/checkpoints/proposed/final.pt --curve results/train/plots/proposed.csv \\
        --metrics results/train/metrics/proposed.json --resume-dir results/train/resume/proposed

Under ``torchrun --nproc_per_node K python -m defmo train ...`` it trains with DistributedDataParallel
(``batch_size`` stays the global batch). Killed at any moment, the same command resumes from the last
checkpoint in ``--resume-dir``.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import replace
from pathlib import Path

import torch

from defmo.errors import UserError
from defmo.settings import Config
from defmo.train import checkpoint, ddp
from defmo.train.loop import (History, Outputs, curve_csv, make_plan, run_steps, save_state, try_resume,
                                 validate_now, validation_columns)
from defmo.train.trainer import Trainer
from defmo.train.validate import width_logits, width_record
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, device_name, digest_label, inherited
from defmo.utils.runtime import configure_threads, resolve_device, seed_everything

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--approach", required=True, help="a key of train.approach in params.yaml")
    parser.add_argument("--data", required=True, type=Path, help="training shards folder (render output)")
    parser.add_argument("--val", required=True, type=Path, help="validation shards folder")
    parser.add_argument("--output", "--out", dest="out", required=True, type=Path, help="final checkpoint (.pt)")
    parser.add_argument("--curve", required=True, type=Path, help="per-step loss CSV")
    parser.add_argument("--metrics", required=True, type=Path, help="validation PSNR JSON")
    parser.add_argument("--resume-dir", required=True, type=Path, help="resume state (not an output)")
    parser.add_argument("--seed", type=int, help="base seed of this run (default: params.yaml's seed; the seed study's)")
    parser.add_argument("--max-steps", type=int, help="cut the schedule at this many steps (default: train.max_steps)")


def with_run_options(cfg: Config, args: argparse.Namespace) -> Config:
    """``cfg`` with this run's ``--seed`` and ``--max-steps`` (the seed study's runs), which the checkpoint records."""
    if args.max_steps is not None and args.max_steps < 1:
        raise UserError(f"train --max-steps {args.max_steps}: must be at least 1")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"train --seed {args.seed}: must be 0 or more")
    seed = cfg.seed if args.seed is None else args.seed
    steps = cfg.train.max_steps if args.max_steps is None else args.max_steps
    return replace(cfg, seed=seed, train=replace(cfg.train, max_steps=steps))


def _datasets(cfg: Config, args: argparse.Namespace):
    for name, path in (("--data", args.data), ("--val", args.val)):
        if not (path / "manifest.json").is_file():
            raise UserError(f"{path} ({name}): no manifest.json; render the data first: python -m defmo data ...")
    from defmo.data.dataset import SyntheticFMODataset

    return SyntheticFMODataset(args.data, flips=cfg.data.flips), SyntheticFMODataset(args.val, flips=False)


def _finish(trainer: Trainer, cfg: Config, data_set, val_set, history: History, outputs: Outputs) -> dict:
    """Rank 0: final checkpoint, curve CSV (the last row with the final validation of the network's sub-frames,
    as every row of the curve), validation metrics JSON: the network alone (the report's method), and under
    ``fit`` the network plus its fit at inference when ``model.fit_steps`` > 0; the non-finite updates skipped;
    the half-width logits of the first 320 training samples (:func:`~defmo.train.validate.width_record`)."""
    save_state(trainer, cfg, history, outputs.last)
    if not ddp.is_main():
        return {}
    metrics = validate_now(trainer, cfg, val_set)
    if history.rows:
        history.rows[-1].update(validation_columns(metrics))
    if cfg.model.fit_steps:
        metrics["fit"] = dict(validate_now(trainer, cfg, val_set, fit=True), fit_steps=cfg.model.fit_steps)
    metrics["width_logit"] = width_record(width_logits(trainer.generator, data_set, trainer.device))
    checkpoint.save(outputs.final, trainer, cfg, {"seconds": history.seconds})
    write_text(outputs.curve, curve_csv(history.rows))
    metrics.update({
        "approach": trainer.approach, "scale": cfg.scale, "steps": trainer.step,
        "train_seconds": round(history.seconds, 1), "device": device_name(trainer.device),
        "threads": torch.get_num_threads(), "world_size": ddp.world_size(),
        "skipped_steps": dict(trainer.skipped),  # updates skipped as non-finite, per network
    })
    write_json(outputs.metrics, metrics)
    return metrics


def train(cfg: Config, approach: str, data_set, val_set, outputs: Outputs) -> dict:
    """Train ``approach`` on ``data_set`` (resuming from ``outputs.resume_dir``), validate on ``val_set``."""
    cfg.approach(approach)  # an undefined approach stops here, before any device is set up
    device = ddp.setup(resolve_device(cfg))
    seed_everything(int(cfg.seed) + ddp.rank())
    t = cfg.train
    trainer = Trainer(cfg, approach, device, t.gradient_checkpointing, t.mixed_precision)
    plan = make_plan(cfg, approach, len(data_set), ddp.world_size())
    history = try_resume(trainer, cfg, outputs)
    log.info("training %s on %s: %d samples, global batch %d, %d steps/epoch, %d steps (at %d)",
             approach, device, len(data_set), plan.batch_size, plan.steps_per_epoch, plan.total_steps, trainer.step)
    run_steps(trainer, cfg, data_set, plan, outputs, history, val_set)
    log.info("trained %s: %d steps in %.1f s", approach, trainer.step, history.seconds)
    return _finish(trainer, cfg, data_set, val_set, history, outputs)


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """Checkpoint, curve CSV and validation metrics (rank 0's; other DDP ranks record nothing)."""
    if os.environ.get("RANK", "0") != "0":
        return []
    made = inherited([args.data], "data") or "rendering not recorded"
    data = f"training shards {digest_label(args.data)}, validation shards {digest_label(args.val)} ({made})"
    return [Output(p, data) for p in (args.out, args.curve, args.metrics)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    cfg = with_run_options(cfg, args)
    configure_threads(cfg)
    cfg.approach(args.approach)  # an undefined approach stops here, before the data is read
    data_set, val_set = _datasets(cfg, args)
    outputs = Outputs(args.out, args.curve, args.metrics, args.resume_dir)
    try:
        train(cfg, args.approach, data_set, val_set, outputs)
    finally:
        ddp.teardown()
    return 0
