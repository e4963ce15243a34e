"""One synthetic training sample (report 4.1, DeFMO's recipe): a mesh on a random 6D trajectory rendered as N
RGBA sub-frames, composited by the blatting equation over two backgrounds, with DeFMO's rejection rules.

Each sub-frame is a short continuous exposure, as a high-speed camera films and as DeFMO's renderer smears it:
the exposure [0, 1] is split into N equal slices and sub-frame i is the RGBA mean of ``data.exposure_samples``
(K) renders spread over slice i (:func:`defmo.data.renderer.render_exposure`); K = 1 is one instant per slice.
The inputs I are composited from the stored uint8 sub-frames, so the blatting equation holds exactly between
what is stored. Rejection is cheap first: the rules run on one instant per slice (N renders) before the other
N (K - 1) are rendered, and again on the stored sub-frames.

A sample is a pure function of ``(seed, split, index)``: :func:`sample_rng` seeds a fresh generator per sample,
so any number of worker processes produce bit-identical data.

The helpers read the ``data`` section as a mapping: the typed :class:`defmo.settings.Data` (or its
``trajectory``), or a dict of the keys they need (the benchmark passes its own acceptance thresholds).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial.transform import Rotation

from defmo.data import assets, textures
from defmo.data.blatting import blat_np
from defmo.errors import UserError

log = logging.getLogger(__name__)

SPLIT_CODES = {"train": 0, "val": 1}
MAX_TRIES = 100
MESH_CACHE = 64


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])


@dataclass
class Trajectory:
    """6D motion over the exposure t in [0, 1]: centre ``start + t * move``, rotation ``R(t * delta) @ rot0``."""

    start: np.ndarray
    move: np.ndarray
    rot0: np.ndarray
    delta_deg: np.ndarray

    def poses(self, times: np.ndarray) -> list[np.ndarray]:
        out = []
        for t in times:
            pose = np.eye(4)
            pose[:3, :3] = Rotation.from_euler("xyz", t * self.delta_deg, degrees=True).as_matrix() @ self.rot0
            pose[:3, 3] = self.start + t * self.move
            out.append(pose)
        return out

    def to_json(self) -> dict:
        return {"start": self.start.tolist(), "move": self.move.tolist(), "delta_deg": self.delta_deg.tolist()}


def sample_trajectory(rng: np.random.Generator, traj: Mapping, scale: float = 0.0) -> Trajectory:
    """Ranges from ``data.trajectory``: depth (z) offset/move within +-``*_x``, image plane within +-``*_yz``.

    With ``travel_sizes = [lo, hi]`` the image-plane motion is instead ``ratio * 2 * scale`` in a uniformly
    random direction, ratio uniform in [lo, hi] (the object's half-diagonal ``scale``: it travels that many of
    its sizes over the exposure, as fast-moving objects do), and the path is centred within +-``offset_yz``.
    """
    def vec(depth: float, plane: float) -> np.ndarray:
        return np.array([rng.uniform(-plane, plane), rng.uniform(-plane, plane), rng.uniform(-depth, depth)])

    start = vec(traj["offset_x"], traj["offset_yz"])
    move = vec(traj["move_x"], traj["move_yz"])
    if traj.get("travel_sizes"):
        length = rng.uniform(*traj["travel_sizes"]) * 2.0 * scale
        angle = rng.uniform(0.0, 2.0 * np.pi)
        move[:2] = length * np.array([np.cos(angle), np.sin(angle)])
        start[:2] -= move[:2] / 2.0
    rot0 = Rotation.from_quat(rng.normal(size=4)).as_matrix()
    delta = rng.uniform(-traj["rotation_deg"], traj["rotation_deg"], 3)
    return Trajectory(start, move, rot0, delta)


@dataclass
class Sources:
    """A split's meshes, texture images and backgrounds, plus a per-process cache of loaded meshes."""

    meshes: list[Path]
    textures: list[Path]
    backgrounds: list[assets.Background]
    strict: bool = True  # a user's unreadable mesh is an error; a broken embedded one is skipped
    cache: dict = field(default_factory=dict)

    @classmethod
    def for_split(cls, cfg_data: Mapping, split: str) -> "Sources":
        strict = cfg_data["meshes"] != "embedded" or (split == "val" and bool(cfg_data.get("val_meshes")))
        return cls(assets.list_meshes(cfg_data, split), assets.list_textures(cfg_data, split),
                   assets.list_backgrounds(cfg_data, split), strict)

    def try_mesh(self, index: int) -> trimesh.Trimesh | None:
        """The mesh, or None for a broken embedded mesh (logged once); user meshes raise UserError."""
        try:
            return self.mesh(index)
        except UserError:
            if self.strict:
                raise
            if index not in self.cache:
                log.warning("skipping embedded mesh %s: unreadable or degenerate", self.meshes[index])
                self.cache[index] = None
            return None

    def mesh(self, index: int) -> trimesh.Trimesh:
        if index not in self.cache:
            if len(self.cache) >= MESH_CACHE:
                self.cache.pop(next(iter(self.cache)))
            self.cache[index] = assets.load_mesh(self.meshes[index])
        return self.cache[index]


