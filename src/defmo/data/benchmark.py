"""Synthetic test sequences in the real FMO deblurring benchmark's on-disk layout (spec/benchmark.md).

Per dataset root: ``imgs/<seq>/%08d.png`` (8-bit RGB blurred low-speed frames, numbered from 0),
``imgs_gt/<seq>/%08d.png`` (8-bit RGB ground-truth high-speed frames, n per low-speed frame, numbered from 0:
frame k owns ``k * n + j``), ``imgs/<seq>/gt.txt`` (2 rows per low-speed frame: x then y of the object centre
at each of its n sub-frames; whitespace-separated, as ``numpy.loadtxt`` reads) and ``imgs/<seq>/gtr.txt`` (one
row per frame: the radius at each sub-frame). Coordinates are 0-based pixels, x = column, y = row; the centre
is the alpha-weighted centroid of the rendered mask and the radius half the larger side of its bounding box
(the benchmark's ``gt_bbox`` convention). Sequence names match the dataset's glob and carry ``-12`` when n = 12.

A static camera and background (so a median background recovers B) and one object moving continuously over
the whole sequence; low-speed frame k is the blatting composite of its n high-speed sub-frames. Objects:
``falling_objects`` held-out (validation split) textured meshes falling through the frame; ``tbd3d`` textured
rotating spheres; ``tbd`` uniformly coloured spheres. Backgrounds: the validation split's only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

from defmo.data import textures
from defmo.data.renderer import HALF_EXTENT, make_primitive
from defmo.data.sample import Sources, acceptance, compose
from defmo.errors import UserError

log = logging.getLogger(__name__)

DATASETS = ("falling_objects", "tbd3d", "tbd")
MARKER = "synthetic.json"
MAX_TRIES = 50


def sequence_name(dataset: str, index: int, n: int) -> str:
    """A name matching the dataset's glob (``*_GTgamma``, ``*_GT_*``, ``*_*``), with ``-12`` iff n = 12."""
    tag = "-12" if n == 12 else ""
    return {"falling_objects": f"object{index:02d}{tag}_GTgamma", "tbd3d": f"sphere{index:02d}{tag}_GT_texture",
            "tbd": f"ball{index:02d}{tag}_uniform"}[dataset]


def check_dataset(dataset: str, n: int) -> None:
    if dataset not in DATASETS:
        raise UserError(f"unknown benchmark dataset '{dataset}'; use one of {', '.join(DATASETS)}")
    if n not in (8, 12):
        raise UserError(f"params.yaml: key 'bench_data.n_subframes' is {n}; the benchmark layout encodes only "
                        "8 (default) or 12 (names with '-12') sub-frames per frame")


def sequence_path(rng: np.random.Generator, dataset: str, aspect: float, margin: float) -> tuple[np.ndarray, ...]:
    """Start and end centre (scene units) and a sideways bow, keeping ``margin`` from the frame's edges."""
    ext_x, ext_y = HALF_EXTENT * aspect - margin, HALF_EXTENT - margin
    if dataset == "falling_objects":
        a = np.array([rng.uniform(-ext_x, ext_x) * 0.6, ext_y, 0.0])
        b = np.array([rng.uniform(-ext_x, ext_x) * 0.6, -ext_y, 0.0])
    else:
        a = np.array([-ext_x, rng.uniform(-ext_y, ext_y) * 0.6, 0.0])
        b = np.array([ext_x, rng.uniform(-ext_y, ext_y) * 0.6, 0.0])
        if rng.uniform() < 0.5:
            a, b = b, a
    bow = rng.uniform(-0.3, 0.3) * min(ext_x, ext_y)
    return a, b, np.array([bow, 0.0, 0.0]) if dataset == "falling_objects" else np.array([0.0, bow, 0.0])


def sequence_poses(rng: np.random.Generator, dataset: str, count: int, aspect: float, margin: float) -> list:
    """``count`` object poses (4x4) over the sequence: a bowed path and a continuous spin."""
    a, b, bow = sequence_path(rng, dataset, aspect, margin)
    rot0 = Rotation.from_quat(rng.normal(size=4))
    spin = rng.uniform(-360.0, 360.0, 3)
    poses = []
    for s in np.linspace(0.0, 1.0, count):
        pose = np.eye(4)
        pose[:3, :3] = (Rotation.from_euler("xyz", s * spin, degrees=True) * rot0).as_matrix()
        pose[:3, 3] = a + s * (b - a) + 4 * s * (1 - s) * bow
        poses.append(pose)
    return poses


def object_primitive(dataset: str, sources: Sources, rng: np.random.Generator, radius: float):
    """The sequence's object: a held-out textured mesh, a textured sphere or a uniformly coloured sphere."""
    if dataset == "falling_objects":
        mesh = _pick_mesh(sources, rng).copy()
        mesh.apply_scale(radius * 1.5)  # a mesh's half-diagonal overstates its size compared to a sphere
        return make_primitive(mesh, textures.pick_texture(sources.textures, rng))
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    if dataset == "tbd3d":
        return make_primitive(sphere, textures.pick_texture(sources.textures, rng))
    hsv = np.array([rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)])
    return make_primitive(sphere, None, colour=_hsv_to_rgb(hsv))


