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
from dataclasses import dataclass, field, replace
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


PATH_KINDS = ("straight", "bounce", "curve")
BOUNCE_TIME = (0.2, 0.8)  # instant of the bounce within the exposure, so that both legs show
BOUNCE_INCIDENCE_DEG = (15.0, 70.0)  # angle between the wall's normal and the incoming direction (deflection 40-150 deg)
BOUNCE_RESTITUTION = (0.6, 1.0)  # share of the normal speed kept by the bounce
CURVE_BEND = (0.08, 0.25)  # a curve's largest distance from its chord, over the chord's length
PATH_SAMPLES = 65  # points on which a path's length and extent are measured


@dataclass
class Trajectory:
    """6D motion over the exposure t in [0, 1]: rotation ``R(t * delta) @ rot0`` and a centre path of one of
    :data:`PATH_KINDS`, each starting at ``start`` with velocity ``move`` (scene units per exposure):

    - ``straight``: ``start + t * move``;
    - ``bounce``: ``move`` until ``t_b``, then ``after`` (the velocity reflected off a wall, see
      :func:`bounce_velocity`): ``start + min(t, t_b) move + max(t - t_b, 0) after``;
    - ``curve``: constant acceleration ``accel`` across the motion: ``start + t move + t^2 accel / 2``.
    """

    start: np.ndarray
    move: np.ndarray
    rot0: np.ndarray
    delta_deg: np.ndarray
    kind: str = "straight"
    t_b: float = 1.0
    after: np.ndarray = field(default_factory=lambda: np.zeros(3))
    accel: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def centre(self, times: np.ndarray) -> np.ndarray:
        """Centres ``(T, 3)`` at ``times`` ``(T,)`` in [0, 1]."""
        t = np.asarray(times, np.float64)[:, None]
        if self.kind == "bounce":
            return self.start + np.minimum(t, self.t_b) * self.move + np.maximum(t - self.t_b, 0.0) * self.after
        return self.start + t * self.move + 0.5 * t * t * self.accel

    def poses(self, times: np.ndarray) -> list[np.ndarray]:
        out = []
        for t, centre in zip(times, self.centre(times)):
            pose = np.eye(4)
            pose[:3, :3] = Rotation.from_euler("xyz", t * self.delta_deg, degrees=True).as_matrix() @ self.rot0
            pose[:3, 3] = centre
            out.append(pose)
        return out

    def to_json(self) -> dict:
        out = {"kind": self.kind, "start": self.start.tolist(), "move": self.move.tolist(),
               "delta_deg": self.delta_deg.tolist()}
        if self.kind == "bounce":
            out.update(t_b=self.t_b, after=self.after.tolist())
        if self.kind == "curve":
            out["accel"] = self.accel.tolist()
        return out

    @classmethod
    def from_json(cls, meta: Mapping) -> "Trajectory":
        """The path of a sample's stored ``meta["trajectory"]`` (its rotation is not stored: identity)."""
        extra = {k: np.asarray(meta[k]) for k in ("after", "accel") if k in meta}
        return cls(np.asarray(meta["start"]), np.asarray(meta["move"]), np.eye(3), np.asarray(meta["delta_deg"]),
                   kind=meta.get("kind", "straight"), t_b=float(meta.get("t_b", 1.0)), **extra)