def shape_rejection(frames: np.ndarray, cfg_data: Mapping) -> str | None:
    """Mask-only rules on uint8 sub-frames ``(N, H, W, 4)``: every sub-frame visible, inside the frame, enough
    coverage over the exposure, one connected region. Returns the reason to reject, or None."""
    alpha = frames[..., 3]
    union = alpha.max(axis=0) > 0
    if not (alpha.reshape(len(alpha), -1).max(axis=1) > 0).all():
        return "empty sub-frame"
    if union[0].any() or union[-1].any() or union[:, 0].any() or union[:, -1].any():
        return "touches the border"
    if union.mean() < cfg_data["min_coverage"]:
        return "coverage"
    if ndimage.label(union)[1] != 1:
        return "not connected"
    return None


def contrast(frames: np.ndarray, background: np.ndarray) -> float:
    """Alpha-weighted mean absolute RGB difference between the object and the background it covers, in [0, 1]."""
    alpha = frames[..., 3].astype(np.float64) / 255.0
    diff = np.abs(frames[..., :3].astype(np.float64) - background[None].astype(np.float64)).mean(axis=-1) / 255.0
    return float((alpha * diff).sum() / max(alpha.sum(), 1e-9))


def acceptance(frames: np.ndarray, backgrounds: list[np.ndarray], cfg_data: Mapping) -> str | None:
    """DeFMO's rejection rules (shape, then contrast >= ``min_contrast`` over every background)."""
    reason = shape_rejection(frames, cfg_data)
    if reason is None and any(contrast(frames, bg) < cfg_data["min_contrast"] for bg in backgrounds):
        return "contrast"
    return reason


def compose(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The blurred input: blatting equation over uint8 sub-frames and background, rounded to uint8."""
    return (blat_np(frames / 255.0, background / 255.0) * 255.0).round().clip(0, 255).astype(np.uint8)


def render_sample(renderer, sources: Sources, rng: np.random.Generator, cfg_data: Mapping) -> tuple[dict, dict]:
    """Render one accepted sample.

    Returns ``(arrays, meta)``: uint8 ``image, background, image2, background2`` ``(H, W, 3)`` and ``frames``
    ``(N, H, W, 4)`` (straight RGBA, continuous-exposure sub-frames), and JSON-able metadata (mesh, backgrounds,
    trajectory, tries).
    """
    reasons: dict[str, int] = {}
    for attempt in range(1, MAX_TRIES + 1):
        arrays, meta, reason = _attempt(renderer, sources, rng, cfg_data)
        if reason is None:
            meta["tries"] = attempt
            return arrays, meta
        reasons[reason] = reasons.get(reason, 0) + 1
    raise UserError(f"no acceptable sample in {MAX_TRIES} tries (rejected: {reasons}); relax params.yaml keys "
                    "'data.min_contrast' / 'data.min_coverage' or 'data.trajectory'")


def _attempt(renderer, sources: Sources, rng: np.random.Generator, cfg_data: Mapping):
    """One try: returns ``(arrays, meta, None)`` or ``(None, None, reason)``. The rules run on the N key instants
    first (shape before any background is read), then on the stored continuous sub-frames; the random draws
    happen in the same order either way (determinism)."""
    from defmo.data.renderer import key_instants, make_primitive, render_exposure

    mesh_idx = int(rng.integers(len(sources.meshes)))
    mesh = sources.try_mesh(mesh_idx)
    if mesh is None:
        return None, None, "broken mesh"
    mesh = mesh.copy()
    scale = rng.uniform(*cfg_data["object_scale"])
    mesh.apply_scale(scale)
    renderer.set_object(make_primitive(mesh, textures.pick_texture(sources.textures, rng)))
    renderer.set_lighting(rng.normal(size=3) - np.array([0, 0, 2.0]), rng.uniform(2.0, 5.0), rng.uniform(0.2, 0.5))
    traj = sample_trajectory(rng, cfg_data["trajectory"], scale)
    n, k = cfg_data["n_subframes"], cfg_data["exposure_samples"]
    key = renderer.render(traj.poses(key_instants(n, k)))
    reason = shape_rejection(key, cfg_data)
    if reason is not None:
        return None, None, reason
    bg_idx = _two_indices(rng, len(sources.backgrounds))
    bgs = [textures.background_image(sources.backgrounds[i], rng, cfg_data["resolution"]) for i in bg_idx]
    reason = acceptance(key, bgs, cfg_data)
    frames = key if reason is not None else render_exposure(renderer, traj.poses, n, k, key)
    if reason is None and k > 1:
        reason = acceptance(frames, bgs, cfg_data)
    if reason is not None:
        return None, None, reason
    arrays = {"image": compose(frames, bgs[0]), "background": bgs[0], "image2": compose(frames, bgs[1]),
              "background2": bgs[1], "frames": frames}
    meta = {"mesh": assets.display_name(sources.meshes[mesh_idx]),
            "backgrounds": [sources.backgrounds[i].name for i in bg_idx], "trajectory": traj.to_json()}
    return arrays, meta, None


def _two_indices(rng: np.random.Generator, n: int) -> list[int]:
    first = int(rng.integers(n))
    if n == 1:
        return [first, first]
    return [first, int((first + 1 + rng.integers(n - 1)) % n)]
