"""``bench-render`` verb: rendering throughput (samples/s, sub-frames/s, MB/s written) of the real render path.

Usage: ``python -m defmo bench-render --samples 200 --json results/benchmarks/render_throughput.json
--md results/benchmarks/render_throughput.md``. Renders ``--samples`` training samples with the configured
``data.workers`` into a temporary folder (the same code as ``render``: sources, rejection, compression, shards).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from defmo.data.dataset import SyntheticFMODataset
from defmo.data.generate import render_split
from defmo.utils.io import write_json, write_text

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=200, help="samples to render (default 200)")
    parser.add_argument("--json", type=Path, default=Path("results/benchmarks/render_throughput.json"))
    parser.add_argument("--md", type=Path, default=Path("results/benchmarks/render_throughput.md"))


def measure(cfg: dict, samples: int) -> dict:
    """Render ``samples`` samples into a temporary folder and time it (wall clock, including process start-up)."""
    cfg_data = cfg["data"]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        start = time.perf_counter()
        manifest = render_split(cfg, "train", Path(tmp) / "train", count=samples)
        seconds = time.perf_counter() - start
        ds = SyntheticFMODataset(Path(tmp) / "train")
        tries = [ds.meta(i)["tries"] for i in range(len(ds))]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a DataLoader worker
        start = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        read_seconds = time.perf_counter() - start
        torch.set_num_threads(threads)
    n = cfg_data["n_subframes"]
    return {
        "scale": cfg["scale"], "samples": samples, "resolution": cfg_data["resolution"], "n_subframes": n,
        "workers": cfg_data["workers"], "seconds": round(seconds, 3),
        "samples_per_s": round(samples / seconds, 3), "subframes_per_s": round(samples * n / seconds, 2),
        "renders_per_s_incl_rejected": round(sum(tries) * n / seconds, 2),
        "mean_tries_per_sample": round(sum(tries) / len(tries), 3), "bytes_written": manifest["bytes"],
        "mb_per_s": float(f"{manifest['bytes'] / 1e6 / seconds:.4g}"),
        "kb_per_sample": round(manifest["bytes"] / 1e3 / samples, 2),
        "dataset_read_samples_per_s": round(samples / read_seconds, 1),
        "machine": {"cpus": os.cpu_count(), "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "platform": platform.platform(), "python": platform.python_version()},
    }


def markdown(result: dict) -> str:
    rows = [("samples rendered", result["samples"]), ("resolution / N", f"{result['resolution']} / "
            f"{result['n_subframes']}"), ("render workers", result["workers"]), ("wall time (s)", result["seconds"]),
            ("samples/s", result["samples_per_s"]), ("sub-frames/s (accepted)", result["subframes_per_s"]),
            ("renders/s incl. rejected tries", result["renders_per_s_incl_rejected"]),
            ("tries per accepted sample", result["mean_tries_per_sample"]), ("MB/s written", result["mb_per_s"]),
            ("kB per sample (compressed)", result["kb_per_sample"]),
            ("Dataset read, samples/s (1 process, 1 thread)", result["dataset_read_samples_per_s"])]
    lines = [f"# Rendering throughput ({result['scale']} scale)", "",
             f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}, pyrender + Mesa EGL "
             "(software). Wall clock includes worker start-up; 1-minute load average before/after: "
             f"{result['machine']['load_average_1min']} (a busy shared machine makes these numbers rough).", "",
             "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, cfg: dict) -> int:
    result = measure(cfg, args.samples)
    write_json(args.json, result)
    write_text(args.md, markdown(result))
    log.info("render throughput: %.2f samples/s, %.2f MB/s (%s)", result["samples_per_s"], result["mb_per_s"], args.json)
    return 0
