"""``throughput-render`` verb: rendering throughput (samples/s, sub-frames/s, MB/s written) of the real render path.

Usage: ``python -m defmo throughput-render --samples 200 --json results/throughput/render_throughput.json
--md results/throughput/render_throughput.md``. Renders ``--samples`` training samples with the configured
``data.workers`` into a temporary folder (the same code as ``render``: sources, rejection, continuous exposure of
``data.exposure_samples`` renders per sub-frame, compression, shards), projects the scale's whole render time
(``data.train_samples + data.val_samples`` at the measured seconds per sample) and times the embedded benchmark
(``data --benchmark`` of every dataset ``evaluate.datasets`` leaves "embedded", one process as the pipeline runs it)
unless ``--no-benchmark``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from defmo.data.benchmark import render_dataset
from defmo.data.dataset import SyntheticFMODataset
from defmo.data.generate import render_split
from defmo.settings import Config
from defmo.utils.io import write_json, write_text
from defmo.utils.provenance import Output, render_device

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=200, help="samples to render (default 200)")
    parser.add_argument("--json", type=Path, default=Path("results/throughput/render_throughput.json"))
    parser.add_argument("--md", type=Path, default=Path("results/throughput/render_throughput.md"))
    parser.add_argument("--no-benchmark", action="store_true", help="skip timing the embedded benchmark sequences")


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the render workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure_benchmark(cfg: Config) -> dict:
    """Render the embedded benchmark datasets into a temporary folder; wall seconds per dataset."""
    datasets = [d for d, root in cfg.evaluate.datasets.items() if root == "embedded"]
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="throughput-render-benchmark-") as tmp:
        for dataset in datasets:
            start = time.perf_counter()
            render_dataset(cfg, dataset, Path(tmp) / dataset)
            seconds[dataset] = round(time.perf_counter() - start, 2)
    return seconds


def projection(cfg: Config, result: dict, bench: dict | None) -> dict:
    """The scale's whole render time: train + val samples at the measured rate, plus the benchmark's time; and the
    train + val time on an otherwise idle machine (CPU seconds per sample spread over the workers)."""
    count = cfg.data.train_samples + cfg.data.val_samples
    synthetic = count * result["seconds_per_sample"]
    idle = count * result["cpu_seconds_per_sample"] / min(cfg.data.workers, os.cpu_count() or 1)
    bench_total = None if bench is None else round(sum(bench.values()), 2)
    return {"train_val_samples": count, "synthetic_seconds": round(synthetic, 1),
            "synthetic_seconds_idle_machine": round(idle, 1), "benchmark_seconds": bench,
            "benchmark_total_seconds": bench_total,
            "total_seconds": round(synthetic + (bench_total or 0.0), 1),
            "total_seconds_idle_machine": round(idle + (bench_total or 0.0), 1)}


def measure(cfg: Config, samples: int, benchmark: bool = True) -> dict:
    """Render ``samples`` samples into a temporary folder and time it (wall clock, including process start-up)."""
    cfg_data = cfg.data
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="throughput-render-") as tmp:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        manifest = render_split(cfg, "train", Path(tmp) / "train", count=samples)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        ds = SyntheticFMODataset(Path(tmp) / "train")
        tries = [ds.meta(i)["tries"] for i in range(len(ds))]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a DataLoader worker
        start = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        read_seconds = time.perf_counter() - start
        torch.set_num_threads(threads)
    n = cfg_data.n_subframes
    renders = sum(tries) + samples * (cfg_data.exposure_samples - 1)  # key instants of every try + the rest
    result = {
        "scale": cfg.scale, "samples": samples, "resolution": cfg_data.resolution, "n_subframes": n,
        "exposure_samples": cfg_data.exposure_samples, "workers": cfg_data.workers, "seconds": round(seconds, 3),
        "seconds_per_sample": round(seconds / samples, 5), "cpu_seconds_per_sample": round(cpu / samples, 5),
        "samples_per_s": round(samples / seconds, 3), "subframes_per_s": round(samples * n / seconds, 2),
        "renders_per_s_incl_rejected": round(renders * n / seconds, 2),
        "mean_tries_per_sample": round(sum(tries) / len(tries), 3), "bytes_written": manifest["bytes"],
        "mb_per_s": float(f"{manifest['bytes'] / 1e6 / seconds:.4g}"),
        "kb_per_sample": round(manifest["bytes"] / 1e3 / samples, 2),
        "dataset_read_samples_per_s": round(samples / read_seconds, 1),
    }
    result["projection"] = projection(cfg, result, measure_benchmark(cfg) if benchmark else None)
    result["machine"] = {"cpus": os.cpu_count(), "load_average_1min": [round(load_before, 2),
                         round(os.getloadavg()[0], 2)], "platform": platform.platform(),
                         "python": platform.python_version()}
    return result


def markdown(result: dict) -> str:
    proj = result["projection"]
    rows = [("samples rendered", result["samples"]), ("resolution / N / renders per sub-frame (K)",
            f"{result['resolution']} / {result['n_subframes']} / {result['exposure_samples']}"),
            ("render workers", result["workers"]), ("wall time (s)", result["seconds"]),
            ("seconds per sample", result["seconds_per_sample"]), ("samples/s", result["samples_per_s"]),
            ("sub-frames/s (accepted)", result["subframes_per_s"]),
            ("renders/s incl. rejected tries (lower bound)", result["renders_per_s_incl_rejected"]),
            ("tries per accepted sample", result["mean_tries_per_sample"]), ("MB/s written", result["mb_per_s"]),
            ("kB per sample (compressed)", result["kb_per_sample"]),
            ("Dataset read, samples/s (1 process, 1 thread)", result["dataset_read_samples_per_s"]),
            ("CPU seconds per sample (all processes)", result["cpu_seconds_per_sample"]),
            (f"projected train + val render ({proj['train_val_samples']} samples, s)", proj["synthetic_seconds"]),
            ("projected train + val render, idle machine (CPU s / workers)", proj["synthetic_seconds_idle_machine"]),
            ("embedded benchmark render, measured (s)", _bench_cell(proj)),
            ("projected total render time (s)", proj["total_seconds"]),
            ("projected total render time, idle machine (s)", proj["total_seconds_idle_machine"])]
    lines = [f"# Rendering throughput ({result['scale']} scale)", "",
             f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}, pyrender + Mesa EGL "
             "(software). Wall clock includes worker start-up; 1-minute load average before/after: "
             f"{result['machine']['load_average_1min']} (a busy shared machine makes these numbers rough). The idle-machine "
             "projection spreads the measured CPU seconds per sample over the render workers: the wall time when "
             "nothing else competes for the cores.", "",
             "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def _bench_cell(proj: dict) -> str:
    if proj["benchmark_seconds"] is None:
        return "not measured"
    parts = ", ".join(f"{d} {s}" for d, s in proj["benchmark_seconds"].items())
    return f"{proj['benchmark_total_seconds']} ({parts})"


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """The note and its JSON."""
    data = f"{args.samples} synthetic training samples rendered to a temporary folder"
    data += "" if args.no_benchmark else ", and the embedded benchmark datasets"
    return [Output(p, data, render_device(cfg)) for p in (args.md, args.json)]


def run(args: argparse.Namespace, cfg: Config) -> int:
    result = measure(cfg, args.samples, benchmark=not args.no_benchmark)
    write_json(args.json, result)
    write_text(args.md, markdown(result))
    log.info("render throughput: %.2f samples/s, %.2f MB/s; projected %s render total %.0f s (%s)",
             result["samples_per_s"], result["mb_per_s"], cfg.scale, result["projection"]["total_seconds"],
             args.json)
    return 0
