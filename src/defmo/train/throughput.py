"""``throughput-train`` verb: training throughput (samples/s) and peak memory per generator, approach and technique.

    python -m defmo throughput-train --json results/throughput/train_throughput.json \\
        --md results/throughput/train_throughput.md [--steps 3] [--warmup 1] [--batch-size 8] \\
        [--generators table1 unet streak]

Each cell builds a fresh :class:`~defmo.train.trainer.Trainer` and times ``--steps`` full training steps
(generator + the approach's D_S / D_T steps) on random batches of the configured size, after ``--warmup``
untimed ones. Techniques: ``none``, ``gc`` (gradient checkpointing), ``mp`` (mixed precision), ``gc+mp``,
and ``loop``: the original DeFMO's one-renderer-call-per-time-step rendering, the reference that shows what
rendering all time steps in one batched call buys. Every generator option (``model.generator``) is measured
at the configured scale, so the cost of the cpu scale's generator against Table 1's is on one table. Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA;
on CPU the peak resident set size of this process sampled every 5 ms while the cell runs.
"""

from __future__ import annotations

import argparse
import logging
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import torch

from defmo.models import GENERATORS
from defmo.utils.table_io import to_markdown
from defmo.settings import Config
from defmo.train.trainer import Trainer
from defmo.utils.measure import PeakSampler, random_batch, rss_reader
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, device_name
from defmo.utils.runtime import configure_threads, resolve_device, seed_everything

log = logging.getLogger(__name__)
TECHNIQUES = ("none", "gc", "mp", "gc+mp", "loop")
RSS_INTERVAL_S = 0.005  # CPU peak memory: RSS polled every 5 ms


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, default=Path("results/throughput/train_throughput.json"))
    parser.add_argument("--md", type=Path, default=Path("results/throughput/train_throughput.md"))
    parser.add_argument("--approaches", nargs="+", default=None, help="default: train.approaches")
    parser.add_argument("--techniques", nargs="+", default=list(TECHNIQUES), choices=TECHNIQUES)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per cell (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the approach's batch_size")
    parser.add_argument("--generators", nargs="+", default=None, choices=sorted(GENERATORS),
                        help="model.generator options to measure (default: all)")


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """Yields a dict that holds ``peak_mb`` after the block (CUDA allocator peak, or sampled peak RSS)."""
    out: dict = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        torch.cuda.synchronize(device)
        out["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        return
    with PeakSampler(rss_reader(), RSS_INTERVAL_S) as rss:
        yield out
    out["peak_mb"] = rss.peak


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cfg: Config, approach: str, technique: str, device: torch.device, batch_size: int,
            steps: int, warmup: int) -> dict:
    """One cell: samples/s over ``steps`` timed training steps and the peak memory of the whole cell."""
    seed_everything(int(cfg.seed))
    batch = random_batch(batch_size, cfg.data.n_subframes, cfg.data.resolution, device, seed=None)
    with peak_memory(device) as mem:
        trainer = Trainer(cfg, approach, device, "gc" in technique, "mp" in technique,
                          render_loop=technique == "loop")
        for _ in range(warmup):
            trainer.train_step(batch)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(batch)
        _sync(device)
        seconds = time.perf_counter() - t0
    del trainer
    row = {"generator": cfg.model.generator, "approach": approach, "technique": technique, "batch_size": batch_size, "steps": steps,
           "seconds_per_step": seconds / steps, "samples_per_s": batch_size * steps / seconds,
           "peak_mb": mem["peak_mb"]}
    log.info("%s / %s / %s: %.2f samples/s, %.0f MB peak", row["generator"], approach, technique,
             row["samples_per_s"], row["peak_mb"])
    return row


def markdown(result: dict) -> str:
    """The table with its settings, for results/throughput/train_throughput.md."""
    s = result["settings"]
    head = (f"# Training throughput\n\nDevice: {result['device']}. Scale `{result['scale']}`: "
            f"{s['resolution']}x{s['resolution']}, N = {s['n_subframes']}, D_T pairs `{s['dt_pairs']}`, "
            f"discriminators `{s['discriminator']}`, the scale's generator `{s.get('generator', 'table1')}`; {s['steps']} timed steps after {s['warmup']} warm-up. "
            f"Peak memory: {result['memory']}. `loop` = the original DeFMO's per-time-step rendering.\n\n")
    rows = [[r["generator"], r["approach"], r["technique"], r["batch_size"], r["samples_per_s"],
             r["seconds_per_step"], r["peak_mb"]] for r in result["rows"]]
    header = ["generator", "approach", "technique", "batch", "samples/s", "s/step", "peak MB"]
    return head + to_markdown(header, rows, digits=2) + _speedup_lines(result["rows"])


def _speedup_lines(rows: list[dict]) -> str:
    by = {(r.get("generator", "table1"), r["approach"], r["technique"]): r["samples_per_s"] for r in rows}
    lines = [f"- {g} / {a}: batched rendering is {by[(g, a, 'none')] / by[(g, a, 'loop')]:.2f}x the per-time-step loop\n"
             for (g, a, t) in by if t == "loop" and (g, a, "none") in by]
    return ("\n" + "".join(lines)) if lines else ""


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The note and its JSON, measured on random batches."""
    return [Output(p, "synthetic random batches (uniform noise)") for p in (args.md, args.json)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    device = resolve_device(cfg)
    approaches = args.approaches or cfg.train.approaches
    for approach in approaches:
        cfg.approach(approach)  # an undefined approach stops here, before any cell runs
    rows = []
    for generator in args.generators or list(GENERATORS):
        gcfg = replace(cfg, model=replace(cfg.model, generator=generator))
        for approach in approaches:
            batch = args.batch_size or cfg.approach(approach).batch_size
            rows += [measure(gcfg, approach, t, device, batch, args.steps, args.warmup) for t in args.techniques]
    settings = {"resolution": cfg.data.resolution, "n_subframes": cfg.data.n_subframes}
    settings.update(generator=cfg.model.generator, dt_pairs=cfg.model.dt_pairs, discriminator=cfg.model.discriminator,
                    steps=args.steps, warmup=args.warmup)
    result = {"device": device_name(device), "scale": cfg.scale, "settings": settings, "rows": rows,
              "memory": "CUDA allocator peak" if device.type == "cuda" else "peak RSS of the process (sampled)",
              "torch": torch.__version__}
    write_json(args.json, result)
    write_text(args.md, markdown(result))
    return 0
