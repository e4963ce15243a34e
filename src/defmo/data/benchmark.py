"""Synthetic test sequences in the real FMO deblurring benchmark's on-disk layout (spec/benchmark.md).

Per dataset root: ``imgs/<seq>/%08d.png`` (8-bit RGB blurred low-speed frames, numbered from 0),
``imgs_gt/<seq>/%08d.png`` (8-bit RGB ground-truth high-speed frames, n per low-speed frame, numbered from 0:
frame k owns ``k * n + j``), ``imgs/<seq>/gt.txt`` (2 rows per low-speed frame: x then y of the object centre
at each of its n sub-frames; whitespace-separated, as ``numpy.loadtxt`` reads) and ``imgs/<seq>/gtr.txt`` (one
row per frame: the radius at each sub-frame). Coordinates are 0-based pixels, x = column, y = row; the centre
is the alpha-weighted centroid of the rendered mask and the radius half the larger side of its bounding box
(the benchmark's ``gt_bbox`` convention). Sequence names match the dataset's glob and carry ``-12`` when n = 12.
Beyond the real layout (ours, for the shape metrics): ``imgs_gt_alpha/<seq>/%08d.png``, the GT alpha of every
high-speed frame as an 8-bit grayscale PNG (0-255 for alpha in [0, 1]), numbered like ``imgs_gt``.

A static camera and background (so a median background recovers B) and one fast-moving object (FMO) moving
continuously over the whole sequence. As in the real datasets, the object travels 1 to 4 times its own size
within every low-speed frame: the travel ratio, the length of the path through a frame's n sub-frame centres
(gt.txt) over the object size (2 x the frame's largest radius in gtr.txt), is kept within ``TRAVEL_RATIO``
(sequences outside it are re-drawn). Speeds are drawn as multiples of the object's projected size per frame;
``tbd``/``tbd3d`` balls fly straight and bounce off the frame's edges, ``falling_objects`` fall under gravity
and bounce off the bottom edge; the object stays fully inside the frame. Each high-speed frame is a short
continuous exposure (the mean of ``data.exposure_samples`` renders over its slice, the training samples'
:func:`defmo.data.renderer.render_exposure`); low-speed frame k is the blatting composite of its n high-speed
frames. Objects: ``falling_objects`` held-out (validation split) textured meshes; ``tbd3d`` textured rotating
spheres; ``tbd`` uniformly coloured spheres. Backgrounds: the validation split's only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

from defmo.data import textures
from defmo.data.renderer import HALF_EXTENT, make_primitive, pose_matrix, render_exposure
from defmo.data.sample import Sources, acceptance, compose
from defmo.errors import UserError
from defmo.data.layout import ALPHA_DIR
from defmo.settings import Config

log = logging.getLogger(__name__)

DATASETS = ("falling_objects", "tbd3d", "tbd")
MARKER = "synthetic.json"
MAX_TRIES = 50
RADIUS = (0.14, 0.24)  # object radius in scene units (the frame's height shows 2 x 1.2)
SPEED_FLY = (2.0, 4.5)  # tbd/tbd3d speed, object sizes per low-speed frame
SPEED_FALL = ((1.8, 2.2), (3.5, 4.5))  # falling_objects: speed at the top and at the bottom, sizes per frame
TRAVEL_RATIO = (1.05, 3.9)  # accepted per-frame travel / object size (real FMOs: 1 to 4)


def sequence_name(dataset: str, index: int, n: int) -> str:
    """A name matching the dataset's glob (``*_GTgamma``, ``*_GT_*``, ``*_*``), with ``-12`` iff n = 12."""
    tag = "-12" if n == 12 else ""
    return {"falling_objects": f"object{index:02d}{tag}_GTgamma", "tbd3d": f"sphere{index:02d}{tag}_GT_texture",
            "tbd": f"ball{index:02d}{tag}_uniform"}[dataset]


def check_dataset(dataset: str, n: int) -> None:
    if dataset not in DATASETS:
        raise UserError(f"unknown benchmark dataset '{dataset}'; use one of {', '.join(DATASETS)}")
    if n not in (8, 12):
        raise UserError(f"params.yaml: key 'benchmark_data.n_subframes' is {n}; the benchmark layout encodes only "
                        "8 (default) or 12 (names with '-12') sub-frames per frame")


def fold(values: np.ndarray, extent: float) -> np.ndarray:
    """Unbounded 1D positions reflected into [-extent, extent]: elastic bounces off both walls."""
    u = np.mod(values + extent, 4 * extent)
    return -extent + np.where(u <= 2 * extent, u, 4 * extent - u)


