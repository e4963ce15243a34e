"""The training loop of one approach: epochs of shuffled batches, resumable at any step.

The batch order is a function of (seed, epoch) only, so a run resumed from step ``s`` sees exactly the batches
an uninterrupted run would. Resume state (``last.pt``, the partial curve) lives in ``resume_dir``, outside the
declared outputs; the declared outputs (final checkpoint, per-step loss CSV, validation metrics) are written
atomically at the end by rank 0. Every ``train.val_every`` steps rank 0 scores the current weights on the
validation set (:func:`defmo.train.validate.evaluate`, which draws nothing from the RNGs, so a run with
validation trains exactly as one without) and adds the PSNRs to that step's curve row.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from defmo.errors import UserError
from defmo.settings import Config
from defmo.train import checkpoint, ddp
from defmo.train.trainer import LOSS_TERMS, Trainer
from defmo.train.validate import evaluate
from defmo.utils.io import write_text

log = logging.getLogger(__name__)
VAL_COLUMNS = ("val_model", "val_projected", "val_image", "val_background")  # validation PSNR [dB], some steps
# skipped: the step's updates skipped as non-finite (Trainer.train_step)
CURVE_COLUMNS = ("step", "epoch", "lr_g", *LOSS_TERMS, "total", "ds", "dt", "skipped", "seconds",
                 *VAL_COLUMNS)
RESUME_SECTIONS = ("seed", "data", "model", "train")


@dataclass
class Plan:
    """Sizes of a run: global batch, this rank's share, steps per epoch and in total."""

    batch_size: int
    local_batch: int
    steps_per_epoch: int
    total_steps: int
    epochs: int


@dataclass
class Outputs:
    """Paths of one training run (declared outputs and the resume folder)."""

    final: Path
    curve: Path
    metrics: Path
    resume_dir: Path

    @property
    def last(self) -> Path:
        return self.resume_dir / "last.pt"


@dataclass
class History:
    """Per-step loss rows and accumulated wall time (both survive a resume through the checkpoint)."""

    rows: list = field(default_factory=list)
    seconds: float = 0.0


