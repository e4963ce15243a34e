"""Render a split into shards: parallel workers, per-sample seeds, resumable, manifest last.

A sample's content depends only on ``(seed, split, index)``, so the shards are bit-identical for any number of
workers. Complete shards from an earlier run with the same fingerprint (data params, seed, split) are kept;
everything else in the folder that looks like ours is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import time
from pathlib import Path

from tqdm import tqdm

from defmo.data import shards
from defmo.data.sample import Sources, render_sample, sample_rng
from defmo.errors import UserError
from defmo.settings import Config, Data
from defmo.utils.io import write_json

log = logging.getLogger(__name__)
_STATE: dict = {}  # per-process renderer and sources (set by _init_worker; process-local, never shared)
UNTRACKED = ("workers", "flips")  # data keys that do not change the rendered bytes


def fingerprint(cfg_data: dict, seed: int, split: str) -> str:
    tracked = {k: v for k, v in cfg_data.items() if k not in UNTRACKED}
    text = json.dumps({"data": tracked, "seed": seed, "split": split, "format": shards.FORMAT}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _init_worker(cfg_data: Data, split: str, seed: int, single_thread: bool) -> None:
    if single_thread:
        os.environ["LP_NUM_THREADS"] = "1"  # llvmpipe: one thread per worker process
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s")
    from defmo.data.renderer import ObjectRenderer

    plain = cfg_data.to_dict()  # defmo.data.sample reads the data section as a plain mapping
    _STATE.update(cfg=plain, split=split, seed=seed, sources=Sources.for_split(plain, split),
                  renderer=ObjectRenderer(cfg_data.resolution, cfg_data.resolution))


def _render_one(index: int) -> tuple[bytes, int, dict, dict]:
    arrays, meta = render_sample(_STATE["renderer"], _STATE["sources"],
                                 sample_rng(_STATE["seed"], _STATE["split"], index), _STATE["cfg"])
    blob, crc = shards.encode(arrays)
    return blob, crc, meta, {k: v.shape for k, v in arrays.items()}


def plan(count: int, shard_size: int) -> list[range]:
    return [range(s, min(s + shard_size, count)) for s in range(0, count, shard_size)]


def _valid_shard(path: Path, fp: str, size: int) -> bool:
    try:
        footer = shards.read_footer(path)
    except UserError:
        return False
    return footer["fingerprint"] == fp and len(footer["offsets"]) == size


def _clean(out: Path, n_shards: int) -> None:
    """Remove a stale manifest, temporary files of a killed run and shards beyond the plan."""
    (out / shards.MANIFEST).unlink(missing_ok=True)
    for tmp in out.glob(".shard-*.tmp"):
        tmp.unlink()
    for old in out.glob("shard-*.bin"):
        if old.name not in {shards.shard_name(i) for i in range(n_shards)}:
            old.unlink()


def render_split(cfg: Config, split: str, out: Path, count: int | None = None) -> dict:
    """Render ``count`` samples (default: ``data.<split>_samples``) of ``split`` into ``out``; returns the manifest."""
    cfg_data, seed = cfg.data, cfg.seed
    count = getattr(cfg_data, f"{split}_samples") if count is None else count
    sources = Sources.for_split(cfg_data.to_dict(), split)  # bad folders fail here, before any work
    fp = fingerprint({**cfg_data.to_dict(), f"{split}_samples": count}, seed, split)
    parts = plan(count, cfg_data.shard_size)
    out.mkdir(parents=True, exist_ok=True)
    existing = _existing_manifest(out, fp)
    if existing is not None:
        log.info("%s: up to date (%d samples)", out, existing["count"])
        return existing
    _clean(out, len(parts))
    todo = [i for i, r in enumerate(parts) if not _valid_shard(out / shards.shard_name(i), fp, len(r))]
    log.info("%s: rendering %d of %d shards (%d samples, %dx%d, N=%d, %d workers)", out, len(todo), len(parts),
             count, cfg_data.resolution, cfg_data.resolution, cfg_data.n_subframes, cfg_data.workers)
    start = time.perf_counter()
    _render_shards(cfg_data, split, seed, out, [(i, parts[i]) for i in todo], fp)
    manifest = _manifest(out, split, count, parts, fp, cfg, sources)  # no timings: identical reruns, identical files
    write_json(out / shards.MANIFEST, manifest)
    log.info("%s: %d samples in %.1f s", out, count, time.perf_counter() - start)
    return manifest


def _existing_manifest(out: Path, fp: str) -> dict | None:
    try:
        manifest = shards.read_manifest(out)
    except UserError:
        return None
    return manifest if manifest.get("fingerprint") == fp else None


def _render_shards(cfg_data: Data, split: str, seed: int, out: Path, todo: list[tuple[int, range]], fp: str) -> None:
    indices = [i for _, r in todo for i in r]
    if not indices:
        return
    workers = min(cfg_data.workers, len(indices))
    init_args = (cfg_data, split, seed, workers > 1)
    bar = tqdm(total=len(indices), desc=f"render {split}", unit="sample", mininterval=2.0)
    if workers == 1:
        _init_worker(*init_args)
        try:
            _collect(map(_render_one, indices), todo, out, fp, bar)
        finally:
            _STATE.pop("renderer").close()
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=init_args) as pool:
        _collect(pool.imap(_render_one, indices, chunksize=2), todo, out, fp, bar)


def _collect(results, todo: list[tuple[int, range]], out: Path, fp: str, bar) -> None:
    """Consume ordered results and write each shard as soon as its samples are in."""
    results = iter(results)
    for shard_idx, rng in todo:
        records, metas, shapes = [], [], {}
        for _ in rng:
            blob, crc, meta, shapes = next(results)
            records.append((blob, crc))
            metas.append(meta)
            bar.update(1)
        size = shards.write_shard(out / shards.shard_name(shard_idx), records, shapes, metas, fp)
        log.info("wrote %s (%d samples, %.1f MB)", shards.shard_name(shard_idx), len(records), size / 1e6)
    bar.close()


def _manifest(out: Path, split: str, count: int, parts: list[range], fp: str, cfg: Config, sources: Sources) -> dict:
    cfg_data = cfg.data
    files = [shards.shard_name(i) for i in range(len(parts))]
    return {
        "format": shards.FORMAT, "split": split, "count": count, "fingerprint": fp, "seed": cfg.seed,
        "resolution": cfg_data.resolution, "n_subframes": cfg_data.n_subframes,
        "shards": [{"file": f, "count": len(r), "bytes": (out / f).stat().st_size} for f, r in zip(files, parts)],
        "bytes": sum((out / f).stat().st_size for f in files),
        "sources": {"meshes": [shards_name(p) for p in sources.meshes],
                    "textures": [shards_name(p) for p in sources.textures],
                    "backgrounds": [b.name for b in sources.backgrounds]},
    }


def shards_name(path: Path) -> str:
    from defmo.data.assets import display_name

    return display_name(path)