def sequence_motion(rng: np.random.Generator, dataset: str, box: np.ndarray, size: float):
    """The object centre's path ``f(t) -> (len(t), 3)`` in scene units, t in low-speed frames, inside
    ``|x| <= box[0], |y| <= box[1]`` (z = 0).

    Speeds are multiples of the object's size per low-speed frame (``SPEED_*``): ``tbd``/``tbd3d`` balls fly
    straight at a constant speed and bounce off the frame's edges; ``falling_objects`` fall from the top under
    gravity, bounce elastically off the bottom edge and drift sideways between the side edges, the speed growing
    from ``SPEED_FALL[0]`` at the top to ``SPEED_FALL[1]`` at the bottom.
    """
    start = rng.uniform(-box, box)
    if dataset != "falling_objects":
        angle = rng.uniform(0, 2 * np.pi)
        velocity = rng.uniform(*SPEED_FLY) * size * np.array([np.cos(angle), np.sin(angle)])
        return lambda t: _plane(fold(start[0] + velocity[0] * t, box[0]), fold(start[1] + velocity[1] * t, box[1]))
    slow, fast = (rng.uniform(*r) * size for r in SPEED_FALL)
    vx = slow * rng.choice([-1.0, 1.0])
    gravity = (fast ** 2 - slow ** 2) / (4 * box[1])  # v^2 at the floor = vx^2 + 2 g (2 box_y)
    fall = np.sqrt(4 * box[1] / gravity)  # top to bottom
    return lambda t: _plane(fold(start[0] + vx * t, box[0]),
                            box[1] - gravity * (np.mod(t + fall, 2 * fall) - fall) ** 2 / 2)


def _plane(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([x, y, np.zeros_like(x)], axis=1)


def sequence_poses(rng: np.random.Generator, dataset: str, frames: int, box: np.ndarray, mesh: trimesh.Trimesh):
    """``poses_at(s)``: 4x4 object poses at sequence times s in [0, 1] (``frames`` low-speed frames): the path of
    :func:`sequence_motion` and a continuous spin. The speed unit is the mesh's projected size (scene units)."""
    rot0 = Rotation.from_quat(rng.normal(size=4))
    spin = rng.uniform(-360.0, 360.0, 3)

    def rotations(s: np.ndarray) -> Rotation:
        return Rotation.from_euler("xyz", np.outer(s, spin), degrees=True) * rot0

    motion = sequence_motion(rng, dataset, box, projected_size(mesh, rotations(np.linspace(0, 1, 9))))

    def poses_at(s: np.ndarray) -> list[np.ndarray]:
        s = np.asarray(s, np.float64)
        return [pose_matrix(r, c) for r, c in zip(rotations(s).as_matrix(), motion(s * frames))]

    return poses_at


def projected_size(mesh: trimesh.Trimesh, rotations: Rotation) -> float:
    """Mean over ``rotations`` of the larger side of the mesh's bounding box in the image plane (scene units)."""
    sides = [np.ptp(r.apply(np.asarray(mesh.vertices))[:, :2], axis=0).max() for r in rotations]
    return float(np.mean(sides))


def travel_ratios(centres: np.ndarray, n: int) -> np.ndarray:
    """Per low-speed frame: the path length through its n sub-frame centres over the object size (2 x the
    frame's largest radius); ``centres`` ``(T, 3)`` rows of (x, y, radius) in pixels."""
    grouped = centres.reshape(-1, n, 3)
    path = np.hypot(*np.diff(grouped[:, :, :2], axis=1).transpose(2, 0, 1)).sum(axis=1)
    return path / (2 * grouped[:, :, 2].max(axis=1))


def object_primitive(dataset: str, sources: Sources, rng: np.random.Generator, radius: float):
    """The sequence's object ``(trimesh, pyrender mesh)``: a held-out textured mesh, a textured sphere or a
    uniformly coloured sphere."""
    if dataset == "falling_objects":
        mesh = _pick_mesh(sources, rng).copy()
        mesh.apply_scale(radius * 1.5)  # a mesh's half-diagonal overstates its size compared to a sphere
        return mesh, make_primitive(mesh, textures.pick_texture(sources.textures, rng))
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    if dataset == "tbd3d":
        return sphere, make_primitive(sphere, textures.pick_texture(sources.textures, rng))
    hsv = np.array([rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)])
    return sphere, make_primitive(sphere, None, colour=_hsv_to_rgb(hsv))


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