def bounce_velocity(move: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image-plane velocity after bouncing off a wall: the wall's normal ``n`` makes an angle in
    ``BOUNCE_INCIDENCE_DEG`` with the incoming direction reversed (either side), and the normal component is
    reversed and scaled by a restitution in ``BOUNCE_RESTITUTION``: ``v - (1 + e) (v . n) n``. Depth unchanged."""
    v = move[:2]
    angle = np.arctan2(-v[1], -v[0]) + np.deg2rad(rng.uniform(*BOUNCE_INCIDENCE_DEG)) * rng.choice([-1.0, 1.0])
    normal = np.array([np.cos(angle), np.sin(angle)])
    after = v - (1.0 + rng.uniform(*BOUNCE_RESTITUTION)) * (v @ normal) * normal
    return np.r_[after, move[2]]


def curve_acceleration(move: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An image-plane acceleration across ``move`` (either side) bending the path by a share in ``CURVE_BEND``
    of its chord (a parabola ``t v + t^2 a / 2`` with ``a`` across ``v`` leaves its chord by about ``|a| / 8``)."""
    v = move[:2]
    across = np.array([-v[1], v[0]]) * rng.choice([-1.0, 1.0])
    return np.r_[8.0 * rng.uniform(*CURVE_BEND) * across, 0.0]


def path_points(traj: Trajectory) -> np.ndarray:
    """The image-plane centre path ``(PATH_SAMPLES, 2)`` over the exposure."""
    return traj.centre(np.linspace(0.0, 1.0, PATH_SAMPLES))[:, :2]


def path_length(traj: Trajectory) -> float:
    """Image-plane length of the centre path (scene units)."""
    return float(np.linalg.norm(np.diff(path_points(traj), axis=0), axis=1).sum())


def _path_kind(rng: np.random.Generator, traj: Mapping) -> str:
    """``straight``, or ``bounce`` / ``curve`` with probabilities ``traj["bounce"]`` / ``traj["curve"]``; draws
    nothing when both are 0 (the data of a configuration without them is unchanged)."""
    shares = (traj.get("bounce", 0.0), traj.get("curve", 0.0))
    if not any(shares):
        return "straight"
    u = rng.uniform()
    return "bounce" if u < shares[0] else "curve" if u < shares[0] + shares[1] else "straight"


def _bend(traj: Trajectory, kind: str, rng: np.random.Generator) -> Trajectory:
    """``traj`` (straight) turned into ``kind``, with the image-plane speeds kept."""
    if kind == "bounce":
        t_b = rng.uniform(*BOUNCE_TIME)
        after = bounce_velocity(traj.move, rng)
        return replace(traj, kind=kind, t_b=t_b, move=traj.move.copy(), after=after)
    if kind == "curve":
        return replace(traj, kind=kind, accel=curve_acceleration(traj.move, rng))
    return traj


def _fit_travel(traj: Trajectory, length: float, offset: float) -> Trajectory:
    """Scale the image-plane motion so that the path is ``length`` long and centre the path's extent on
    ``offset`` (the image-plane start offset drawn within +-offset_yz)."""
    plane = np.array([1.0, 1.0, 0.0])
    factor = length / max(path_length(traj), 1e-12)
    scaled = replace(traj, move=traj.move * np.where(plane > 0, factor, 1.0),
                     after=traj.after * np.where(plane > 0, factor, 1.0), accel=traj.accel * plane * factor)
    points = path_points(replace(scaled, start=np.zeros(3)))
    middle = (points.min(axis=0) + points.max(axis=0)) / 2.0
    start = scaled.start.copy()
    start[:2] = offset - middle
    return replace(scaled, start=start)


def sample_trajectory(rng: np.random.Generator, traj: Mapping, scale: float = 0.0) -> Trajectory:
    """Ranges from ``data.trajectory``: depth (z) offset/move within +-``*_x``, image plane within +-``*_yz``.

    With ``travel_sizes = [lo, hi]`` the image-plane motion is instead ``ratio * 2 * scale`` in a uniformly
    random direction, ratio uniform in [lo, hi] (the object's half-diagonal ``scale``: it travels that many of
    its sizes over the exposure, as fast-moving objects do; for a bounce or a curve, the length of its path), and
    the path's extent is centred within +-``offset_yz``. A share ``bounce`` of the paths bounces off a wall within
    the exposure and a share ``curve`` curves (:class:`Trajectory`); the rest are straight.
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
    out = Trajectory(start, move, rot0, delta)
    kind = _path_kind(rng, traj)
    if kind == "straight":
        return out
    bent = _bend(out, kind, rng)
    if traj.get("travel_sizes"):
        return _fit_travel(bent, length, start[:2] + move[:2] / 2.0)
    return bent


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