def make_plan(cfg: Config, approach: str, n_samples: int, world: int) -> Plan:
    """Steps per epoch drop the last partial batch; ``train.max_steps`` caps the total."""
    spec = cfg.approach(approach)
    batch = int(spec.batch_size)
    if batch % world:
        raise UserError(
            f"params.yaml: train.approach.{approach}.batch_size={batch} must be divisible by the {world} "
            "torchrun processes (it is the global batch)"
        )
    steps_per_epoch = n_samples // batch
    if steps_per_epoch == 0:
        raise UserError(
            f"the training set has {n_samples} samples, fewer than train.approach.{approach}.batch_size={batch}: "
            "render more (data.train_samples) or lower the batch size"
        )
    total = steps_per_epoch * int(spec.epochs)
    if cfg.train.max_steps:
        total = min(total, int(cfg.train.max_steps))
    return Plan(batch, batch // world, steps_per_epoch, total, int(spec.epochs))


def batch_indices(cfg: Config, plan: Plan, n_samples: int, step: int) -> list[int]:
    """This rank's sample indices for global step ``step`` (0-based): a seeded permutation per epoch."""
    epoch, within = divmod(step, plan.steps_per_epoch)
    gen = torch.Generator().manual_seed(int(cfg.seed) * 100_003 + epoch)
    perm = torch.randperm(n_samples, generator=gen)
    start = within * plan.batch_size + ddp.rank() * plan.local_batch
    return perm[start:start + plan.local_batch].tolist()


def collate(dataset, indices: list[int]) -> dict[str, torch.Tensor]:
    """Stack dataset items into a batch dict of tensors."""
    items = [dataset[i] for i in indices]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def curve_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CURVE_COLUMNS, extrasaction="ignore", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _same_setup(saved: dict, cfg: Config) -> bool:
    """Whether a checkpoint's config (a plain dict) has the same :data:`RESUME_SECTIONS` as ``cfg``."""
    current = cfg.to_dict()
    return all(saved.get(k) == current.get(k) for k in RESUME_SECTIONS)


def try_resume(trainer: Trainer, cfg: Config, outputs: Outputs) -> History:
    """Resume from ``resume_dir/last.pt`` when it was written with the same settings; else start fresh."""
    if not outputs.last.is_file():
        return History()
    saved_cfg = checkpoint.load(outputs.last)["cfg"]
    if not _same_setup(saved_cfg, cfg):
        log.warning("%s was written with other params (%s); starting afresh", outputs.last,
                    ", ".join(RESUME_SECTIONS))
        return History()
    extra = checkpoint.resume(outputs.last, trainer)
    log.info("resumed %s from %s at step %d", trainer.approach, outputs.last, trainer.step)
    return History(rows=list(extra.get("rows", [])), seconds=float(extra.get("seconds", 0.0)))


def save_state(trainer: Trainer, cfg: Config, history: History, path: Path) -> None:
    """Rank 0 writes the full state (atomically); other ranks wait for it."""
    if ddp.is_main():
        checkpoint.save(path, trainer, cfg, {"rows": history.rows, "seconds": history.seconds})
        write_text(path.parent / "curve.csv", curve_csv(history.rows))
    ddp.barrier()


def _row(trainer: Trainer, plan: Plan, terms: dict, seconds: float) -> dict:
    row = {"step": trainer.step, "epoch": (trainer.step - 1) // plan.steps_per_epoch,
           "lr_g": trainer.optimizers["generator"].param_groups[0]["lr"], "seconds": round(seconds, 4)}
    row.update({k: round(ddp.all_mean(v), 6) for k, v in terms.items()})
    return row


def validation_columns(metrics: dict) -> dict[str, float]:
    """The curve columns of :data:`VAL_COLUMNS` from :func:`~defmo.train.validate.evaluate`'s result."""
    p = metrics["psnr"]
    values = (p["model"], p["model_projected"], p["image"], p["background"])
    return {k: round(float(v), 4) for k, v in zip(VAL_COLUMNS, values)}


def validate_now(trainer: Trainer, cfg: Config, val_set, fit: bool = False) -> dict:
    """Rank 0: validation metrics of the current weights (``{}`` on the other ranks): of the network's
    sub-frames, or with ``fit`` of the network plus its fit at inference (``model.fit_steps``)."""
    if not ddp.is_main():
        return {}
    return evaluate(trainer.generator, val_set, trainer.device, cfg.approach(trainer.approach).batch_size, fit=fit)


def _validation_due(cfg: Config, step: int, plan: Plan) -> bool:
    every = cfg.train.val_every
    return bool(every) and step % every == 0 and step < plan.total_steps  # the last step: validated by the caller


def run_steps(trainer: Trainer, cfg: Config, dataset, plan: Plan, outputs: Outputs, history: History,
              val_set=None) -> None:
    """Train from ``trainer.step`` to ``plan.total_steps``, checkpointing every ``train.checkpoint_every`` and
    validating on ``val_set`` (when given) every ``train.val_every`` steps."""
    every, log_every = cfg.train.checkpoint_every, cfg.train.log_every
    bar = tqdm(total=plan.total_steps, initial=trainer.step, desc=f"train {trainer.approach}",
               disable=not ddp.is_main(), dynamic_ncols=True)
    while trainer.step < plan.total_steps:
        t0 = time.perf_counter()
        terms = trainer.train_step(collate(dataset, batch_indices(cfg, plan, len(dataset), trainer.step)))
        if trainer.step % plan.steps_per_epoch == 0:
            trainer.end_epoch()
        seconds = time.perf_counter() - t0
        history.seconds += seconds
        history.rows.append(_row(trainer, plan, terms, seconds))
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)
        if trainer.step % log_every == 0:
            log.debug("step %d: %s", trainer.step, terms)
        if val_set is not None and _validation_due(cfg, trainer.step, plan):
            metrics = validate_now(trainer, cfg, val_set)
            history.rows[-1].update(validation_columns(metrics) if metrics else {})
        if trainer.step % every == 0 and trainer.step < plan.total_steps:
            save_state(trainer, cfg, history, outputs.last)
    bar.close()
