"""Rendering sources: meshes, textures and backgrounds, embedded or from folders, split train/val.

Embedded sources are files that installed PyPI packages carry (pybullet_data's meshes and textures,
scikit-image's and matplotlib's bundled images) plus procedurally generated textures. Folders follow the
public datasets' layouts: meshes as OBJ/PLY/STL anywhere below the root (ShapeNetCore.v2:
``<synset>/<model>/models/model_normalized.obj``), textures as images (DTD: ``images/<class>/*.jpg``),
backgrounds as video files or folders of frames (VOT: ``<sequence>/[color/]*.jpg``, Sports-1M: videos).
Train and validation never share a mesh or a background source (a video / frame folder is one source).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Mapping
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import trimesh
from PIL import Image

from defmo.errors import UserError

log = logging.getLogger(__name__)

MESH_EXT = (".obj", ".ply", ".stl")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")
VIDEO_EXT = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")
# pybullet_data meshes beside random_urdfs/ that are single, reasonably sized objects
EXTRA_MESHES = (
    "bunny.obj", "duck.obj", "teddy2_VHACD_CHs.obj", "objects/mug.obj", "lego/lego.obj", "torus/torus_textured.obj",
    "toys/*.obj", "kuka_iiwa/meshes/*.obj", "racecar/meshes/*.obj", "domino/domino.obj", "jenga/jenga.obj",
    "laikago/*_lores.obj", "xarm/xarm_description/meshes/xarm6/collision/*.obj", "sphere_smooth.obj",
)
TEXTURE_IMAGES = ("brick.png", "grass.png", "gravel.png")  # scikit-image textures, not used as backgrounds


@dataclass(frozen=True)
class Background:
    """One background source: a still image, a folder of frames or a video file."""

    path: Path
    frames: tuple[Path, ...] = ()  # frames of an image sequence; empty for a still or a video

    @property
    def name(self) -> str:
        return display_name(self.path)


# what to do about an unusable file in a user's asset folder (their data: we never suggest deleting it)
MESH_FIX = "repair it, or point data.meshes (data.val_meshes) at a folder that leaves it out"
FILE_FIX = "repair it, or point the data.* folder key that lists it at a folder that leaves it out"

def display_name(path: Path) -> str:
    """A machine-independent name: relative to site-packages for embedded files, else the path as given."""
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1:])
    return str(path)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package '{name}' is not installed; run the README's setup command")
    return Path(list(spec.submodule_search_locations)[0])


def split_items(items: list, fraction: float, split: str) -> list:
    """Deterministic, disjoint split by a hash of each item's family (near-duplicates stay together):
    ``ceil(fraction * families)`` families go to val, at least one to each split when there are two."""
    if split not in ("train", "val"):
        raise UserError(f"split must be 'train' or 'val', got '{split}'")
    families = sorted({family(it) for it in items}, key=lambda f: (zlib.crc32(f.encode()), f))
    n_val = min(max(1, int(np.ceil(fraction * len(families)))), max(len(families) - 1, 1))
    val = set(families[:n_val])
    return sorted((it for it in items if (family(it) in val) == (split == "val")), key=_name)


def _name(item) -> str:
    path = Path(item.path) if isinstance(item, Background) else Path(item)
    return f"{path.parent.name}/{path.name}"


def family(item) -> str:
    """What must not straddle the split: a ShapeNet model (``<model>/models/x.obj``), one folder of pybullet_data's
    robot/toy parts, a stereo pair or colour/grey twin of one picture; otherwise the item itself."""
    path = Path(item.path) if isinstance(item, Background) else Path(item)
    name = display_name(path)
    if path.parent.name == "models":
        return f"{path.parent.parent.parent.name}/{path.parent.parent.name}"
    if name.startswith("pybullet_data/") and "random_urdfs" not in name:
        return str(Path(name).parent)
    stem = re.sub(r"_(left|right|gray|rgb)$", "", path.stem.lower())
    return f"{path.parent.name}/{stem}"


def _require_dir(folder: str | Path, key: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"params.yaml: key '{key}' = '{folder}' is not a folder; point it at an existing folder "
                        "or set it to 'embedded'")
    return path


def _files(root: Path, exts: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def _split_source(cfg_data: Mapping, split: str, key: str, embedded, folder) -> list:
    """A split's items of ``data.<key>``: ``data.val_<key>`` for val when given (then train keeps all of
    ``data.<key>``), else a hash split of ``data.<key>`` ("embedded" or a folder) by ``data.val_fraction``."""
    val_key = f"val_{key}"
    if split == "val" and cfg_data.get(val_key):
        return folder(cfg_data[val_key], f"data.{val_key}")
    source = cfg_data[key]
    items = embedded() if source == "embedded" else folder(source, f"data.{key}")
    if split == "train" and cfg_data.get(val_key):
        return items
    return split_items(items, cfg_data["val_fraction"], split)


# ---------------------------------------------------------------- meshes
def embedded_meshes() -> list[Path]:
    root = package_dir("pybullet_data")
    paths = sorted(root.glob("random_urdfs/*/*.obj"))
    for pattern in EXTRA_MESHES:
        paths.extend(sorted(root.glob(pattern)))
    return paths


def list_meshes(cfg_data: Mapping, split: str) -> list[Path]:
    """Mesh files of a split: ``data.meshes`` (held-out by hash) or ``data.val_meshes`` for val."""
    return _split_source(cfg_data, split, "meshes", embedded_meshes, _mesh_folder)


def _mesh_folder(folder: str, key: str) -> list[Path]:
    paths = _files(_require_dir(folder, key), MESH_EXT)
    if not paths:
        raise UserError(f"params.yaml: key '{key}' = '{folder}' holds no {'/'.join(MESH_EXT)} files")
    return paths


def load_mesh(path: Path) -> trimesh.Trimesh:
    """Load one mesh as a single triangle mesh centred at the origin with bounding-box diagonal 2.

    Raises :class:`UserError` naming the file when it cannot be read or holds no triangles.
    """
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad input file
        raise UserError(f"mesh '{path}' could not be read ({type(exc).__name__}: {exc}); {MESH_FIX}") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0 or len(loaded.vertices) < 3:
        raise UserError(f"mesh '{path}' holds no triangles; {MESH_FIX}")
    mesh = trimesh.Trimesh(vertices=np.asarray(loaded.vertices, np.float64), faces=np.asarray(loaded.faces),
                           process=False)
    lo, hi = mesh.bounds
    diag = float(np.linalg.norm(hi - lo))
    if not np.isfinite(diag) or diag <= 0:
        raise UserError(f"mesh '{path}' is degenerate (zero or non-finite extent); {MESH_FIX}")
    mesh.apply_translation(-(lo + hi) / 2.0)
    mesh.apply_scale(2.0 / diag)
    return mesh


# ---------------------------------------------------------------- textures
def embedded_textures() -> list[Path]:
    skimage_data = package_dir("skimage") / "data"
    bullet = package_dir("pybullet_data")
    paths = [skimage_data / name for name in TEXTURE_IMAGES if (skimage_data / name).is_file()]
    paths += [p for p in _files(bullet, (".png", ".jpg", ".jpeg")) if "random_urdfs" not in p.parts]
    return paths


def list_textures(cfg_data: Mapping, split: str) -> list[Path]:
    """Texture images of a split (procedural textures are added per sample by the renderer)."""
    source = cfg_data["textures"]
    if source == "embedded":
        paths = embedded_textures()
    else:
        paths = _files(_require_dir(source, "data.textures"), IMAGE_EXT)
        if not paths:
            raise UserError(f"params.yaml: key 'data.textures' = '{source}' holds no images")
    return split_items(paths, cfg_data["val_fraction"], split)


# ---------------------------------------------------------------- backgrounds
def embedded_backgrounds() -> list[Background]:
    skimage_data = package_dir("skimage") / "data"
    mpl = package_dir("matplotlib") / "mpl-data" / "sample_data"
    stills = [p for p in _files(skimage_data, IMAGE_EXT) if p.name not in TEXTURE_IMAGES]
    stills += _files(mpl, (".png", ".jpg"))
    return [Background(p) for p in stills if _big_enough(p)]


def _big_enough(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return min(img.size) >= 64
    except (OSError, ValueError):
        return False


def list_backgrounds(cfg_data: Mapping, split: str) -> list[Background]:
    """Background sources of a split (``data.backgrounds`` held out by hash, or ``data.val_backgrounds``)."""
    return _split_source(cfg_data, split, "backgrounds", embedded_backgrounds, _background_folder)


def _background_folder(folder: str, key: str) -> list[Background]:
    root = _require_dir(folder, key)
    items = [Background(p) for p in _files(root, VIDEO_EXT)]
    by_dir: dict[Path, list[Path]] = {}
    for p in _files(root, IMAGE_EXT):
        by_dir.setdefault(p.parent, []).append(p)
    items += [Background(d, tuple(frames)) for d, frames in sorted(by_dir.items())]
    if not items:
        raise UserError(f"params.yaml: key '{key}' = '{folder}' holds no videos ({'/'.join(VIDEO_EXT)}) or "
                        "image frames; add VOT/Sports-1M style sequences or set it to 'embedded'")
    return items


def read_background_frame(bg: Background, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 frame ``(H, W, 3)`` of a background source (a random frame of a sequence or video)."""
    if bg.frames:
        path = bg.frames[int(rng.integers(len(bg.frames)))]
        return read_rgb(path)
    if bg.path.suffix.lower() in VIDEO_EXT:
        return _video_frame(bg.path, rng)
    return read_rgb(bg.path)


@functools.lru_cache(maxsize=48)
def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8 ``(H, W, 3)`` (read-only, cached per process: backgrounds and textures are
    reused across samples); grey, palette and RGBA are converted. UserError if unreadable."""
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise UserError(f"image '{path}' could not be read ({exc}); {FILE_FIX}") from exc
    array.flags.writeable = False
    return array


def _video_frame(path: Path, rng: np.random.Generator) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count > 1:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(rng.integers(count)))
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise UserError(f"video '{path}' could not be read; {FILE_FIX}")
    return np.ascontiguousarray(frame[..., ::-1])