def render_sequence(renderer, dataset: str, sources: Sources, rng: np.random.Generator, cfg_bench: Mapping,
                    exposure: int = 1) -> dict:
    """Render one sequence; returns ``frames`` (T, H, W, 4) uint8 high-speed RGBA (each the mean of ``exposure``
    renders over its slice) and ``background`` (H, W, 3). Accepted when every high-speed frame shows the object
    inside the frame with enough contrast and every low-speed frame's travel ratio is within ``TRAVEL_RATIO``."""
    width, height, n = cfg_bench["width"], cfg_bench["height"], cfg_bench["n_subframes"]
    background = textures.background_image(sources.backgrounds[int(rng.integers(len(sources.backgrounds)))], rng,
                                           width, height)
    rules = {"min_coverage": 0.0, "min_contrast": 0.1}
    for _ in range(MAX_TRIES):
        radius = rng.uniform(*RADIUS)
        mesh, primitive = object_primitive(dataset, sources, rng, radius)
        renderer.set_object(primitive)
        renderer.set_lighting(rng.normal(size=3) - np.array([0, 0, 2.0]), rng.uniform(2.5, 5.0), rng.uniform(0.2, 0.4))
        box = np.array([HALF_EXTENT * width / height, HALF_EXTENT]) - radius * 1.6
        poses_at = sequence_poses(rng, dataset, cfg_bench["frames"], box, mesh)
        frames = _render_frames(renderer, poses_at, cfg_bench["frames"], n, exposure)
        if acceptance(frames, [background], rules) not in (None, "not connected"):
            continue
        ratios = travel_ratios(np.array([centre_and_radius(f[..., 3] / 255.0) for f in frames]), n)
        if TRAVEL_RATIO[0] <= ratios.min() and ratios.max() <= TRAVEL_RATIO[1]:
            return {"frames": frames, "background": background}
    raise UserError(f"could not place an object inside a {width}x{height} frame in {MAX_TRIES} tries; enlarge "
                    "params.yaml keys 'benchmark_data.width'/'benchmark_data.height'")


def _render_frames(renderer, poses_at, frames: int, n: int, exposure: int) -> np.ndarray:
    """All ``frames * n`` high-speed frames, rendered one low-speed frame at a time (bounded memory)."""
    out = []
    for k in range(frames):
        out.append(render_exposure(renderer, lambda s, k=k: poses_at((k + s) / frames), n, exposure))
    return np.concatenate(out)


def write_sequence(root: Path, name: str, seq: dict, n: int) -> None:
    """Write one sequence in the benchmark layout under ``root`` (imgs/, imgs_gt/, gt.txt, gtr.txt) and its GT
    alpha (imgs_gt_alpha/)."""
    frames, background = seq["frames"], seq["background"]
    imgs, imgs_gt, alphas = root / "imgs" / name, root / "imgs_gt" / name, root / ALPHA_DIR / name
    for folder in (imgs, imgs_gt, alphas):
        folder.mkdir(parents=True)
    for j, frame in enumerate(frames):
        _save_png(imgs_gt / f"{j:08d}.png", compose(frame[None], background))
        Image.fromarray(np.ascontiguousarray(frame[..., 3], dtype=np.uint8), mode="L").save(
            alphas / f"{j:08d}.png", compress_level=6)
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


def render_dataset(cfg: Config, dataset: str, out: Path) -> list[str]:
    """Render ``benchmark_data.sequences`` sequences of ``dataset`` into ``out`` (replaced atomically); returns names."""
    from defmo.data.renderer import ObjectRenderer

    cfg_bench = cfg.benchmark_data
    n = cfg_bench.n_subframes
    check_dataset(dataset, n)
    _check_replaceable(out)
    sources = Sources.for_split(cfg.data.to_dict(), "val")  # held-out meshes, textures and backgrounds
    renderer = ObjectRenderer(cfg_bench.width, cfg_bench.height)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = _render_all(renderer, cfg, dataset, sources, tmp)
        (tmp / MARKER).write_text(json.dumps({"dataset": dataset, "sequences": names, "benchmark_data": cfg_bench.to_dict(),
                                              "exposure_samples": cfg.data.exposure_samples,
                                              "seed": cfg.seed}, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        renderer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return names


def _render_all(renderer, cfg: Config, dataset: str, sources: Sources, root: Path) -> list[str]:
    from tqdm import tqdm

    cfg_bench = cfg.benchmark_data
    names = []
    for index in tqdm(range(cfg_bench.sequences), desc=f"benchmark {dataset}", unit="seq"):
        rng = np.random.default_rng([cfg.seed, 2, DATASETS.index(dataset), index])
        name = sequence_name(dataset, index, cfg_bench.n_subframes)
        seq = render_sequence(renderer, dataset, sources, rng, cfg_bench.to_dict(), cfg.data.exposure_samples)
        write_sequence(root, name, seq, cfg_bench.n_subframes)
        log.info("%s: wrote %s (%d frames)", dataset, name, cfg_bench.frames)
        names.append(name)
    return names


def _check_replaceable(out: Path) -> None:
    """Never delete a folder we did not write (a real benchmark root, say)."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"'{out}' exists and was not written by `data --benchmark` (no {MARKER}), so it is left "
                        "as it is; choose another --output-dir")
