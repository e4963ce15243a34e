"""Sharded storage of synthetic samples: a few large files of zlib-compressed uint8 records, random access.

Shard layout (``shard-%05d.bin``): the records one after another, then a JSON footer (keys, shapes, offsets,
lengths, CRC32 of each decompressed record, per-sample metadata, the render fingerprint), its length as 8 bytes
little-endian, and the magic ``DEFMOSH1``. A shard is written to a temporary name and renamed when complete,
so a killed render leaves no file that looks like a shard; the reader checks the magic, the size and each
record's CRC and raises :class:`UserError` naming the file otherwise. ``manifest.json`` is written last.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from defmo.errors import UserError
from defmo.utils.io import atomic_path

MAGIC = b"DEFMOSH1"
KEYS = ("image", "background", "image2", "background2", "frames")
MANIFEST = "manifest.json"
FORMAT = "defmo-shards-1"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.bin"


def encode(arrays: dict) -> tuple[bytes, int]:
    """Concatenate the uint8 arrays in ``KEYS`` order and compress; returns (record, crc32 of the raw bytes)."""
    raw = b"".join(np.ascontiguousarray(arrays[k], dtype=np.uint8).tobytes() for k in KEYS)
    return zlib.compress(raw, 6), zlib.crc32(raw)


def write_shard(path: Path, records: list[tuple[bytes, int]], shapes: dict, metas: list[dict], fingerprint: str) -> int:
    """Write one shard atomically; returns its size in bytes."""
    offsets, pos = [], 0
    for blob, _ in records:
        offsets.append(pos)
        pos += len(blob)
    footer = json.dumps({
        "format": FORMAT, "keys": list(KEYS), "shapes": {k: list(v) for k, v in shapes.items()},
        "offsets": offsets, "lengths": [len(b) for b, _ in records], "crc32": [c for _, c in records],
        "meta": metas, "fingerprint": fingerprint,
    }).encode()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for blob, _ in records:
            fh.write(blob)
        fh.write(footer)
        fh.write(struct.pack("<Q", len(footer)))
        fh.write(MAGIC)
    return path.stat().st_size


class ShardReader:
    """Random access to one shard's samples; ``reader[i]`` -> dict of uint8 arrays (channels last)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.footer = read_footer(self.path)
        shapes = self.footer["shapes"]
        self.shapes = {k: tuple(shapes[k]) for k in KEYS}
        self.sizes = [int(np.prod(self.shapes[k])) for k in KEYS]
        self._fh = None
        self._pid = None

    def __len__(self) -> int:
        return len(self.footer["offsets"])

    def _handle(self):
        if self._fh is None or self._pid != os.getpid():  # a DataLoader worker gets its own handle
            self._fh, self._pid = open(self.path, "rb"), os.getpid()
        return self._fh

    def __getitem__(self, i: int) -> dict:
        fh = self._handle()
        fh.seek(self.footer["offsets"][i])
        blob = fh.read(self.footer["lengths"][i])
        try:
            raw = zlib.decompress(blob)
        except zlib.error as exc:
            raise self._corrupt(f"record {i} does not decompress ({exc})") from exc
        if zlib.crc32(raw) != self.footer["crc32"][i] or len(raw) != sum(self.sizes):
            raise self._corrupt(f"record {i} fails its checksum")
        out, pos = {}, 0
        for key, size in zip(KEYS, self.sizes):
            out[key] = np.frombuffer(raw, np.uint8, size, pos).reshape(self.shapes[key])
            pos += size
        return out

    def _corrupt(self, what: str) -> UserError:
        return corrupt_error(self.path, what)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fh"], state["_pid"] = None, None
        return state


def corrupt_error(path: Path, what: str) -> UserError:
    return UserError(f"shard '{path}' is truncated or corrupt: {what}; render the split again (`snakemake --cores "
                     f"all --forcerun render`, which rewrites '{path.parent}' as a whole, or `python -m defmo data "
                     "--output-dir OTHER`)")


def read_footer(path: Path) -> dict:
    """Parse and check a shard's footer; :class:`UserError` naming the file when anything is off."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"shard '{path}' is missing; re-run `python -m defmo data` for '{path.parent}'")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size < 16:
            raise corrupt_error(path, f"only {size} bytes")
        fh.seek(size - 16)
        length_bytes, magic = fh.read(8), fh.read(8)
        (length,) = struct.unpack("<Q", length_bytes)
        if magic != MAGIC or length > size - 16:
            raise corrupt_error(path, "no end marker")
        fh.seek(size - 16 - length)
        try:
            footer = json.loads(fh.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise corrupt_error(path, "unreadable index") from exc
    end = footer["offsets"][-1] + footer["lengths"][-1] if footer.get("offsets") else 0
    if footer.get("format") != FORMAT or end != size - 16 - length:
        raise corrupt_error(path, "index does not match the file size")
    return footer


def read_manifest(root: str | Path) -> dict:
    """The manifest of a rendered split folder, checked against its shards' sizes."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise UserError(f"'{root}' holds no {MANIFEST}: the render did not finish; run "
                        f"`python -m defmo data --output-dir {root}` (or `snakemake --cores all data`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"'{path}' is not valid JSON ({exc}); render the split again (`snakemake --cores all "
                        f"--forcerun render` rewrites '{root}' as a whole)") from exc
    for shard in manifest.get("shards", []):
        file = root / shard["file"]
        if not file.is_file() or file.stat().st_size != shard["bytes"]:
            raise corrupt_error(file, f"size differs from {MANIFEST} (expected {shard['bytes']} bytes)")
    return manifest