def _pick_mesh(sources: Sources, rng: np.random.Generator) -> trimesh.Trimesh:
    for _ in range(MAX_TRIES):
        mesh = sources.try_mesh(int(rng.integers(len(sources.meshes))))
        if mesh is not None:
            return mesh
    raise UserError(f"no readable mesh among {len(sources.meshes)} held-out meshes; check params.yaml 'data.meshes'")


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(*hsv))


def centre_and_radius(alpha: np.ndarray) -> tuple[float, float, float]:
    """Alpha-weighted centroid (x = column, y = row, 0-based) and half the larger bounding-box side of ``alpha``
    ``(H, W)`` in [0, 1]; NaNs when the object is not visible."""
    total = alpha.sum()
    if total <= 0:
        return np.nan, np.nan, np.nan
    rows, cols = np.nonzero(alpha > 0)
    ys, xs = np.mgrid[0:alpha.shape[0], 0:alpha.shape[1]]
    size = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    return float((alpha * xs).sum() / total), float((alpha * ys).sum() / total), size / 2.0


def render_sequence(renderer, dataset: str, sources: Sources, rng: np.random.Generator, cfg_bench: dict) -> dict:
    """Render one sequence; returns ``frames`` (T, H, W, 4) uint8 high-speed RGBA and ``background`` (H, W, 3)."""
    width, height = cfg_bench["width"], cfg_bench["height"]
    count = cfg_bench["frames"] * cfg_bench["n_subframes"]
    background = textures.background_image(sources.backgrounds[int(rng.integers(len(sources.backgrounds)))], rng,
                                           width, height)
    rules = {"min_coverage": 0.0, "min_contrast": 0.1}
    for _ in range(MAX_TRIES):
        radius = rng.uniform(0.18, 0.3)
        renderer.set_object(object_primitive(dataset, sources, rng, radius))
        renderer.set_lighting(rng.normal(size=3) - np.array([0, 0, 2.0]), rng.uniform(2.5, 5.0), rng.uniform(0.2, 0.4))
        frames = renderer.render(sequence_poses(rng, dataset, count, width / height, margin=radius * 1.6))
        if acceptance(frames, [background], rules) in (None, "not connected"):
            return {"frames": frames, "background": background}
    raise UserError(f"could not place an object inside a {width}x{height} frame in {MAX_TRIES} tries; enlarge "
                    "params.yaml keys 'bench_data.width'/'bench_data.height'")


def write_sequence(root: Path, name: str, seq: dict, n: int) -> None:
    """Write one sequence in the benchmark layout under ``root`` (imgs/, imgs_gt/, gt.txt, gtr.txt)."""
    frames, background = seq["frames"], seq["background"]
    imgs, imgs_gt = root / "imgs" / name, root / "imgs_gt" / name
    imgs.mkdir(parents=True)
    imgs_gt.mkdir(parents=True)
    for j, frame in enumerate(frames):
        _save_png(imgs_gt / f"{j:08d}.png", compose(frame[None], background))
    centres = np.array([centre_and_radius(f[..., 3] / 255.0) for f in frames])  # (T, 3)
    n_low = len(frames) // n
    for k in range(n_low):
        _save_png(imgs / f"{k:08d}.png", compose(frames[k * n:(k + 1) * n], background))
    grouped = centres.reshape(n_low, n, 3)
    gt = np.stack([grouped[:, :, 0], grouped[:, :, 1]], axis=1).reshape(2 * n_low, n)
    np.savetxt(imgs / "gt.txt", gt, fmt="%.4f")
    np.savetxt(imgs / "gtr.txt", grouped[:, :, 2], fmt="%.4f")


def _save_png(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(path, compress_level=6)


def render_dataset(cfg: dict, dataset: str, out: Path) -> list[str]:
    """Render ``bench_data.sequences`` sequences of ``dataset`` into ``out`` (replaced atomically); returns names."""
    from defmo.data.renderer import ObjectRenderer

    cfg_bench = cfg["bench_data"]
    n = cfg_bench["n_subframes"]
    check_dataset(dataset, n)
    _check_replaceable(out)
    sources = Sources.for_split(cfg["data"], "val")  # held-out meshes, textures and backgrounds
    renderer = ObjectRenderer(cfg_bench["width"], cfg_bench["height"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = _render_all(renderer, cfg, dataset, sources, tmp)
        (tmp / MARKER).write_text(json.dumps({"dataset": dataset, "sequences": names, "bench_data": cfg_bench,
                                              "seed": cfg["seed"]}, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        renderer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return names


def _render_all(renderer, cfg: dict, dataset: str, sources: Sources, root: Path) -> list[str]:
    from tqdm import tqdm

    cfg_bench = cfg["bench_data"]
    names = []
    for index in tqdm(range(cfg_bench["sequences"]), desc=f"render-benchmark {dataset}", unit="seq"):
        rng = np.random.default_rng([cfg["seed"], 2, DATASETS.index(dataset), index])
        name = sequence_name(dataset, index, cfg_bench["n_subframes"])
        write_sequence(root, name, render_sequence(renderer, dataset, sources, rng, cfg_bench), cfg_bench["n_subframes"])
        log.info("%s: wrote %s (%d frames)", dataset, name, cfg_bench["frames"])
        names.append(name)
    return names


def _check_replaceable(out: Path) -> None:
    """Never delete a folder we did not write (a real benchmark root, say)."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"'{out}' exists and was not written by render-benchmark (no {MARKER}); choose another "
                        "--out or remove it yourself")
